"""A session with one board: the resident agent, bundle loads, calls and recovery.

The agent (``mcu/agent.py``) is started through the raw REPL (from the board's
flash, see :mod:`belay_hook.rpc.agent`) and then reads framed requests; after
that a call is one write and one read, nothing is compiled on the board, and
printed output streams to the host as it comes.
While a call waits, the board may call host functions passed to it (served
here, nesting both ways) and send events (handed to :mod:`belay_hook.rpc.events`).
The port belongs to a :class:`~belay_hook.rpc.channel.Channel` while the agent
runs; board objects and host functions to an :class:`~belay_hook.rpc.objects.ObjectTable`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, Mapping, Tuple

from serial import SerialException

from belay_hook.bundle import BoardFormat, Bundle
from belay_hook.errors import (
    BelayHookError,
    BoardResetError,
    BoardTimeoutError,
    FrameError,
    LinkError,
    StaleProxyError,
    board_exception,
)
from belay_hook.rpc import agent, framing, ops, upload
from belay_hook.rpc.channel import Channel
from belay_hook.rpc.conversation import SETTLE, Conversation
from belay_hook.rpc.objects import ObjectTable, Ref
from belay_hook.rpc.tracebacks import with_board_frames
from belay_hook.splitter.result import HANDLE_KINDS, Export

_NO_FILESYSTEM = {errno.EROFS, errno.ENOSPC, errno.ENODEV, errno.EACCES, errno.EPERM}
_local = threading.local()


@contextlib.contextmanager
def timeout(seconds: float | None) -> Iterator[None]:
    """Calls made in this block (this thread) wait at most ``seconds`` for the board,
    including the wait for another thread's call to finish.

    On expiry the board code is interrupted and :class:`TimeoutError` raised;
    the session stays usable. Overrides marker and session timeouts.
    """
    old = getattr(_local, "timeout", False)
    _local.timeout = seconds
    try:
        yield
    finally:
        _local.timeout = old


def timeout_in_force() -> Any:
    """What :func:`timeout` set for this thread (False: nothing), for work handed to
    another thread on this one's behalf (an async stub's executor)."""
    return getattr(_local, "timeout", False)


class Session:
    """The resident agent on one board, reached over an open :class:`~.link.Link`."""

    def __init__(
        self,
        link: Any,
        *,
        timeout: float | None = 30.0,
        soft_reset: bool = True,
        on_text: Callable[[str], None] | None = None,
        reconnect_attempts: int = 3,
        reconnect_delay: float = 1.0,
        progress: bool = True,
    ):
        self.link = link
        self.timeout = timeout
        self.soft_reset = soft_reset
        self.on_text = on_text
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self.progress = progress  # show long uploads on stderr (when it is a terminal)
        self.started_from = ""  # where the agent came from (see rpc.agent.start)
        self.format = BoardFormat(source_only=True)
        self.info: Tuple = ()
        self._builtins: frozenset | None = None  # see `builtins`
        self.exports: Dict[str, Mapping[str, Export]] = {}  # host module -> its bundle's
        self.uploaded_bytes = 0  # bundle bytes sent, for tests and benchmarks
        self.ram_only = False  # the board's filesystem refused a bundle: load into RAM
        self.emulator: Any = None  # an Emulator this session started and closes
        self.objects = ObjectTable(self, link.port)
        self.channel: Channel | None = None  # while an agent runs
        self.lost: BaseException | None = None  # why the agent is gone, until reconnected
        self._talk: Conversation | None = None  # requests and replies with the agent
        self._lock = threading.RLock()  # the board, across reconnects
        self._handles: Dict[Tuple[str, str], int] = {}  # (module, name) -> function handle
        self._bundles: Dict[str, Bundle] = {}  # to put back after a reset, in import order
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Session:
        """Put the agent on the board and learn what .mpy format it loads. A board reset
        meanwhile (its reset button, pressed as the program starts) or a garbled frame
        starts it once more."""
        try:
            self._start_agent()
        except (BoardResetError, FrameError):  # a reset, or a byte garbled on the line
            self._stop_channel()
            self._start_agent()
        return self

    def _start_agent(self) -> None:
        self.started_from = agent.start(
            self.link, soft_reset=self.soft_reset, progress=self.progress
        )
        self.channel = Channel(self.link.serial, self.link.port, self.on_text)
        self._talk = Conversation(self.channel, self.objects, self._lose)
        self.channel.on_idle_frame = self._talk.idle_frame
        self.lost = None
        self.objects.restart(self._talk.greeting(2.0))
        self.info = tuple(self._request(ops.OP_INFO, None, timeout=10.0))
        name, _version, mpy, _platform, self._dir, _ = self.info
        if self.started_from in ("flash", "uploaded"):
            agent.remember(self.link.port, name, mpy)
        self._builtins = None
        # CircuitPython's .mpy files are its own: it gets source, whatever _mpy says.
        source_only = not mpy or name == "circuitpython"
        self.format = BoardFormat(source_only=True) if source_only else BoardFormat.from_mpy(mpy)

    @property
    def builtins(self) -> frozenset:
        """The names the board has without importing: asked once per firmware (cached on
        the host's disk), and only when a module needs them. A board too short of heap
        to list them reports every name as there (no false warnings)."""
        if self._builtins is None:
            try:
                self._builtins = agent.builtins_of(
                    self.info, lambda: self._request(ops.OP_INFO, 1, timeout=10.0)[5]
                )
            except MemoryError:
                self._builtins = agent.EVERY_NAME
        return self._builtins

    def close(self) -> None:
        """Run the bundles' teardown code, stop the agent (back to the REPL), close the link.

        A call still running in another thread is interrupted, not waited out.
        """
        if not self._lock.acquire(timeout=1.0):
            if self.channel is not None:  # another thread's call: Ctrl-C it, not wait it out
                self.channel.interrupt()
            self._lock.acquire(timeout=SETTLE)
        try:
            if self.channel is not None and self.lost is None:
                self._teardown()
                self.channel.end_after_reply()
                self._request(ops.OP_BYE, None, timeout=2.0)
        except (BelayHookError, OSError):
            pass  # a board that went away needs no goodbye
        finally:
            self._closed = True
            self._stop_channel()
            with contextlib.suppress(RuntimeError):
                self._lock.release()
            self.link.close()
            if self.emulator is not None:
                self.emulator.close()

    @property
    def closed(self) -> bool:
        """Whether `close` ran: a registry of open sessions skips this one."""
        return self._closed

    @contextlib.contextmanager
    def lend_link(self) -> Iterator[Any]:
        """The link, in the raw REPL, for raw-REPL work (sync) on the port this session holds.

        The agent stops for the block; the next request starts it again and puts every
        bundle back (setup code runs again), as after a reconnect.
        """
        with self._lock:
            if self._closed:
                raise BelayHookError(f"{self.link.port}: the session with the board is closed")
            if self.channel is not None:
                try:
                    self.channel.end_after_reply()
                    self._request(ops.OP_BYE, None, timeout=2.0)
                except (BelayHookError, OSError):
                    pass  # entering the raw REPL interrupts whatever still runs
            self._lose(BelayHookError("the agent stopped to lend the link"))
            self.link.enter_raw_repl()
            yield self.link

    def _teardown(self) -> None:
        for module, exports in self.exports.items():
            for name, export in exports.items():
                if export.kind == "teardown":
                    try:
                        self.call(module, name, (), {})
                    except Exception as exc:  # noqa: BLE001 - one teardown must not stop others
                        print(
                            f"belay_hook: teardown {module}.{name}() failed on the board: {exc}",
                            file=sys.stderr,
                        )

    # ---------------------------------------------------------------- calls

    def call(
        self, module: str, name: str, args: tuple, kwargs: dict, timeout: float | None = None
    ) -> Any:
        """Run ``module.name(*args, **kwargs)`` on the board and return its result."""
        handle = self._handles.get((module, name))
        if handle is None:  # not an export of a loaded bundle: call it by name
            value = (module, name, tuple(args), dict(kwargs))
            return self._request(ops.OP_CALL_NAME, value, timeout=timeout, what=f"{name}()")
        table = self.objects

        def frame(rid: int) -> bytes:
            return framing.call_request(handle, rid, tuple(args), dict(kwargs), table)

        return self._exchange(frame, timeout, f"{name}()")

    def start_thread(self, module: str, name: str, args: tuple, kwargs: dict) -> None:
        """Start ``module.name(*args, **kwargs)`` in a new thread on the board; returns at once."""
        try:
            value = (module, name, tuple(args), dict(kwargs))
            self._request(ops.OP_THREAD, value, what=f"{name}()")
        except ImportError:
            raise BelayHookError(
                f"{name}() is marked '#@mcu thread', but this board has no _thread module"
            ) from None

    def load(self, module: str, bundle: Bundle) -> None:
        """Make ``module``'s bundle live on the board, then import it (running its setup code).

        Bundles stay on the board's filesystem under their content hash, so an
        unchanged bundle is never sent twice; where the filesystem cannot be
        written (read-only, missing) the source is compiled into RAM instead.
        """
        tag = hashlib.sha256(module.encode()).hexdigest()[:8]
        sha, cheap = upload.digests(bundle.code)
        cheap = None if self.started_from == "known" else cheap  # the board has sha256
        name = f"b{tag}_{sha}.{'mpy' if bundle.is_mpy else 'py'}"
        what = f"import of {module}"
        handles = self._handles_for(module, bundle.split.details)
        try:
            if self.ram_only:
                self._load_into_ram(module, bundle, handles, what)
            elif self._request(ops.OP_LOAD, (module, name, handles, cheap), what=what):
                pass  # it was on the board, whole: imported
            elif self._upload(name, bundle.code):
                self._request(ops.OP_LOAD, (module, name, handles, cheap), what=what)
            else:
                self.ram_only = True
                self._load_into_ram(module, bundle, handles, what)
        except MemoryError as exc:
            raise MemoryError(
                f"the board ran out of memory loading module {module!r} "
                f"({len(bundle.code)} bytes of {'.mpy' if bundle.is_mpy else 'source'}): "
                "a bigger heap or a smaller module is needed"
            ) from exc
        self.exports[module] = bundle.split.details
        self._bundles[module] = bundle

    def _upload(self, name: str, code: bytes) -> bool:
        """Put ``code`` in the agent's folder as ``name`` (verified, see :mod:`.upload`);
        False where the filesystem refuses."""
        try:
            upload.store(self._request, self._dir, name, code, self.progress)
            self.uploaded_bytes += len(code)
        except OSError as exc:
            if exc.errno in _NO_FILESYSTEM:
                return False
            raise
        return True

    def _load_into_ram(self, module: str, bundle: Bundle, handles: list, what: str) -> None:
        source = bundle.split.mcu_source
        self._request(ops.OP_LOAD_RAM, (module, bundle.split.filename, source, handles), what=what)
        self.uploaded_bytes += len(source.encode())

    def _handles_for(self, module: str, exports: Mapping[str, Export]) -> list:
        """[handle, name] for each function or class the bundle exports: a call then
        names its target in a byte or two instead of by module and name."""
        pairs = []
        for name, export in exports.items():
            if export.kind in HANDLE_KINDS:
                handle = self._handles.setdefault((module, name), len(self._handles) + 1)
                pairs.append([handle, name])
        return pairs

    # ------------------------------------------------- board objects (proxy owner)

    def ref_op(self, ref: Ref, op: int, arg: Any = None) -> Any:
        """One operation on a board object (see the agent's ``_on``)."""
        self.objects.check(ref)
        name = ops.PROXY_NAMES.get(op, "operation")
        return self._request(
            ops.OP_OBJECT, (ref, op, arg), what=f"{name} on a board {ref.type_name}"
        )

    def release(self, ref: Ref, close: bool = False) -> None:
        """The host dropped its proxy of ``ref``: the board may free it (closing it first)."""
        if self.objects.drop(ref, close):
            # Freeing needs no reply, so it may go out now unless another thread
            # is mid-call (or this is a finaliser run mid-call); then the next
            # request takes it along.
            channel = self.channel
            if channel is not None and channel.lock.acquire(blocking=False):
                try:
                    dropped = [] if channel._busy else self.objects.take_dropped()
                    if dropped:
                        channel.write(framing.request(ops.OP_FREE, 0, dropped))
                finally:
                    channel.lock.release()

    # ------------------------------------------------------------- plumbing

    def _request(self, op: int, value: Any, *, timeout: float | None = None, what: str = "") -> Any:
        def frame(rid: int) -> bytes:
            return framing.request(op, rid, value, self.objects)  # TypeError: nothing sent

        return self._exchange(frame, timeout, what or ops.OP_NAMES[op])

    def _exchange(self, frame: Callable[[int], bytes], timeout: float | None, what: str) -> Any:
        """Send one request frame and wait for its answer."""
        override = getattr(_local, "timeout", False)
        if override is not False:
            timeout = override
        elif timeout is None:
            timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if deadline is None else timeout):
            raise BoardTimeoutError(
                self.link.port, f"the board (another thread's call holds it) for {what}", timeout
            )
        try:
            talk = self._ready(deadline)
            with talk.channel.hold(deadline, what):
                kind, body, host_error = talk.exchange(frame, deadline, timeout, what)
        except BoardResetError as exc:
            self._lose(exc)
            raise
        except BelayHookError:  # a timeout (an OSError too), a damaged frame: agent still here
            raise
        except (OSError, SerialException) as exc:
            self._lose(exc)
            raise LinkError(self.link.port, f"connection lost: {exc}") from exc
        finally:
            self._lock.release()
        result = talk.decode(body, what)
        if kind == ops.KIND_RESULT:
            return result
        type_name, args, error_number, board_tb, *attributes = result
        name = type_name.split()[0]  # a class of the board's own: its bases follow
        if name == "FrameError":
            raise FrameError(self.link.port, f"{args[0]} (for {what})")
        if name == "StaleProxyError":
            raise StaleProxyError(f"{self.link.port}: {args[0]}")
        exc = board_exception(type_name, tuple(args), board_tb, error_number)
        exc.__dict__.update(*attributes)  # what the board exception's __init__ set
        if host_error is not None:  # a host function raised during this call
            if type(host_error).__name__ == name:
                exc.__cause__ = host_error
            else:
                exc.__context__ = host_error
        raise with_board_frames(exc, board_tb)

    def _ready(self, deadline: float | None = None) -> Conversation:
        """The channel to the running agent, reconnecting first if it was lost in a call.

        A reset seen between calls is raised here, once: the board's state is gone,
        and the caller should know before anything runs on a fresh board. Before any
        module was loaded there was no state to lose (a reset as the program connects):
        the agent just starts again.
        """
        if self._closed:
            raise BelayHookError(f"{self.link.port}: the session with the board is closed")
        if self._talk is not None and not self._bundles:
            try:
                self._talk.catch_up()
            except BoardResetError as exc:
                self._lose(exc)
        channel = self.channel
        if channel is not None and channel.lost is not None:
            why = channel.lost
            self._lose(why)
            if isinstance(why, BoardResetError) and self._bundles:
                detail = str(why)[len(self.link.port) + 2 :]
                raise BoardResetError(self.link.port, f"between calls: {detail}")
        if self.channel is None:
            self._reconnect(deadline)
        assert self._talk is not None
        return self._talk

    # --------------------------------------------------------------- recovery

    def _stop_channel(self) -> None:
        channel, self.channel = self.channel, None
        self._talk = None
        if channel is not None:
            channel.close()

    def _lose(self, why: BaseException) -> None:
        """The agent is gone (reset, unplugged, not answering): the next request reconnects."""
        self._stop_channel()
        self.lost = why

    def _reconnect(self, deadline: float | None = None) -> None:
        """Open the port again, restart the agent, put every bundle back (setup runs again).

        Proxies from before the loss are stale now (StaleProxyError); calls work again.
        All attempts together take at most the call's time left or the link's timeout,
        whichever is longer: a board that never answers makes no call wait for long.
        """
        last: BaseException | None = self.lost
        link_timeout = self.link.timeout
        end = time.monotonic() + link_timeout
        if deadline is not None:
            end = max(end, deadline)
        bundles = dict(self._bundles)  # each goes back, in import order
        attempts = 0
        done = False
        try:
            while attempts < max(self.reconnect_attempts, 1):
                if attempts:
                    time.sleep(min(self.reconnect_delay, max(end - time.monotonic(), 0.0)))
                    if time.monotonic() >= end:
                        break
                attempts += 1
                self.link.timeout = round(min(link_timeout, max(end - time.monotonic(), 0.1)), 1)
                try:
                    self.link.close()
                    self.link.open()
                    self._start_agent()
                    self._bundles = {}
                    for module, bundle in bundles.items():
                        self.load(module, bundle)
                    done = True
                    return
                except (BelayHookError, OSError, SerialException) as exc:
                    self._stop_channel()
                    last = exc
        finally:
            self.link.timeout = link_timeout
            if not done:  # not all back (a Ctrl-C too): the next call reconnects afresh
                self._stop_channel()
                self._bundles = bundles
        raise LinkError(
            self.link.port,
            f"board lost ({self.lost}) and {attempts} attempts to reconnect failed; last: {last}",
        )
