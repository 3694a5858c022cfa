"""The resident agent as it travels: minified, and packed where the board can unpack it.

``mcu/agent.py`` is written to be read; what goes through the raw REPL at every
connect is smaller, because on a slow UART its size is the connect time.
"""

from __future__ import annotations

import base64
import zlib

from belay_hook import mcu_files


def agent_source() -> str:
    """The agent minified: no comments, no blank lines, one space per indent level.

    It goes through the raw REPL at every connect, so its size is connect time
    on a slow UART.
    """
    return mcu_files.minified("agent.py")


def agent_loader(source: str) -> str:
    """A few lines that unpack the zlib-compressed agent on the board (a third the bytes)."""
    packed = base64.b64encode(zlib.compress(source.encode(), 9)).decode()
    return (
        "import deflate,io,binascii\n"
        # Compiled in a statement of its own: the inflater's 32 KiB window and the text
        # are freed before the agent runs (inside exec(...) they live as long as it).
        f"c=compile(deflate.DeflateIO(io.BytesIO(binascii.a2b_base64('{packed}')),"
        "deflate.ZLIB).read(),'agent','exec')\n"
        "exec(c)\n"
    )
