"""A board's WebREPL (``ws://host:8266``) as a serial port, for boards reached over Wi-Fi.

MicroPython's WebREPL is a WebSocket server whose text frames carry the REPL's
bytes both ways, just as a UART would; binary frames are its file-transfer
protocol, which is not needed here (files go through the raw REPL like anywhere
else). Before the REPL is attached the board sends ``Password: `` and reads a
password up to a line end, then answers ``WebREPL connected`` and the prompt, or
``Access denied`` and closes the connection.

`WebRepl` is a pyserial ``SerialBase``, so `belay_hook.board.link.Link` and the
session use it like any serial port: a reader thread takes frames off the socket
into a buffer that ``read``/``in_waiting`` serve. The password comes from the URL
(``ws://:PASSWORD@host:8266``) or ``$BELAY_HOOK_WEBREPL_PASSWORD``; messages name
the URL without it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import struct
import threading
import time
import urllib.parse
from typing import Tuple

import serial

from belay_hook.errors import LinkError

log = logging.getLogger(__name__)

DEFAULT_PORT = 8266
PASSWORD_ENV = "BELAY_HOOK_WEBREPL_PASSWORD"
PROMPT = b"Password: "
CONNECTED = b"WebREPL connected"
DENIED = b"Access denied"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's handshake constant
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_FRAME = 1024  # bytes per frame we send: small boards read frames into small buffers
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def parse_url(url: str) -> Tuple[str, int, str, str | None, str]:
    """(host, port, path, password or None, the URL without the password)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "ws" or not parts.hostname:
        raise LinkError(url, "a WebREPL address looks like ws://HOST[:PORT]")
    port = parts.port or DEFAULT_PORT
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = f"ws://{host}:{port}{parts.path}"
    return parts.hostname, port, parts.path or "/", parts.password, shown


def mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 masking (its own inverse): XOR with the 4-byte key, repeated."""
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, masked: bool = True) -> bytes:
    """One final WebSocket frame; clients must mask what they send."""
    n = len(payload)
    head = bytes((0x80 | opcode,))
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes((bit | n,))
    elif n < 1 << 16:
        head += bytes((bit | 126,)) + struct.pack(">H", n)
    else:
        head += bytes((bit | 127,)) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def read_frame(sock: socket.socket) -> Tuple[int, bytes]:
    """(opcode, payload) of the next frame, unmasked; EOFError when the peer is gone.
    Fragments are returned as they come (opcode 0 for continuations)."""
    b0, b1 = _exactly(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _exactly(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _exactly(sock, 8))[0]
    key = _exactly(sock, 4) if b1 & 0x80 else b""
    payload = _exactly(sock, n)
    return b0 & 0x0F, mask(payload, key) if key else payload


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return bytes(data)


class _Denied(LinkError):
    """The board said ``Access denied`` or hung up during the login."""


class WebRepl(serial.SerialBase):
    """A WebREPL connection with pyserial's interface: read, write, in_waiting, timeout."""

    def __init__(self, port: str | None = None, *args, password: str | None = None, **kwargs):
        self.password = password
        self.connect_timeout = 10.0
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._ready = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed_by_peer = False
        self._reader: threading.Thread | None = None
        self.shown = port or ""
        super().__init__(port, *args, **kwargs)

    # -- connecting

    def open(self) -> None:
        """Connect, log in and start taking frames; LinkError naming the URL if not."""
        host, port, path, url_password, self.shown = parse_url(self.portstr)
        password = self.password or url_password or os.environ.get(PASSWORD_ENV)
        if not password:
            raise LinkError(self.shown, f"the WebREPL needs its password: set ${PASSWORD_ENV} "
                            "or write ws://:PASSWORD@host:port")  # fmt: skip
        log.info("connecting to %s", self.shown)
        try:
            sock = socket.create_connection((host, port), timeout=self.connect_timeout)
        except OSError as exc:
            raise LinkError(self.shown, f"cannot connect: {exc.strerror or exc}") from None
        try:
            self._handshake(sock, host, port, path)
            self._log_in(sock, password)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        # Requests are small writes awaiting small answers: Nagle's wait for an ACK
        # (which the other side delays) would add tens of milliseconds to every call.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._closed_by_peer = sock, False
        self.is_open = True
        self._reader = threading.Thread(
            target=self._read_loop, name=f"belay_hook webrepl {self.shown}", daemon=True
        )
        self._reader.start()

    def _handshake(self, sock: socket.socket, host: str, port: int, path: str) -> None:
        key = base64.b64encode(os.urandom(16))
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        answer = bytearray()
        while not answer.endswith(b"\r\n\r\n"):  # a byte at a time: frames follow at once
            answer += self._recv(sock, "the WebSocket handshake")
        lines = answer[:-4].decode("latin-1").split("\r\n")
        if len(lines[0].split()) < 2 or lines[0].split()[1] != "101":
            raise LinkError(self.shown, f"not a WebREPL: it answered {lines[0]!r}")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        if headers.get("sec-websocket-accept", accept) != accept:
            raise LinkError(self.shown, "the WebSocket handshake answer does not match")

    def _log_in(self, sock: socket.socket, password: str) -> None:
        self._await(sock, PROMPT, "the WebREPL password prompt")
        sock.sendall(frame(OP_TEXT, password.encode() + b"\r"))
        try:
            seen = self._await(sock, CONNECTED, "the WebREPL's answer to the password")
        except _Denied:
            raise LinkError(self.shown, "wrong password (the WebREPL denied access)") from None
        self._buf += seen.partition(CONNECTED)[2].lstrip(b"\r\n")  # the REPL's prompt
        log.info("%s: logged in", self.shown)

    def _await(self, sock: socket.socket, token: bytes, what: str) -> bytes:
        """REPL text up to and including `token` (and what came with it); _Denied if
        the board says ``Access denied`` or hangs up instead."""
        seen = bytearray()
        deadline = time.monotonic() + self.connect_timeout
        while token not in seen:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                opcode, payload = read_frame(sock)
            except socket.timeout:
                raise LinkError(self.shown, f"no {what} within {self.connect_timeout:g} s; "
                                f"it sent {bytes(seen[-80:])!r}") from None  # fmt: skip
            except (EOFError, OSError):
                opcode, payload = OP_CLOSE, b""
            if opcode in (0, OP_TEXT):
                seen += payload
            if DENIED in seen or opcode == OP_CLOSE:
                raise _Denied(self.shown, f"closed while waiting for {what}")
        return bytes(seen)

    def _recv(self, sock: socket.socket, what: str) -> bytes:
        try:
            chunk = sock.recv(1)
        except socket.timeout:
            raise LinkError(self.shown, f"no answer to {what}") from None
        if not chunk:
            raise LinkError(self.shown, f"closed during {what}")
        return chunk

    # -- the byte stream

    def _read_loop(self) -> None:
        sock = self._sock
        try:
            while sock is not None:
                opcode, payload = read_frame(sock)
                if _QUICKACK is not None:  # Linux: ACK at once, or a board's Nagle waits on us
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                if opcode in (0, OP_TEXT, OP_BINARY) and payload:
                    with self._ready:
                        self._buf += payload
                        self._ready.notify_all()
                elif opcode == OP_PING:
                    self._send(OP_PONG, payload)
                elif opcode == OP_CLOSE:
                    break
        except (EOFError, OSError):
            pass
        with self._ready:
            self._closed_by_peer = True
            self._ready.notify_all()

    @property
    def in_waiting(self) -> int:
        self._check_open()
        return len(self._buf)

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes: waits for all of them until `timeout` (None: forever)."""
        self._check_open()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        with self._ready:
            while len(self._buf) < size and not self._closed_by_peer:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._ready.wait(left)
            if not self._buf and self._closed_by_peer:
                raise serial.SerialException(f"{self.shown}: the WebREPL connection closed")
            data = bytes(self._buf[:size])
            del self._buf[:size]
            return data

    def write(self, data: bytes) -> int:
        """Send REPL input as text frames, as the WebREPL reads it."""
        self._check_open()
        data = bytes(data)
        for start in range(0, len(data), _FRAME):
            self._send(OP_TEXT, data[start : start + _FRAME])
        return len(data)

    def _send(self, opcode: int, payload: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise serial.PortNotOpenError()
        with self._send_lock:
            try:
                sock.sendall(frame(opcode, payload))
            except OSError as exc:
                raise serial.SerialException(f"{self.shown}: {exc}") from exc

    def _check_open(self) -> None:
        if not self.is_open:
            raise serial.PortNotOpenError()

    def reset_input_buffer(self) -> None:
        with self._ready:
            self._buf.clear()

    def reset_output_buffer(self) -> None:
        pass  # nothing is held back: every write goes out at once

    def cancel_read(self) -> None:
        with self._ready:
            self._ready.notify_all()

    def _reconfigure_port(self, *args: object) -> None:
        pass  # no baud rate or line settings on a socket; timeouts are read per call

    def close(self) -> None:
        """Say goodbye (a close frame) and drop the connection; the board keeps running."""
        sock, self._sock = self._sock, None
        self.is_open = False
        if sock is None:
            return
        try:
            with self._send_lock:
                sock.sendall(frame(OP_CLOSE, b""))
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        log.info("closed %s", self.shown)
