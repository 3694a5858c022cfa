"""One device module, two boards, no copy of the code (Belay's example 08B, two boards).

    python examples/17_one_module_two_boards/main.py        (two emulated boards)

belay_hook.load("blinker", board="right") is the module blinker once more, its
board code on the board called "right"; its classes and functions call that board.
"""

import belay_hook

belay_hook.install(boards={"left": "emulator", "right": "emulator"})

left = belay_hook.load("blinker", board="left")
right = belay_hook.load("blinker", board="right")

a = left.Blinker(25)
b = right.Blinker(25)
a.blink(3)
b.blink(5)
print(f"left blinked {a.count} times, right blinked {b.count} times")
print(f"isinstance(b, right.Blinker): {isinstance(b, right.Blinker)}")
print(f"isinstance(b, left.Blinker): {isinstance(b, left.Blinker)}")
