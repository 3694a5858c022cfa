"""Board-side code in a class of its own, in a module of its own (the "segregated" style).

Importing this module puts the class on the board; the host gets a class whose
instances are proxies: each method call runs on the board.
"""

#@mcu
from machine import Pin


#@mcu
class Blinker:
    def __init__(self, pin, active_high=True):
        self.led = Pin(pin, Pin.OUT)
        self.on_value = 1 if active_high else 0
        self.count = 0

    def set(self, on):
        self.led.value(self.on_value if on else 1 - self.on_value)
        self.count += 1
        return self.count

    def state(self):
        return self.led.value() == self.on_value
