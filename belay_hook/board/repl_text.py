"""What a board writes on its REPL besides program output: banners, OSC escapes and
tracebacks.

CircuitPython writes terminal-title updates (OSC 0, ``\\x1b]0;🐍code.py | 9.2.1\\x1b\\\\``)
into the serial stream at status changes; a terminal shows them in its title bar, a
program reading the stream must drop them. OSC sequences end with ST (``\\x1b\\\\``) or
BEL (``\\x07``) and hold neither ESC nor BEL.
"""

from __future__ import annotations

import re

from belay_hook.errors import board_exception

_OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_OSC_UNFINISHED = re.compile(rb"\x1b(?:\][^\x07\x1b]*\x1b?)?\Z")  # a sequence cut short
_BANNERS = (  # the friendly REPL's first line, and MicroPython's soft-reboot line
    (re.compile(rb"Adafruit CircuitPython \S+ on "), "circuitpython"),
    (re.compile(rb"MicroPython \S+ on \d{4}-\d\d-\d\d; |MPY: soft reboot"), "micropython"),
)


# What a board prints when it starts afresh or its REPL takes over again; seen in the
# agent's output stream, each means the agent is gone. Each fits in RESET_SPAN bytes.
# "soft reboot" counts with MicroPython's prefix or as a line of its own (CircuitPython):
# board code that logs "... soft reboot ..." has not reset the board.
RESET_SIGNS = re.compile(
    rb"(MicroPython \S+ on \d{4}-\d\d-\d\d; |Adafruit CircuitPython \S+ on "
    rb"|(?:MPY|PYB): soft reboot|\nsoft reboot\r?\n"
    rb"|raw REPL; CTRL-B to exit|for more information\.\r?\n>>> "
    rb"|\x04\x04>|\x04Traceback \(most recent call last\):)"
)
RESET_SPAN = 64


def reset_sign(data: bytes) -> str | None:
    """What ``data`` says happened to the board, if it shows a reset or a REPL prompt."""
    found = RESET_SIGNS.search(data)
    if found is None:
        return None
    sign = found.group()
    if sign.startswith((b"\x04\x04", b"\x04Trace")):
        return "the agent stopped, back at the raw REPL"
    if b"soft reboot" in sign or sign.startswith(b"raw REPL"):
        return "the board soft-rebooted"
    return "the board reset (its boot banner came)"


def strip_osc(data: bytes) -> bytes:
    """`data` without its OSC sequences (a sequence cut short at the end stays)."""
    return _OSC.sub(b"", data)


class OscFilter:
    """Strips OSC sequences from a stream that arrives in pieces cut anywhere (or, not
    `active`, passes it as it is)."""

    def __init__(self, active: bool = True) -> None:
        self._held = b""
        self.active = active

    def strip(self, data: bytes) -> bytes:
        """`data`, complete, without OSC sequences."""
        return strip_osc(data) if self.active else data

    def feed(self, data: bytes) -> bytes:
        """`data` without OSC sequences; the start of one cut short is held back."""
        if not self.active:
            return data
        data = self._held + data
        cut = _OSC_UNFINISHED.search(data)
        end = cut.start() if cut else len(data)
        self._held = data[end:]
        return strip_osc(data[:end])

    def flush(self) -> bytes:
        """The stream ended: what was held back was no OSC sequence after all."""
        held, self._held = self._held, b""
        return held


def flavour_in(text: bytes) -> str | None:
    """``"circuitpython"`` or ``"micropython"`` after the last banner in `text`, if any."""
    text = strip_osc(text)
    found = [(m.start(), name) for pattern, name in _BANNERS for m in pattern.finditer(text)]
    return max(found)[1] if found else None


def board_error(traceback: str) -> BaseException:
    """The host exception for a board traceback: its last lines say ``Type: message``."""
    lines = traceback.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith("  File ")), default=0)
    exception = "\n".join(lines[last_frame + 1 :]) or (lines[-1] if lines else "Exception")
    type_name, _, message = exception.partition(":")
    message = message.strip()
    # "[Errno 2] ENOENT"; a number alone for codes MicroPython has no name for ("30").
    number = re.fullmatch(r"\[Errno (\d+)\].*|(\d+)", message, re.DOTALL)
    return board_exception(
        type_name.strip(),
        (message,) if message else (),
        board_traceback=traceback,
        errno=int(number.group(1) or number.group(2)) if number else None,
    )
