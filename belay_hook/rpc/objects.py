"""The object table: board objects the host holds proxies of, and host functions board
code may call back.

It is the codec's :class:`~belay_hook.rpc.codec.Context` for one session. A board
object's reference carries the generation of the agent that made it (a number the
agent picks as it starts), so a proxy that outlives its agent (a reset, a
reconnect) raises :class:`StaleProxyError` instead of naming whatever object now has
its id; freeing it is a no-op.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple

from belay_hook.errors import StaleProxyError
from belay_hook.rpc import proxies, stubs


class Ref(NamedTuple):
    """A board object: which agent made it, its id there, and its type's name."""

    generation: int
    id: int
    type_name: str


class ObjectTable:
    """Proxies by reference, host functions by id, and proxies dropped but not yet freed."""

    def __init__(self, owner: proxies.Owner, port: str):
        self.owner = owner
        self.port = port
        self.generation = 0  # of the running agent; 0 while none runs
        self._functions: Dict[int, Callable] = {}
        self._function_ids: Dict[Any, int] = {}
        self._dropped: List[int] = []

    def restart(self, generation: int) -> None:
        """A new agent runs: every earlier reference is stale, nothing is left to free."""
        self.generation = generation
        self._dropped.clear()

    def check(self, ref: Ref) -> Ref:
        """``ref`` if its object is alive on the board; StaleProxyError otherwise."""
        if not ref:
            raise StaleProxyError("this board object was released (its generator closed)")
        if ref.generation != self.generation:
            raise StaleProxyError(
                f"{self.port}: this board {ref.type_name} object (#{ref.id}) belonged to an "
                "agent that is gone (the board reset or was reconnected); its state went "
                "with it: make the object again"
            )
        return ref

    # -- codec context

    def proxy_id(self, value: Any) -> tuple | None:
        """(generation, id) of a proxy or reference of this board, else None."""
        value = proxies.board_object(value)
        if isinstance(value, proxies.BoardProxy) and value._bh_owner is self.owner:
            value = value._bh_ref
        elif not isinstance(value, Ref):
            return None
        ref = self.check(value)
        return ref.generation, ref.id

    def callback_id(self, fn: Callable) -> int:
        key = fn if _hashable(fn) else id(fn)
        if key not in self._function_ids:
            self._function_ids[key] = len(self._functions) + 1
            self._functions[self._function_ids[key]] = fn
        return self._function_ids[key]

    def proxy(self, ref: int, type_name: str) -> Any:
        """A host generator for a board one, an instance of the host class for an object of
        a marked class (``isinstance`` works), else a plain proxy."""
        cls = stubs.host_class(type_name) or proxies.BoardProxy
        proxy = object.__new__(cls)  # a marked class's own __new__ would call the board
        proxies.BoardProxy.__init__(
            proxy, self.owner, Ref(self.generation, ref, type_name), type_name
        )
        return proxies.generator(proxy) if type_name == "generator" else proxy

    # -- host functions and freeing

    def function(self, fn_id: int) -> Callable:
        return self._functions[fn_id]

    def drop(self, ref: Ref, close: bool = False) -> bool:
        """The host let go of ``ref``; True if the board has something to free."""
        if ref and ref.generation == self.generation:
            self._dropped.append(-ref.id if close else ref.id)
            return True
        return False

    def take_dropped(self) -> List[int]:
        dropped, self._dropped = self._dropped, []
        return dropped


def _hashable(value: Any) -> bool:
    try:
        hash(value)
        return True
    except TypeError:
        return False
