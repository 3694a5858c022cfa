"""Stand-ins for names board code imports from modules the host cannot import.

The host module still runs its import lines; a name whose module the host lacks
(``machine`` under CPython) is bound to a :class:`BoardOnly`, and any use of it on
the host says why instead of quietly being something else.
"""

from __future__ import annotations

import builtins
from types import ModuleType
from typing import Any, Dict, Mapping


class BoardOnly:
    """A name imported for board code from a module the host cannot import.

    The host module still runs its import line; the name it binds is this, and
    any use of it on the host says why instead of quietly being something else.
    """

    def __init__(self, name: str, where: str):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_where", where)

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        module = self._name.split(".")[0]
        raise ModuleNotFoundError(
            f"{self._name} exists only on the board: module {module!r} cannot be imported "
            f"on the host ({self._where} imports it for the board code); use it in board "
            "code, or install a host version of it",
            name=module,
        )

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return self._fail()

    __call__ = __iter__ = __getitem__ = __bool__ = __setattr__ = _fail

    def __repr__(self) -> str:
        return f"<board-only {self._name}>"


class _BoardOnlyModule(ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return BoardOnly(f"{self.__name__}.{attr}", self.__where__)


def host_builtins(board_imports: Mapping[str, int], path: str) -> Dict[str, Any] | None:
    """Builtins for a host module whose board code imports modules the host may lack:
    the module's own imports of those bind stand-ins (:class:`BoardOnly`) where the
    host has no such module; every other import, here or elsewhere, is as usual."""
    if not board_imports:
        return None
    real = builtins.__import__

    def __import__(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A001
        try:
            return real(name, globals, locals, fromlist, level)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if level or name not in board_imports or not (name + ".").startswith(missing + "."):
                raise
            where = f"{path}:{board_imports[name]}"
            return _stand_in(name, where, leaf=bool(fromlist))

    return {**builtins.__dict__, "__import__": __import__}


def _stand_in(name: str, where: str, leaf: bool) -> ModuleType:
    """Stand-in modules for ``name`` and its parents: the leaf (for ``from``) or the top."""
    parts = name.split(".")
    top = module = _BoardOnlyModule(parts[0])
    module.__where__ = where  # type: ignore[attr-defined]
    for i in range(1, len(parts)):
        child = _BoardOnlyModule(".".join(parts[: i + 1]))
        child.__where__ = where  # type: ignore[attr-defined]
        setattr(module, parts[i], child)
        module = child
    return module if leaf else top
