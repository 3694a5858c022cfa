"""Board side: a button on pin 14 whose interrupt sends events to the host."""

#@mcu
from machine import Pin

#@mcu
from belay_hook import emit  # provided on the board by belay_hook's agent


#@mcu
def on_edge(pin):
    # runs on the board, from the pin interrupt (scheduled), outside any call
    global presses
    level = pin.value()
    if level == 0:
        presses += 1
    emit("button", (level, presses))


#@mcu
def press_count():
    return presses


# Setup code runs where it stands, like module code: after on_edge is defined.
#@mcu setup
def setup():
    global button, presses
    presses = 0
    button = Pin(14, Pin.IN, Pin.PULL_UP)
    button.irq(on_edge, Pin.IRQ_FALLING | Pin.IRQ_RISING)
