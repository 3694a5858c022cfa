"""``belay-hook exec``, ``repl`` and ``reset``: the board's own REPL, from the command line."""

from __future__ import annotations

import argparse
import math
import sys

from belay_hook.cli import _device
from belay_hook.errors import BoardTimeoutError


def cmd_exec(args: argparse.Namespace) -> int:
    """Run code in the board's raw REPL, printing its output as it comes."""
    from belay_hook.board.link import Link

    code = sys.stdin.read() if args.code == "-" else args.code
    out = sys.stdout.buffer

    def show(data: bytes) -> None:
        out.write(data)
        out.flush()

    with _device(args) as device, Link(device) as link:
        link.enter_raw_repl()
        try:
            link.exec(code, timeout=args.timeout or math.inf, on_output=show)
        except KeyboardInterrupt:
            link.interrupt()
            print("\nbelay-hook exec: interrupted", file=sys.stderr)
            return 130
        except BoardTimeoutError:
            link.interrupt()  # the board should not go on running what we gave up on
            raise
        except Exception as exc:
            if getattr(exc, "board_traceback", None) is not None:
                return _board_traceback(exc)
            if isinstance(exc, ValueError):  # code the Link refuses to send
                raise SystemExit(f"belay-hook exec: {exc}") from None
            raise
    return 0


def _board_traceback(exc: BaseException) -> int:
    """Show an exception raised on the board as the board printed it; exit status 1."""
    sys.stdout.flush()
    text = exc.board_traceback  # type: ignore[attr-defined]
    print(text.rstrip("\r\n").replace("\r\n", "\n"), file=sys.stderr)
    return 1


def cmd_repl(args: argparse.Namespace) -> int:
    """The board's own REPL in this terminal, through pyserial's miniterm."""
    from serial.tools.miniterm import Miniterm

    from belay_hook.board.link import Link

    if not sys.stdin.isatty():
        raise SystemExit("belay-hook repl: needs a terminal; use belay-hook exec for scripts")
    with _device(args) as device, Link(device) as link:
        link.interrupt()  # whatever the board runs stops, so its prompt answers
        link.write(b"\x02")  # Ctrl-B: the friendly REPL (banner, >>>), from the raw one too
        terminal = Miniterm(link.serial)
        terminal.set_rx_encoding("utf-8")
        terminal.set_tx_encoding("utf-8")
        print(f"--- {device}: Ctrl-] quits, Ctrl-D soft-reboots the board ---", file=sys.stderr)
        terminal.start()
        try:
            terminal.join(True)  # until Ctrl-] (or the terminal goes away)
        finally:
            terminal.stop()
            terminal.join()
            terminal.console.cleanup()
    print("", file=sys.stderr)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    """Reset the board so that boot.py and main.py run again (mpremote's reset and
    soft-reset): the command returns once the board has the order, not after its boot."""
    from belay_hook.board.link import Link

    with _device(args) as device, Link(device) as link:
        link.enter_raw_repl()
        if args.soft:
            link.exit_raw_repl()
            link.write(b"\x04")  # Ctrl-D at the friendly prompt: the reboot that runs main.py
        else:
            link.exec_start("import machine\nmachine.reset()")
    return 0
