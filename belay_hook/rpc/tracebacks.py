"""Board tracebacks as host tracebacks, so errors point at the user's own lines.

Bundles are compiled with the host file's path as their source name and keep
its line numbers, so each board frame names a host file and line. For each one
we make a real Python frame at that file and line (a tiny code object compiled
under the file's name) and chain them under the exception: debuggers, pytest
and ``traceback`` then show the user's source lines, as for host code.
"""

from __future__ import annotations

import linecache
import os
import re
import sys
from types import TracebackType
from typing import List, Tuple

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (\S+))?', re.M)


def board_frames(board_traceback: str) -> List[Tuple[str, int, str]]:
    """(file, line, function) of each board frame that names a host file, outermost first."""
    return [
        (path, int(line), func or "<module>")
        for path, line, func in _FRAME.findall(board_traceback)
        if (os.path.isabs(path) and os.path.exists(path)) or path.startswith("<board code ")
    ]


def with_board_frames(exc: BaseException, board_traceback: str) -> BaseException:
    """``exc`` with a traceback made of the board frames; raising it adds the host's.

    Where no frame can be made (the board ran code from no host file) the
    board's own traceback text is added as a note instead.
    """
    tb: TracebackType | None = None
    for path, line, func in reversed(board_frames(board_traceback)):
        frame_tb = _frame_at(path, line, func, exc)
        if frame_tb is not None:
            tb = TracebackType(tb, frame_tb.tb_frame, frame_tb.tb_lasti, frame_tb.tb_lineno)
    if tb is None and board_traceback and hasattr(exc, "add_note"):
        exc.add_note("Board traceback:\n" + board_traceback.rstrip())
    return exc.with_traceback(tb)


def without_internal_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop belay_hook's own frames from the head of ``tb``: the user's code called a
    stub, and what follows is the board's story, not the plumbing's."""
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return tb


def _frame_at(path: str, line: int, func: str, exc: BaseException) -> TracebackType | None:
    text = linecache.getline(path, line)
    stripped = text.strip()
    indent = len(text) - len(text.lstrip())
    # A raise statement exactly as wide as the real line: Python then highlights
    # the whole line, which it shows without carets, instead of wrong columns.
    name = "_" * (len(stripped) - 6) if len(stripped) > 6 else "_"
    if indent and line > 1:  # an indented statement needs a block to stand in
        code = "\n" * (line - 2) + "if 1:\n" + " " * indent + f"raise {name}"
    else:
        code = "\n" * (line - 1) + f"raise {name}"
    try:
        compiled = compile(code, path, "exec", dont_inherit=True)
    except SyntaxError:
        return None
    if sys.version_info >= (3, 11):
        compiled = compiled.replace(co_name=func, co_qualname=func)
    else:
        compiled = compiled.replace(co_name=func)
    try:
        exec(compiled, {name: exc, "__name__": "board", "__file__": path})
    except BaseException:  # noqa: BLE001 - it is exactly the exception we raised
        return sys.exc_info()[2].tb_next  # type: ignore[union-attr]
    return None
