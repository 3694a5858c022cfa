"""`belay-hook exec` and `belay-hook repl`, on the emulator's real MicroPython VM."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from belay_hook.cli import main

ROOT = Path(__file__).resolve().parent.parent
BELAY_HOOK = [sys.executable, "-m", "belay_hook"]


def test_exec_prints_the_output(micropython: str, capsys) -> None:
    assert main(["exec", "for i in range(3):\n    print(i)", "--port", "emulator"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "0\n1\n2\n"


def test_exec_reads_code_from_stdin(micropython: str, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("import sys\nprint(sys.implementation.name)\n"))
    assert main(["exec", "-", "--port", "emulator"]) == 0
    assert capsys.readouterr().out == "micropython\n"


def test_exec_streams_output_as_it_comes(micropython: str) -> None:
    code = "print('first')\nimport time\ntime.sleep(1)\nprint('second')"
    proc = subprocess.Popen([*BELAY_HOOK, "exec", code, "--port", "emulator"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout.readline() == b"first\n"
        assert proc.poll() is None  # the board is still sleeping: the line came as printed
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert out == b"second\n" and proc.returncode == 0, err


@pytest.mark.parametrize(
    "code, error",
    [
        ("print('before')\n1 / 0", "ZeroDivisionError: divide by zero"),
        ("class Oops(Exception):\n    pass\nraise Oops('custom')", "Oops: custom"),
        ("import nothing_here", "ImportError: no module named 'nothing_here'"),
    ],
)
def test_exec_board_error_shows_the_board_traceback(
    micropython: str, capsys, code: str, error: str
) -> None:
    assert main(["exec", code, "--port", "emulator"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("Traceback (most recent call last):\n")
    assert 'File "<stdin>", line ' in captured.err
    assert captured.err.rstrip().endswith(error)
    assert captured.out == ("before\n" if "before" in code else "")


def test_exec_timeout_and_refused_code(micropython: str, capsys) -> None:
    assert main(["exec", "while True:\n    pass", "--timeout", "0.3", "--port", "emulator"]) == 1
    assert "no answer within 0.3s" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="raw Ctrl-A byte"):
        main(["exec", "print('\x01')", "--port", "emulator"])


def _read_until(fd: int, token: bytes, timeout: float = 30.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while token not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {token!r} from the terminal; got {data!r}")
        data += os.read(fd, 4096)
    return data


def test_repl_runs_a_line_and_quits_on_ctrl_bracket(micropython: str) -> None:
    main_fd, terminal_fd = pty.openpty()  # the user's terminal
    proc = subprocess.Popen([*BELAY_HOOK, "repl", "--port", "emulator"], cwd=ROOT,
                            stdin=terminal_fd, stdout=terminal_fd, stderr=terminal_fd)  # fmt: skip
    os.close(terminal_fd)
    try:
        banner = _read_until(main_fd, b">>> ")
        assert b"Ctrl-] quits" in banner and b"MicroPython" in banner
        os.write(main_fd, b"print(6 * 7)\r")
        assert b"42" in _read_until(main_fd, b"42\r\n>>> ")
        os.write(main_fd, b"\x1d")  # Ctrl-]
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        os.close(main_fd)


def test_repl_needs_a_terminal() -> None:
    command = [*BELAY_HOOK, "repl", "--port", "emulator"]
    proc = subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert "belay-hook repl: needs a terminal" in proc.stderr
