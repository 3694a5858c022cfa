"""Which board to talk to, when the user did not say: the first answer wins.

1. the ``port`` argument; 2. ``$BELAY_HOOK_PORT``; 3. ``port`` under
``[tool.belay_hook]`` in the nearest pyproject.toml; 4. the one USB
MicroPython board attached; 5. the emulator, with a notice on stderr.

Whichever gives it, a port is one of:

* ``emulator``: an emulated board, started for the purpose;
* a pyserial URL (anything with ``://``, e.g. ``socket://host:2217``);
* ``usb:VID``, ``usb:VID:PID`` or ``usb:VID:PID:SERIAL`` (IDs in hex, e.g.
  ``usb:2e8a:0005:E660583883``): the one attached port with those USB IDs;
* ``serial:SERIAL`` (or mpremote's ``id:SERIAL``): the one attached port with that
  USB serial number;
* mpremote's shortcuts: ``a0``..``a99`` (``/dev/ttyACM0``...), ``u0``..``u99``
  (``/dev/ttyUSB0``...), ``c0``..``c99`` (``COM0``...), ``port:PATH`` (PATH as it is)
  and ``auto`` (steps 4 and 5 above);
* anything else: a device path or name (``/dev/ttyACM0``, ``COM3``).

A selector is matched against the ports attached when it is resolved, so it still
finds a board whose device name changed; it must match exactly one (serial numbers
ignore case), or the error lists what is attached.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

from belay_hook.board.devices import BOARD_VIDS, Device, scan
from belay_hook.errors import BelayHookError, LinkError

log = logging.getLogger(__name__)

EMULATOR = "emulator"
__all__ = [
    "BOARD_VIDS",
    "EMULATOR",
    "pyproject_config",
    "pyproject_setting",
    "resolve",
    "select",
    "usb_boards",
]

_HEX = r"(?:0x)?([0-9a-f]{1,4})"
_USB = re.compile(rf"usb:{_HEX}(?::{_HEX}(?::(.+))?)?", re.IGNORECASE)
_SHORTCUT = re.compile(r"([auc])(\d{1,2})")
SHORTCUTS = {"a": "/dev/ttyACM{}", "u": "/dev/ttyUSB{}", "c": "COM{}"}  # as mpremote has them


def resolve(port: str | None = None, start: Path | None = None) -> str:
    """The port to use, by the order above: a device path, a pyserial URL or
    ``emulator`` (USB selectors and shortcuts are looked up)."""
    chosen, source = port, "the port argument"
    if not chosen:
        chosen, source = os.environ.get("BELAY_HOOK_PORT"), "$BELAY_HOOK_PORT"
    if not chosen:
        table, path = pyproject_config(start)
        chosen, source = table.get("port"), str(path)
    if chosen and str(chosen) != "auto":
        device = select(str(chosen))
        # What the caller named is no news at -v; where an unnamed port came from is.
        level = logging.DEBUG if chosen == port else logging.INFO
        log.log(level, "port %s (from %s)%s", chosen, source,
                f" is {device}" if device != chosen else "")  # fmt: skip
        return device
    found = [Device.from_port(p) for p in usb_boards()]  # pyserial-like objects welcome too
    if len(found) == 1:
        log.info("port %s: the one board attached", found[0].device)
        return found[0].device
    if len(found) > 1:
        raise LinkError("auto", f"several boards attached, say which: {_listing(found)}")
    print(
        "belay_hook: no board given or found; using the emulator "
        "(set BELAY_HOOK_PORT or pass port=... to choose)",
        file=sys.stderr,
    )
    return EMULATOR


def pyproject_setting(key: str, start: Path | None = None) -> object | None:
    """``[tool.belay_hook] key`` from the nearest pyproject.toml above ``start`` (cwd)
    that has a ``[tool.belay_hook]`` table."""
    return pyproject_config(start)[0].get(key)


def pyproject_config(start: Path | None = None) -> Tuple[Dict[str, Any], Path | None]:
    """The ``[tool.belay_hook]`` table of the nearest pyproject.toml above ``start``
    (cwd) that has one, and that file; ``({}, None)`` if none has.

    A pyproject.toml without the table (a sub-package's, say) does not hide its
    parent's settings. One that cannot be parsed is an error naming it.
    """
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]

    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            with path.open("rb") as f:
                table = tomllib.load(f).get("tool", {}).get("belay_hook")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise BelayHookError(f"{path}: cannot read: {exc}") from None
        if isinstance(table, dict):
            log.debug("settings from %s", path)
            _check_settings(table, path)
            return table, path
    return {}, None


# [tool.belay_hook] setting -> (its type, said in errors); what a list holds libraries checks.
SETTINGS = {
    "port": (str, "a string"),
    "boards": (dict, "a table of board names and ports"),
    "dependencies": (list, "a list of strings"),
}


def _check_settings(table: Dict[str, Any], path: Path) -> None:
    """Every setting known and of its type: a typo must not quietly choose another board."""
    where = f"{path}: [tool.belay_hook]"
    for key, value in table.items():
        if key not in SETTINGS:
            known = ", ".join(sorted(SETTINGS))
            raise BelayHookError(f"{where} has no setting {key!r} (known: {known})")
        kind, wanted = SETTINGS[key]
        if not isinstance(value, kind):
            raise BelayHookError(f"{where} {key} must be {wanted}, not {type(value).__name__}")
        for name, port in value.items() if key == "boards" else ():
            if not isinstance(port, str):
                raise BelayHookError(
                    f"{where} boards.{name} must be a port (a string), not {type(port).__name__}"
                )


def usb_boards() -> List[Device]:
    """Serial ports that look like MicroPython/CircuitPython boards (see `Device.is_board`)."""
    return [d for d in scan() if d.is_board]


def select(port: str) -> str:
    """The device a selector (``usb:``, ``serial:``, ``id:``) or shortcut (``a0``,
    ``port:PATH``) names now; other ports as they are."""
    usb = _USB.fullmatch(port)
    shortcut = _SHORTCUT.fullmatch(port)
    prefix, _, rest = port.partition(":")
    if shortcut:
        return SHORTCUTS[shortcut.group(1)].format(shortcut.group(2))
    if prefix == "port" and rest:
        return rest
    if usb:
        vid, pid, serial_number = usb.groups()
        wanted = (int(vid, 16), int(pid, 16) if pid else None, serial_number)
    elif prefix.lower() in ("serial", "id") and rest:
        wanted = (None, None, rest)
    elif prefix.lower() in ("usb", "serial", "id", "port"):
        raise LinkError(
            port,
            "bad selector: write usb:VID[:PID[:SERIAL]] with hex IDs (e.g. usb:2e8a:0005), "
            "serial:SERIAL, id:SERIAL or port:PATH",
        )
    else:
        return port
    attached = scan()
    found = [d for d in attached if _matches(d, *wanted)]
    if len(found) == 1:
        return found[0].device
    if found:
        raise LinkError(port, f"{len(found)} ports match, add the serial number: {_listing(found)}")
    raise LinkError(port, f"no attached port matches; attached: {_listing(attached)}")


def _matches(d: Device, vid: int | None, pid: int | None, serial_number: str | None) -> bool:
    return (
        (vid is None or d.vid == vid)
        and (pid is None or d.pid == pid)
        and (serial_number is None or (d.serial_number or "").lower() == serial_number.lower())
    )


def _listing(devices: List[Device]) -> str:
    return "; ".join(d.summary() for d in devices) if devices else "no serial ports at all"
