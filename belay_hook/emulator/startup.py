"""What the emulated MicroPython board prints from a reset to its prompt, made firmware's.

After power-up, a hard reset or a soft reboot to the friendly REPL the board runs
flash's ``boot.py`` and ``main.py`` (after a soft reboot in the raw REPL, ``boot.py``
only), printing their output and tracebacks, then its REPL's banner, which the bridge
rewrites as firmware prints it (``MicroPython v1.29.0 on <date>; <board> with <chip>``).
A Ctrl-C interrupts a running file, as mpremote and Belay send on connecting. (The
banner after Ctrl-B in the raw REPL stays the VM's own: telling that Ctrl-B from a byte
of a running program's input is guesswork, and a wrong guess would hold its output.)

The board side is mcu/emulator/startup.py. Its marks in the output (`READY`, `REPL`,
`RELOAD`, `RESET`, the bridge drops them) say where its output starts, where the banner
comes, and that board code asked for a soft reboot or a hard reset from a file (the
VM's -i script cannot exit the VM).
"""

from __future__ import annotations

from typing import Callable

from belay_hook.emulator.circuitpython import RELOAD, REPL, partial_tail

RESET = b"\x1b_belay:reset\x1b\\"
PROMPT = b">>> "
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
_ASKED = {RELOAD: "soft", RESET: "power"}


class Output:
    """Turns the VM's output from `READY` on into firmware's: passes everything up to
    the `REPL` mark, then holds the banner until the prompt and rewrites it (or drops
    it, `show_banner` False: nobody has the port open yet after power-up); after a
    `RELOAD` or `RESET` mark, nothing. After a soft reboot in the raw REPL the banner is
    dropped, `wants_raw` asks the bridge for a Ctrl-A, and only the raw REPL's banner
    follows, as on firmware. Otherwise bytes pass untouched and unheld."""

    def __init__(self, banner: Callable[[bytes], bytes]) -> None:
        self._banner = banner
        self._state = "pass"  # or "boot", "banner", "soft", "power", "raw"
        self._held = b""
        self._show_banner = True
        self._then_raw = False
        self.wants_raw = False  # the bridge is to send the VM a Ctrl-A (and clear this)

    def started(self, show_banner: bool = True, raw: bool = False) -> None:
        """The VM has just printed `READY`: boot.py (and main.py) output follows, then
        its friendly REPL, or the raw one if `raw`."""
        self._state = "boot"
        self._held = b""
        self._show_banner = show_banner and not raw
        self._then_raw = raw

    @property
    def awaits_raw_banner(self) -> bool:
        """Whether the Ctrl-A sent for a raw soft reboot has not been answered yet."""
        return self._state == "raw"

    @property
    def asked(self) -> str | None:
        """Either "soft" or "power" once board code asked for that reset (the bridge
        does it)."""
        return self._state if self._state in ("soft", "power") else None

    def feed(self, data: bytes) -> bytes:
        """What to send the host for VM output `data`."""
        if self._state == "pass":
            return data
        if self.asked:
            return b""
        data = self._held + data
        self._held = b""
        out = b""
        if self._state == "raw":
            end = data.find(RAW_BANNER)
            if end < 0:
                self._held = data
                return b""
            self._state = "pass"
            return data[end:]
        if self._state == "boot":
            marks = [(data.find(mark), mark) for mark in (REPL, RELOAD, RESET)]
            found = [(at, mark) for at, mark in marks if at >= 0]
            if not found:
                keep = max(partial_tail(data, mark) for _, mark in marks)
                self._held = data[len(data) - keep :]
                return data[: len(data) - keep]
            at, mark = min(found)
            out, data = data[:at], data[at + len(mark) :]
            self._state = _ASKED.get(mark, "banner")
            if self.asked:
                return out
        end = data.find(PROMPT)
        if end < 0:
            self._held = data
            return out
        banner, rest = data[: end + len(PROMPT)], data[end + len(PROMPT) :]
        if self._then_raw:
            self._state, self.wants_raw = "raw", True
            return out + self.feed(rest)
        self._state = "pass"
        return out + (self._banner(banner) if self._show_banner else b"") + rest

    def flush(self) -> bytes:
        """The VM exited: what was held back (but a banner cut short), and pass
        everything from now on."""
        held = self._held if self._state == "boot" else b""
        self._held, self._state = b"", "pass"
        return held
