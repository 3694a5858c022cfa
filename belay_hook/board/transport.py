"""A port with deadlines: every read has one, and bytes read but not handed out are kept.

`Transport` wraps a pyserial port (a device path, a pyserial URL, or a WebREPL
``ws://`` address) for :class:`~belay_hook.board.link.Link`, which speaks the raw REPL
over it. A lost port is a LinkError naming it; a deadline passed is a
BoardTimeoutError saying what was awaited and the last bytes that came.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import time
from typing import Iterator, NamedTuple

import serial

from belay_hook.errors import BoardTimeoutError, LinkError

POLL = 0.05  # longest a single pyserial read blocks, so deadlines are kept
_HISTORY = 256  # how many of the last received bytes a timeout reports
log = logging.getLogger(__name__)


class Transport:
    """An open-able port to a board with deadline-bound reads (see the module docstring)."""

    def __init__(self, port: str, *, baudrate: int = 115200, timeout: float = 10.0):
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self._serial: serial.SerialBase | None = None
        self._kept = bytearray()  # read from the port, not yet handed out
        self._history = bytearray()

    def open(self) -> Transport:
        """Open the port (exclusively, for a local device) or raise LinkError naming it."""
        if self._serial is not None:
            return self
        options = {"baudrate": self.baudrate, "timeout": POLL}
        if "://" not in self.port and os.name == "posix":
            options["exclusive"] = True  # a second program on the port garbles both
        try:
            self._serial = _open_port(self.port, options)
        except LinkError:
            raise  # it names the port already (a WebREPL login, say)
        except serial.SerialException as exc:
            raise self._open_error(exc) from exc
        except (ValueError, OSError) as exc:
            raise LinkError(self.port, f"cannot open: {exc}") from exc
        log.info("opened %s", self.port)
        self._opened()
        return self

    def _opened(self) -> None:
        """The port was just opened: a subclass forgets what it knew of the board."""

    def _open_error(self, exc: serial.SerialException) -> LinkError:
        text = str(exc)
        if exc.errno == errno.ENOENT or "FileNotFoundError" in text or "No such file" in text:
            return LinkError(self.port, f"no such port (is the board plugged in?): {text}")
        if exc.errno in (errno.EBUSY, errno.EAGAIN, errno.EACCES, errno.EPERM) or any(
            word in text for word in ("PermissionError", "Access is denied", "lock")
        ):
            return LinkError(
                self.port, f"busy: {text} (is another program using it, or no permission?)"
            )
        return LinkError(self.port, text)

    def close(self) -> None:
        """Close the port; the board keeps running whatever it runs."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        self._kept.clear()

    def __enter__(self) -> Transport:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def serial(self) -> serial.SerialBase:
        """The open pyserial object (see the module docstring before reading it directly)."""
        if self._serial is None:
            raise LinkError(self.port, "the link is not open")
        return self._serial

    @property
    def in_waiting(self) -> int:
        """Bytes that can be read now without waiting."""
        port = self.serial
        with self._port_errors():
            return len(self._kept) + port.in_waiting

    @contextlib.contextmanager
    def _port_errors(self) -> Iterator[None]:
        """pyserial's errors, once the port is open, mean the board went away."""
        try:
            yield
        except (serial.SerialException, OSError) as exc:
            raise LinkError(self.port, f"connection lost: {exc}") from exc

    def _send(self, data: bytes) -> None:
        port = self.serial
        with self._port_errors():
            port.write(data)

    def write(self, data: bytes) -> None:
        """Send bytes to the board; 0x03 is refused (it would interrupt the board)."""
        if 0x03 in data:
            raise ValueError("data holds a raw 0x03 (Ctrl-C), which interrupts the board")
        self._send(data)

    def _receive(self, limit: int, due: _Due, waiting_for: str) -> bytes:
        """Between 1 and `limit` bytes, or BoardTimeoutError once `due` has passed."""
        if self._kept:
            data = bytes(self._kept[:limit])
            del self._kept[:limit]
            return data
        port = self.serial
        while True:
            with self._port_errors():
                if port.timeout != POLL:  # the caller may have changed it
                    port.timeout = POLL
                data = port.read(min(limit, max(1, port.in_waiting)))
            if data:
                self._remember(data)
                return data
            if time.monotonic() >= due.deadline:
                raise BoardTimeoutError(self.port, waiting_for, due.timeout, bytes(self._history))

    def _remember(self, data: bytes) -> None:
        self._history += data
        del self._history[:-_HISTORY]

    def _due(self, timeout: float | None) -> _Due:
        timeout = self.timeout if timeout is None else timeout
        return _Due(time.monotonic() + timeout, timeout)

    def read_exactly(
        self, n: int, timeout: float | None = None, waiting_for: str = "data from the board"
    ) -> bytes:
        """Exactly `n` bytes, within `timeout` seconds (default: the link's)."""
        return self._read_exactly(n, self._due(timeout), waiting_for)

    def _read_exactly(self, n: int, due: _Due, waiting_for: str) -> bytes:
        data = bytearray()
        while len(data) < n:
            data += self._receive(n - len(data), due, waiting_for)
        return bytes(data)

    def read_until(
        self, token: bytes, timeout: float | None = None, waiting_for: str | None = None
    ) -> bytes:
        """Everything up to and including `token`, and not a byte more."""
        return self._read_until(token, self._due(timeout), waiting_for or repr(token))

    def _read_until(self, token: bytes, due: _Due, waiting_for: str) -> bytes:
        data = bytearray()
        while not data.endswith(token):
            # Reading more than this could pass the end of a token that starts in `data`.
            overlap = next(
                (k for k in range(min(len(token) - 1, len(data)), 0, -1)
                 if data.endswith(token[:k])),
                0,
            )  # fmt: skip
            data += self._receive(len(token) - overlap, due, waiting_for)
        return bytes(data)

    def read_available(self) -> bytes:
        """Whatever has arrived, without waiting."""
        data = bytes(self._kept)
        self._kept.clear()
        port = self.serial
        with self._port_errors():
            # socket:// reports 1 byte waiting at most: read its socket (not rfc2217's,
            # which carries telnet commands for pyserial to decode)
            raw = type(port).__module__.endswith("protocol_socket")
            sock = getattr(port, "_socket", None) if raw else None
            if sock is not None and select.select([sock], [], [], 0)[0]:
                received = sock.recv(65536) or b""
            else:
                received = port.read(port.in_waiting) if port.in_waiting else b""
        self._remember(received)
        return data + received

    def _drain(self, quiet: float, due: _Due) -> bytes:
        """Throw away output until the board has been silent for `quiet` seconds; the
        last of it is returned (to look for banners)."""
        seen = bytearray()
        silent_since = time.monotonic()
        while time.monotonic() < due.deadline:
            data = self.read_available()
            if data:
                seen += data
                del seen[:-4096]
                silent_since = time.monotonic()
            elif time.monotonic() - silent_since >= quiet:
                break
            time.sleep(0.01)
        return bytes(seen)

    def _receive_within(self, quiet: float, due: _Due, waiting_for: str) -> bytes:
        """What arrives within `quiet` seconds (b"" if nothing), up to the deadline."""
        soon = _Due(time.monotonic() + quiet, due.timeout)
        try:
            return self._receive(4096, min(soon, due), waiting_for)
        except BoardTimeoutError:
            if time.monotonic() >= due.deadline:
                raise
            return b""


class _Due(NamedTuple):
    """When a command must be done by, and the timeout that set it (for the error)."""

    deadline: float
    timeout: float


def _open_port(port: str, options: dict) -> serial.SerialBase:
    """A pyserial port for a device, a pyserial URL, or a WebREPL (ws://host:8266)."""
    if port[:5].lower() == "ws://":
        from belay_hook.board.webrepl import WebRepl

        return WebRepl(port, timeout=options["timeout"])
    return serial.serial_for_url(port, **options)
