"""Opening a board by name: resolve the port, start an emulator if asked, start a session.

This is the one place a port name becomes a device, an emulator started for
``"emulator"`` included, and the one registry of the sessions open in this program:
a tool given a port that a session already holds (`belay_hook.sync` under the
import hook, say) works through that session instead of opening the port again,
so ``"emulator"`` means the same board to both, and a real port is never "busy"
because this very program holds it.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Dict, Iterator, List

from belay_hook.board import ports
from belay_hook.errors import LinkError
from belay_hook.rpc.remote import BoardSession
from belay_hook.rpc.session import Session

EMULATOR_OPTIONS = ("heap", "show_pins", "flash_dir", "flavour", "language")

_open: Dict[str, List[weakref.ref]] = {}  # port name -> sessions opened by that name
_open_lock = threading.Lock()
_emulator_devices: set = set()  # devices of the emulators device_for() runs now


def start_emulator(**options: Any) -> Any:
    """An emulated board, started (options: see `belay_hook.emulator.Emulator`)."""
    from belay_hook.emulator import Emulator

    return Emulator(**options).start()


@contextlib.contextmanager
def device_for(port: str | None = None, **emulator_options: Any) -> Iterator[str]:
    """The device to open for `port` (resolved by `ports.resolve`), for the block.

    For ``emulator`` that is a board started here and stopped at the end; every
    connection made in the block reaches that one board, so what one writes to its
    flash the next finds, and a session opened on it is found by :func:`open_session`
    as ``"emulator"`` too. `emulator_options` (`EMULATOR_OPTIONS`; None or False
    means not given) are refused for any other port.
    """
    resolved = ports.resolve(port)
    given = {k: v for k, v in emulator_options.items() if v is not None and v is not False}
    if resolved != ports.EMULATOR:
        _no_emulator_options(resolved, given)
        yield resolved
        return
    emulator = start_emulator(**given)
    device = str(emulator.port)
    _emulator_devices.add(device)  # a session opened on it answers to "emulator" too
    try:
        yield device
    finally:
        _emulator_devices.discard(device)
        emulator.close()


def connect(port: str | None = None, **options: Any) -> BoardSession:
    """A started session with the board at ``port`` (resolved as :func:`ports.resolve` says).

    Options: ``timeout`` (seconds per call, None for none), ``soft_reset``,
    ``baudrate``, ``progress`` (False: no upload progress on stderr); for the
    emulator also ``heap``, ``show_pins`` and ``flash_dir``.
    Each call opens its own session (two ``"emulator"`` sessions are two boards);
    :func:`open_session` finds one again by its port name.
    """
    from belay_hook.board.link import Link

    emulator_opts = {k: options.pop(k) for k in EMULATOR_OPTIONS if k in options}
    baudrate = options.pop("baudrate", 115200)
    names = (
        "timeout", "soft_reset", "on_text", "reconnect_attempts", "reconnect_delay", "progress"
    )  # fmt: skip
    session_opts = {k: options.pop(k) for k in names if k in options}
    if options:
        raise TypeError(f"unknown board option(s): {', '.join(sorted(options))}")
    resolved = ports.resolve(port)
    emulator = None
    device = resolved
    if resolved == ports.EMULATOR:
        emulator = start_emulator(**emulator_opts)
        device = str(emulator.port)
    else:
        _no_emulator_options(resolved, emulator_opts)
    link = Link(device, baudrate=baudrate)
    try:
        link.open()
        session = BoardSession(link, **session_opts)
        session.emulator = emulator
        session.start()
    except BaseException:
        link.close()
        if emulator is not None:
            emulator.close()
        raise
    names = {resolved, device} | ({ports.EMULATOR} if device in _emulator_devices else set())
    _remember(session, names)
    return session


def open_session(port: str) -> Session | None:
    """The first session still open that :func:`connect` opened for `port` (a resolved
    port name: ``emulator``, a device or URL; an emulator's own device path works too)."""
    with _open_lock:
        return next((r() for r in _open.get(port, []) if _is_open(r())), None)


def _remember(session: Session, names: set) -> None:
    with _open_lock:
        for name in names:
            alive = [r for r in _open.get(name, []) if _is_open(r())]
            _open[name] = [*alive, weakref.ref(session)]


def _is_open(session: Session | None) -> bool:
    return session is not None and not session.closed


def _no_emulator_options(port: str, options: Dict[str, Any]) -> None:
    if options:
        raise LinkError(port, f"{', '.join(options)}: options of the emulator only")
