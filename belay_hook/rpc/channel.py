"""The port once the agent runs: reads, writes, the lock, the idle reader, reset signs.

One :class:`Channel` per running agent owns the byte stream both ways. It cuts
reply frames out of what arrives and passes everything between them to
``on_text`` as it comes, in order, holding only an unfinished frame; it watches
that text for a board starting afresh (:data:`~belay_hook.board.repl_text.RESET_SIGNS`)
and raises :class:`BoardResetError` the moment one arrives. Between calls an idle
reader thread does the reading, so prints and events from board threads, timers
and interrupts appear as they happen, not at the next call.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import errno
import logging
import os
import select
import sys
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Tuple

from belay_hook.board.repl_text import RESET_SPAN, reset_sign
from belay_hook.errors import BoardResetError, BoardTimeoutError, FrameError
from belay_hook.rpc import framing, ops

Frame = Tuple[int, int, bytes]  # kind, request id, body
_START = bytes((ops.START,))
_IDLE_AFTER = 0.02  # the idle reader starts reading this long after the last call
_IDLE_POLL = 0.05
log = logging.getLogger(__name__)  # DEBUG: a short hex trace of every frame (-vv)
_open: weakref.WeakSet = weakref.WeakSet()


class Channel:
    """Frames and text on one open port, for one running agent."""

    def __init__(
        self,
        serial: Any,
        port: str,
        on_text: Callable[[str], None] | None = None,
        on_idle_frame: Callable[[Frame], None] | None = None,
    ):
        self.serial = serial
        self.port = port
        self.on_text = on_text or _print_to_stdout
        self.on_idle_frame = on_idle_frame
        self.lock = threading.RLock()
        self.lost: BaseException | None = None  # set by the idle reader; the next call raises it
        self.greeted = False  # the agent's first frame came: the stream is the agent's
        self._starting = True  # until then, a reset sign still raises (none is printed)
        self._ending = False  # the request in flight stops the agent (see end_after_reply)
        self._source = _Source(serial)
        self._buf = bytearray()
        self._scanned = 0  # how far into an unfinished frame reset signs were looked for
        self._tail = b""  # the last text, for signs cut across reads
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._busy = 0
        self._last_call = time.monotonic()
        self._closed = threading.Event()
        self._idle = threading.Thread(
            target=self._idle_loop, name=f"belay_hook {port}", daemon=True
        )
        self._idle.start()
        _open.add(self)

    # ------------------------------------------------------------ ownership

    @contextlib.contextmanager
    def hold(self, deadline: float | None, what: str) -> Iterator[None]:
        """Hold the board for one call; BoardTimeoutError if another thread keeps it
        past ``deadline`` (a call's timeout covers this wait too)."""
        wait = -1 if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self.lock.acquire(timeout=wait):
            raise BoardTimeoutError(
                self.port, f"the board, busy with another thread's call, for {what}", wait
            )
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._last_call = time.monotonic()
            self.lock.release()

    def end_after_reply(self) -> None:
        """The request going out stops the agent: after its reply the bytes are the raw
        REPL's (its end-of-output marks and prompt), never the board's printed text."""
        self._ending = True

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("> %s", _short_hex(data))
        self._source.write(data)

    def interrupt(self) -> None:
        """Ctrl-C the board code a call runs (between calls the agent ignores it)."""
        with contextlib.suppress(OSError, ValueError):
            self._source.write(b"\x03")

    def close(self) -> None:
        """Stop the idle reader; the port stays the link's to close."""
        _open.discard(self)
        self._closed.set()
        if self._idle is not threading.current_thread():
            self._idle.join(1.0)

    # --------------------------------------------------------------- reading

    def read_frame(self, deadline: float | None) -> Frame | None:
        """The next frame, or None once ``deadline`` passes; text before it goes to on_text.

        Raises BoardResetError at a reset sign and FrameError for a damaged frame (it
        is dropped and reading carries on after it on the next call).
        """
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return None
            if self._source.wait(_IDLE_POLL if wait is None else min(wait, _IDLE_POLL)):
                self._buf += self._source.read()
            else:
                self._stalled()

    def poll(self) -> Frame | None:
        """A frame if one is complete with what has arrived, else None; never waits."""
        if self._source.wait(0):
            self._buf += self._source.read()
        else:
            self._stalled()
        return self._take()

    def flush_text(self, quiet: float = 0.05, limit: float = 1.0) -> None:
        """Pass on what the board has printed until it is quiet (before exit)."""
        end = time.monotonic() + limit
        while time.monotonic() < end and self._source.wait(quiet):
            self._buf += self._source.read()
            while self._take() is not None:
                pass

    def _take(self) -> Frame | None:
        buf = self._buf
        while True:
            start = buf.find(_START)
            if start != 0:
                self._emit(bytes(buf if start < 0 else buf[:start]))
                del buf[: len(buf) if start < 0 else start]
                self._scanned = 0
                if start < 0:
                    return None
            try:
                head = framing.header(buf)
            except framing.NotAFrame:  # a START byte in printed bytes
                self._emit(bytes(buf[:1]))
                del buf[:1]
                continue
            if head is None or len(buf) < head[1]:
                return None
            size, end = head
            inner = bytes(buf[size - 1 : end - 2])
            if framing.check(inner) != buf[end - 2 : end]:
                kind, rid = framing.untag(inner[0])
                self._drop_damaged()
                raise FrameError(
                    self.port,
                    f"a damaged frame from the board (check failed; it read as a "
                    f"{ops.KIND_NAMES.get(kind, '?')} frame, id {rid}, {end} bytes): dropped",
                )
            del buf[:end]
            self._scanned = 0
            kind, rid = framing.untag(inner[0])
            if log.isEnabledFor(logging.DEBUG):
                log.debug("< %s %s", ops.KIND_NAMES.get(kind, "?"), _short_hex(inner[1:]))
            self.greeted = self.greeted or kind == ops.KIND_HELLO
            self._starting = self._starting and not self.greeted
            if self._ending and kind in (ops.KIND_RESULT, ops.KIND_ERROR):
                self.greeted = self._ending = False  # what follows is the raw REPL's
            return kind, rid, inner[1:]

    def _stalled(self) -> None:
        """Nothing came for a while and the frame at the head is not all here: see whether
        it never will be (the board reset, or its length was damaged and the next frame
        already began). Only then: scanning every piece of a long frame costs throughput."""
        buf = self._buf
        if not self.greeted or not buf or buf[0] != ops.START:
            return
        scan_from = max(self._scanned - RESET_SPAN, 1)
        self._scanned = len(buf)
        if reset_sign(bytes(buf[scan_from:])) is not None:
            del buf[:1]  # no frame after all: what follows is text, and the sign raises
            self._scanned = 0
            self._take()
        later = buf.find(_START, 1)
        if later > 0:
            try:
                head = framing.header(buf[later : later + 12])  # a header fits in 12 bytes
            except framing.NotAFrame:
                return
            if head is not None and later + head[1] <= len(buf):
                inner = bytes(buf[later + head[0] - 1 : later + head[1] - 2])
                if framing.check(inner) == buf[later + head[1] - 2 : later + head[1]]:
                    del buf[:later]
                    self._scanned = 0
                    raise FrameError(
                        self.port, "a damaged frame from the board (cut short): dropped"
                    )

    def _drop_damaged(self) -> None:
        """Drop the damaged frame at the head: up to the next START, where reading resumes."""
        later = self._buf.find(_START, 1)
        del self._buf[: later if later > 0 else len(self._buf)]
        self._scanned = 0

    def _emit(self, data: bytes) -> None:
        """Pass printed bytes on; a reset sign among them raises BoardResetError."""
        if not data or not (self.greeted or self._starting):  # the raw REPL's, after a bye
            return
        window = self._tail + data
        self._tail = window[-RESET_SPAN:]
        sign = reset_sign(window)
        text = self._text.decode(data) if self.greeted else ""
        if text:
            self.on_text(text)
        if sign is not None:
            self._tail = b""
            raise BoardResetError(
                self.port, f"{sign}: {window.decode('utf-8', 'replace').strip()!r}"
            )

    # ----------------------------------------------------------- idle reader

    def _idle_loop(self) -> None:
        """Between calls, read the board: its prints and events appear as they happen."""
        while not self._closed.is_set():
            if (
                self._busy
                or not self.greeted
                or self.lost
                or time.monotonic() - self._last_call < _IDLE_AFTER
            ):
                self._closed.wait(_IDLE_AFTER)
                continue
            try:
                if not self._source.wait(_IDLE_POLL) or not self.lock.acquire(blocking=False):
                    continue
            except (OSError, ValueError):
                return  # the port closed under us
            try:
                if not self._busy:
                    self._idle_read()
            finally:
                self.lock.release()

    def _idle_read(self) -> None:
        try:
            frame = self.poll()
            while frame is not None:
                if self.on_idle_frame is not None:
                    self.on_idle_frame(frame)
                frame = self._take()
        except FrameError as exc:
            print(f"belay_hook: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a reset, a port gone: the next call says so
            self.lost = exc


def _interrupt_calls() -> None:
    """The program ends: Ctrl-C the boards' calls still in flight in other threads, so
    exiting never waits them out (run before non-daemon threads are joined)."""
    for channel in list(_open):
        if channel._busy:
            channel.interrupt()


@atexit.register
def _at_exit() -> None:
    """Before the interpreter goes: interrupt calls still in flight, and pass on what
    the boards printed last."""
    _interrupt_calls()
    for channel in list(_open):
        if channel.lock.acquire(blocking=False):
            try:
                channel.flush_text(limit=0.5)
            except Exception:  # noqa: BLE001 - exiting: nothing more to do about a board
                pass
            finally:
                channel.lock.release()


if hasattr(threading, "_register_atexit"):  # CPython 3.9+: runs before threads are joined
    threading._register_atexit(_interrupt_calls)


class _Source:
    """Reads what has arrived on a port without waiting byte by byte: straight from
    the device or socket where there is one (pyserial's socket transport reports at
    most one byte waiting), else through pyserial."""

    def __init__(self, serial: Any):
        self.serial = serial
        fd = getattr(serial, "fd", None)
        # socket:// only: an rfc2217:// socket carries telnet commands pyserial decodes
        raw = type(serial).__module__.endswith("protocol_socket")
        sock = getattr(serial, "_socket", None) if raw else None
        self._fd = fd if isinstance(fd, int) else None
        self._sock = sock if self._fd is None and sock is not None else None

    def wait(self, timeout: float) -> bool:
        """Whether bytes are there to read, waiting up to ``timeout`` seconds."""
        if self._fd is not None:
            return bool(select.select([self._fd], [], [], timeout)[0])
        if self._sock is not None:
            return bool(select.select([self._sock], [], [], timeout)[0])
        end = time.monotonic() + timeout
        while not self.serial.in_waiting:
            if time.monotonic() >= end:
                return False
            time.sleep(0.002)
        return True

    def read(self) -> bytes:
        """What is there now (call after :meth:`wait` said so)."""
        if self._fd is not None:
            data = os.read(self._fd, 65536)
        elif self._sock is not None:
            data = self._sock.recv(65536)
        else:
            return self.serial.read(max(1, self.serial.in_waiting))
        if not data:  # the other end hung up: the port is gone
            raise OSError(errno.EIO, "the port closed")
        return data

    def write(self, data: bytes) -> None:
        if self._fd is not None:
            try:
                sent = os.write(self._fd, data)
            except BlockingIOError:
                sent = 0
            data = data[sent:]
        if data:
            self.serial.write(data)


def _print_to_stdout(text: str) -> None:
    # Looked up on each write, so redirections (pytest's capsys, contextlib) apply.
    sys.stdout.write(text)
    sys.stdout.flush()


def _short_hex(data: bytes, limit: int = 32) -> str:
    """``data`` as hex bytes, cut after ``limit`` of them."""
    text = data[:limit].hex(" ")
    return text + f" ... ({len(data)} bytes)" if len(data) > limit else text
