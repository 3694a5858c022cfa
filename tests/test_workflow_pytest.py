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
