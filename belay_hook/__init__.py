"""belay_hook: mark statements with ``#@mcu`` and they run on a MicroPython board."""

from belay_hook.errors import (
    BelayHookError,
    BoardResetError,
    BoardTimeoutError,
    LinkError,
    MarkerError,
    McuError,
)

__version__ = "0.1.0"

__all__ = [
    "BelayHookError",
    "BoardResetError",
    "BoardTimeoutError",
    "LinkError",
    "MarkerError",
    "McuError",
]
