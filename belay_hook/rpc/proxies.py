"""Host stand-ins for board objects that cannot be copied across the link.

A board value the codec cannot carry stays on the board; the host gets a
:class:`BoardProxy` that forwards attribute access, calls, items, iteration,
``len``, comparisons, ``repr`` and ``with``. It can be passed back as an argument, and
when it dies the board lets go of the object. Board generators arrive as real
host generators: each ``next()``, ``send()``, ``throw()`` and ``close()`` is one
round trip to the board generator's ``yield``, and its return value ends the
host generator (``yield from`` on the host gets it).
"""

from __future__ import annotations

import weakref
from types import GeneratorType
from typing import Any, Dict, Generator, Iterator, Protocol

from belay_hook.errors import StaleProxyError
from belay_hook.rpc import codec, ops


class Owner(Protocol):
    """The session a proxy belongs to."""

    def ref_op(self, ref: Any, op: int, arg: Any = None) -> Any: ...

    def release(self, ref: Any, close: bool = False) -> None: ...


_OWN = ("_bh_owner", "_bh_ref", "_bh_type")


class BoardProxy:
    """A board object seen from the host; every operation is one round trip."""

    __slots__ = (*_OWN, "__weakref__")

    def __init__(self, owner: Owner, ref: Any, type_name: str):
        object.__setattr__(self, "_bh_owner", owner)
        object.__setattr__(self, "_bh_ref", ref)
        object.__setattr__(self, "_bh_type", type_name)

    def _bh_op(self, op: int, arg: Any = None) -> Any:
        return self._bh_owner.ref_op(self._bh_ref, op, arg)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # keep copy, pickle and friends off the wire
        return self._bh_op(ops.PROXY_GETATTR, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._bh_op(ops.PROXY_SETATTR, (name, value))

    def __delattr__(self, name: str) -> None:
        self._bh_op(ops.PROXY_DELATTR, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._bh_op(ops.PROXY_CALL, (args, kwargs))

    def __getitem__(self, key: Any) -> Any:
        return self._bh_op(ops.PROXY_GETITEM, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._bh_op(ops.PROXY_SETITEM, (key, value))

    def __delitem__(self, key: Any) -> None:
        self._bh_op(ops.PROXY_DELITEM, key)

    def __len__(self) -> int:
        return self._bh_op(ops.PROXY_LEN)

    def __iter__(self) -> Iterator:
        iterator = self._bh_op(ops.PROXY_ITER)
        return iterator if not isinstance(iterator, BoardProxy) else _pull(iterator)

    def __contains__(self, item: Any) -> bool:
        return self._bh_op(ops.PROXY_CONTAINS, item)

    def __bool__(self) -> bool:
        return self._bh_op(ops.PROXY_BOOL)

    def __eq__(self, other: object) -> Any:
        if not _comparable(other):  # a host object: Python's own answer, False for ==
            return NotImplemented
        return self._bh_op(ops.PROXY_EQ, other)

    def __ne__(self, other: object) -> Any:
        if not _comparable(other):
            return NotImplemented
        return not self._bh_op(ops.PROXY_EQ, other)

    def __lt__(self, other: Any) -> bool:
        return self._bh_compare(ops.PROXY_LT, ops.PROXY_GT, other)

    def __le__(self, other: Any) -> bool:
        return self._bh_compare(ops.PROXY_LE, ops.PROXY_GE, other)

    def __gt__(self, other: Any) -> bool:
        return self._bh_compare(ops.PROXY_GT, ops.PROXY_LT, other)

    def __ge__(self, other: Any) -> bool:
        return self._bh_compare(ops.PROXY_GE, ops.PROXY_LE, other)

    def _bh_compare(self, op: int, mirrored: int, other: Any) -> Any:
        if not _comparable(other):
            return NotImplemented  # Python's TypeError, naming both types
        try:
            return self._bh_op(op, other)
        except TypeError:
            # Python then asks the other side, mirrored (a class defining __lt__ alone
            # still sorts and takes max()); MicroPython does not.
            if not isinstance(other, BoardProxy):
                raise
            return other._bh_op(mirrored, self)

    def __enter__(self) -> Any:
        entered = self._bh_op(ops.PROXY_ENTER)
        return self if entered == 0 else entered[0]  # `with make() as m`: m is this proxy

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        # The board's __exit__ sees the exception that left the block, rebuilt there
        # as for a generator's throw(); it returns whether to swallow it.
        return self._bh_op(ops.PROXY_EXIT, None if exc is None else sent_exception(exc))

    def __hash__(self) -> int:
        # The board object's: two proxies of one object (it was returned twice) are
        # equal (the board compares), so they must hash alike, as the object would.
        return self._bh_op(ops.PROXY_HASH)

    def __repr__(self) -> str:
        try:
            return f"<board {self._bh_op(ops.PROXY_REPR)}>"
        except Exception:  # a repr must not fail: the board may be gone
            return f"<board {self._bh_type} object (unreachable)>"

    def __str__(self) -> str:
        return self._bh_op(ops.PROXY_STR)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.copy() would make a new board object by its constructor, without its
        # state; pickle would carry a reference with no meaning elsewhere.
        raise TypeError(
            f"a board {self._bh_type} object cannot be copied or pickled on the host: it lives "
            "on the board; make the copy in board code"
        )

    def __dir__(self) -> list:
        return self._bh_op(ops.PROXY_DIR)

    def __del__(self) -> None:
        try:
            self._bh_owner.release(self._bh_ref)
        except Exception:  # interpreter shutdown, a closed session: nothing to free
            pass


class BoardObject(BoardProxy):
    """An instance of a ``#@mcu`` class: method calls take one round trip, not two, and
    its ``repr`` is the class's own, as it would be locally."""

    __slots__ = ()
    _bh_methods: Dict[str, str] = {}  # name -> parameter text, set per class

    def __repr__(self) -> str:
        try:
            return self._bh_op(ops.PROXY_REPR)
        except Exception:  # a repr must not fail: the board may be gone
            return f"<board {self._bh_type} object (unreachable)>"

    def __getattr__(self, name: str) -> Any:
        if name in (type(self)._bh_methods or ()):

            def method(*args: Any, **kwargs: Any) -> Any:  # holds self: the object lives
                return self._bh_owner.ref_op(self._bh_ref, ops.PROXY_METHOD, (name, args, kwargs))

            method.__name__ = method.__qualname__ = name
            return method
        return super().__getattr__(name)


def _comparable(other: Any) -> bool:
    """Whether ``other`` can go to the board to be compared there: a value or a board
    object. A host object (or function) cannot, so the comparison is Python's own."""
    try:
        codec.encode(other, [])
    except TypeError:
        return isinstance(board_object(other), BoardProxy)
    return True


def generator(proxy: BoardProxy) -> Generator:
    """A host generator driving a board generator: ``next``, ``send``, ``throw`` and
    ``close`` reach the board's ``yield``, and its return value ends the host one."""
    me: list = []
    gen = _drive(proxy, me)
    me.append(weakref.ref(gen))
    _driving[gen] = proxy
    return gen


def board_object(value: Any) -> Any:
    """The board proxy ``value`` stands for: a host generator driving a board one gives
    that generator's proxy (passed back, the board sees its own generator)."""
    return _driving.get(value, value) if isinstance(value, GeneratorType) else value


_driving: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # host gen -> board proxy


_RETURNED, _YIELDED, _UNCAUGHT = 0, 1, 2  # how a board generator's step ended


def _drive(proxy: BoardProxy, me: list) -> Generator:
    owner, ref = proxy._bh_owner, proxy._bh_ref
    op, arg, thrown = ops.PROXY_SEND, None, None
    closed = False  # close() reached the board generator
    try:
        while True:
            state, value = owner.ref_op(ref, op, arg)
            if state == _UNCAUGHT:  # the exception thrown in: the very one comes back
                raise thrown  # type: ignore[misc]
            if state == _RETURNED:
                return value
            try:
                arg = yield value
                op, thrown = ops.PROXY_SEND, None
            except GeneratorExit:
                # From close() (someone holds the generator: its weak reference lives) the
                # board's generator sees GeneratorExit now, and RuntimeError comes back
                # if it yields. From the finaliser (no round trip may run there) the
                # board closes it when it frees it.
                if me[0]() is not None:
                    closed = True
                    try:
                        owner.ref_op(ref, ops.PROXY_CLOSE)
                    except StaleProxyError:
                        pass  # the board reset: its generator is gone already
                raise
            except BaseException as exc:  # noqa: B036 - throw(): to the board's yield
                op, arg, thrown = ops.PROXY_THROW, sent_exception(exc), exc
    finally:
        # Drop our hold first, so the proxy's own release is a no-op.
        object.__setattr__(proxy, "_bh_ref", 0)
        owner.release(ref, close=not closed)


def sent_exception(exc: BaseException) -> tuple:
    """An exception as the board rebuilds it (throw, __exit__, a host function's error):
    its type's name and its arguments, those that cannot cross as their repr."""
    return type(exc).__name__, [_plain(a) for a in exc.args]


def _plain(value: Any) -> Any:
    """``value`` if it can cross as a value (a list stays a list), else its repr."""
    try:
        codec.encode(value, [])
    except TypeError:
        return repr(value)
    return value


def _pull(proxy: BoardProxy) -> Iterator:
    """A host iterator over a board iterator (what ``iter()`` gave on the board)."""
    owner, ref = proxy._bh_owner, proxy._bh_ref
    try:
        while True:
            try:
                value = owner.ref_op(ref, ops.PROXY_NEXT)
            except StopIteration:
                return
            yield value
    finally:
        object.__setattr__(proxy, "_bh_ref", 0)
        owner.release(ref)
