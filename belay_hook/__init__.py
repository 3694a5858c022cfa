"""belay_hook: mark statements with ``#@mcu`` and they run on a MicroPython board.

``belay_hook.install(port=...)`` makes later imports of marked modules upload
their board part and turn its names into calls to the board;
``belay_hook.split(source)`` shows how a module divides.
"""

from typing import Any

from belay_hook.errors import (
    BelayHookError,
    BoardResetError,
    BoardTimeoutError,
    FrameError,
    LinkError,
    MarkerError,
    McuError,
    NoBoardError,
    StaleProxyError,
)

__version__ = "0.1.0"

__all__ = [
    "BelayHookError",
    "BoardResetError",
    "BoardTimeoutError",
    "FrameError",
    "LinkError",
    "MarkerError",
    "McuError",
    "NoBoardError",
    "Split",
    "StaleProxyError",
    "connect",
    "install",
    "load",
    "on_event",
    "split",
    "timeout",
]

# Imported on first use: ``import belay_hook`` stays cheap (libcst loads only to split).
_LAZY = {
    "split": "belay_hook.splitter.cut",
    "Split": "belay_hook.splitter.result",
    "install": "belay_hook.importhook",
    "load": "belay_hook.importhook",
    "connect": "belay_hook.rpc.connection",
    "timeout": "belay_hook.rpc.session",
    "on_event": "belay_hook.rpc.events",
    # %load_ext belay_hook (IPython asks the package for these)
    "load_ipython_extension": "belay_hook.interactive",
    "unload_ipython_extension": "belay_hook.interactive",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'belay_hook' has no attribute {name!r}")
