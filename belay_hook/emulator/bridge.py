"""The emulator's bridge process: a pseudo-terminal that plays a board's USB port.

`Emulator` runs ``python -m belay_hook.emulator.bridge ...`` as a separate process, so
that it neither competes with the host for its GIL nor stops when the host is busy.
The bridge creates the port pty and runs the MicroPython unix VM (``micropython -i
boot.py FLASH STATE FLAVOUR MODE``, mcu/emulator/; behind `jail` where it can) in its
own session on a second pty, its controlling terminal, and copies bytes between the two.
Both ptys are raw and 8-bit clean. What the unix port lacks to look like firmware on
USB, the bridge adds:

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
  Flash's boot.py and main.py run after each, as `startup` says. The new VM is a
  spare, started ahead (`Bridge._spawn`): a VM process is a CPython interpreter around
  the VM, 40-50 ms to start, while the spare only has to be told its mode. Measured on
  the 2-core dev machine: a soft reboot in the raw REPL takes about 25-35 ms from
  Ctrl-D to the new raw prompt (bench/bench_start.py).
* A receive side like a board's: bytes from the host are read only while fewer than
  `BUFFER` wait here and the VM has fewer than `BUFFER` unread, so a host that writes
  faster than board code reads is held back by its own ``write()``.
* An optional shaped link: ``--baudrate`` paces each direction at baudrate/10 bytes/s
  (8N1) and ``--latency`` delays each byte (64 KiB at 115200 baud: 5.7 s).
* ``--flavour circuitpython`` (and ``--language``): CircuitPython's conventions
  instead, listed in `belay_hook.emulator.circuitpython`.

* Faults (`belay_hook.emulator.faults`) applied to the bytes of either direction, and
  the reset button: the new VM's banner is rewritten as firmware prints it.

Its standard input is the host's control channel: one JSON request a line (arm a
fault, count or clear them, reset), each answered by a JSON line on stdout. It exits
when its standard input (a pipe from the host) reaches EOF, killing the VM;
if the bridge dies, the VM is hung up with its terminal. The port path is printed on
stdout as ``PORT <path>`` once the first VM runs flash's files (its banner is not
sent, as a board's boot banner is lost before the host opens the port), or
``ERROR <text>`` with exit status 1. (CircuitPython: once its supervisor runs.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import tty
from typing import Any, Dict, List

from belay_hook.emulator import circuitpython, jail, startup
from belay_hook.emulator.circuitpython import READY
from belay_hook.emulator.faults import FaultStream, Segment
from belay_hook.emulator.startup import PROMPT, RAW_BANNER
from belay_hook.emulator.vmproc import VM, BootError, Line

BUFFER = 1024
HARD_RESET_EXIT = 99  # mcu/emulator/machine.py: machine.reset() exits with it
SOFT_REBOOT = b"MPY: soft reboot\r\n"
_CTRL_A_AGAIN = 0.5  # a raw soft reboot's Ctrl-A unanswered this long is sent again
_RAW_MARK = b"raw REPL; CTRL-B to exit"
_FRIENDLY_MARK = b"for more information."  # end of the banner the friendly REPL prints
# The unix VM's banner line "MicroPython <hash> on <date>; linux [GCC ...] version"
_BANNER_LINE = re.compile(rb"MicroPython \S+ on (\S+); [^\r\n]*")
BOARD = b"belay_hook emulator with unix VM"
BOOT_TIMEOUT = 20.0


class Bridge:
    """Copies bytes between the port pty and the current VM, rebooting it when it exits."""

    def __init__(self, args: argparse.Namespace):
        # Run from the boot script's folder, so board tracebacks name its modules
        # (machine.py, flash.py) without the host path.
        self._vm_folder, boot = os.path.split(args.boot)
        self._command = [
            args.micropython, "-X", f"heapsize={args.heap}", "-i", boot, args.flash, args.state,
        ]  # fmt: skip
        if jail.wraps(args.micropython):  # the OS-level half of the sandbox
            jailed = [sys.executable, jail.__file__, args.flash, args.state, self._vm_folder, "--"]
            self._command = jailed + self._command
        for name in ("pins", "inputs", "buses"):  # the VM opens them at boot
            open(os.path.join(args.state, name), "ab").close()
        show_pins = args.show_pins
        self._pins = os.open(os.path.join(args.state, "pins"), os.O_RDONLY) if show_pins else None
        self._pin_tail = b""
        self._to_vm = Line(args.baudrate, args.latency)
        self._to_host = Line(args.baudrate, args.latency)
        self._mode_tail = b""
        self._raw = False
        self._ctrl_a_sent = 0.0  # when the VM was last sent a Ctrl-A for a raw soft reboot
        self._vm_waits = False  # the VM printed something and was sent nothing since
        self._flavour = args.flavour
        self._cp: circuitpython.Output | None = None
        self._output: circuitpython.Output | startup.Output = startup.Output(self._rewrite_banner)
        self._soft_reboot_line = SOFT_REBOOT
        if args.flavour == "circuitpython":
            circuitpython.write_config(args.state, args.language)
            self._output = self._cp = circuitpython.Output()
            self._soft_reboot_line = circuitpython.soft_reboot_line(args.language)
        self._backoff = 0.0005
        # Without pidfd (or to show pins) nothing wakes the loop: look every 50 ms.
        self._idle = 0.05 if show_pins or not hasattr(os, "pidfd_open") else None
        self.port_master, self._port_slave = os.openpty()
        tty.setraw(self._port_slave)  # no echo or line editing before a client opens it
        os.set_blocking(self.port_master, False)
        self.port = os.ttyname(self._port_slave)
        self._vm: VM | None = None
        self._spare: VM | None = None  # the VM the next reset starts (`_spawn`)
        self._faults = {"to_host": FaultStream(), "to_board": FaultStream()}
        self._requests = b""
        self._version = vm_version(args.micropython)

    def boot(self, how: str, show_banner: bool = True) -> None:
        """Start a VM after `how`: "power" (power-up, hard reset), "soft" (soft reboot
        to the friendly REPL), "raw" (soft reboot in the raw REPL) or, CircuitPython
        only, "repl" (the friendly REPL's fresh VM). Returns at the raw REPL's prompt,
        else once the VM runs flash's files or CircuitPython's supervisor (its output is
        passed on from there: `_output`)."""
        cp = self._cp is not None
        mode = "repl" if cp and how == "raw" else how
        vm, self._spare = self._spare, None
        if vm is None or vm.proc.poll() is not None:  # none yet, or it died waiting
            if vm is not None:
                vm.close()
            vm = self._spawn()
        os.write(vm.master, mode.encode() + b"\n")
        self._vm = vm
        self._raw = how == "raw"
        if self._raw and cp:  # CircuitPython's raw REPL runs no file: wait for it
            vm.read_until(PROMPT, BOOT_TIMEOUT)
            os.write(vm.master, b"\x01")
            vm.read_until(RAW_BANNER, BOOT_TIMEOUT)
            self._from_vm(RAW_BANNER)
        else:  # files may run on: pass their output from here on (see `startup`)
            data = vm.read_until(READY, BOOT_TIMEOUT)
            self._output.started(show_banner, raw=self._raw)
            self._from_vm(data[data.find(READY) + len(READY) :])
        self._spare = self._spawn()

    def _spawn(self) -> VM:
        """A VM started up to the point where it needs to know what reset it follows
        (mcu/emulator/boot.py, mode "spare"): a reset then costs no process start."""
        return VM(self._command + [self._flavour, "spare"], self._vm_folder)

    def _rewrite_banner(self, banner: bytes) -> bytes:
        return _BANNER_LINE.sub(self._firmware_banner, banner, count=1)

    def _firmware_banner(self, vm_banner: re.Match) -> bytes:
        """``MicroPython v1.29.0 on <date>; <board> with <chip>``, as firmware prints."""
        return b"MicroPython %s on %s; %s" % (self._version, vm_banner.group(1), BOARD)

    def _from_vm(self, data: bytes) -> None:
        """Queue VM output for the host, noting whether the REPL is now raw or friendly."""
        window = self._mode_tail + data
        raw_at, friendly_at = window.rfind(_RAW_MARK), window.rfind(_FRIENDLY_MARK)
        if raw_at != friendly_at:
            self._raw = raw_at > friendly_at
        self._mode_tail = window[-len(_RAW_MARK) :]
        self._vm_waits = self._vm_waits or bool(data)
        self._to_host_with_faults(self._output.feed(data))

    def _to_host_with_faults(self, data: bytes) -> None:
        self._queue(self._to_host, self._faults["to_host"].feed(data))

    def _queue(self, line: Line, segments: List[Segment]) -> None:
        now = time.monotonic()
        for data, hold in segments:
            line.put(data, now, hold)

    def _replace_vm(self, how: str, said: bytes, keep_input: bool = True) -> None:
        """Pass on the last output of the VM, which has exited or is killed now, send
        the host `said` and boot a new VM after `how`, with the old one's unread input
        (`keep_input`) or without it, nor what was on its way (a reset button)."""
        vm = self._vm
        while True:
            data = vm.read()
            if not data:
                break
            self._from_vm(data)
        leftover = vm.leftover_input()
        vm.close()
        self._to_host_with_faults(self._output.flush() + said)
        if not keep_input:
            leftover = b""
            self._to_vm.clear()
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
        """Whether `byte` is Ctrl-A at the friendly prompt or Ctrl-B at the raw one
        (judged on what the VM printed last, with nothing sent since)."""
        raw = self._raw
        return (
            self._vm_waits
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
            if self._cp is not None and self._cp.at_repl and self._switches_repl(data):
                # CircuitPython starts a VM per REPL mode
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
            if self._cp is None and self._output.wants_raw:  # a raw soft reboot's REPL
                self._output.wants_raw = False
                os.write(self._vm.master, b"\x01")
                self._ctrl_a_sent = time.monotonic()
            elif (
                self._cp is None
                and self._output.awaits_raw_banner
                and time.monotonic() - self._ctrl_a_sent > _CTRL_A_AGAIN
            ):  # the VM's REPL, setting up its tty, can drop a byte that came first
                os.write(self._vm.master, b"\x01")
                self._ctrl_a_sent = time.monotonic()
            asked = self._output.asked  # by board code, from a file it runs at boot
            if asked == "soft":  # in the REPL mode the board was in, as firmware
                self._replace_vm("raw" if self._raw else "soft", self._soft_reboot_line)
            elif asked:
                self._replace_vm(asked, b"")
            stuck = {self._to_vm: self._flush_to_vm(), self._to_host: self._flush_to_host()}
            vm = self._vm  # (flushing may have replaced it)
            # Nothing says when the VM reads or the host drains: poll, backing off.
            self._backoff = min(self._backoff * 2, 0.01) if any(stuck.values()) else 0.0005
            now = time.monotonic()
            waits = [self._idle] if self._idle else []
            if self._cp is None and self._output.awaits_raw_banner:
                waits.append(_CTRL_A_AGAIN)
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
            if control in ready:
                if not self._serve_requests(os.read(control, 4096)):
                    return
                continue  # a reset may have replaced `vm`
            if vm.proc.poll() is not None:
                self._reboot()
                continue
            if self.port_master in ready:
                data = os.read(self.port_master, BUFFER - self._to_vm.size)
                self._queue(self._to_vm, self._faults["to_board"].feed(data))
            if vm.master in ready:
                self._from_vm(vm.read(BUFFER - self._to_host.size))
            if self._pins is not None:
                self._show_pins()

    def _serve_requests(self, data: bytes) -> bool:
        """Answer the host's requests (JSON lines) in `data`; False at EOF."""
        if not data:
            return False
        lines = (self._requests + data).split(b"\n")
        self._requests = lines.pop()
        for line in lines:
            reply = self._answer(json.loads(line))
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
        return True

    def _answer(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Do what the host asks (see `Emulator`): arm a fault, count or clear them, reset."""
        op = request["op"]
        if op == "fault":
            self._faults["to_board" if request["to_board"] else "to_host"].arm(request)
        elif op == "clear":
            for faults in self._faults.values():
                faults.clear()
        elif op == "reset":  # the reset button: what was on its way to the board is lost
            self._vm.proc.kill()
            self._vm.proc.wait()
            self._replace_vm("power", b"", keep_input=False)
        elif op != "pending":
            return {"error": f"unknown request {op!r}"}
        return {"pending": sum(len(faults) for faults in self._faults.values())}

    def close(self) -> None:
        for vm in (self._vm, self._spare):
            if vm is not None:
                vm.close()


def vm_version(micropython: str) -> bytes:
    """The VM's version as firmware banners show it (``v1.29.0-preview``): the unix VM's
    own banner names a commit hash instead."""
    code = "import sys;v=sys.implementation.version;print('v%d.%d.%d' % v[:3], v[3], sep='-')"
    found = subprocess.run([micropython, "-c", code], capture_output=True, timeout=BOOT_TIMEOUT)
    return found.stdout.strip().rstrip(b"-") or b"v?"


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
