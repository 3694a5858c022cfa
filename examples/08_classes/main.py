"""Host program using a board class from its own module.

    belay-hook run examples/08_classes/main.py --port emulator
"""

import time

from mydevice import Blinker

led = Blinker(25)
other = Blinker(15, active_high=False)

for _ in range(3):
    led.set(True)
    other.set(True)
    time.sleep(0.1)
    led.set(False)
    time.sleep(0.1)

print(f"led: {led.count} changes, on now: {led.state()}")
print(f"other: {other.count} changes, on now: {other.state()}")
print(f"isinstance(led, Blinker): {isinstance(led, Blinker)}")
