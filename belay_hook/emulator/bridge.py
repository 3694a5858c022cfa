"""The emulator's bridge process: a pseudo-terminal that plays a board's USB port.

`Emulator` runs ``python -m belay_hook.emulator.bridge ...`` as a separate process, so
that it neither competes with the host for its GIL nor stops when the host is busy.
The bridge creates the port pty and runs the MicroPython unix VM (``micropython -i
boot.py FLASH STATE``, mcu/emulator/) in its own session on a second pty, its
controlling terminal, and copies bytes between the two. Both ptys are raw and 8-bit
clean. What the unix port lacks to look like firmware on USB, the bridge adds:

* Ctrl-C. Firmware acts on 0x03 when it arrives while code runs, and passes it on as
  input otherwise. The unix port relies on SIGINT, but runs raw-pasted code with its
  tty in raw mode (no ISIG), and with ISIG on, a 0x03 while its handler is not
  installed (``micropython.kbd_intr(-1)``, or just as code ends) kills it. So the VM's
  pty has no ISIG and the bridge decides on each 0x03: SIGINT if the VM has its SIGINT
  handler installed (/proc/PID/status, SigCgt: that is exactly while code runs with
  Ctrl-C armed), else the byte goes through.
* Soft reboot. The unix VM *exits* where firmware soft-reboots (Ctrl-D at an empty
  prompt, ``sys.exit()``, ``machine.soft_reset()``). The bridge then sends
  ``MPY: soft reboot\\r\\n`` and starts a fresh VM on the same flash; if the VM was
  in the raw REPL (its last banner says which) it puts the new one there too and
  passes on only ``raw REPL; CTRL-B to exit\\r\\n>``, as firmware does. Bytes the
  dead VM never read go to the new one. ``machine.reset()`` (exit status 99) and a
  crash are a hard reset: no soft-reboot line, the new VM's banner, friendly REPL.
  Measured on the 2-core dev machine: a soft reboot takes about 40 ms from Ctrl-D to
  the new prompt (raw or friendly); `Emulator.start()` about 70-90 ms.
* A receive side like a board's: bytes from the host are read only while fewer than
  `BUFFER` wait here and the VM has fewer than `BUFFER` unread, so a host that writes
  faster than board code reads is held back by its own ``write()``.
* An optional shaped link: ``--baudrate`` paces each direction at baudrate/10 bytes/s
  (8N1) and ``--latency`` delays each byte (64 KiB at 115200 baud: 5.7 s).
* ``--flavour circuitpython`` (and ``--language``): CircuitPython's conventions
  instead, listed in `belay_hook.emulator.circuitpython`.

It exits when its standard input (a pipe from the host) reaches EOF, killing the VM;
if the bridge dies, the VM is hung up with its terminal. The port path is printed on
stdout as ``PORT <path>`` once the first VM waits at its prompt (its banner is not
sent, as a board's boot banner is lost before the host opens the port), or
``ERROR <text>`` with exit status 1. (CircuitPython: once its supervisor runs.)
"""

from __future__ import annotations

import argparse
import array
import collections
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from typing import List

from belay_hook.emulator import circuitpython

BUFFER = 1024
HARD_RESET_EXIT = 99  # mcu/emulator/machine.py: machine.reset() exits with it
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
PROMPT = b">>> "
_RAW_MARK = b"raw REPL; CTRL-B to exit"
_FRIENDLY_MARK = b"for more information."  # end of the banner the friendly REPL prints
BOOT_TIMEOUT = 20.0


class BootError(Exception):
    """The VM died or hung before reaching its REPL prompt."""


class _Line:
    """One direction of the link: the bytes in flight, paced like a UART when shaped."""

    def __init__(self, baudrate: int | None, latency: float):
        self._rate = baudrate / 10 if baudrate else None
        self._latency = latency
        self._chunks: collections.deque = collections.deque()  # [due time, bytes]
        self._line_free_at = 0.0
        self.size = 0

    def put(self, data: bytes, now: float) -> None:
        """Queue bytes that the sender handed over at `now`."""
        if not data:
            return
        start = now
        if self._rate:
            start = max(now, self._line_free_at)
            self._line_free_at = start + len(data) / self._rate
        self._chunks.append([start + self._latency, data])
        self.size += len(data)

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


class _VM:
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

    def read_until(self, token: bytes, timeout: float) -> bytes:
        """Everything the VM writes up to and including `token` (used while booting)."""
        data = b""
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


class Bridge:
    """Copies bytes between the port pty and the current VM, rebooting it when it exits."""

    def __init__(self, args: argparse.Namespace):
        # Run from the boot script's folder, so board tracebacks name its modules
        # (machine.py, flash.py) without the host path.
        self._vm_folder, boot = os.path.split(args.boot)
        self._command = [
            args.micropython, "-X", f"heapsize={args.heap}", "-i", boot, args.flash, args.state,
        ]  # fmt: skip
        for name in ("pins", "inputs"):  # the VM opens both at boot
            open(os.path.join(args.state, name), "ab").close()
        show_pins = args.show_pins
        self._pins = os.open(os.path.join(args.state, "pins"), os.O_RDONLY) if show_pins else None
        self._pin_tail = b""
        self._to_vm = _Line(args.baudrate, args.latency)
        self._to_host = _Line(args.baudrate, args.latency)
        self._mode_tail = b""
        self._raw = False
        self._vm_waits = False  # the VM printed something and was sent nothing since
        self._cp: circuitpython.Output | None = None
        self._soft_reboot_line = SOFT_REBOOT
        if args.flavour == "circuitpython":
            circuitpython.write_config(args.state, args.language)
            self._cp = circuitpython.Output()
            self._soft_reboot_line = circuitpython.soft_reboot_line(args.language)
        self._backoff = 0.0005
        # Without pidfd (or to show pins) nothing wakes the loop: look every 50 ms.
        self._idle = 0.05 if show_pins or not hasattr(os, "pidfd_open") else None
        self.port_master, self._port_slave = os.openpty()
        tty.setraw(self._port_slave)  # no echo or line editing before a client opens it
        os.set_blocking(self.port_master, False)
        self.port = os.ttyname(self._port_slave)
        self._vm: _VM | None = None

    def boot(self, how: str, show_banner: bool = True) -> None:
        """Start a VM after `how`: "power" (power-up, hard reset), "soft" (soft reboot
        to the friendly REPL), "raw" (soft reboot in the raw REPL) or, CircuitPython
        only, "repl" (the friendly REPL's fresh VM). Returns at its prompt, or once the
        CircuitPython supervisor runs (its output is passed on from there)."""
        command = self._command
        if self._cp is not None:
            command = command + ["circuitpython", "repl" if how == "raw" else how]
        self._vm = _VM(command, self._vm_folder)
        self._raw = how == "raw"
        if self._raw:
            self._vm.read_until(PROMPT, BOOT_TIMEOUT)
            os.write(self._vm.master, b"\x01")
            self._vm.read_until(RAW_BANNER, BOOT_TIMEOUT)
            self._from_vm(RAW_BANNER)
        elif self._cp is not None:
            data = self._vm.read_until(circuitpython.READY, BOOT_TIMEOUT)
            self._cp.supervisor_started()
            self._from_vm(data[data.find(circuitpython.READY) + len(circuitpython.READY) :])
        else:
            banner = self._vm.read_until(PROMPT, BOOT_TIMEOUT)
            if show_banner:
                self._from_vm(banner)

    def _from_vm(self, data: bytes) -> None:
        """Queue VM output for the host, noting whether the REPL is now raw or friendly."""
        window = self._mode_tail + data
        raw_at, friendly_at = window.rfind(_RAW_MARK), window.rfind(_FRIENDLY_MARK)
        if raw_at != friendly_at:
            self._raw = raw_at > friendly_at
        self._mode_tail = window[-len(_RAW_MARK) :]
        self._vm_waits = self._vm_waits or bool(data)
        if self._cp is not None:
            data = self._cp.feed(data)
        self._to_host.put(data, time.monotonic())

    def _replace_vm(self, how: str, said: bytes) -> None:
        """Pass on the last output of the VM, which has exited or is killed now, send
        the host `said` and boot a new VM after `how`, with the old one's unread input."""
        vm = self._vm
        while True:
            data = vm.read()
            if not data:
                break
            self._from_vm(data)
        leftover = vm.leftover_input()
        vm.close()
        if self._cp is not None:
            said = self._cp.flush() + said
        self._to_host.put(said, time.monotonic())
        self.boot(how)
        self._to_vm.put_first(leftover)

    def _reboot(self) -> None:
        """The VM exited: do what firmware does after the matching kind of reset."""
        status = self._vm.proc.wait()
        # An interrupt sent just as code finished can find SIGINT back at its default
        # and kill the VM: the host meant to interrupt, so treat that as a soft reboot.
        if status == -signal.SIGINT or 0 <= status != HARD_RESET_EXIT:
            self._replace_vm("raw" if self._raw else "soft", self._soft_reboot_line)
        else:
            self._replace_vm("power", b"")

    def _switches_repl(self, byte: bytes) -> bool:
        """CircuitPython: whether `byte` is Ctrl-A at the friendly prompt or Ctrl-B at
        the raw one (judged on what the VM printed last, with nothing sent since)."""
        raw = self._raw
        return (
            self._cp is not None and self._cp.at_repl and self._vm_waits
            and byte == (b"\x02" if raw else b"\x01")
            and self._mode_tail.endswith(b">" if raw else PROMPT)
            and not self._vm.running_code()
        )  # fmt: skip

    def _flush_to_host(self) -> bool:
        """Deliver what has arrived by now; True if some of it had to stay queued."""
        data = self._to_host.ready(time.monotonic(), BUFFER)
        if data:
            try:
                self._to_host.consume(os.write(self.port_master, data))
            except BlockingIOError:
                pass  # the host is not reading
        due = self._to_host.next_due()
        return due is not None and due <= time.monotonic()

    def _flush_to_vm(self) -> bool:
        """Deliver what has arrived for the VM, as far as it has room. Each 0x03 is
        handled as firmware does when it arrives: it interrupts running code (and is
        gone), else it goes to the REPL, which is waiting for input.

        (The pty's ISIG cannot: see the module docstring.)
        """
        vm = self._vm
        while True:
            data = self._to_vm.ready(time.monotonic(), 1)
            if data == b"\x03" and vm.running_code():
                os.kill(vm.proc.pid, signal.SIGINT)
                self._to_vm.consume(1)
                continue
            if self._switches_repl(data):  # CircuitPython starts a VM per REPL mode
                self._to_vm.consume(1)
                raw = data == b"\x01"
                self._replace_vm(
                    "raw" if raw else "repl", b"\r\n" + circuitpython.title("Done") * raw
                )
                vm = self._vm
                continue
            data = self._to_vm.ready(time.monotonic(), max(0, BUFFER - vm.unread()))
            cut = data.find(b"\x03", 1)  # the next one is decided when its turn comes
            if cut > 0:
                data = data[:cut]
            try:
                written = os.write(vm.master, data) if data else 0
            except BlockingIOError:
                written = 0
            self._to_vm.consume(written)
            self._vm_waits = self._vm_waits and not written
            if cut < 0 or written < len(data):
                break
        due = self._to_vm.next_due()
        return due is not None and due <= time.monotonic()

    def _show_pins(self) -> None:
        lines = (self._pin_tail + os.read(self._pins, 65536)).split(b"\n")
        self._pin_tail = lines.pop()
        for line in lines:
            pin, value = line.split()[:2]
            name = pin.decode() if pin.isdigit() else repr(pin.decode())
            dot = "\u25cf" if value == b"1" else "\u25cb"
            print(f"[emulator] Pin({name}) -> {value.decode()} {dot}", file=sys.stderr, flush=True)

    def run(self, control: int) -> None:
        """Serve until `control` (the host's pipe) reaches EOF."""
        while True:
            if self._cp is not None and self._cp.reloading:
                self._replace_vm("soft", self._soft_reboot_line)
            stuck = {self._to_vm: self._flush_to_vm(), self._to_host: self._flush_to_host()}
            vm = self._vm  # (flushing may have replaced it)
            # Nothing says when the VM reads or the host drains: poll, backing off.
            self._backoff = min(self._backoff * 2, 0.01) if any(stuck.values()) else 0.0005
            now = time.monotonic()
            waits = [self._idle] if self._idle else []
            for line, line_stuck in stuck.items():
                due = line.next_due()
                if due is not None:
                    waits.append(self._backoff if line_stuck else max(due - now, 0.001))
            timeout = min(waits) if waits else None
            readers = [control] + ([vm.exit_fd] if vm.exit_fd is not None else [])
            if self._to_vm.size < BUFFER:
                readers.append(self.port_master)
            if self._to_host.size < BUFFER:
                readers.append(vm.master)
            ready = select.select(readers, [], [], timeout)[0]
            if control in ready and not os.read(control, 4096):
                return
            if vm.proc.poll() is not None:
                self._reboot()
                continue
            if self.port_master in ready:
                data = os.read(self.port_master, BUFFER - self._to_vm.size)
                self._to_vm.put(data, time.monotonic())
            if vm.master in ready:
                self._from_vm(vm.read(BUFFER - self._to_host.size))
            if self._pins is not None:
                self._show_pins()

    def close(self) -> None:
        if self._vm is not None:
            self._vm.close()


def main(argv: List[str] | None = None) -> int:
    """Entry point of the bridge process (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m belay_hook.emulator.bridge")
    parser.add_argument("--micropython", required=True)
    parser.add_argument("--boot", required=True)
    parser.add_argument("--flash", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--heap", default="256k")
    parser.add_argument("--baudrate", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--show-pins", action="store_true")
    parser.add_argument(
        "--flavour", choices=["micropython", "circuitpython"], default="micropython"
    )
    parser.add_argument("--language", choices=sorted(circuitpython.TEXTS), default="en")
    args = parser.parse_args(argv)
    bridge = Bridge(args)
    try:
        try:
            bridge.boot("power", show_banner=False)
        except BootError as exc:
            print(f"ERROR {exc}", flush=True)  # what Emulator.start() reports
            return 1
        print(f"PORT {bridge.port}", flush=True)
        try:
            bridge.run(sys.stdin.fileno())
        except BootError as exc:  # a reboot failed: the port goes dead, say why
            print(f"[emulator] {exc}", file=sys.stderr, flush=True)
            return 1
    finally:
        bridge.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
