"""The import hook: marked modules are split, their board part goes live, the rest imports.

One object is both finder and loader (PEP 451). It asks importlib's own
PathFinder where a module lives and takes over only plain source files that
contain the marker text, so other imports cost one file read at most (none
for the standard library). Host code is compiled under the real file name:
tracebacks, ``linecache`` and ``inspect`` see the user's file.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import sysconfig
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, List, Sequence

from belay_hook import bundle, stubs
from belay_hook.markers import PREFIX
from belay_hook.rpc import Session, connect

_STDLIB = tuple({str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "platstdlib")})
_MARK = PREFIX.encode()


class BelayHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``#@mcu`` modules onto a board; use :func:`belay_hook.install`."""

    def __init__(self, port: str | None = None, **options: Any):
        self.port = port
        self.options = options
        self.modules: List[str] = []
        self._session: Session | None = None
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
            or spec.origin.startswith(_STDLIB)
        ):
            return None
        try:
            if _MARK not in Path(spec.origin).read_bytes():
                return None
        except OSError:
            return None
        return importlib.util.spec_from_file_location(
            fullname,
            spec.origin,
            loader=self,
            submodule_search_locations=spec.submodule_search_locations,
        )

    # ---------------------------------------------------------------- loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object is right

    def exec_module(self, module: ModuleType) -> None:
        path = module.__spec__.origin  # type: ignore[union-attr]
        source = importlib.util.decode_source(Path(path).read_bytes())
        result = bundle.split_cached(source, path)
        if result.has_mcu:
            board = self.session
            board.load(module.__name__, bundle.build(result, board.format))
            stubs.attach(module.__name__, board)
            self.modules.append(module.__name__)
        code = compile(result.host_source, path, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    # ----------------------------------------------------------- the board

    @property
    def session(self) -> Session:
        """The board session, opened at the first marked import."""
        with self._lock:
            if self._session is None:
                self._session = connect(self.port, **self.options)
            return self._session

    # -------------------------------------------------------- installation

    def install(self) -> BelayHook:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
            atexit.register(self.uninstall)
        return self

    def uninstall(self) -> None:
        """Remove the hook, cut its modules' stubs off and close the board."""
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        atexit.unregister(self.uninstall)
        for name in self.modules:
            stubs.detach(name)
        self.modules.clear()
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> BelayHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def install(port: str | None = None, **options: Any) -> BelayHook:
    """Import ``#@mcu`` modules onto a board from now on; returns the hook (a context manager).

    ``port``: a device path, a pyserial URL or ``"emulator"``; by default
    ``$BELAY_HOOK_PORT``, then ``[tool.belay_hook] port`` in pyproject.toml,
    then the one USB board attached, then the emulator. ``options`` go to
    :func:`belay_hook.rpc.connect` (``timeout``, ``soft_reset``, ``baudrate``,
    and the emulator's ``heap``, ``show_pins``, ``flash_dir``).
    """
    return BelayHook(port, **options).install()
