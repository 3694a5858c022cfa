"""Marked code typed interactively: an IPython extension, and a warning elsewhere.

``%load_ext belay_hook`` makes every IPython (or Jupyter) cell that holds
markers go to the board as a module does: its marked code is split out,
uploaded and run on the board, and the rest of the cell runs in the notebook's
namespace with stubs for the marked names. Each such cell is one board module;
its board code sees the board names of earlier cells (a star import of them
leads its bundle). The cell is kept in a file of its own, so tracebacks from
both machines point at real lines.

The plain ``python`` prompt has no such hook: install() warns there instead.
"""

from __future__ import annotations

import ast
import itertools
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, List

from belay_hook.splitter.markers import may_hold_markers

_CALL = "__import__('belay_hook.interactive').interactive.run_cell"
_VALUE = "_belay_hook_cell_value"
_cells: List[str] = []  # board modules made from earlier cells, oldest first
_cells_hook: List[Any] = []  # the hook those cells went through
_count = itertools.count(1)
_folder: List[Path] = []  # where cells are kept, made on first use


class InteractiveWarning(UserWarning):
    """Marked code typed at a prompt would run on the host."""


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext belay_hook``: cells with markers go to the board from now on."""
    if _transform not in ip.input_transformers_post:
        ip.input_transformers_post.append(_transform)
    _hook()  # the board is chosen now (the default port), not at the first cell


def unload_ipython_extension(ip: Any) -> None:
    if _transform in ip.input_transformers_post:
        ip.input_transformers_post.remove(_transform)


def _transform(lines: List[str]) -> List[str]:
    """A cell holding the marker text becomes one call that runs it (no side effect
    here: IPython may transform a cell more than once)."""
    source = "".join(lines)
    if not may_hold_markers(source):
        return lines
    return [f"{_CALL}({source!r})\n"]


def run_cell(source: str) -> Any:
    """Split one cell, put its board part on the board, run the rest in the user's
    namespace; the value of a final expression is returned for IPython to show."""
    from IPython import get_ipython

    from belay_hook import bundle
    from belay_hook.importhook import board_setting

    namespace = get_ipython().user_ns
    hook = _hook()
    if _cells_hook != [hook]:  # a new hook, new boards: earlier cells are not on them
        _cells[:], _cells_hook[:] = [], [hook]
    name = f"belay_cell{next(_count)}"
    prelude = f"#@mcu\n{'; '.join(f'from {m} import *' for m in _cells)}\n" if _cells else ""
    if not _folder:
        _folder.append(Path(tempfile.mkdtemp(prefix="belay_hook_cells_")))
    path = _folder[0] / f"{name}.py"
    text = prelude + source
    path.write_text(text, encoding="utf-8")
    result = bundle.split_cached(text, str(path))
    host = result.host_source
    for maker in ("stubs.stub(", "stubs.exception("):  # the board module is the cell's
        host = host.replace(f"{maker}__name__, ", f"{maker}{name!r}, ")
    tree = ast.parse(host, str(path))
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        target = ast.Name(_VALUE, ast.Store())
        tree.body[-1] = ast.copy_location(ast.Assign([target], last.value), last)
        ast.fix_missing_locations(tree)
    namespace.pop(_VALUE, None)
    hook.run_split(name, namespace, result, board_setting(text), tree)
    if result.has_mcu:
        _cells.append(name)
    return namespace.pop(_VALUE, None)


def _hook() -> Any:
    """The installed hook, else one installed now with the default board."""
    from belay_hook.importhook import BelayHook, install

    for finder in sys.meta_path:
        if isinstance(finder, BelayHook):
            return finder
    return install()


def warn_if_interactive() -> None:
    """At a prompt, say that typed-in marked code runs on the host, and what to do."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if shell is not None:
        if _transform not in shell.input_transformers_post:
            warnings.warn(
                "in IPython, marked code typed into a cell runs on the host: "
                "run %load_ext belay_hook to send it to the board",
                InteractiveWarning,
                stacklevel=3,
            )
    elif hasattr(sys, "ps1"):
        warnings.warn(
            "at the Python prompt, marked code typed in runs on the host: put it in a "
            "module and import it, or use IPython with %load_ext belay_hook",
            InteractiveWarning,
            stacklevel=3,
        )
