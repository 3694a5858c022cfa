"""Where the board-side files of the `mcu/` folder are, installed or in a checkout."""

from __future__ import annotations

import pathlib

_HERE = pathlib.Path(__file__).resolve().parent


def path(name: str) -> pathlib.Path:
    """The file `name` (e.g. ``"emulator/boot.py"``) of the `mcu/` folder.

    A wheel installs that folder as ``belay_hook/mcu`` (setup.cfg's package_dir); a
    source checkout or editable install keeps it at ``<repo>/mcu``.
    """
    for base in (_HERE / "mcu", _HERE.parent / "mcu"):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"belay_hook's board file mcu/{name} is missing from {_HERE}")
