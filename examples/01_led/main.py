"""Blink an LED on the board from a loop on the host.

Run it on the emulator:      belay-hook run examples/01_led/main.py --port emulator
Run it on a board on USB:    belay-hook run examples/01_led/main.py --port /dev/ttyACM0
Or with plain Python:        python examples/01_led/main.py
                             (the one board on USB, else the emulator; BELAY_HOOK_PORT chooses)

The #@mcu lines go to the board; everything else runs here, on the host.
"""

import sys
import time

import belay_hook

belay_hook.install()  # from here on this file runs through the hook, under plain python too

#@mcu
from machine import Pin  # noqa: E402


#@mcu setup
def setup():
    global led  # board globals (and linters know it)
    led = Pin(25, Pin.OUT)  # the Raspberry Pi Pico's LED; the emulator records it

#@mcu
def set_led(state):
    print("device: LED", state)
    led.value(state)

#@mcu
def led_state():
    return led.value()


def blink(times, period=0.2):
    """Host code calling board code: each call is one round trip to the board."""
    for _ in range(times):
        set_led(1)
        time.sleep(period)
        set_led(0)
        time.sleep(period)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    blink(count)
    print(f"host: blinked {count} times; the LED is now {'on' if led_state() else 'off'}")
