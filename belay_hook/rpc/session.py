"""A session with one board: the resident agent, bundle uploads and calls.

The agent (``mcu/agent.py``) is sent once through the raw REPL and then reads
framed requests; after that a call is one write and one read, nothing is
compiled on the board, and printed output streams to the host as it comes.
While a call waits, the board may call host functions passed to it (served
here, nesting both ways) and send events (handed to :mod:`belay_hook.rpc.events`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import select
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

from serial import SerialException

from belay_hook.bundle import BoardFormat, Bundle
from belay_hook.errors import (
    BelayHookError,
    BoardResetError,
    BoardTimeoutError,
    LinkError,
    board_exception,
)
from belay_hook.rpc import events, framing, proxies
from belay_hook.rpc.agent import agent_loader, agent_source
from belay_hook.rpc.codec import DecodeError
from belay_hook.rpc.tracebacks import with_board_frames

UPLOAD_CHUNK = 2048  # bytes per write request: bounded board RAM per frame
_NO_FILESYSTEM = {errno.EROFS, errno.ENOSPC, errno.ENODEV, errno.EACCES, errno.EPERM}
_CALLED_BY_HANDLE = ("function", "async_function", "class", "teardown")
_local = threading.local()


@contextlib.contextmanager
def timeout(seconds: float | None) -> Iterator[None]:
    """Calls made in this block (this thread) wait at most ``seconds`` for the board.

    On expiry the board code is interrupted and :class:`TimeoutError` raised;
    the session stays usable. Overrides marker and session timeouts.
    """
    old = getattr(_local, "timeout", False)
    _local.timeout = seconds
    try:
        yield
    finally:
        _local.timeout = old


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
    ):
        self.link = link
        self.timeout = timeout
        self.soft_reset = soft_reset
        self.on_text = on_text
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self.format = BoardFormat(source_only=True)
        self.info: Tuple = ()
        self.builtins: frozenset = frozenset()  # names the board has without importing
        self.manifests: Dict[str, dict] = {}  # host module -> its bundle's manifest
        self.uploaded_bytes = 0  # bundle bytes sent, for tests and benchmarks
        self.ram_only = False  # the board's filesystem refused a bundle: load into RAM
        self.emulator: Any = None  # an Emulator this session started and closes
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._reader: framing.ReplyReader | None = None
        self._functions: Dict[int, Callable] = {}  # host functions board code may call
        self._function_ids: Dict[Any, int] = {}
        self._dropped: List[int] = []  # proxies freed on the host, to tell the board
        self._watcher: threading.Thread | None = None
        self._prefixes: Dict[Tuple[str, str], bytes] = {}  # (module, name) -> call prefix
        self._handles: Dict[Tuple[str, str], int] = {}  # (module, name) -> function handle
        self._unpacks: bool | None = None  # the board has `deflate` for a packed agent
        self._busy = 0  # requests under way in the thread holding the lock
        self._bundles: Dict[str, Bundle] = {}  # to put back after a reset, in import order
        self._closed = False
        self.lost: BaseException | None = None  # why the agent is gone, until reconnected

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Session:
        """Put the agent on the board and learn what .mpy format it loads."""
        self._start_agent()
        events.track(self)
        return self

    def _start_agent(self) -> None:
        self.link.enter_raw_repl(soft_reset=self.soft_reset)
        if self._unpacks is None:  # can the board inflate a compressed agent?
            try:
                self.link.exec("import deflate", timeout=5.0)
                self._unpacks = True
            except Exception:  # noqa: BLE001 - ImportError or anything else: send it plain
                self._unpacks = False
        source = agent_source()
        self.link.exec_start(agent_loader(source) if self._unpacks else source)
        self._reader = framing.ReplyReader(self.link.serial, self.link.port, self.on_text, self)
        self.lost = None
        self.info = self._request(b"I", None, timeout=10.0)
        name, _version, mpy, _platform, self._dir, builtin_names = self.info
        self.builtins = frozenset(builtin_names)
        # CircuitPython's .mpy files are its own: it gets source, whatever _mpy says.
        source_only = not mpy or name == "circuitpython"
        self.format = BoardFormat(source_only=True) if source_only else BoardFormat.from_mpy(mpy)

    def close(self) -> None:
        """Run the bundles' teardown code, stop the agent (back to the REPL), close the link."""
        try:
            if self._reader is not None:
                self._teardown()
                self._request(b"X", None, timeout=2.0)
        except (BelayHookError, OSError):
            pass  # a board that went away needs no goodbye
        finally:
            with self._lock:
                self._closed = True
                self._reader = None
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
            if self._reader is not None:
                try:
                    self._request(b"X", None, timeout=2.0)
                except (BelayHookError, OSError):
                    pass  # entering the raw REPL interrupts whatever still runs
            self._lose(BelayHookError("the agent stopped to lend the link"))
            self.link.enter_raw_repl()
            yield self.link

    def _teardown(self) -> None:
        for module, manifest in self.manifests.items():
            for name, export in manifest.get("exports", {}).items():
                if export.get("kind") == "teardown":
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
        prefix = self._prefixes.get((module, name))
        if prefix is None:
            handle = self._handles.get((module, name))
            if handle is None:  # not an export of a loaded bundle: call it by name
                value = (module, name, tuple(args), dict(kwargs))
                return self._request(b"C", value, timeout=timeout, what=f"{name}()")
            prefix = self._prefixes[module, name] = framing.call_prefix(handle)
        rid = next(self._ids)
        frame = framing.call_request(prefix, rid, tuple(args), dict(kwargs), self)
        return self._exchange(frame, rid, timeout, f"{name}()")

    def start_thread(self, module: str, name: str, args: tuple, kwargs: dict) -> None:
        """Start ``module.name(*args, **kwargs)`` in a new thread on the board; returns at once."""
        try:
            self._request(b"T", (module, name, tuple(args), dict(kwargs)), what=f"{name}()")
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
        base = f"b{tag}_{bundle.digest}"
        path = f"{self._dir}/{base}.{'mpy' if bundle.is_mpy else 'py'}"
        what = f"import of {module}"
        handles = self._handles_for(module, bundle.manifest)
        try:
            if self.ram_only:
                self._load_into_ram(module, bundle, handles, what)
            elif self._upload(path, bundle.code):
                self._request(b"L", (module, base, handles), what=what)
            else:
                self.ram_only = True
                self._load_into_ram(module, bundle, handles, what)
        except MemoryError as exc:
            raise MemoryError(
                f"the board ran out of memory loading module {module!r} "
                f"({len(bundle.code)} bytes of {'.mpy' if bundle.is_mpy else 'source'}): "
                "a bigger heap or a smaller module is needed"
            ) from exc
        self.manifests[module] = bundle.manifest
        self._bundles[module] = bundle

    def _upload(self, path: str, code: bytes) -> bool:
        """Put ``code`` at ``path`` unless it is there; False where the filesystem refuses."""
        if self._request(b"H", path):
            return True
        try:
            for start in range(0, max(len(code), 1), UPLOAD_CHUNK):
                self._request(b"P", (path, code[start : start + UPLOAD_CHUNK], start > 0))
        except OSError as exc:
            if exc.errno in _NO_FILESYSTEM:
                return False
            raise
        self.uploaded_bytes += len(code)
        return True

    def _load_into_ram(self, module: str, bundle: Bundle, handles: list, what: str) -> None:
        source = bundle.split.mcu_source
        self._request(b"R", (module, bundle.split.filename, source, handles), what=what)
        self.uploaded_bytes += len(source.encode())

    def _handles_for(self, module: str, manifest: dict) -> list:
        """[handle, name] for each function or class the bundle exports: a call then
        names its target in a byte or two instead of by module and name."""
        pairs = []
        for name, export in manifest.get("exports", {}).items():
            if export.get("kind") in _CALLED_BY_HANDLE:
                handle = self._handles.setdefault((module, name), len(self._handles) + 1)
                pairs.append([handle, name])
        return pairs

    # ------------------------------------------------ proxies (codec context)

    def proxy_id(self, value: Any) -> int | None:
        if isinstance(value, proxies.BoardProxy) and value._owner is self:
            return value._ref
        return None

    def callback_id(self, fn: Callable) -> int:
        key = fn if _hashable(fn) else id(fn)
        if key not in self._function_ids:
            self._function_ids[key] = len(self._functions) + 1
            self._functions[self._function_ids[key]] = fn
        return self._function_ids[key]

    def proxy(self, ref: int, type_name: str) -> Any:
        proxy = proxies.BoardProxy(self, ref, type_name)
        return proxies.generator(proxy) if type_name == "generator" else proxy

    def ref_op(self, ref: int, op: str, arg: Any = None) -> Any:
        """One operation on board object ``ref`` (see the agent's ``_on``)."""
        return self._request(b"O", (ref, op, arg), what=f"{op} on a board object")

    def release(self, ref: int, close: bool = False) -> None:
        """The host dropped its proxy of ``ref``: the board may free it (closing it first)."""
        if ref:
            self._dropped.append(-ref if close else ref)
            # Freeing needs no reply, so it may go out now unless another thread
            # is mid-write; then the next request takes it along.
            if self._lock.acquire(blocking=False):
                try:
                    if not self._busy:  # not from a finaliser run mid-request
                        self._flush_dropped()
                finally:
                    self._lock.release()

    def _flush_dropped(self) -> None:
        if self._dropped and self._reader is not None:
            dropped, self._dropped = self._dropped, []
            framing.write(self.link.serial, framing.request(b"F", 0, dropped))

    # ------------------------------------------------------------- plumbing

    def _request(
        self, op: bytes, value: Any, *, timeout: float | None = None, what: str = ""
    ) -> Any:
        frame_id = next(self._ids)
        frame = framing.request(op, frame_id, value, self)  # TypeError here: nothing sent
        return self._exchange(frame, frame_id, timeout, what)

    def _exchange(self, frame: bytes, frame_id: int, timeout: float | None, what: str) -> Any:
        """Send one request frame and wait for its answer."""
        override = getattr(_local, "timeout", False)
        if override is not False:
            timeout = override
        elif timeout is None:
            timeout = self.timeout
        with self._lock:
            if self._closed:
                raise BelayHookError(f"{self.link.port}: the session with the board is closed")
            if self._reader is None:
                self._reconnect()
            self._busy += 1
            try:
                try:
                    self._flush_dropped()
                    framing.write(self.link.serial, frame)
                except (OSError, SerialException) as exc:
                    self._lose(exc)
                    raise LinkError(self.link.port, f"connection lost: {exc}") from exc
                kind, result, host_error = self._await(frame_id, timeout, what)
            finally:
                self._busy -= 1
        if kind == b"R":
            return result
        type_name, args, error_number, board_tb = result
        exc = board_exception(type_name, tuple(args), board_tb, error_number)
        if host_error is not None:  # a host function raised during this call
            if type(host_error).__name__ == type_name:
                exc.__cause__ = host_error
            else:
                exc.__context__ = host_error
        raise with_board_frames(exc, board_tb)

    def _await(
        self, frame_id: int, timeout: float | None, what: str
    ) -> Tuple[bytes, Any, BaseException | None]:
        """Read until the reply to ``frame_id``, serving host calls and events meanwhile."""
        host_error = None
        reader = self._reader
        assert reader is not None
        try:
            while True:
                kind, rid, result = reader.read_frame(timeout if timeout is not None else 1e9)
                if kind == b"K":
                    host_error = self._serve_host_call(rid, result) or host_error
                elif kind == b"V":
                    events.dispatch(*result)
                elif rid == frame_id:
                    return kind, result, host_error
                # else: the answer to a call given up on earlier
        except KeyboardInterrupt:
            if not self._interrupt(frame_id):
                self._lose(BoardResetError(self.link.port, "no answer after Ctrl-C"))
            raise
        except BoardTimeoutError as exc:
            if not self._interrupt(frame_id):  # wedged, or garbage on the line: start afresh
                self._lose(exc)
            raise BoardTimeoutError(
                self.link.port, what or "a reply", timeout or 0, exc.last_received
            ) from None
        except (BoardResetError, DecodeError) as exc:
            self._lose(exc)
            if isinstance(exc, DecodeError):
                raise BoardResetError(self.link.port, f"garbled reply: {exc}") from None
            raise
        except (OSError, SerialException) as exc:
            self._lose(exc)
            raise LinkError(self.link.port, f"connection lost: {exc}") from exc

    def _serve_host_call(self, rid: int, request: Any) -> Exception | None:
        """Board code called a host function: run it, send the answer, return its error."""
        fn_id, args, kwargs = request
        error = None
        try:
            answer = (True, self._functions[fn_id](*args, **kwargs))
            frame = framing.request(b"A", rid, answer, self)
        except Exception as exc:  # noqa: BLE001 - it travels to the board as its own type
            error = exc
            frame = framing.request(b"A", rid, (False, (type(exc).__name__, _str_args(exc))))
        framing.write(self.link.serial, frame)
        return error

    def _interrupt(self, frame_id: int) -> bool:
        """Ctrl-C the board's call and wait for the agent to report it; False if it did not."""
        try:
            self.link.serial.write(b"\x03")
            while self._reader is not None:
                kind, rid, result = self._reader.read_frame(2.0)
                if kind == b"V":
                    events.dispatch(*result)
                elif rid == frame_id and kind in (b"R", b"E"):
                    return True
        except (BelayHookError, DecodeError, OSError, SerialException):
            pass
        return False

    # --------------------------------------------------------------- recovery

    def _lose(self, why: BaseException) -> None:
        """The agent is gone (reset, unplugged, garbled): the next request reconnects."""
        self._reader = None
        self.lost = why

    def _reconnect(self) -> None:
        """Open the port again, restart the agent, put every bundle back (setup runs again).

        Proxies from before the loss point at nothing now; calls work again.
        """
        last: BaseException | None = self.lost
        for attempt in range(max(self.reconnect_attempts, 1)):
            if attempt:
                time.sleep(self.reconnect_delay)
            try:
                self.link.close()
                self.link.open()
                self._start_agent()
                bundles, self._bundles = self._bundles, {}
                for module, bundle in bundles.items():
                    self.load(module, bundle)
                events.track(self)  # watch again if handlers want events
                return
            except (BelayHookError, OSError, SerialException) as exc:
                self._reader = None
                last = exc
        raise LinkError(
            self.link.port,
            f"board lost ({self.lost}) and {self.reconnect_attempts} attempts to reconnect "
            f"failed; last: {last}",
        )

    # ----------------------------------------------------------------- events

    def watch(self) -> None:
        """Read the board between calls too, so events and prints arrive while the host idles."""
        with self._lock:
            if self._watcher is None and self._reader is not None:
                self._watcher = threading.Thread(
                    target=self._watch, name=f"belay_hook watcher {self.link.port}", daemon=True
                )
                self._watcher.start()

    def _watch(self) -> None:
        serial = self.link.serial
        try:
            while self._reader is not None:
                if not _readable(serial, 0.2):
                    continue
                with self._lock:
                    reader = self._reader
                    if reader is None:
                        return
                    try:
                        frame = reader.poll()
                        while frame is not None:
                            kind, rid, result = frame
                            if kind == b"V":
                                events.dispatch(*result)
                            elif kind == b"K":
                                self._serve_host_call(rid, result)
                            frame = reader.poll()
                    except (BelayHookError, DecodeError, OSError, SerialException) as exc:
                        self._lose(exc)  # the next call reconnects and watches again
                        return
        finally:
            self._watcher = None


def _readable(serial: Any, wait: float) -> bool:
    """Whether the port has bytes, waiting up to ``wait`` seconds without holding the session."""
    fd = getattr(serial, "fd", None)
    if isinstance(fd, int):
        try:
            return bool(select.select([fd], [], [], wait)[0])
        except (OSError, ValueError):
            return False
    threading.Event().wait(min(wait, 0.02))
    return bool(serial.in_waiting)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
        return True
    except TypeError:
        return False


def _str_args(exc: BaseException) -> list:
    return [a if isinstance(a, (str, int, float)) else str(a) for a in exc.args]
