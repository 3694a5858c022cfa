"""Host stand-ins for names that live on the board.

The splitter puts one line per marked function or class into the host module,
calling :func:`stub`. The stub has the board function's signature, so a wrong call
fails here with Python's own ``TypeError`` before anything is sent; arguments
left to their defaults are not sent, so the board applies its own defaults
(they may name things only the board has, like ``Pin.OUT``).
"""

from __future__ import annotations

import ast
import inspect
import threading
from typing import Any, Callable, Dict, Mapping, Protocol, Tuple

from belay_hook.errors import (
    NoBoardError,
    called_modules,
    calling,
    forget_exceptions,
    register_exception,
)
from belay_hook.rpc import ops
from belay_hook.rpc.proxies import BoardObject, BoardProxy
from belay_hook.rpc.standins import host_builtins as host_builtins  # the import hook's
from belay_hook.rpc.tracebacks import without_internal_frames
from belay_hook.splitter.dependencies import is_literal
from belay_hook.splitter.result import Export, Method


class Board(Protocol):
    """What stubs need of a board session (:class:`belay_hook.rpc.session.Session`)."""

    def call(
        self, module: str, name: str, args: tuple, kwargs: dict, timeout: float | None = None
    ) -> Any: ...

    def start_thread(self, module: str, name: str, args: tuple, kwargs: dict) -> None: ...

    def await_call(
        self, module: str, name: str, args: tuple, kwargs: dict, timeout: float | None = None
    ) -> Any: ...


# host module name -> the board that holds its bundle, and what the bundle exports;
# the import hook fills them.
_boards: Dict[str, Board] = {}
_exports: Dict[str, Mapping[str, Export]] = {}
_detached: set = set()  # modules whose hook was uninstalled: their stubs say so


def attach(module: str, board: Board, exports: Mapping[str, Export]) -> None:
    """Route the stubs of ``module`` to ``board``, whose bundle of it defines ``exports``."""
    _boards[module] = board
    _exports[module] = exports
    _detached.discard(module)


def detach(module: str) -> None:
    """Cut ``module``'s stubs off their board (the hook was uninstalled)."""
    if _boards.pop(module, None) is not None:
        _detached.add(module)
    _exports.pop(module, None)
    forget_exceptions(module)


class BoardDefault:
    """A default value that only the board can compute; shown as its source text."""

    def __init__(self, source: str):
        self.source = source

    def __repr__(self) -> str:
        return self.source


def signature(params: str) -> inspect.Signature:
    """An ``inspect.Signature`` from a parameter list's source text."""
    args = ast.parse(f"def _({params}): pass").body[0].args  # type: ignore[attr-defined]
    P = inspect.Parameter
    out = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = P.POSITIONAL_ONLY if i < len(args.posonlyargs) else P.POSITIONAL_OR_KEYWORD
        out.append(P(arg.arg, kind, default=_default(default)))
    if args.vararg:
        out.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append(P(arg.arg, P.KEYWORD_ONLY, default=_default(default)))
    if args.kwarg:
        out.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(out)


def _default(node: Any) -> Any:
    if node is None:
        return inspect.Parameter.empty
    try:
        return ast.literal_eval(node)
    except ValueError:
        return BoardDefault(ast.unparse(node))


def stub(
    module: str, name: str, kind: str, params: str, options: Dict[str, Any] | None = None
) -> Callable:
    """The host object standing for board function or class ``name`` of ``module``.

    ``options`` are the marker's (``#@mcu timeout=2`` gives ``{"timeout": 2.0}``).
    """
    sig = signature(params or "")
    timeout = (options or {}).get("timeout")
    if kind == "class":
        return _board_class(module, name, sig, _caller(module, name, sig, kind, timeout), timeout)
    return _callable(module, name, sig, kind, timeout)


def _callable(
    module: str, name: str, sig: inspect.Signature, kind: str, timeout: float | None
) -> Callable:
    """A function that calls board function ``name`` (``Cls.name`` for a class's method)."""
    board_call = _caller(module, name, sig, kind, timeout)
    if kind == "async_function":

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await _awaited(_boards.get(module), lambda: board_call(*args, **kwargs))
    else:
        call = board_call
    call.__name__ = name.rpartition(".")[2]
    call.__qualname__ = name
    call.__module__ = module
    call.__signature__ = sig  # type: ignore[attr-defined]
    call.__doc__ = f"Runs {name}() on the board."
    return call


async def _awaited(board: Any, work: Callable[[], Any]) -> Any:
    """``work()`` (an await on the board) run in the board's await thread, where awaits
    of one board queue; the host's event loop runs on meanwhile. A ``timeout()`` in
    force here applies there. Cancelled (``task.cancel()``, ``wait_for``'s timeout), the
    await stops on the board too, as a local one would, instead of holding the board."""
    import asyncio

    from belay_hook.rpc.session import timeout, timeout_in_force

    limit = timeout_in_force()
    running = threading.Lock()  # held while work() runs: only then is there a call to stop

    def wait() -> Any:
        with timeout(limit), running:
            return work()

    waiter = getattr(board, "awaits", None)
    try:
        return await asyncio.get_running_loop().run_in_executor(waiter, wait)
    except asyncio.CancelledError:
        channel = getattr(board, "channel", None)
        if running.locked() and channel is not None:
            channel.interrupt()  # Ctrl-C: the board's coroutine ends with KeyboardInterrupt
        raise


def _caller(
    module: str, name: str, sig: inspect.Signature, kind: str, timeout: float | None
) -> Callable:
    def board_call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        board = _boards.get(module)
        if board is None and module in _detached:
            raise NoBoardError(
                f"{name}() runs on the board, but the belay_hook install that imported "
                f"module {module!r} was uninstalled and its board closed: install again "
                "and import the module again"
            )
        if board is None:
            raise NoBoardError(
                f"{name}() runs on the board, but module {module!r} was not imported "
                "through belay_hook with a board: call belay_hook.install(port=...) "
                "before importing it"
            )
        try:
            if kind == "thread":
                return board.start_thread(module, name, bound.args, bound.kwargs)
            with calling(module):
                if kind == "async_function":
                    result = board.await_call(module, name, bound.args, bound.kwargs, timeout)
                else:
                    result = board.call(module, name, bound.args, bound.kwargs, timeout)
            return result
        except Exception as exc:
            # Same exception, shorter story: no `from`, a board-side cause stays.
            raise exc.with_traceback(without_internal_frames(exc.__traceback__))  # noqa: B904

    return board_call


def exception(module: str, name: str, bases: Tuple[type, ...]) -> type:
    """The host twin of a marked exception class: a real exception class, raised
    and caught on the host like any other, that board exceptions of class ``name``
    arrive as (with their args; other attributes stay on the board)."""
    cls = type(
        name,
        bases,
        {"__module__": module, "__doc__": f"{name}, raised on the board or on the host."},
    )
    if module in _boards:  # not for a split merely checked (strategies.check_split)
        register_exception(module, cls)
    return cls


def _export(module: str, name: str) -> Export | None:
    """What the bundle says of export ``name`` (None without a board)."""
    return _exports.get(module, {}).get(name)


class BoardClass(type):
    """The type of host classes standing for board classes: names read from the class
    itself are its literal constants (copied at split time) and its class and static
    methods (which run on the board)."""

    _bh_board: Tuple[str, str, float | None]  # module, class name, timeout

    def __setattr__(cls, attr: str, value: Any) -> None:
        """Class data lives on the board, where instances read it: set on the host it
        would change nothing there, so it is refused. Methods may be replaced (mocks)."""
        module, name, _ = cls._bh_board
        export = _export(module, name)
        if export is not None and not attr.startswith("_") and attr not in export.methods:
            raise AttributeError(
                f"{name}.{attr} = ... on the host would not reach board class {name!r}, whose "
                "instances live on the board: set it in board code (a marked function or "
                "classmethod), or on an instance"
            )
        super().__setattr__(attr, value)

    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        module, name, timeout = cls._bh_board
        export = _export(module, name)
        if export is not None and attr in export.constants:
            return _constant(export.constants[attr])
        method = export.methods.get(attr) if export is not None else None
        if method is not None and method.binding in ("classmethod", "staticmethod"):
            kind = "async_function" if method.is_async else "function"
            return _callable(module, f"{name}.{attr}", signature(method.params), kind, timeout)
        where = "read it through an instance or a board function"
        if export is None:
            where = f"module {module!r} has no board (call belay_hook.install() first)"
        raise AttributeError(
            f"board class {name!r} has no class attribute {attr!r} the host can reach: "
            f"the host knows its literal constants and its class and static methods; {where}"
        )


def _constant(text: str) -> Any:
    """A literal (numbers, text, bytes, containers, arithmetic on numbers) from its text."""
    node = ast.parse(text, mode="eval")
    if not is_literal(node.body):
        raise ValueError(f"not a literal: {text!r}")
    return eval(compile(node, "<constant>", "eval"), {"__builtins__": {}})  # noqa: S307


def _board_class(
    module: str, name: str, sig: inspect.Signature, construct: Callable, timeout: float | None
) -> type:
    """A host class whose instances live on the board; ``isinstance`` works on the host."""

    def __new__(cls: type, *args: Any, **kwargs: Any) -> BoardObject:
        return construct(*args, **kwargs)  # decoded as an instance of cls (host_class)

    export = _export(module, name)
    methods = {
        attr: (_async_method if method.is_async else _method)(attr, method)
        for attr, method in (export.methods.items() if export is not None else ())
        if method.binding == "method" and not attr.startswith("__")
    }
    methods.update(
        (attr, _special(attr))
        for attr, method in (export.methods.items() if export is not None else ())
        if attr.startswith("__") and attr.endswith("__") and not hasattr(BoardObject, attr)
        if method.binding == "method" and not method.is_async
    )
    # Marked classes of this module it derives from (made before it, as locally):
    # `isinstance(Sub(), Base)` holds, and Base's methods take one round trip.
    bases = tuple(
        _classes[module, base]
        for base in (export.bases if export is not None else ())
        if (module, base) in _classes
    )
    own = export.methods if export is not None else {}
    if "__eq__" in own and "__hash__" not in own:
        methods["__hash__"] = None  # __eq__ without __hash__: unhashable, as locally
    cls = BoardClass(
        name,
        bases or (BoardObject,),
        {
            **methods,
            "__new__": __new__,
            "__init__": lambda self, *a, **k: None,
            "__module__": module,
            "__doc__": f"Instances of {name} live on the board; the host holds proxies.",
            "__signature__": sig,
            "__slots__": (),
            "_bh_methods": None,
            "_bh_board": (module, name, timeout),
        },
    )
    _classes[module, name] = cls
    return cls


def _method(name: str, method: Method) -> Callable:
    """A host method that calls the board object's method: its signature is checked
    here, and the instance lives until the call returns (``Lamp(2).on()`` works)."""
    sig = signature(method.params)

    def call(self: BoardObject, *args: Any, **kwargs: Any) -> Any:
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        module = type(self).__module__
        with calling(module):
            return BoardObject.__getattr__(self, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Runs {name}() on the board object."
    return call


def _special(name: str) -> Callable:
    """A special method the class defines and proxies do not forward already (``__add__``,
    ``__neg__``, ``__next__``, ``__index__`` ...): Python looks these up on the type."""

    def call(self: BoardObject, *args: Any) -> Any:
        with calling(type(self).__module__):
            value = self._bh_owner.ref_op(self._bh_ref, ops.PROXY_METHOD, (name, args, {}))
        # MicroPython's NotImplemented has a nameless type: it arrives as a proxy.
        if isinstance(value, BoardProxy) and value._bh_type in ("", "NotImplementedType"):
            return NotImplemented  # Python tries the other operand's method next
        return value

    call.__name__ = call.__qualname__ = name
    return call


def _async_method(name: str, method: Method) -> Callable:
    """A host coroutine method: awaiting it runs the board object's ``async def`` method
    with the board's asyncio (see :func:`_awaited`)."""
    sig = signature(method.params)

    async def call(self: BoardObject, *args: Any, **kwargs: Any) -> Any:
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        module = type(self).__module__

        def work() -> Any:
            with calling(module):
                return self._bh_owner.ref_op(self._bh_ref, ops.PROXY_AWAIT, (name, args, kwargs))

        return await _awaited(self._bh_owner, work)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Awaits {name}() on the board object."
    return call


# (module, class name) -> the host class of a marked board class
_classes: Dict[Tuple[str, str], type] = {}


def host_class(type_name: str) -> type | None:
    """The host class board objects of class ``type_name`` arrive as, wherever they come
    from (a call, an attribute, a list, a generator): the marked class of that name of the
    innermost module being called, else of the one module marking one; None if none is."""
    found = [cls for (_, name), cls in _classes.items() if name == type_name]
    if len(found) > 1:
        modules = [m for m in reversed(called_modules()) if (m, type_name) in _classes]
        found = [_classes[modules[0], type_name]] if modules else []
    if len(found) != 1:
        return None
    cls = found[0]
    if cls._bh_methods is None:  # learnt once, from the bundle's exports, bases' first
        cls._bh_methods = {}
        for klass in reversed(cls.__mro__):
            if isinstance(klass, BoardClass):
                export = _export(*klass._bh_board[:2])
                cls._bh_methods.update(export.methods if export is not None else {})
    return cls
