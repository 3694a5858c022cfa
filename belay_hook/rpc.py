"""A session with one board: the resident agent, bundle uploads and calls.

The agent (``mcu/agent.py``) is sent once through the raw REPL and then reads
framed requests; after that a call is one write and one read, nothing is
compiled on the board, and printed output streams to the host as it comes.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any, Callable, Dict, Tuple

from belay_hook import framing, mcu_files
from belay_hook.bundle import BoardFormat, Bundle
from belay_hook.errors import (
    BelayHookError,
    BoardResetError,
    BoardTimeoutError,
    board_exception,
)
from belay_hook.tracebacks import with_board_frames

UPLOAD_CHUNK = 2048  # bytes per write request: bounded board RAM per frame


def agent_source() -> str:
    """The agent without comments and blank lines: less to push through the raw REPL."""
    text = mcu_files.path("agent.py").read_text(encoding="utf-8")
    lines = (line.rstrip() for line in text.splitlines())
    return (
        "\n".join(
            re.sub(r"  # .*$", "", line)
            for line in lines
            if line and not line.lstrip().startswith("#")
        )
        + "\n"
    )


class Session:
    """The resident agent on one board, reached over an open :class:`~belay_hook.link.Link`."""

    def __init__(
        self,
        link: Any,
        *,
        timeout: float | None = 30.0,
        soft_reset: bool = True,
        on_text: Callable[[str], None] | None = None,
    ):
        self.link = link
        self.timeout = timeout
        self.soft_reset = soft_reset
        self.on_text = on_text
        self.format = BoardFormat(source_only=True)
        self.info: Tuple = ()
        self.loaded: Dict[str, str] = {}  # host module -> bundle digest
        self.uploaded_bytes = 0  # bundle bytes sent, for tests and benchmarks
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._reader: framing.ReplyReader | None = None
        self.emulator: Any = None  # an Emulator this session started and closes

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Session:
        """Put the agent on the board and learn what .mpy format it loads."""
        self.link.enter_raw_repl(soft_reset=self.soft_reset)
        self.link.exec_start(agent_source())
        self._reader = framing.ReplyReader(self.link.serial, self.link.port, self.on_text)
        self.info = self._request(b"I", None, timeout=10.0)
        _name, _version, mpy, _platform, self._dir = self.info
        self.format = BoardFormat.from_mpy(mpy) if mpy else BoardFormat(source_only=True)
        return self

    def close(self) -> None:
        """Stop the agent (back to the raw REPL) and close the link."""
        try:
            if self._reader is not None:
                self._request(b"X", None, timeout=2.0)
        except (BelayHookError, OSError):
            pass  # a board that went away needs no goodbye
        finally:
            self._reader = None
            self.link.close()
            if self.emulator is not None:
                self.emulator.close()

    # ---------------------------------------------------------------- calls

    def call(self, module: str, name: str, args: tuple, kwargs: dict) -> Any:
        """Run ``module.name(*args, **kwargs)`` on the board and return its result."""
        return self._request(b"C", (module, name, tuple(args), dict(kwargs)), what=f"{name}()")

    def load(self, module: str, bundle: Bundle) -> None:
        """Make ``module``'s bundle live on the board: upload unless it is there, then import.

        Importing runs the bundle's module-level and setup code.
        """
        base = "b" + bundle.digest
        path = f"{self._dir}/{base}.{'mpy' if bundle.is_mpy else 'py'}"
        if not self._request(b"H", path):
            code = bundle.code
            for start in range(0, max(len(code), 1), UPLOAD_CHUNK):
                self._request(b"P", (path, code[start : start + UPLOAD_CHUNK], start > 0))
            self.uploaded_bytes += len(code)
        try:
            self._request(b"L", (module, base), what=f"import of {module}")
        except MemoryError as exc:
            raise MemoryError(
                f"the board ran out of memory loading module {module!r} "
                f"({len(bundle.code)} bytes of {'.mpy' if bundle.is_mpy else 'source'}): "
                "a bigger heap or a smaller module is needed"
            ) from exc
        self.loaded[module] = bundle.digest

    # ------------------------------------------------------------- plumbing

    def _request(
        self, op: bytes, value: Any, *, timeout: float | None = None, what: str = ""
    ) -> Any:
        frame_id = next(self._ids)
        frame = framing.request(op, frame_id, value)  # TypeError here: nothing sent
        timeout = timeout if timeout is not None else self.timeout
        with self._lock:
            if self._reader is None:
                raise BelayHookError(
                    f"{self.link.port}: the session with the board is closed or was lost"
                )
            self.link.serial.write(frame)
            try:
                while True:
                    kind, rid, result = self._reader.read_frame(timeout or 1e9)
                    if rid == frame_id:
                        break  # others are answers to calls given up on earlier
            except KeyboardInterrupt:
                self._interrupt(frame_id)
                raise
            except BoardTimeoutError as exc:
                self._interrupt(frame_id)
                raise BoardTimeoutError(
                    self.link.port, what or "a reply", timeout or 0, exc.last_received
                ) from None
            except BoardResetError:
                self._reader = None  # the agent is gone: no more calls on this session
                raise
        if kind == b"R":
            return result
        type_name, args, errno, board_tb = result
        raise with_board_frames(board_exception(type_name, tuple(args), board_tb, errno), board_tb)

    def _interrupt(self, frame_id: int) -> None:
        """Ctrl-C the board's call and wait for the agent to report it, so the next call works."""
        self.link.serial.write(b"\x03")
        try:
            while self._reader is not None:
                kind, rid, _ = self._reader.read_frame(2.0)
                if rid == frame_id:
                    return
        except (BelayHookError, OSError):
            pass


def connect(port: str | None = None, **options: Any) -> Session:
    """A started session with the board at ``port`` (resolved as :func:`ports.resolve` says).

    Options: ``timeout`` (seconds per call, None for none), ``soft_reset``,
    ``baudrate``; for the emulator also ``heap``, ``show_pins`` and ``flash_dir``.
    """
    from belay_hook import ports
    from belay_hook.link import Link

    emulator_opts = {k: options.pop(k) for k in ("heap", "show_pins", "flash_dir") if k in options}
    baudrate = options.pop("baudrate", 115200)
    session_opts = {k: options.pop(k) for k in ("timeout", "soft_reset", "on_text") if k in options}
    if options:
        raise TypeError(f"unknown board option(s): {', '.join(sorted(options))}")
    port = ports.resolve(port)
    emulator = None
    if port == ports.EMULATOR:
        from belay_hook.emulator import Emulator

        emulator = Emulator(**emulator_opts)
        emulator.start()
        port = emulator.port
    elif emulator_opts:
        raise TypeError(f"{', '.join(emulator_opts)}: options of the emulator, not of {port}")
    link = Link(port, baudrate=baudrate)
    try:
        link.open()
        session = Session(link, **session_opts)
        session.emulator = emulator
        return session.start()
    except BaseException:
        link.close()
        if emulator is not None:
            emulator.close()
        raise
