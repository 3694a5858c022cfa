"""The import hook: marked modules are split, their board part goes live, the rest imports.

One object is both finder and loader (PEP 451). It asks importlib's own
PathFinder where a module lives and takes over only plain source files that
contain the marker text, so other imports cost one file read at most (none
for the standard library). Host code is compiled under the real file name:
tracebacks, ``linecache`` and ``inspect`` see the user's file.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import sysconfig
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Sequence

from belay_hook import bundle
from belay_hook.board import ports
from belay_hook.errors import NoBoardError, register_exception
from belay_hook.rpc import stubs
from belay_hook.rpc.connection import connect
from belay_hook.rpc.session import Session
from belay_hook.splitter.markers import may_hold_markers
from belay_hook.splitter.result import Split

# Never ours to split: the standard library, and belay_hook itself (its own
# source mentions the marker text).
_SKIP = (
    *{str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "platstdlib")},
    str(Path(__file__).resolve().parent) + os.sep,
)


class BoardNameWarning(UserWarning):
    """Board code uses a name that nothing on the board defines."""


class BelayHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``#@mcu`` modules onto a board; use :func:`belay_hook.install`."""

    def __init__(
        self, port: str | None = None, boards: Dict[str, str] | None = None, **options: Any
    ):
        self.port = port
        self.boards = dict(boards or ports.pyproject_setting("boards") or {})
        self.options = options
        self.modules: List[str] = []
        self._sessions: Dict[str | None, Session] = {}  # board name (None: the default) -> session
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- finder

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (
            spec is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            or not spec.origin
            or spec.origin.startswith(_SKIP)
        ):
            return None
        try:
            data = Path(spec.origin).read_bytes()
        except OSError:
            return None
        if not may_hold_markers(data):
            return None
        ours = importlib.util.spec_from_file_location(
            fullname,
            spec.origin,
            loader=self,
            submodule_search_locations=spec.submodule_search_locations,
        )
        ours.loader_state = data  # type: ignore[union-attr]  # read once: exec_module uses it
        return ours

    # ---------------------------------------------------------------- loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object is right

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        path = spec.origin  # type: ignore[union-attr]
        data = spec.loader_state or Path(path).read_bytes()  # type: ignore[union-attr]
        source = importlib.util.decode_source(data)
        result = bundle.split_cached(source, path)
        board = board_setting(source)
        self.run_split(module.__name__, module.__dict__, result, board, result.host_source)

    def run_split(
        self,
        name: str,
        namespace: Dict[str, Any],
        result: Split,
        board_name: str | None,
        host_source: str | ast.Module,
    ) -> None:
        """Put ``result``'s board part on board ``board_name`` (None: the default) as
        module ``name``, then run ``host_source`` (text, or its tree) in ``namespace``."""
        path = result.filename
        if result.has_mcu:
            board = self.board(board_name)
            self._board_imports_first(board, namespace, result)
            try:
                board.load(name, bundle.build(result, board.format, name))
            except ImportError as exc:
                _explain_missing(exc, result)
                raise
            for used, line in result.unresolved.items():
                if used not in board.builtins:
                    warnings.warn_explicit(
                        f"board code uses {used!r}, which is defined neither in the bundle "
                        "nor on the board: a NameError waits there (mark its import or "
                        "definition '#@mcu', or '#@mcu both')",
                        BoardNameWarning,
                        path,
                        line,
                    )
            stubs.attach(name, board, result.details)
            self.modules.append(name)
        code = compile(host_source, path, "exec", dont_inherit=True)
        own = stubs.host_builtins(result.board_imports, path)
        if own is None:
            exec(code, namespace)
        else:  # only while the module's own code runs: functions keep what they saw
            before = namespace.get("__builtins__", builtins)
            namespace["__builtins__"] = own
            try:
                exec(code, namespace)
            finally:
                namespace["__builtins__"] = before
        for export in result.details.values():  # '#@mcu both' exception classes
            value = namespace.get(export.name)
            if export.kind == "both" and _exception_class(value):
                register_exception(name, value)

    def _board_imports_first(
        self, board: Session, namespace: Dict[str, Any], result: Split
    ) -> None:
        """The marked modules that board code imports go up first, imported here as any
        import is: the board finds them whichever order the host imports modules in."""
        package = namespace.get("__package__") or ""
        for module in _imports(result.mcu_source, package):
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                continue
            if spec is None or spec.loader is not self:
                continue  # not marked: the board has it, or says at load that it has not
            importlib.import_module(module)
            for parent in _parents(module):  # `from app.util import f` needs an `app` there
                if parent not in board.exports:
                    empty = bundle.split_cached("", f"<package {parent}>")
                    board.load(parent, bundle.build(empty, board.format))

    def load(self, name: str, board: str) -> ModuleType:
        """Module ``name`` once more, its board part on ``board``: a second module
        (``sys.modules["name@board"]``) whose stubs call that board."""
        spec = self.find_spec(name, None)
        if spec is None:
            raise ModuleNotFoundError(
                f"no module named {name!r} holding '#@mcu' code on sys.path", name=name
            )
        bound = f"{name}@{board}"
        module = importlib.util.module_from_spec(spec)
        module.__name__ = bound
        data = spec.loader_state or Path(spec.origin).read_bytes()  # type: ignore
        source = importlib.util.decode_source(data)
        result = bundle.split_cached(source, spec.origin)  # type: ignore[arg-type]
        if not result.has_mcu:
            raise ValueError(f"module {name!r} has no board code to bind to board {board!r}")
        sys.modules[bound] = module
        try:
            self.run_split(bound, module.__dict__, result, board, result.host_source)
        except BaseException:
            del sys.modules[bound]
            raise
        return module

    # ----------------------------------------------------------- the board

    @property
    def session(self) -> Session:
        """The default board's session, opened at the first marked import."""
        return self.board(None)

    def board(self, name: str | None) -> Session:
        """The session with board ``name`` (None: the default board), opened on first use."""
        with self._lock:
            if name not in self._sessions:
                if name is not None and name not in self.boards:
                    known = ", ".join(sorted(self.boards)) or "none"
                    raise LookupError(f"no board named {name!r} (known boards: {known})")
                port = self.boards[name] if name is not None else self.port
                self._sessions[name] = connect(port, **self.options)
            return self._sessions[name]

    # -------------------------------------------------------- installation

    def install(self) -> BelayHook:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
            atexit.register(self.uninstall)
        return self

    def uninstall(self) -> None:
        """Remove the hook, cut its modules' stubs off and close the board.

        Its modules leave ``sys.modules`` too: imported again after a new
        ``install``, they go to that board instead of keeping dead stubs.
        """
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        atexit.unregister(self.uninstall)
        for name in self.modules:
            stubs.detach(name)
            spec = getattr(sys.modules.get(name), "__spec__", None)
            if spec is not None and spec.loader is self:
                del sys.modules[name]
        self.modules.clear()
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def __enter__(self) -> BelayHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def install(
    port: str | None = None, *, boards: Dict[str, str] | None = None, **options: Any
) -> BelayHook:
    """Import ``#@mcu`` modules onto a board from now on; returns the hook (a context manager).

    ``port``: a device path, a pyserial URL or ``"emulator"``; by default
    ``$BELAY_HOOK_PORT``, then ``[tool.belay_hook] port`` in pyproject.toml,
    then the one USB board attached, then the emulator. ``boards`` names more
    boards (``{"left": "/dev/ttyACM0", "right": "emulator"}``, default
    ``[tool.belay_hook.boards]``); a module picks one with a module-level
    ``__board__ = "left"``. ``options`` go to :func:`belay_hook.rpc.connection.connect`
    (``timeout``, ``soft_reset``, ``baudrate``, ``reconnect_attempts``,
    ``reconnect_delay``, and the emulator's ``heap``, ``show_pins``, ``flash_dir``).
    """
    hook = BelayHook(port, boards, **options).install()
    from belay_hook import interactive, plain_run

    plain_run.run_if_main(hook, sys._getframe(1))  # python main.py: never returns
    interactive.warn_if_interactive()
    return hook


def load(name: str, *, board: str) -> ModuleType:
    """Module ``name`` bound to board ``board``: the same code, a second module whose
    board part lives on that board (one device class, several boards).

    The hook installed last does the work: ``install(boards={...})`` names the boards.
    """
    for finder in sys.meta_path:
        if isinstance(finder, BelayHook):
            return finder.load(name, board)
    raise NoBoardError(f"load({name!r}, board={board!r}): call belay_hook.install() first")


def _explain_missing(exc: ImportError, result: Split) -> None:
    """A module the board lacks that an import brought in for board code asked for."""
    for module, line in result.board_imports.items():
        if repr(module.split(".")[0]) in str(exc) or repr(module) in str(exc):
            exc.add_note(
                f"{result.filename}:{line} imports {module!r} for the board code, and the board "
                "has no such module: install it on the board, or give board code what it needs "
                "as arguments"
            )
            return


def _imports(source: str, package: str) -> Iterator[str]:
    """Every module ``source`` may import, submodules named in a ``from`` import
    included; relative ones resolved in ``package``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return  # the board's compiler says where
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and not package:
                continue  # no package: the board says it cannot do it
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            if node.module:
                yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _parents(module: str) -> List[str]:
    """``a.b.c`` -> ``["a", "a.b"]``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _exception_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


_BOARD_SETTING = re.compile(r"""^__board__\s*=\s*(['"])([^'"\r\n]+)\1""", re.M)


def board_setting(source: str) -> str | None:
    """The board a module asks for with a module-level ``__board__ = "name"``, if any."""
    found = _BOARD_SETTING.search(source)
    return found.group(2) if found else None
