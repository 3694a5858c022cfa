"""Opening a board by name: resolve the port, start an emulator if asked, start a session."""

from __future__ import annotations

from typing import Any

from belay_hook.rpc.session import Session


def connect(port: str | None = None, **options: Any) -> Session:
    """A started session with the board at ``port`` (resolved as :func:`ports.resolve` says).

    Options: ``timeout`` (seconds per call, None for none), ``soft_reset``,
    ``baudrate``; for the emulator also ``heap``, ``show_pins`` and ``flash_dir``.
    """
    from belay_hook.board import ports
    from belay_hook.board.link import Link

    emulator_keys = ("heap", "show_pins", "flash_dir", "flavour", "language")
    emulator_opts = {k: options.pop(k) for k in emulator_keys if k in options}
    baudrate = options.pop("baudrate", 115200)
    names = ("timeout", "soft_reset", "on_text", "reconnect_attempts", "reconnect_delay")
    session_opts = {k: options.pop(k) for k in names if k in options}
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
