"""Copy a library to the board's flash, then run board code that imports it.

Run it on the emulator:      belay-hook run examples/06_sync/main.py --port emulator
Run it on a board on USB:    belay-hook run examples/06_sync/main.py --port /dev/ttyACM0 HELLO

Board code imports what is on the board, not what is on the host. lib/ holds
blinkenlib, a small board-side library; this program first makes the board's /lib a
copy of lib/ with belay_hook.sync (run it again: nothing is uploaded, unchanged files
are skipped by their hash), then imports beacon.py, whose board code uses blinkenlib
on the board. A sync after marked imports works too: it goes through the hook's
session, whose board code starts again afterwards (setup code runs again).

`belay-hook run` tells the program which board it runs with ($BELAY_HOOK_PORT), so
``sync(None, ...)`` reaches the same board, also an emulator started for the run.

The same by hand, for a board on USB (its flash keeps what is written):

    belay-hook sync examples/06_sync/lib --dst /lib --port /dev/ttyACM0
    belay-hook exec "import blinkenlib; print(blinkenlib.pattern('SOS'))" --port /dev/ttyACM0

The emulator's flash lasts one command, unless you give it a folder to keep:

    belay-hook sync examples/06_sync/lib --dst /lib --port emulator --flash /tmp/board
    belay-hook repl --port emulator --flash /tmp/board          # >>> import blinkenlib
"""

import sys
from pathlib import Path

from belay_hook.sync import sync

LIB = Path(__file__).resolve().parent / "lib"

if __name__ == "__main__":
    text = sys.argv[1] if len(sys.argv) > 1 else "SOS"
    report = sync(None, LIB, "/lib", progress=False)
    print(f"host: lib/ -> /lib: {report}")

    import beacon  # its board part goes to the board now, and finds blinkenlib there

    flashes = beacon.send(text)
    print(f"host: sent {text!r} in {flashes} flashes")
