"""Board code for the board called "right" (see main.py)."""

__board__ = "right"

#@mcu
import time

#@mcu
from machine import Pin


#@mcu setup
def setup():
    global led  # board globals (and linters know it)
    led = Pin(25, Pin.OUT)


#@mcu
def blink(times, period):
    for _ in range(times):
        led.value(1)
        time.sleep(period)
        led.value(0)
        time.sleep(period)
    return f"right blinked {times} times"
