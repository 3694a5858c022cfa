"""Where the board-side files of the `mcu/` folder are, installed or in a checkout."""

from __future__ import annotations

import pathlib
import re

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


def minified(name: str) -> str:
    """The board file `name` as it travels through the raw REPL: no comments, no blank
    lines, one space per indent level. On a slow UART its size is the time it takes."""
    out = []
    for line in path(name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        line = re.sub(r"  # .*$", "", line.rstrip())
        out.append(re.sub(r"^(?: {4})+", lambda m: " " * (len(m.group(0)) // 4), line))
    return "\n".join(out) + "\n"
