"""Frames on the serial line, matching ``mcu/agent.py``.

Requests (host to board) are ``0xFE``, the body length, the frame id, and the
body; length and id are each one digit (how many hex digits follow) and that
many hex digits, so a small call's header is five bytes of plain text. The
body is escaped so it never holds 0x03: that byte stays Ctrl-C, an interrupt,
all the way to the board. Replies (board to host) are ``0xFE``, a kind byte,
the body length as a varint, and the body; whatever the board prints between
frames is text, and UTF-8 text never holds 0xFE.
"""

from __future__ import annotations

import codecs
import errno
import os
import select
import sys
import time
from typing import Any, Callable, Tuple

from belay_hook.errors import BoardResetError, BoardTimeoutError
from belay_hook.rpc.codec import Context, decode, encode, get_uint

START = 0xFE
KINDS = b"REKV"  # result, error, call of a host function, event
MAX_FRAME = 64 << 20  # no board sends more in one frame; a bigger length is garbage


def escape(body: bytes) -> bytes:
    """Make ``body`` free of 0x03 (and so of Ctrl-C); the agent's ``_serve1`` undoes it."""
    return body.replace(b"\x10", b"\x10\x11").replace(b"\x03", b"\x10\x13")


def request(op: bytes, rid: int, value: Any, context: Context | None = None) -> bytes:
    """One request frame; raises TypeError (naming the value) before anything is sent.

    The id travels in the plain-text header, so a board that cannot hold the
    body can still skip it and answer for that id.
    """
    parts = [op]
    encode(value, parts, "argument", context)
    body = escape(b"".join(parts))
    return _header(len(body), rid) + body


def _header(length: int, rid: int) -> bytes:
    size, ident = b"%x" % length, b"%x" % rid
    return b"\xfe%d%s%d%s" % (len(size), size, len(ident), ident)


def call_prefix(handle: int) -> bytes:
    """The escaped start of every call request to the function with ``handle``."""
    parts = [b"c", b"t\x03"]
    encode(handle, parts)
    return escape(b"".join(parts))


def call_request(
    prefix: bytes, rid: int, args: tuple, kwargs: dict, context: Context | None = None
) -> bytes:
    """A call request: ``prefix`` from :func:`call_prefix`, then the arguments."""
    parts: list = []
    encode(args, parts, "argument", context)
    encode(kwargs, parts, "keyword argument", context)
    body = prefix + escape(b"".join(parts))  # escaping is bytewise: parts escape alone
    return _header(len(body), rid) + body


class ReplyReader:
    """Reads reply frames from a serial port, passing printed text on as it arrives.

    Bytes go straight into one buffer, so an interrupted read (Ctrl-C, a
    timeout) loses nothing: the next read carries on where this one stopped.
    """

    def __init__(
        self,
        serial: Any,
        port: str,
        on_text: Callable[[str], None] | None = None,
        context: Context | None = None,
    ):
        self.serial = serial
        self.port = port
        self.on_text = on_text or _print_to_stdout
        self.context = context
        # A plain device (not a URL port): wait with select and take all there is in
        # one read, far cheaper per call than pyserial's general read loop.
        fd = getattr(serial, "fd", None)
        self._fd = fd if isinstance(fd, int) else None
        self._buf = bytearray()
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._after_agent: bytearray | None = None  # REPL bytes once the agent stopped

    def read_frame(self, timeout: float) -> Tuple[bytes, int, Any]:
        """The next frame as (kind, frame id, value); text before it goes to on_text."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            missing = self._missing()
            waiting_for = f"the rest of a {missing}-byte reply" if missing else "a reply"
            self._fill(missing or 0, deadline, timeout, waiting_for)

    def poll(self) -> Tuple[bytes, int, Any] | None:
        """A frame if one is complete with what has arrived, else None; never waits."""
        waiting = self.serial.in_waiting
        if waiting:
            self._buf += self.serial.read(waiting)
        return self._take_frame()

    def _take_frame(self) -> Tuple[bytes, int, Any] | None:
        buf = self._buf
        start = buf.find(START)
        if start < 0:
            self._emit(buf)
            buf.clear()
        elif start:
            self._emit(buf[:start])
            del buf[:start]
        head = self._head()
        if head is None:
            return None
        kind, size, length = head
        if kind not in KINDS or length > MAX_FRAME:  # not a frame: garbage on the line
            self._emit(buf[:1])
            del buf[:1]
            return self._take_frame()
        end = size + length
        if len(buf) < end:
            return None
        body = bytes(buf[size:end])
        del buf[:end]
        rid, i = get_uint(body, 0)
        return bytes((kind,)), rid, decode(body, i, self.context)[0]

    def _head(self) -> Tuple[int, int, int] | None:
        """(kind, header size, body length) of the frame at the buffer's head, once
        its header is all there."""
        buf = self._buf
        if len(buf) < 3:
            return None
        length = shift = 0
        for i in range(2, min(len(buf), 12)):
            length |= (buf[i] & 127) << shift
            shift += 7
            if buf[i] < 128:
                return buf[1], i + 1, length
        return (buf[1], 12, MAX_FRAME + 1) if len(buf) >= 12 else None

    def _missing(self) -> int:
        """Bytes still to come for the frame at the head of the buffer (0: no header yet)."""
        head = self._head()
        if head is None:
            return 0
        return head[1] + head[2] - len(self._buf)

    def _fill(self, n: int, deadline: float, timeout: float, what: str) -> None:
        """Read ``n`` more bytes into the buffer (at least one when ``n`` is 0)."""
        goal = len(self._buf) + max(n, 1)
        while len(self._buf) < goal:
            if self._fd is not None:
                wait = min(max(deadline - time.monotonic(), 0.0), 0.1)
                if select.select([self._fd], [], [], wait)[0]:
                    data = os.read(self._fd, 65536)
                    if not data:  # the other end hung up: the port is gone
                        raise OSError(errno.EIO, "the port closed")
                    self._buf += data
            else:
                want = goal - len(self._buf) if n else max(1, self.serial.in_waiting)
                self._buf += self.serial.read(want)
            if len(self._buf) < goal and time.monotonic() > deadline:
                raise BoardTimeoutError(self.port, what, timeout, bytes(self._buf[-120:]))

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


def write(serial: Any, data: bytes) -> None:
    """Write all of ``data``: straight to the device when it has one, else through pyserial."""
    fd = getattr(serial, "fd", None)
    if isinstance(fd, int):
        try:
            sent = os.write(fd, data)
        except BlockingIOError:
            sent = 0
        data = data[sent:]
    if data:
        serial.write(data)


def _print_to_stdout(text: str) -> None:
    # Looked up on each write, so redirections (pytest's capsys, contextlib) apply.
    sys.stdout.write(text)
    sys.stdout.flush()
