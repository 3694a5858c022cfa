"""A trivial marked call through the WebREPL vs the plain pty, on the emulated board.

The WebREPL front is the test suite's loopback server (tests/test_webrepl.py), which
leaves Nagle's algorithm on as a board's lwIP stack does: a client that delayed its
ACKs would make every reply wait for them (about 40 ms a call on Linux).

    python bench/bench_webrepl.py [--calls N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_webrepl import PASSWORD, WebReplServer  # noqa: E402

from belay_hook.board import webrepl  # noqa: E402
from belay_hook.emulator import Emulator  # noqa: E402
from belay_hook.importhook import install  # noqa: E402


def per_call(port: str, calls: int) -> float:
    """Seconds per ``echo(i)`` call through the hook on `port`."""
    sys.modules.pop("bench_echo", None)
    with install(port):
        import bench_echo

        bench_echo.echo(0)
        start = time.perf_counter()
        for i in range(calls):
            assert bench_echo.echo(i) == i
        return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    os.environ[webrepl.PASSWORD_ENV] = PASSWORD
    with tempfile.TemporaryDirectory() as folder, Emulator() as board:
        Path(folder, "bench_echo.py").write_text("#@mcu\ndef echo(x):\n    return x\n")
        sys.path.insert(0, folder)
        server = WebReplServer(board.port)
        try:
            for name, port in (("pty", board.port), ("webrepl", server.url)):
                print(f"{name:8} {per_call(port, args.calls) * 1000:.2f} ms per call")
        finally:
            server.close()


if __name__ == "__main__":
    main()
