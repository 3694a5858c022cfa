"""The pytest plugin: a ``board`` fixture that sends a test's marked imports to a board.

Registered by the ``pytest11`` entry point, so a project needs no conftest.
Each test that asks for ``board`` gets its own board session: a fresh emulator,
or the port reopened with a soft reset, so no board state leaks from one test
into the next. The marked modules a test imported, and the user's own modules
it imported (those outside the standard library and installed packages), are
forgotten at its end; the next test imports them again onto its own board.
Under pytest-xdist each worker has its own board: its own emulators, or one
port of the ``--board`` list, chosen by its index.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import threading
import warnings
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Sequence

import pytest

from belay_hook.board.ports import EMULATOR
from belay_hook.errors import BoardTimeoutError, LinkError
from belay_hook.importhook import BelayHook, install
from belay_hook.rpc.session import Session
from belay_hook.splitter.markers import may_hold_markers

_PACKAGE_DIRS = {"site-packages", "dist-packages"}
_STDLIB = tuple(
    {
        os.path.join(path, "")
        for key in ("stdlib", "platstdlib")
        for path in (sysconfig.get_paths()[key], os.path.realpath(sysconfig.get_paths()[key]))
    }
)


# Ports whose board could not be reached this run, with why: later tests fail at once.
_UNREACHABLE = pytest.StashKey[Dict[str, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("belay_hook", "belay_hook boards")
    group.addoption(
        "--board",
        action="append",
        dest="belay_hook_ports",
        metavar="PORT",
        help="the board the `board` fixture uses: a device path, a pyserial URL "
        "(socket://, rfc2217://), usb:VID:PID or 'emulator' (default: $BELAY_HOOK_PORT, "
        "else the emulator). Repeat it for pytest-xdist: worker gwN gets the N-th port.",
    )


def pytest_configure(config: pytest.Config) -> None:
    args = [str(arg) for arg in config.invocation_params.args]
    for flag, value in zip(args, args[1:]):
        if flag == "--board" and os.path.exists(value):
            # pytest picks the rootdir and ini file before it knows plugins' options
            raise pytest.UsageError(
                f"belay_hook: write --board={value}: written apart, pytest takes {value} "
                "for a test path when it looks for the rootdir and the ini file"
            )
    config.addinivalue_line(
        "markers",
        "hardware: the test needs a real board; skipped when the board is the emulator",
    )


def ports(config: pytest.Config) -> List[str]:
    """The ports given: ``--board`` (repeated), else ``$BELAY_HOOK_PORT``, else the emulator."""
    given = config.getoption("belay_hook_ports", None)
    if given:
        return list(given)
    return [os.environ.get("BELAY_HOOK_PORT") or EMULATOR]


def worker_index(config: pytest.Config) -> int:
    """This pytest-xdist worker's number (``gw3`` is 3); 0 without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return int(workerinput["workerid"][2:]) if workerinput else 0


def port_for_worker(all_ports: Sequence[str], index: int, workers: int) -> str:
    """The port worker ``index`` of ``workers`` uses: a lone ``emulator`` serves every
    worker (each starts its own); otherwise one port each, by index."""
    if list(all_ports) == [EMULATOR]:
        return EMULATOR
    if index >= len(all_ports):
        raise pytest.UsageError(_too_few(all_ports, workers))
    return all_ports[index]


def _too_few(all_ports: Sequence[str], workers: int) -> str:
    return (
        f"belay_hook: {workers} pytest-xdist workers but {len(all_ports)} board port(s) "
        f"({', '.join(all_ports)}): a serial port serves one worker at a time; give one "
        "--board PORT per worker, run fewer workers (-n), or use --board emulator"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Sequence[Any]) -> None:
    """Say before any worker starts that the ports are too few for the workers."""
    all_ports = ports(config)
    if all_ports != [EMULATOR] and len(specs) > len(all_ports):
        raise pytest.UsageError(_too_few(all_ports, len(specs)))


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    try:
        port = _this_port(config)
    except pytest.UsageError:
        return  # the board fixture says what is wrong
    if port == EMULATOR:
        skip = pytest.mark.skip(reason="needs real hardware; the board is the emulator")
        for item in items:
            if item.get_closest_marker("hardware") is not None:
                item.add_marker(skip)


def _this_port(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    workers = int(workerinput.get("workercount", 1)) if workerinput else 1
    return port_for_worker(ports(config), worker_index(config), workers)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Warn of marked modules that test files imported at their top, with no board."""
    if not any("board" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    plain = sorted(_imported_without_a_hook())
    if plain:
        warnings.warn(
            pytest.PytestWarning(
                f"belay_hook: {', '.join(plain)} imported during collection, with no board: "
                "#@mcu code run from there runs on this computer; import marked modules "
                "inside the tests that use the `board` fixture"
            ),
            stacklevel=1,
        )


class _Output:
    """What the board prints, passed on to ``sys.stdout`` (capsys sees it) and kept for
    `Board.expect`."""

    def __init__(self) -> None:
        self.text = ""  # since the last match of expect()
        self.changed = threading.Condition()

    def __call__(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        with self.changed:
            self.text += text
            self.changed.notify_all()


class Board:
    """What the ``board`` fixture gives a test: the board its marked imports go to."""

    def __init__(self, port: str, hook: BelayHook, output: _Output | None = None):
        self.port = port  # as given: "emulator", a device path or a URL
        self.hook = hook
        self._output = output or _Output()

    def expect(self, pattern: str | re.Pattern, timeout: float = 10.0) -> re.Match:
        """Wait until the board prints text matching ``pattern`` (a regex), as
        pytest-embedded's ``dut.expect``: output from threads, timers and interrupts
        comes when it comes. Returns the match; the text up to its end is used up."""
        regex = re.compile(pattern)
        out = self._output
        with out.changed:
            out.changed.wait_for(lambda: regex.search(out.text) is not None, timeout)
            found = regex.search(out.text)
            if found is None:
                raise AssertionError(
                    f"the board printed nothing matching {regex.pattern!r} within {timeout} s; "
                    f"since the last match it printed {out.text[-300:]!r}"
                )
            out.text = out.text[found.end() :]  # used up: a chatty board's output is not kept
            return found

    @property
    def session(self) -> Session:
        """The RPC session with the board (``session.call``, ``session.info``, ...)."""
        return self.hook.session

    @property
    def is_emulator(self) -> bool:
        """True when the board is an emulator this fixture started."""
        return self.session.emulator is not None

    @property
    def emulator(self) -> Any:
        """The emulated board (``pins``, ``pin_history``, ``set_input``). On a real
        board the test is skipped here, with the reason: it drives emulated pins."""
        if self.session.emulator is None:
            pytest.skip(f"drives the emulator's pins; the board is {self.port}")
        return self.session.emulator

    def __repr__(self) -> str:
        return f"<belay_hook board {self.port!r}>"


@pytest.fixture
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    """A board for this test: marked modules it imports go there (see the module doc)."""
    try:
        port = _this_port(request.config)
    except pytest.UsageError as exc:
        pytest.fail(str(exc), pytrace=False)
    unreachable = request.config.stash.setdefault(_UNREACHABLE, {})
    if port in unreachable:
        pytest.fail(f"{unreachable[port]} (as for an earlier test)", pytrace=False)
    _forget(_imported_without_a_hook())
    output = _Output()
    hook = install(port, on_text=output)
    try:
        try:
            hook.session  # noqa: B018 - connect now: a missing board is a setup error
        except (LinkError, BoardTimeoutError) as exc:
            unreachable[port] = f"belay_hook: {exc}" if port in str(exc) else (
                f"belay_hook: board {port}: {exc}"
            )  # fmt: skip
            pytest.fail(unreachable[port], pytrace=False)
        before = set(sys.modules)
        yield Board(port, hook, output)
    finally:
        hook.uninstall()
    _forget(set(sys.modules) - before)


def _forget(names: set) -> None:
    """Drop the user's modules among ``names`` (imported during a test, they may hold
    stubs of the board just closed)."""
    for name in names:
        module = sys.modules.get(name)
        if isinstance(module, ModuleType) and _in_project(module):
            del sys.modules[name]


def _imported_without_a_hook() -> set:
    """Marked project modules some earlier code imported plainly (their board code ran
    on the host): forgotten, so that the test's own import sends them to its board."""
    found = set()
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        loader = getattr(spec, "loader", None)
        if isinstance(loader, SourceFileLoader) and _in_project(module):
            try:
                if may_hold_markers(Path(spec.origin).read_bytes()):
                    found.add(name)
            except OSError:
                pass
    return found


def _in_project(module: ModuleType) -> bool:
    """A module of the user's code: its file is neither in the standard library nor in
    an installed package, and it is not belay_hook itself (when pytest runs belay_hook's
    own tests)."""
    name = getattr(module, "__name__", None)
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not name or name.partition(".")[0] == "belay_hook":
        return False
    return not file.startswith(_STDLIB) and not _PACKAGE_DIRS.intersection(Path(file).parts)
