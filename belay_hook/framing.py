"""Frames on the serial line, matching ``mcu/agent.py``.

Requests (host to board) are ``0xFE``, eight hex digits of body length, eight
of request id, and the body.
The body is escaped so it never holds 0x03: that byte stays Ctrl-C, an
interrupt, all the way to the board. Replies (board to host) are ``0xFE``, a
kind byte, a 4-byte little-endian length and the body; whatever the board
prints between frames is text, and UTF-8 text never holds 0xFE.
"""

from __future__ import annotations

import codecs
import struct
import sys
import time
from typing import Any, Callable, Tuple

from belay_hook.codec import decode, encode, get_uint
from belay_hook.errors import BoardResetError, BoardTimeoutError

START = 0xFE
_HEAD = struct.Struct("<BcI")  # start byte, kind, body length


def escape(body: bytes) -> bytes:
    """Make ``body`` free of 0x03 (and so of Ctrl-C); :func:`unescape` undoes it."""
    return body.replace(b"\x10", b"\x10\x11").replace(b"\x03", b"\x10\x13")


def unescape(body: bytes) -> bytes:
    return body.replace(b"\x10\x13", b"\x03").replace(b"\x10\x11", b"\x10")


def request(op: bytes, rid: int, value: Any) -> bytes:
    """One request frame; raises TypeError (naming the value) before anything is sent.

    The id travels in the plain-text header, so a board that cannot hold the
    body can still skip it and answer for that id.
    """
    parts = [op]
    encode(value, parts, "argument")
    body = escape(b"".join(parts))
    return b"\xfe%08x%08x" % (len(body), rid) + body


class ReplyReader:
    """Reads reply frames from a serial port, passing printed text on as it arrives."""

    def __init__(
        self,
        serial: Any,
        port: str,
        on_text: Callable[[str], None] | None = None,
    ):
        self.serial = serial
        self.port = port
        self.on_text = on_text or _print_to_stdout
        self._buf = bytearray()
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._after_agent: bytearray | None = None  # REPL bytes once the agent stopped

    def read_frame(self, timeout: float) -> Tuple[bytes, int, Any]:
        """The next frame as (kind, request id, value); text before it goes to on_text."""
        deadline = time.monotonic() + timeout
        buf = self._buf
        while True:
            start = buf.find(START)
            if start < 0:
                self._emit(buf)
                buf.clear()
            elif start:
                self._emit(buf[:start])
                del buf[:start]
            if len(buf) >= _HEAD.size:
                _, kind, length = _HEAD.unpack_from(buf)
                need = _HEAD.size + length - len(buf)
                if need > 0:
                    buf += self._read(need, deadline, timeout, f"a {length}-byte reply")
                body = bytes(buf[_HEAD.size : _HEAD.size + length])
                del buf[: _HEAD.size + length]
                rid, i = get_uint(body, 0)
                return kind, rid, decode(body, i)[0]
            buf += self._read(0, deadline, timeout, "a reply")

    def _read(self, n: int, deadline: float, timeout: float, what: str) -> bytes:
        """Exactly ``n`` bytes, or whatever is there (at least one) when ``n`` is 0."""
        got = bytearray()
        while True:
            want = n - len(got) if n else max(1, self.serial.in_waiting)
            got += self.serial.read(want)
            if (n and len(got) >= n) or (not n and got):
                return bytes(got)
            if time.monotonic() > deadline:
                raise BoardTimeoutError(self.port, what, timeout, bytes(self._buf + got))

    def _emit(self, data: bytes) -> None:
        """Pass printed text on, watching for the REPL taking over from the agent."""
        if self._after_agent is None:
            end = data.find(b"\x04")  # raw REPL: end of the agent's output
            if end < 0:
                text = self._text.decode(bytes(data))
                if text:
                    self.on_text(text)
                return
            self._emit(data[:end])
            self._after_agent, data = bytearray(), data[end:]
        self._after_agent += data
        tail = bytes(self._after_agent)
        if b"\x04>" in tail[1:] or b"soft reboot" in tail:
            detail = tail.strip(b"\x04>\r\n").decode("utf-8", "replace").strip()
            what = "the board rebooted" if b"soft reboot" in tail else "the agent stopped"
            raise BoardResetError(self.port, f"{what} during the session: {detail}")


def _print_to_stdout(text: str) -> None:
    # Looked up on each write, so redirections (pytest's capsys, contextlib) apply.
    sys.stdout.write(text)
    sys.stdout.flush()
