"""The two things the bridge is built on: one run of the MicroPython unix VM on its own
pty (`VM`) and one direction of the link, paced like a UART when shaped (`Line`)."""

from __future__ import annotations

import array
import collections
import fcntl
import os
import select
import signal
import subprocess
import termios
import time
import tty
from typing import List


class BootError(Exception):
    """The VM died or hung before reaching its REPL prompt."""


class Line:
    """One direction of the link: the bytes in flight, paced like a UART when shaped."""

    def __init__(self, baudrate: int | None, latency: float):
        self._rate = baudrate / 10 if baudrate else None
        self._latency = latency
        self._chunks: collections.deque = collections.deque()  # [due time, bytes]
        self._line_free_at = 0.0
        self.size = 0

    def put(self, data: bytes, now: float, hold: float = 0.0) -> None:
        """Queue bytes that the sender handed over at `now`, held back `hold` seconds
        more (a stall: what is queued behind them waits too)."""
        if not data:
            return
        start = now + hold
        if self._rate:
            start = max(start, self._line_free_at)
            self._line_free_at = start + len(data) / self._rate
        self._chunks.append([start + self._latency, data])
        self.size += len(data)

    def clear(self) -> None:
        """Lose everything in flight."""
        self._chunks.clear()
        self.size = 0

    def put_first(self, data: bytes) -> None:
        """Queue bytes ahead of everything else, due at once."""
        if data:
            self._chunks.appendleft([0.0, data])
            self.size += len(data)

    def ready(self, now: float, limit: int) -> bytes:
        """Up to `limit` bytes that have arrived by `now` (left queued until `consume`)."""
        out = []
        for due, data in self._chunks:
            count = len(data) if not self._rate else int((now - due) * self._rate)
            if now < due or count <= 0:
                break
            out.append(data[: min(count, limit)])
            limit -= len(out[-1])
            if count < len(data) or limit <= 0:
                break
        return b"".join(out)

    def consume(self, count: int) -> None:
        """Drop `count` delivered bytes from the front."""
        self.size -= count
        while count:
            chunk = self._chunks[0]
            if count >= len(chunk[1]):
                count -= len(chunk[1])
                self._chunks.popleft()
            else:
                chunk[1] = chunk[1][count:]
                if self._rate:
                    chunk[0] += count / self._rate
                count = 0

    def next_due(self) -> float | None:
        """When the next byte arrives (possibly already past), None if nothing queued."""
        if not self._chunks:
            return None
        due = self._chunks[0][0]
        return due + 1 / self._rate if self._rate else due


def _take_controlling_tty() -> None:
    """In the VM child, after setsid(): make its stdin pty the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class VM:
    """One run of the MicroPython unix VM on its own pty."""

    def __init__(self, command: List[str], cwd: str):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no ISIG either: see _flush_to_vm
        os.set_blocking(self.master, False)
        self.proc = subprocess.Popen(
            command,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_take_controlling_tty,
        )
        # The bridge keeps `slave` open: to count the VM's unread input, to recover it
        # after the VM exits, and so that reads of `master` never fail with EIO.
        self.exit_fd = os.pidfd_open(self.proc.pid) if hasattr(os, "pidfd_open") else None

    def running_code(self) -> bool:
        """Whether Ctrl-C would interrupt the VM now: the unix port installs its SIGINT
        handler exactly while it runs code (unless ``micropython.kbd_intr(-1)``), as
        firmware arms its Ctrl-C check."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as status:
                caught = next(line for line in status if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return False
        return bool(int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)))

    def unread(self) -> int:
        """Bytes written to the VM that it has not read yet."""
        count = array.array("i", [0])
        fcntl.ioctl(self.slave, termios.FIONREAD, count)
        return count[0]

    def read(self, limit: int = 4096) -> bytes:
        """What the VM wrote (up to `limit` bytes), without waiting."""
        try:
            return os.read(self.master, limit)
        except BlockingIOError:
            return b""

    def read_until(self, token: bytes, timeout: float, data: bytes = b"") -> bytes:
        """Everything the VM writes up to and including `token`, after `data` it wrote
        before (used while booting)."""
        deadline = time.monotonic() + timeout
        while token not in data:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                data += self.read()
                raise BootError(f"no {token!r} from the MicroPython VM; it wrote {data!r}")
            select.select([self.master], [], [], 0.05)
            data += self.read()
        return data

    def leftover_input(self) -> bytes:
        """After the VM exited: the bytes it was sent but never read."""
        os.set_blocking(self.slave, False)
        try:
            return os.read(self.slave, 65536)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for fd in (self.master, self.slave, self.exit_fd):
            if fd is not None:
                os.close(fd)
