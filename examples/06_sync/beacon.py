"""Board code that uses blinkenlib, a library main.py has just copied to the board's /lib."""

#@mcu
from machine import Pin


#@mcu setup
def setup():
    global led  # board globals (and linters know it)
    led = Pin(25, Pin.OUT)  # the Raspberry Pi Pico's LED; the emulator records it

#@mcu
def send(text, unit_ms=20):
    import blinkenlib  # found in the board's /lib (on its sys.path), put there by the sync

    print("device: sending", blinkenlib.pattern(text))
    return blinkenlib.play(led, text, unit_ms)
