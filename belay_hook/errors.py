"""Every exception belay_hook raises on purpose, in one place.

Each error names the thing it is about (file:line, port, type), because the
person reading it is usually looking at a board that does not answer.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import threading
from typing import Dict, Iterator, Tuple


class BelayHookError(Exception):
    """Base class of belay_hook's own errors."""


class MarkerError(SyntaxError):
    """A ``#@mcu`` marker that cannot be understood, reported at its file and line."""

    def __init__(self, msg: str, filename: str, lineno: int, line: str = "", offset: int = 1):
        super().__init__(msg, (filename, lineno, offset, line.rstrip("\r\n")))


class LinkError(BelayHookError, ConnectionError):
    """The serial link to a board cannot be opened or was lost; names the port."""

    def __init__(self, port: str, message: str):
        super().__init__(f"{port}: {message}")
        self.port = port


class BoardTimeoutError(BelayHookError, TimeoutError):
    """The board did not answer in time; says what it sent last, which is often the clue."""

    def __init__(self, port: str, waiting_for: str, timeout: float, last_received: bytes = b""):
        tail = last_received[-120:]
        super().__init__(
            f"{port}: no answer within {timeout:g}s while waiting for {waiting_for}; "
            f"last received: {tail!r}"
        )
        self.port = port
        self.last_received = last_received


class BoardResetError(LinkError):
    """The board rebooted (or was reset) while a call was in flight."""


class FrameError(LinkError):
    """A frame was damaged on the line (its check failed) or lost; the call it hit fails,
    the session stays usable."""


class StaleProxyError(BelayHookError, ReferenceError):
    """A proxy of a board object from before the agent restarted (a reset, a reconnect):
    the object is gone, and its id may now name another one."""


class McuError(BelayHookError):
    """An exception raised on the board whose type has no builtin twin on the host."""

    def __init__(self, type_name: str, message: str = "", board_traceback: str = ""):
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.board_traceback = board_traceback


# Builtin exceptions a board may raise that keep their type when they reach the host.
_PASSTHROUGH = {
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), BaseException)
    and name not in {"BaseException", "SystemExit", "GeneratorExit", "BaseExceptionGroup"}
}

# module -> its marked exception classes by name; filled while the module is attached.
_marked: Dict[str, Dict[str, type]] = {}
# Host classes made for the board's other exception classes, by their chain of names.
_made: Dict[Tuple[str, ...], type] = {}
_calls = threading.local()  # .modules: the modules whose board calls are in flight here


def register_exception(module: str, cls: type) -> None:
    """Make board exceptions of class ``cls.__name__`` raised for ``module`` arrive as
    ``cls`` (a marked exception class of that module)."""
    _marked.setdefault(module, {})[cls.__name__] = cls


def forget_exceptions(module: str) -> None:
    _marked.pop(module, None)


@contextlib.contextmanager
def calling(module: str) -> Iterator[None]:
    """A board call for ``module`` is in flight: its exception classes come first."""
    stack = _calls.__dict__.setdefault("modules", [])
    stack.append(module)
    try:
        yield
    finally:
        stack.pop()


def called_modules() -> Tuple[str, ...]:
    """The modules whose board calls are in flight on this thread, innermost last."""
    return tuple(_calls.__dict__.get("modules", ()))


def _marked_class(name: str) -> type | None:
    """The marked class ``name`` of the innermost module being called that has one;
    else the one attached module that has one (none if several do)."""
    for module in reversed(_calls.__dict__.get("modules", ())):
        found = _marked.get(module, {}).get(name)
        if found is not None:
            return found
    found = [classes[name] for classes in list(_marked.values()) if name in classes]
    return found[0] if len(found) == 1 else None


def board_exception(
    type_name: str, args: tuple = (), board_traceback: str = "", errno: int | None = None
) -> BaseException:
    """The host exception for one raised on the board.

    ``type_name`` is the board class's name, then for a class of the board's own
    the names of its first bases up to a builtin ("TooHot SensorError ValueError").
    A builtin arrives as itself; a class marked ``#@mcu`` as that host class; any
    other as a host class of the same name derived from the nearest of those two
    and from :class:`McuError`; with nothing of the kind, as McuError.
    """
    chain = type_name.split()
    name = chain[0] if chain else "Exception"
    base = None
    for i, link in enumerate(chain):
        base = _marked_class(link) or (
            getattr(builtins, link, None) if link in _PASSTHROUGH else None
        )
        if base is not None:
            if i:  # a class of the board's own above the one found
                base = _subclass(tuple(chain[: i + 1]), base)
            break
    if base is None:
        message = str(args[0]) if len(args) == 1 else (", ".join(map(str, args)))
        exc: BaseException = McuError(name, message, board_traceback)
    else:
        exc = _instance(base, args, errno)
    exc.board_traceback = board_traceback  # type: ignore[attr-defined]
    return exc


def _subclass(chain: Tuple[str, ...], base: type) -> type:
    """The host class for board class ``chain[0]``, derived from ``base`` and McuError."""
    if chain not in _made or not issubclass(_made[chain], base):

        def __init__(self: McuError, *args: object) -> None:
            base.__init__(self, *args)  # type: ignore[misc]
            self.type_name = chain[0]
            self.message = str(args[0]) if len(args) == 1 else ", ".join(map(str, args))

        _made[chain] = type(
            chain[0],
            (McuError,) if issubclass(McuError, base) else (base, McuError),
            {"__init__": __init__, "__module__": "board"},
        )
    return _made[chain]


def _instance(cls: type, args: tuple, errno: int | None) -> BaseException:
    try:
        exc = cls(*args)
    except TypeError:  # e.g. UnicodeError subclasses with fixed constructors
        exc = cls(*(str(a) for a in args[:1]))
    if errno is not None and isinstance(exc, OSError) and exc.errno is None:
        # MicroPython raises OSError(ENOENT) with the number alone; CPython wants
        # (errno, strerror) to fill in .errno.
        exc = cls(errno, os.strerror(errno))
    return exc


class NoBoardError(BelayHookError, RuntimeError):
    """A board function was called but no board holds its module's bundle."""
