"""What a Belay user reaches for on a board session: code as text, proxies by name, timing.

``belay_hook.connect(port)`` returns a :class:`BoardSession`:

- ``board("1 + 1")`` evaluates an expression on the board and returns its value;
  ``board("x = 5")`` runs statements (None). Code sent this way shares one namespace
  on the board, kept between calls (not the marked modules' globals).
- ``board.proxy("x")`` is a proxy of what the expression names, even of a list or
  dict, so changes made through it happen on the board; ``board.proxy("import machine")``
  imports and gives the module.
- ``board("expr", return_time=True)`` and ``board.timed_call(fn, *args)`` return
  ``(value, when)``: ``when`` is a host ``datetime``, the midpoint of the board's own
  clock readings just before and after, mapped to host time.

Board errors raise as calls' do; a traceback shows the sent code's lines. It also
runs the awaits of ``#@mcu async def`` stubs (:meth:`BoardSession.await_call`).
"""

from __future__ import annotations

import ast
import datetime
import functools
import hashlib
import inspect
import linecache
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Tuple

from belay_hook.errors import BelayHookError
from belay_hook.rpc import ops, stubs
from belay_hook.rpc.proxies import BoardProxy
from belay_hook.rpc.session import Session

RESYNC_AFTER = 60.0  # seconds: the clocks drift, and a 32-bit board's ticks_us wraps in 17 min
SYNC_SAMPLES = 3  # round trips per clock sync; the quickest one sets the offset


class BoardSession(Session):
    """A session with one board, also callable with code (see the module docstring)."""

    _clock: Tuple[int, float, float] | None = None  # generation, host time of ref, synced at

    def __call__(self, code: str, *, return_time: bool = False) -> Any:
        """The value of expression ``code`` on the board (None for statements);
        with ``return_time``, ``(value, host datetime when it ran)``."""
        if not return_time:
            return self._eval(code, 0)
        return self._timed(lambda: self._eval(code, ops.EVAL_TIMED))

    def proxy(self, expression: str) -> Any:
        """A proxy of the board object ``expression`` gives (``board.proxy("sensor")``);
        an import of one name imports it and gives that (``board.proxy("import machine")``)."""
        bound = _imported_name(expression)
        if bound is not None:
            self._eval(expression, 0)
            expression = bound
        return self._eval(expression, ops.EVAL_PROXY)

    def timed_call(self, fn: Callable, *args: Any, **kwargs: Any) -> Tuple[Any, datetime.datetime]:
        """``(fn(*args, **kwargs), host datetime when it ran on the board)`` for a marked
        function of a module on this board, or a callable board object (a proxy)."""
        on_this_board = stubs._boards.get(getattr(fn, "__module__", None)) is self
        if isinstance(fn, BoardProxy) and fn._owner is self:
            target: Any = fn
        elif on_this_board and not inspect.iscoroutinefunction(fn):
            target = (fn.__module__, fn.__qualname__)
        else:
            raise TypeError(
                f"timed_call(): {fn!r} is neither a marked function of a module on this "
                "board nor a board object: it would not run on the board"
            )
        what = f"{getattr(fn, '__name__', 'board function')}()"
        value = (target, tuple(args), dict(kwargs))
        return self._timed(lambda: self._request(ops.OP_TIMED, value, what=what))

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

    # ------------------------------------------------------------- plumbing

    def _eval(self, code: str, flags: int) -> Any:
        if not isinstance(code, str):
            raise TypeError(f"board code must be a str, not {type(code).__name__}")
        name = _register(code)
        short = code if len(code) <= 40 else code[:37] + "..."
        return self._request(ops.OP_EVAL, (code, name, flags), what=f"board code {short!r}")

    def _timed(self, request: Callable[[], tuple]) -> Tuple[Any, datetime.datetime]:
        """Run ``request`` (its reply: value, start and end ticks from the clock reference)."""
        generation, host_ref = self._sync_clock()
        value, start, end = request()
        if self.objects.generation != generation:
            raise BelayHookError(
                f"{self.link.port}: the board's agent restarted before the timed code ran; "
                "its time is unknown"
            )
        seconds = host_ref + (start + end) / 2e6
        return value, datetime.datetime.fromtimestamp(seconds)

    def _sync_clock(self) -> Tuple[int, float]:
        """The board's clock reference and the host time it stands for, measured again
        when older than RESYNC_AFTER or set by an earlier agent."""
        clock = self._clock
        if (
            clock is not None
            and clock[0] == self.objects.generation
            and time.monotonic() - clock[2] < RESYNC_AFTER
        ):
            return clock[0], clock[1]
        best: Tuple[float, int, float] | None = None
        for _ in range(SYNC_SAMPLES):
            before = time.time()
            ticks = self._request(ops.OP_CLOCK, None, what="a clock reading")
            after = time.time()
            if best is None or after - before < best[0]:
                best = (after - before, ticks, (before + after) / 2)
        assert best is not None
        self._request(ops.OP_CLOCK, best[1], what="setting the clock reference")
        self._clock = (self.objects.generation, best[2], time.monotonic())
        return self._clock[0], self._clock[1]


def _imported_name(code: str) -> str | None:
    """The name an import statement of one name binds, else None."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None  # the board says what is wrong
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Import, ast.ImportFrom)):
        return None
    names = tree.body[0].names
    if len(names) != 1 or names[0].name == "*":
        return None
    return names[0].asname or names[0].name.split(".")[0]


def _register(code: str) -> str:
    """A file name for ``code`` that tracebacks can show its lines under."""
    name = f"<board code {hashlib.sha1(code.encode()).hexdigest()[:8]}>"
    if name not in linecache.cache:
        lines = [line + "\n" for line in code.splitlines()]
        linecache.cache[name] = (len(code), None, lines, name)
    return name
