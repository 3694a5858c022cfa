"""The pytest plugin with a board that is not there or is no MicroPython board: one
short line per test, and the port's trouble is found out once (a mute port costs one
connection timeout, not one per test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pytest_plugin import run_pytest

TESTS = """\
def test_one(board):
    import where

def test_two(board):
    import where

def test_three(board):
    import where
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "where.py").write_text("#@mcu\ndef f():\n    return 1\n")
    (tmp_path / "test_where.py").write_text(TESTS)
    return tmp_path


def test_a_missing_board_is_one_line_per_test(project: Path) -> None:
    proc = run_pytest(project, "--board=/dev/ttyNOPE")
    assert proc.returncode == 1
    assert proc.stdout.count("belay_hook: /dev/ttyNOPE: no such port") == 3
    assert proc.stdout.count("(as for an earlier test)") == 2  # a mute port: one wait
    assert "transport.py" not in proc.stdout  # no traceback through belay_hook


EXPECT_TESTS = """\
import pytest

def test_waits_for_what_a_board_thread_prints(board, capsys):
    import ticker
    ticker.start(3)
    assert board.expect(r"tick (\\d)").group(1) == "0"
    assert board.expect(r"tick (\\d)").group(1) == "1"  # what matched is used up
    board.expect("done")
    assert "tick 2" in capsys.readouterr().out  # the output still reaches the test

def test_names_what_never_came(board):
    import ticker
    ticker.start(1)
    board.expect("done")
    with pytest.raises(AssertionError, match=r"nothing matching 'tick 9' .*since the last"):
        board.expect("tick 9", timeout=0.5)
"""

TICKER = """\
#@mcu
import time

#@mcu thread
def start(n):
    for i in range(n):
        time.sleep_ms(50)
        print("tick", i)
    print("done")
"""


def test_expect_waits_for_board_output_as_pytest_embedded_does(tmp_path: Path) -> None:
    (tmp_path / "ticker.py").write_text(TICKER)
    (tmp_path / "test_ticker.py").write_text(EXPECT_TESTS)
    proc = run_pytest(tmp_path, "--board=emulator")
    assert proc.returncode == 0, proc.stdout
    assert "2 passed" in proc.stdout
