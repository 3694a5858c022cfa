"""CircuitPython's serial conventions, which the emulator's bridge plays in that flavour.

``Emulator(flavour="circuitpython")`` runs the same MicroPython VM, made to look like
CircuitPython 9 on a Raspberry Pi Pico, so host code meets on its serial port what it
meets on such a board (CircuitPython's main.c and shared/runtime/pyexec.c):

* Its friendly REPL banner is ``\\r\\nAdafruit CircuitPython 9.2.1 on 2024-11-20;
  Raspberry Pi Pico with rp2040\\r\\n``, with no ``Type "help()"`` line. The raw REPL
  and raw-paste mode are MicroPython's, banner included (never translated).
* After power-up and after a soft reboot from the friendly REPL, the supervisor runs
  ``code.py`` (``code.txt``, ``main.py``, ``main.txt``), prints ``Code done running.``
  and ``Press any key to enter the REPL. Use CTRL-D to reload.``, and waits: the key
  is swallowed (Ctrl-D reloads instead), then the friendly REPL starts. A soft reboot
  from the raw REPL (Ctrl-D, ``sys.exit()``, ``supervisor.reload()``) prints ``soft
  reboot`` and goes straight back to the raw REPL without running code.py.
* Switching between the friendly and the raw REPL (Ctrl-A at ``>>>``, Ctrl-B at the raw
  prompt) starts a fresh VM: Python state is lost, without any soft-reboot line.
* Terminal-title (OSC) sequences such as ``\\x1b]0;🐍Done | 9.2.1\\x1b\\\\`` are written
  when code.py starts and ends and when the friendly REPL starts or ends; none while
  in the raw REPL, where CircuitPython suspends its status bar.
* Every supervisor text but the banners is translated in non-English builds:
  ``language="de"`` prints German variants (our own wording, not CircuitPython's
  catalogue), so tests can show that a host does not depend on that text.

The board side is mcu/emulator/circuitpython.py. Escape sequences mark where its
supervisor output starts (`READY`), where the REPL is about to print its (MicroPython)
banner (`REPL`: the bridge puts CircuitPython's in its place) or that it wants a reload
(`RELOAD`: the bridge soft-reboots it). The bridge drops them.
"""

from __future__ import annotations

import json
import os

RELEASE = "9.2.1"
BANNER = b"\r\nAdafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\r\n"
READY = b"\x1b_belay:ready\x1b\\"  # APC sequences: terminals show nothing for them
REPL = b"\x1b_belay:repl\x1b\\"
RELOAD = b"\x1b_belay:reload\x1b\\"
_VM_BANNER_END = b"for more information.\r\n"  # end of the VM's friendly REPL banner
TEXTS = {
    "en": {
        "soft_reboot": "soft reboot",
        "auto_reload": "Auto-reload is on. Simply save files over USB to run them or "
        "enter REPL to disable.",
        "output": " output:",
        "done": "Code done running.",
        "press_key": "Press any key to enter the REPL. Use CTRL-D to reload.",
    },
    "de": {
        "soft_reboot": "Soft-Neustart",
        "auto_reload": "Automatisches Neuladen ist aktiv. Speichere Dateien über USB, um "
        "sie auszuführen, oder verbinde dich mit der REPL, um es zu deaktivieren.",
        "output": " Ausgabe:",
        "done": "Der Code wurde ausgeführt.",
        "press_key": "Drücke eine beliebige Taste, um die REPL zu betreten. Drücke "
        "STRG-D zum Neuladen.",
    },
}


def title(status: str) -> bytes:
    """A status-bar update as CircuitPython writes it into the serial stream."""
    return f"\x1b]0;\U0001f40d{status} | {RELEASE}\x1b\\".encode()


def soft_reboot_line(language: str) -> bytes:
    """What the board prints when it soft-reboots (translated in some builds)."""
    return TEXTS[language]["soft_reboot"].encode() + b"\r\n"


def write_config(state: str, language: str) -> None:
    """Tell the board side (mcu/emulator/circuitpython.py) what to report and print."""
    config = {
        "version": [9, 2, 1, ""],
        "release": RELEASE,
        "machine": "Raspberry Pi Pico with rp2040",
        "platform": "RP2040",
        # .mpy version 6.1 without native code: what CircuitPython 9 on an RP2040 is
        # taken to report. Its .mpy files still do not load on MicroPython, nor
        # MicroPython's on it: the name "circuitpython" is what says "source only".
        "mpy": 6 | 1 << 8,
        "texts": TEXTS[language],
        "ready": READY.decode(),
        "repl": REPL.decode(),
        "reload": RELOAD.decode(),
    }
    with open(os.path.join(state, "circuitpython.json"), "w", encoding="utf-8") as file:
        json.dump(config, file)


class Output:
    """Turns the VM's output into CircuitPython's: while its supervisor runs, passes
    everything up to the `REPL` mark, then swaps the VM's banner for CircuitPython's,
    or up to the `RELOAD` mark, then nothing. Otherwise bytes pass untouched (and
    unheld: a running program's output is never delayed)."""

    def __init__(self) -> None:
        self._state = "pass"  # or "supervisor", "banner", "reload"
        self._held = b""

    def started(self, show_banner: bool = True, raw: bool = False) -> None:
        """The VM has just printed `READY`: its supervisor output follows (which the
        host sees even after power-up: CircuitPython boards keep their port; its raw
        REPL runs no supervisor)."""
        self._state = "supervisor"
        self._held = b""

    @property
    def asked(self) -> str | None:
        """ "soft" once the supervisor asked for a reload (the bridge soft-reboots)."""
        return "soft" if self._state == "reload" else None

    @property
    def at_repl(self) -> bool:
        """Whether the VM is past its supervisor, in a REPL or running code from one."""
        return self._state == "pass"

    def feed(self, data: bytes) -> bytes:
        """What to send the host for VM output `data`."""
        if self._state == "pass":
            return data
        if self._state == "reload":
            return b""
        data = self._held + data
        self._held = b""
        out = b""
        if self._state == "supervisor":
            for mark, state in ((REPL, "banner"), (RELOAD, "reload")):
                at = data.find(mark)
                if at >= 0:
                    out, data = data[:at], data[at + len(mark) :]
                    self._state = state
                    break
            else:
                keep = max(partial_tail(data, REPL), partial_tail(data, RELOAD))
                self._held = data[len(data) - keep :]
                return data[: len(data) - keep]
            if self._state == "reload":
                return out
        end = data.find(_VM_BANNER_END)
        if end < 0:
            self._held = data
            return out
        self._state = "pass"
        return out + BANNER + data[end + len(_VM_BANNER_END) :]

    def flush(self) -> bytes:
        """The VM exited: what was held back, and pass everything from now on."""
        held, self._held, self._state = self._held, b"", "pass"
        return held


def partial_tail(data: bytes, mark: bytes) -> int:
    """Length of the longest end of `data` that `mark` starts with (a mark cut in two)."""
    for size in range(min(len(mark) - 1, len(data)), 0, -1):
        if data.endswith(mark[:size]):
            return size
    return 0
