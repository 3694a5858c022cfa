"""Two boards at once: each module names its board, calls to both run concurrently.

    python examples/09_two_boards/main.py          (two emulated boards)

On hardware, name real ports instead: boards={"left": "/dev/ttyACM0", "right": "/dev/ttyACM1"},
or in pyproject.toml under [tool.belay_hook.boards].
"""

import threading
import time

import belay_hook

belay_hook.install(boards={"left": "emulator", "right": "emulator"})

import left  # noqa: E402  (modules name their board: __board__ = "left")
import right  # noqa: E402

results = {}


def run(name, module):
    results[name] = module.blink(5, 0.1)  # about 1 s on the board


start = time.monotonic()
threads = [threading.Thread(target=run, args=(n, m)) for n, m in (("left", left), ("right", right))]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start

print(results["left"])
print(results["right"])
print(f"both boards together took {elapsed:.1f} s (one alone takes about 1.0 s)")
