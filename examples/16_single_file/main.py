"""One file, run with plain Python, the way Belay programs are run.

    python examples/16_single_file/main.py          (the emulator, if no board is attached)
    BELAY_HOOK_PORT=/dev/ttyACM0 python examples/16_single_file/main.py

install() comes first: from there on the file runs through the hook, so the
marked code below it goes to the board and the rest runs here.
"""

import struct
import time

import belay_hook

belay_hook.install()

#@mcu
from machine import Pin  # noqa: E402  (below install(), on purpose)


#@mcu
class SensorError(Exception):
    pass


#@mcu setup
def setup():
    global led
    led = Pin(25, Pin.OUT)


#@mcu
def flash(times):
    for _ in range(times):
        led.value(1)
        time.sleep_ms(20)  # the board's time: 'import time' above came along
        led.value(0)
        time.sleep_ms(20)
    return struct.pack("<H", times)


#@mcu
def read(channel):
    if channel > 3:
        raise SensorError(f"no channel {channel}")
    return 100 + channel


count = struct.unpack("<H", flash(3))[0]
print(f"host: the board flashed {count} times")
try:
    read(7)
except SensorError as exc:
    print(f"host: caught SensorError from the board: {exc}")
print(f"host: channel 2 reads {read(2)}")
