"""The session ``belay_hook.connect(port)`` returns: a :class:`Session` that also takes
code as text, Belay's way, and runs the awaits of ``#@mcu async def`` stubs.

- ``board("1 + 1")`` evaluates an expression on the board and returns its value;
  ``board("x = 5")`` runs statements (None). Code sent this way shares one namespace
  on the board, kept between calls (not the marked modules' globals).
- ``board.proxy("x")`` is a proxy of what the expression gives, even of a list, dict
  or bytearray, so changes made through it happen on the board;
  ``board.proxy("import machine")`` runs the import and proxies the name it binds.
- ``board("expr", return_time=True)`` returns ``(value, when)``: ``when`` is a host
  ``datetime``, the midpoint of the board's own clock readings just before and after,
  mapped to host time.

Board errors raise as calls' do; a traceback shows the sent code's lines. The board
side is ``mcu/remote_helper.py``, loaded as a bundle on first use: the agent stays as is.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import linecache
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Tuple

from belay_hook import bundle, mcu_files
from belay_hook.errors import BelayHookError
from belay_hook.rpc import ops
from belay_hook.rpc.session import Session

HELPER = "belay_hook_remote"  # the helper's module name on the board
RESYNC_AFTER = 60.0  # seconds: the clocks drift, and a 32-bit board's ticks_us wraps in 17 min
SYNC_SAMPLES = 3  # round trips per clock sync; the quickest one sets the offset
# "import a.b", "import a as b", "from a import b", "from a import b as c": the name bound
_IMPORT = re.compile(
    r"\s*(?:import\s+([\w.]+)|from\s+[\w.]+\s+import\s+(\w+))(?:\s+as\s+(\w+))?\s*"
)


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

    _clock: Tuple[int, float, float] | None = None  # generation, host time of ref, synced at

    def __call__(self, code: str, *, return_time: bool = False) -> Any:
        """The value of expression ``code`` on the board (None for statements);
        with ``return_time``, ``(value, host datetime when it ran)``."""
        if not return_time:
            return self._helper("run", code, 0)
        generation, host_ref = self._sync_clock()
        value, start, end = self._helper("run", code, 1)
        if self.objects.generation != generation:
            raise BelayHookError(
                f"{self.link.port}: the board's agent restarted before the timed code ran; "
                "its time is unknown"
            )
        return value, datetime.datetime.fromtimestamp(host_ref + (start + end) / 2e6)

    def proxy(self, expression: str) -> Any:
        """A proxy of the board object ``expression`` gives (``board.proxy("sensor")``),
        or, for an import statement, of the name it binds."""
        match = _IMPORT.fullmatch(expression) if isinstance(expression, str) else None
        if match:
            self(expression)
            module, name, alias = match.groups()
            expression = alias or name or module.split(".")[0]
        return self._helper("keep", expression)

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------- plumbing

    def _helper(self, name: str, code: str, *args: Any) -> Any:
        """Call ``name`` of the board helper with ``code``, loading the helper first."""
        if not isinstance(code, str):
            raise TypeError(f"board code must be a str, not {type(code).__name__}")
        if HELPER not in self.exports:
            path = str(mcu_files.path("remote_helper.py"))
            with open(path, encoding="utf-8") as file:
                split = bundle.split_cached(file.read(), path)
            self.load(HELPER, bundle.build(split, self.format))
        short = code if len(code) <= 40 else code[:37] + "..."
        value = (HELPER, name, (code, _register(code), *args), {})
        return self._request(ops.OP_CALL_NAME, value, what=f"board code {short!r}")

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
        self._helper("run", "0", 0)  # the helper loaded, so the samples time the clock only
        best: Tuple[float, int, float] | None = None
        for _ in range(SYNC_SAMPLES):
            before = time.time()
            ticks = self.call(HELPER, "clock", (None,), {})
            after = time.time()
            if best is None or after - before < best[0]:
                best = (after - before, ticks, (before + after) / 2)
        assert best is not None
        self.call(HELPER, "clock", (best[1],), {})
        self._clock = (self.objects.generation, best[2], time.monotonic())
        return self._clock[0], self._clock[1]


def _register(code: str) -> str:
    """A file name for ``code`` that tracebacks can show its lines under."""
    name = f"<board code {hashlib.sha1(code.encode()).hexdigest()[:8]}>"
    if name not in linecache.cache:
        lines = [line + "\n" for line in code.splitlines()]
        linecache.cache[name] = (len(code), None, lines, name)
    return name
