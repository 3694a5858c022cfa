"""pyproject.toml settings as users write them, mistakes included: a mistake is one
line naming the file and the setting, never a setting silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MAIN = "#@mcu\ndef answer():\n    return 42\n\nprint(answer())\n"


def run(project: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAY_HOOK_PORT": ""}
    return subprocess.run(
        [sys.executable, "-m", "belay_hook", "run", "main.py", "--no-pins"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ('prot = "emulator"', "has no setting 'prot' (known: boards, dependencies, port)"),
        ("port = 5", "port must be a string, not int"),
        ('boards = "emulator"', "boards must be a table of board names and ports, not str"),
        ("[tool.belay_hook.boards]\nleft = 1", "boards.left must be a port (a string), not int"),
        ('dependencies = "aioble"', "dependencies must be a list of strings, not str"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(tmp_path: Path, setting: str, says: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.belay_hook]\n{setting}\n")
    (tmp_path / "main.py").write_text(MAIN)
    proc = run(tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    where = f"belay-hook run: {tmp_path / 'pyproject.toml'}: [tool.belay_hook] "
    assert proc.stderr.splitlines() == [where + says], proc.stderr


def test_the_port_setting_is_used(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.belay_hook]\nport = "emulator"\n')
    (tmp_path / "main.py").write_text(MAIN)
    proc = run(tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "42\n"), proc.stderr
    assert "no board given" not in proc.stderr  # the setting chose, no fallback notice
