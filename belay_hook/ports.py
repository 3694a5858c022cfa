"""Which board to talk to, when the user did not say: the first answer wins.

1. the ``port`` argument; 2. ``$BELAY_HOOK_PORT``; 3. ``port`` under
``[tool.belay_hook]`` in the nearest pyproject.toml; 4. the one USB
MicroPython board attached; 5. the emulator, with a notice on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from belay_hook.errors import LinkError

EMULATOR = "emulator"

# USB vendor IDs of boards that run MicroPython or CircuitPython out of the box.
BOARD_VIDS = {
    0x2E8A: "Raspberry Pi",
    0xF055: "MicroPython",
    0x303A: "Espressif",
    0x239A: "Adafruit",
    0x1B4F: "SparkFun",
    0x2886: "Seeed",
}


def resolve(port: str | None = None, start: Path | None = None) -> str:
    """The port to use, by the order above."""
    if port:
        return port
    env = os.environ.get("BELAY_HOOK_PORT")
    if env:
        return env
    configured = pyproject_setting("port", start)
    if configured:
        return str(configured)
    found = usb_boards()
    if len(found) == 1:
        return found[0].device
    if len(found) > 1:
        listing = ", ".join(f"{p.device} ({p.description})" for p in found)
        raise LinkError("auto", f"several boards attached, say which: {listing}")
    print(
        "belay_hook: no board given or found; using the emulator "
        "(set BELAY_HOOK_PORT or pass port=... to choose)",
        file=sys.stderr,
    )
    return EMULATOR


def pyproject_setting(key: str, start: Path | None = None) -> object | None:
    """``[tool.belay_hook] key`` from the nearest pyproject.toml above ``start`` (cwd)."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            try:
                import tomllib  # type: ignore[import-not-found]
            except ImportError:  # Python < 3.11
                import tomli as tomllib  # type: ignore[no-redef]
            with path.open("rb") as f:
                table = tomllib.load(f).get("tool", {}).get("belay_hook", {})
            return table.get(key)
    return None


def usb_boards() -> list:
    """Serial ports whose USB vendor is known to ship MicroPython/CircuitPython boards."""
    from serial.tools import list_ports

    return [p for p in list_ports.comports() if p.vid in BOARD_VIDS]
