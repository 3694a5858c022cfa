"""Hypothesis strategies for property tests of ``#@mcu`` splits, your own modules' included.

:func:`modules` draws whole modules that mix marked and unmarked statements in
the shapes the splitter has to cut cleanly (decorators, every kind of
parameter, multi-line statements, CRLF or lone CR line ends, tabs, ``#@mcu``
inside strings and comments, every marker kind and option, unmarked constants
and helpers the board code uses), together with what the generator put where.
A test can then compare a split with the truth instead of with the splitter's
own reading of the source. :func:`check_split` (from
:mod:`belay_hook.splitter.checks`) asserts the split invariants for any source: a
drawn module or one of your real files::

    from hypothesis import given
    from belay_hook.strategies import check_split, modules

    @given(modules())
    def test_split(module):
        assert check_split(module.source).exports == module.exports

    def test_my_firmware():
        check_split(Path("main.py").read_text(), "main.py")

Hypothesis is a test extra: only this module and :mod:`belay_hook.splitter.writer`
import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Sequence, Set, Tuple

from hypothesis import strategies as st

from belay_hook.splitter import checks
from belay_hook.splitter.result import Split
from belay_hook.splitter.writer import Writer

__all__ = ["BOARD_NAMES", "GeneratedModule", "GeneratedStatement", "check_split", "modules"]

# Free names that generated code uses in defaults, annotations, decorators and
# bases, standing for things only a board has. A test that runs generated
# definitions on CPython binds these.
BOARD_NAMES = frozenset({"Pin", "LIMIT", "Base", "timed", "register", "app", "sensor", "sleep_ms"})


@dataclass(frozen=True)
class GeneratedStatement:
    """One top-level statement of a generated module, as the generator wrote it."""

    # marked or not: function, async_function, class, import, assign; marked only:
    # setup, teardown, thread (each its marker's kind), both (marked '#@mcu both', any
    # shape); unmarked only: block, expr, docstring, and constant and helper (literal
    # assignments and plain defs that marked code may use)
    kind: str
    first_line: int  # 1-based; the first decorator's line for a decorated def or class
    last_line: int
    marked: bool  # the line above is its marker
    name: str | None = None  # the def's or class's name
    binds: Tuple[Tuple[str, str], ...] = ()  # (name, export kind) it defines at module level
    options: Tuple[Tuple[str, Any], ...] = ()  # the marker's options, as read
    brought_in: bool = False  # a constant or helper that the board code needs


@dataclass(frozen=True)
class GeneratedModule:
    """A drawn module: its source and where each statement stands."""

    source: str
    statements: Tuple[GeneratedStatement, ...]
    newline: str  # "\n", "\r\n", "\r" or "mixed"
    indent: str  # one level of indentation: spaces or a tab

    @property
    def exports(self) -> Dict[str, str]:
        """Name -> kind that a correct split reports: the names the marked statements bind."""
        return {name: kind for s in self.statements if s.marked for name, kind in s.binds}

    @property
    def brought_in(self) -> Dict[str, int]:
        """Name -> line of the unmarked constants and helpers the board code needs."""
        return {s.name: s.first_line for s in self.statements if s.brought_in and s.name}

    @property
    def marked_lines(self) -> FrozenSet[int]:
        """Lines of marked statements (not their marker lines): all other lines stay put
        on the host, but for ``both`` statements, which stay put anyway."""
        return self._lines(lambda s: s.marked)

    @property
    def board_lines(self) -> FrozenSet[int]:
        """Lines the MCU source holds: marked statements and those brought in."""
        return self._lines(lambda s: s.marked or s.brought_in)

    def _lines(self, which: Callable[[GeneratedStatement], bool]) -> FrozenSet[int]:
        return frozenset(
            n for s in self.statements if which(s) for n in range(s.first_line, s.last_line + 1)
        )


def check_split(source: str | GeneratedModule, filename: str = "<string>") -> Split:
    """:func:`belay_hook.splitter.checks.check_split` of source text or of a drawn module
    (its ``source``): assert every invariant of the split, return it."""
    if isinstance(source, GeneratedModule):
        source = source.source
    if not isinstance(source, str):
        raise TypeError(
            f"check_split takes source text (str) or a drawn module, not {type(source).__name__}"
        )
    return checks.check_split(source, filename)


_Drawn = Tuple[List[str], str, "str | None", Tuple[Tuple[str, str], ...]]
_TIMEOUTS = ["2", "0.5", "1e-3", "10"]


def _marked(w: Writer, board: bool) -> Tuple[_Drawn, str, Tuple[Tuple[str, Any], ...]]:
    """A marked statement: (lines, kind, name, binds), the marker's words, its options."""
    marker = w.draw(st.sampled_from(["", "", "", "setup", "teardown", "thread", "both"]))
    if marker in ("setup", "teardown"):
        lines, name = w.plain_def(marker)
        return (lines, marker, name, ((name, marker),)), f" {marker}", ()
    if marker == "thread":
        lines, _, name = w.function(0, board=board, is_async=False)
        return (lines, "thread", name, ((name, "thread"),)), " thread", ()
    if marker == "both":
        lines, kind, name, binds = _statement(w, True, board, ["block", "expr"])
        shared = () if kind in ("block", "expr") else tuple((n, "both") for n, _ in binds)
        return (lines, "both", name, shared), " both", ()
    drawn = _statement(w, True, board)
    if drawn[1] in ("function", "async_function", "class") and not w.draw(st.integers(0, 2)):
        text = w.draw(st.sampled_from(_TIMEOUTS))
        return drawn, f" timeout={text}", (("timeout", float(text)),)
    return drawn, "", ()


def _statement(w: Writer, marked: bool, board: bool, more: Sequence[str] = ()) -> _Drawn:
    """One top-level statement: lines, kind, name, binds. ``more``: kinds that only
    stand unmarked (or marked ``both``) beyond those that may stand anywhere."""
    kinds = ["function", "class", "import", "assign", *more]
    kind = w.draw(st.sampled_from(kinds))
    if kind == "function":
        lines, kind, name = w.function(0, board=marked and board)
        return lines, kind, name, ((name, kind),)
    if kind == "class":
        lines, name, kind = w.klass(board=marked and board)
        return lines, kind, name, ((name, kind),)
    if kind == "import":
        lines, names = w.imports()
        return lines, "import", None, tuple((n, "import") for n in names)
    if kind == "assign":
        lines, binds = w.assignment()
        return lines, "assign", None, binds
    if kind == "block":
        return w.compound(0, board=marked and board, defs=not marked), "block", None, ()
    line = w.draw(st.sampled_from(['print("#@mcu")', "sensor.start()", "LIMIT"]))
    return [line], "expr", None, ()


@st.composite
def _modules(draw: Callable, board_compatible: bool, with_markers: bool, max_statements: int):
    unit = draw(st.sampled_from(["    ", "  ", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    w = Writer(draw, unit)
    count = draw(st.integers(1, max_statements))
    marks = [with_markers and draw(st.booleans()) for _ in range(count)]
    if with_markers and not any(marks):
        marks[draw(st.integers(0, count - 1))] = True
    # Constants and helpers come first, so that any code drawn later may use them;
    # they stand anywhere among the other statements.
    deps = [w.dependency() for _ in range(draw(st.integers(0, 3)) if with_markers else 0)]
    plan = draw(st.permutations([*marks, *deps]))

    lines: List[str] = []
    statements: List[GeneratedStatement] = []
    used: Set[str] = set()  # constants and helpers the marked code names
    if draw(st.booleans()):
        lines += w.docstring()
        statements.append(GeneratedStatement("docstring", 1, len(lines), False))
    for item in plan:
        lines += w.filler()
        options: Tuple[Tuple[str, Any], ...] = ()
        if isinstance(item, tuple):  # a constant or helper
            body, kind, name = item
            binds: Tuple[Tuple[str, str], ...] = ()
        elif item:
            (body, kind, name, binds), words, options = _marked(w, board_compatible)
            lines.append(draw(st.sampled_from([f"#@mcu{words}", f"#@mcu{words} "])))
            used |= _names_in(body, w.deps)
        else:
            body, kind, name, binds = _statement(w, False, board_compatible, ["block", "expr"])
        first = len(lines) + 1
        lines += body
        statements.append(
            GeneratedStatement(kind, first, len(lines), item is True, name, binds, options)
        )
    lines += w.filler()
    needed = _needed(used, w.deps)
    statements = [replace(s, brought_in=s.name in needed) for s in statements]

    if newline == "mixed":
        ends = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    else:
        ends = [newline] * len(lines)
    if draw(st.booleans()):
        ends[-1] = ""  # no line end at the end of the file
    source = "".join(line + end for line, end in zip(lines, ends))
    return GeneratedModule(source, tuple(statements), newline, unit)


def _names_in(lines: Sequence[str], names: Iterable[str]) -> Set[str]:
    """Which of ``names`` the code uses: each name is unique, and no drawn string or
    comment can spell one."""
    text = "\n".join(lines)
    return {name for name in names if re.search(rf"\b{name}\b", text)}


def _needed(used: Set[str], deps: Dict[str, Tuple[str, ...]]) -> Set[str]:
    """The constants and helpers the board code uses, and all that those use."""
    needed: Set[str] = set()
    todo = list(used)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += deps[name]
    return needed


def modules(
    *, board_compatible: bool = True, with_markers: bool = True, max_statements: int = 6
) -> st.SearchStrategy[GeneratedModule]:
    """Modules mixing marked and unmarked statements, as :class:`GeneratedModule`.

    ``board_compatible``: marked code uses only what MicroPython compiles (no
    positional-only parameters); turn it off to test splitting alone.
    ``with_markers=False`` draws modules without a single marker, which must
    split to themselves.
    """
    return _modules(board_compatible, with_markers, max_statements)
