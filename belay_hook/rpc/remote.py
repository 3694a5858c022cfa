"""The session ``belay_hook.connect(port)`` returns: a :class:`Session` that also runs
the awaits of ``#@mcu async def`` stubs, one at a time, in a thread of its own."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from belay_hook.errors import BelayHookError
from belay_hook.rpc import ops
from belay_hook.rpc.session import Session


class BoardSession(Session):
    """A session with one board; a context manager that closes it."""

    def await_call(
        self, module: str, name: str, args: tuple, kwargs: dict, timeout: float | None = None
    ) -> Any:
        """Run coroutine function ``module.name`` to its end with the board's ``asyncio``
        and return its result. This thread waits (an async stub waits in :attr:`awaits`)."""
        value = (module, name, tuple(args), dict(kwargs))
        try:
            return self._request(ops.OP_AWAIT, value, timeout=timeout, what=f"await {name}()")
        except ImportError as exc:
            if "asyncio" not in str(exc):
                raise
            raise BelayHookError(
                f"{name}() is an async def, but this board has no asyncio module"
            ) from exc

    @functools.cached_property
    def awaits(self) -> ThreadPoolExecutor:
        """The one thread async stubs wait in: awaits of this board queue there and run
        one after another, each call's timeout counted from its start, not its queueing."""
        return ThreadPoolExecutor(1, thread_name_prefix=f"belay_hook await {self.link.port}")

    def close(self) -> None:
        super().close()
        if "awaits" in self.__dict__:
            self.awaits.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
