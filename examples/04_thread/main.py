"""Start a function in a thread on the board; the host carries on at once.

    belay-hook run examples/04_thread/main.py --port emulator

The board keeps blinking in its own thread while the host calls other board
functions; a teardown function stops it when the program ends.
"""

import time

#@mcu
import time as board_time

#@mcu
from machine import Pin


#@mcu setup
def setup():
    global led, running, blinks  # board globals (and linters know it)
    led = Pin(25, Pin.OUT)
    running = [False]
    blinks = [0]

#@mcu thread
def blink_forever(period_ms):
    running[0] = True
    while running[0]:
        led.toggle()
        blinks[0] += 1
        board_time.sleep_ms(period_ms)

#@mcu
def blink_count():
    return blinks[0]

#@mcu teardown
def stop():
    running[0] = False
    led.off()
    print("device: blinker stopped")


blink_forever(50)  # returns at once: the loop runs in a thread on the board
print("host: blinker started, the host is free")
time.sleep(0.5)
count = blink_count()
print(f"host: the board blinked {count} times meanwhile" if count else "host: no blinks yet?")
