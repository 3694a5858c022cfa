# `board` of the emulated CircuitPython board: a Raspberry Pi Pico's pin names, bound to
# the pin ids the emulator's machine.Pin and Emulator.pins use.
board_id = "raspberry_pi_pico"
for _n in range(29):
    globals()["GP%d" % _n] = _n
A0, A1, A2 = 26, 27, 28
LED = 25
del _n
