"""``python main.py``: a program whose own file holds marked code, calling install().

CPython runs ``__main__`` itself, without the hook, so its marked code would run
on the host. When ``belay_hook.install()`` is called at the top level of such a
program, the hook takes over: it splits the file, puts the board part on the
board, and runs the host part of everything *below* the install() statement in
the same module namespace (what ran above it stays, so it does not run twice).
The program then ends there, with the exit status the rest of the file gives.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from belay_hook import bundle
from belay_hook.errors import BelayHookError
from belay_hook.importhook import board_setting
from belay_hook.splitter.markers import find_markers, line_ending, may_hold_markers, source_lines


def run_if_main(hook: Any, frame: FrameType | None) -> None:
    """Run the rest of ``__main__`` through ``hook`` if ``frame`` is its top-level code
    and its file holds markers (then exit); otherwise return at once."""
    main = sys.modules.get("__main__")
    if (
        frame is None
        or main is None
        or frame.f_globals is not main.__dict__
        or isinstance(getattr(main, "__loader__", None), type(hook))  # belay-hook run
        or getattr(main, "__belay_hook_running__", False)
    ):
        return
    path = getattr(main, "__file__", None)
    try:
        source = Path(path).read_bytes() if path else b""
    except OSError:
        return
    if not may_hold_markers(source):
        return
    text = importlib.util.decode_source(source)
    markers = find_markers(text, str(path))
    if not markers:
        return
    if frame.f_code.co_name != "<module>":
        raise BelayHookError(
            f"{path}:{frame.f_lineno}: belay_hook.install() is called in "
            f"{frame.f_code.co_name}(), after this file's marked code was defined on the host: "
            "call it at the top level of the file, above the marked code; or run the program "
            f"with: belay-hook run {Path(path).name}"
        )
    result = bundle.split_cached(text, str(path))
    first, last, target = _install_statement(text, str(path), frame.f_lineno)
    above = [m for m in markers if m.line < first]
    if above:
        raise BelayHookError(
            f"{path}:{above[0].line}: marked code above the belay_hook.install() call "
            f"(line {first}) already ran on the host: move install() above it, to the "
            "top of the file"
        )
    host = source_lines(result.host_source)
    for i in range(last):  # ran already, in CPython's own run of the file
        host[i] = line_ending(host[i]) or " "
    if target:
        main.__dict__[target] = hook
    main.__belay_hook_running__ = True  # type: ignore[attr-defined]
    hook.run_split("__main__", main.__dict__, result, board_setting(text), "".join(host))
    raise SystemExit(0)


def _install_statement(source: str, path: str, line: int) -> tuple[int, int, str | None]:
    """First and last line of the top-level statement calling install() at ``line``,
    and the name it assigns the hook to, if any."""
    for stmt in ast.parse(source, path).body:
        if stmt.lineno <= line <= (stmt.end_lineno or stmt.lineno):
            break
    else:
        raise BelayHookError(f"{path}:{line}: belay_hook.install() is not a statement here")
    target = None
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        if isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0].id
    elif not isinstance(stmt, ast.Expr):
        raise BelayHookError(
            f"{path}:{stmt.lineno}: call belay_hook.install() as a statement of its own at "
            "the top level of the file (not in a block or 'with'), before the marked code; "
            f"or run the program with: belay-hook run {Path(path).name}"
        )
    return stmt.lineno, stmt.end_lineno or stmt.lineno, target
