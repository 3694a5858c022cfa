"""A device module that names no board: main.py binds it to two (see belay_hook.load)."""

#@mcu
from machine import Pin


#@mcu
class Blinker:
    def __init__(self, pin):
        self.led = Pin(pin, Pin.OUT)
        self.count = 0

    def blink(self, times):
        for _ in range(times):
            self.led.value(1)
            self.led.value(0)
            self.count += 1
        return self.count
