"""Events from the board: a (virtual) button's interrupt reaches a host handler.

    python examples/14_events/main.py

Board code calls emit("button", value) from a pin interrupt, outside any call;
the host runs its handlers on a background thread, in order, while it does other
things. Here the button is the emulator's pin 14, pressed from the host.
"""

import threading
import time

import belay_hook
from belay_hook.emulator import Emulator

done = threading.Event()


@belay_hook.on_event("button")
def on_button(value):
    level, presses = value
    print(f"host: button {'pressed' if level == 0 else 'released'} (presses so far: {presses})")
    if presses == 3 and level == 1:
        done.set()


with Emulator() as board, belay_hook.install(board.port):
    import buttons  # noqa: F401  (its setup arms the interrupt on the board)

    for _ in range(3):  # a finger on the virtual button
        board.set_input(14, 0)
        time.sleep(0.1)
        board.set_input(14, 1)
        time.sleep(0.1)
    done.wait(10)
    belay_hook.rpc.events.wait_idle()
    print(f"host: the board counted {buttons.press_count()} presses")
