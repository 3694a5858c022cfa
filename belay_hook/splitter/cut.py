"""Split one module into the part that stays on the host and the part for the board.

Both parts keep the original line numbers: the host part replaces each marked
statement with a stub line and blank lines (a statement marked ``both`` stays),
the board part holds the marked statements where they stood, plus the unmarked
constants and helpers the board code needs (see :mod:`belay_hook.splitter.dependencies`),
and blank lines elsewhere. So line N is line N on both machines, and every
traceback can point at the user's own file.

libcst gives the statements and their exact extents; the text is cut by lines,
so unmarked lines reach the host byte for byte (comments, CRLF, tabs and all).

This module and those it imports on its own (dependencies, scopes) never spell
the marker out: ``bundle`` imports them after the import hook is installed, and
the hook takes over every module whose file holds the marker text.
"""

from __future__ import annotations

import ast
import gc
from typing import AbstractSet, Any, Dict, List, Mapping, Set, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from belay_hook.errors import MarkerError
from belay_hook.splitter import dependencies
from belay_hook.splitter.markers import (
    PREFIX,
    Marker,
    find_markers,
    line_ending,
    newlines_only,
    source_lines,
)
from belay_hook.splitter.members import (
    class_constants,
    exception_bases,
    init_signature,
    members,
    signature,
)
from belay_hook.splitter.result import STUB_KINDS, Export, Method, Split

__all__ = ["STUB_KINDS", "Export", "Method", "Split", "split"]


def split(source: str, filename: str = "<string>") -> Split:
    """Split ``source`` at its markers; raise MarkerError or SyntaxError at file:line."""
    markers = find_markers(source, filename)
    if not markers:
        return Split(filename, source, source, "")
    # Two syntax trees are built and dropped here; the cyclic collector would keep
    # walking them meanwhile (15% of a cold split), and they free without it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _split(source, filename, markers)
    finally:
        if collecting:
            gc.enable()


def _split(source: str, filename: str, markers: List[Marker]) -> Split:
    lines = source_lines(source)
    text = newlines_only(lines)
    module = _parse(source, text, lines, filename)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    extents = {}  # first line -> (statement, last line)
    for stmt in wrapper.module.body:
        first = positions[stmt.decorators[0]].start.line if _decorators(stmt) else None
        extents[first or positions[stmt].start.line] = (stmt, positions[stmt].end.line)

    host = list(lines)
    mcu = ["\n"] * len(lines)
    details: Dict[str, Export] = {}
    errors: Set[str] = set()  # marked exception classes so far: bases for later ones
    for marker in markers:
        found = extents.get(marker.line + 1)
        if found is None:
            raise _no_statement(marker, lines, extents, filename)
        stmt, last = found
        first = marker.line + 1
        exports, board_lines = _mark(stmt, marker, lines, first, last, filename, positions, errors)
        for e in exports:
            details[e.name] = e
            if e.kind == "exception":
                errors.add(e.name)
        for i in range(first, last + 1):
            if marker.kind != "both":
                # A blank line keeps its end; the file's last line may have none, and an
                # empty last line would be no line at all, so it keeps a space.
                host[i - 1] = line_ending(lines[i - 1]) or " "
            mcu[i - 1] = board_lines[i - first]
        stubs = [e for e in exports if e.kind in STUB_KINDS]
        if stubs:
            host[first - 1] = "; ".join(_stub_line(e) for e in stubs) + line_ending(
                lines[first - 1]
            )
    # The ast, not libcst: scopes are walked much faster there, and it is exact on lines.
    marked = {m.line + 1: m.kind for m in markers}
    found = dependencies.resolve(ast.parse(text, filename), marked, lines, filename)
    for first, last in found.lines:
        for i in range(first, last + 1):
            mcu[i - 1] = lines[i - 1].rstrip("\r\n") + "\n"
    host_source, mcu_source = "".join(host), "".join(mcu)
    return Split(
        filename,
        source,
        host_source,
        mcu_source,
        details,
        found.brought_in,
        found.unresolved,
        found.imports,
    )


def _parse(source: str, text: str, lines: List[str], filename: str) -> cst.Module:
    """The module's syntax tree, from ``text``, the copy with ``\\n`` line ends: the
    text is cut from ``lines`` by position, so only lines and columns need to match."""
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        # CPython's own message is the one users know; fall back to libcst's where
        # CPython accepts what libcst does not.
        compile(source, filename, "exec", dont_inherit=True)
        line = lines[exc.raw_line - 1] if 0 < exc.raw_line <= len(lines) else ""
        raise SyntaxError(exc.message, (filename, exc.raw_line, exc.raw_column + 1, line)) from None


def _decorators(stmt: cst.CSTNode) -> Tuple[cst.Decorator, ...]:
    return tuple(getattr(stmt, "decorators", ()))


def _no_statement(marker: Marker, lines: List[str], extents: dict, filename: str) -> MarkerError:
    text = lines[marker.line - 1]
    below = lines[marker.line] if marker.line < len(lines) else ""
    if not below.strip():
        why = "there is no statement directly under it"
    elif below.lstrip().startswith("#"):
        why = f"line {marker.line + 1} holds a comment; the marker must touch its statement"
    elif any(first < marker.line + 1 <= last for first, (_, last) in extents.items()):
        why = "it stands inside a statement (above a decorator's def, or in brackets)"
    else:
        why = "there is no module-level statement directly under it"
    return MarkerError(f"{PREFIX} marks nothing: {why}", filename, marker.line, text)


def _mark(
    stmt: cst.CSTNode,
    marker: Marker,
    lines: List[str],
    first: int,
    last: int,
    filename: str,
    positions: Mapping,
    errors: AbstractSet[str] = frozenset(),
) -> Tuple[List[Export], List[str]]:
    """Exports of one marked statement and its board lines (first..last, '\\n' endings)."""
    board = [line.rstrip("\r\n") + "\n" for line in lines[first - 1 : last]]

    def error(msg: str, line: int = first) -> MarkerError:
        return MarkerError(msg, filename, line, lines[line - 1])

    if marker.kind in ("setup", "teardown"):
        _check_plain_def(stmt, marker.kind, error)
        name = stmt.name.value  # type: ignore[attr-defined]
        if marker.kind == "teardown":
            return [Export(name, "teardown", first)], board
        _check_setup_body(stmt, positions, error)  # type: ignore[arg-type]
        return [Export(name, "setup", first)], _setup_as_module_code(
            stmt,  # type: ignore[arg-type]
            board,
            first,
            positions,
        )
    if marker.kind == "thread":
        if not isinstance(stmt, cst.FunctionDef) or stmt.asynchronous:
            raise error(
                f"'{PREFIX} thread' marks a def (not async) for the board to run in a thread"
            )
        return [Export(stmt.name.value, "thread", first, signature(stmt.params))], board
    if marker.kind == "both":  # the host keeps it too, so no stubs: the names are real there
        return [Export(name, "both", first) for name in _statement_names(stmt)], board
    options = dict(marker.options)
    if options and not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        raise error(
            f"option {next(iter(options))!r} is for calls to a marked function or class; "
            "this statement is neither",
            marker.line,
        )
    if isinstance(stmt, cst.FunctionDef):
        kind = "async_function" if stmt.asynchronous else "function"
        return [Export(stmt.name.value, kind, first, signature(stmt.params), options)], board
    if isinstance(stmt, cst.ClassDef):
        bases = exception_bases(stmt, errors)
        if bases:
            return [Export(stmt.name.value, "exception", first, bases=bases)], board
        methods, properties = members(stmt)
        init = init_signature(stmt)
        name = stmt.name.value
        constants = class_constants(stmt, name, "".join(lines))
        bases = tuple(b.value.value for b in stmt.bases if isinstance(b.value, cst.Name))
        export = Export(name, "class", first, init, options, methods, properties, bases, constants)
        return [export], board
    if isinstance(stmt, cst.SimpleStatementLine):
        exports = []
        for small in stmt.body:
            kind = "import" if isinstance(small, (cst.Import, cst.ImportFrom)) else "assign"
            exports += [Export(name, kind, first) for name in _bound_names(small)]
        return exports, board
    return [], board  # if/for/while/try/with: runs on the board when the bundle loads


def _check_plain_def(stmt: cst.CSTNode, kind: str, error: Any) -> None:
    """setup and teardown run without a caller: a plain def that takes nothing."""
    what = {"setup": "whose body runs at start-up", "teardown": "the board runs when let go"}
    if not isinstance(stmt, cst.FunctionDef):
        raise error(f"'{PREFIX} {kind}' marks a function {what[kind]}")
    if stmt.asynchronous or stmt.decorators:
        raise error(f"'{PREFIX} {kind}' takes a plain def, without async or decorators")
    if _has_params(stmt.params):
        raise error(f"'{PREFIX} {kind}' function {stmt.name.value}() takes no parameters")


def _statement_names(stmt: cst.CSTNode) -> List[str]:
    """Names a def, class or simple statement line binds; a block's are its own affair."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return [stmt.name.value]
    if isinstance(stmt, cst.SimpleStatementLine):
        return [name for small in stmt.body for name in _bound_names(small)]
    return []


def _has_params(params: cst.Parameters) -> bool:
    return bool(
        params.params
        or params.posonly_params
        or params.kwonly_params
        or params.star_kwarg
        or isinstance(params.star_arg, cst.Param)
    )


def _bound_names(small: cst.BaseSmallStatement) -> List[str]:
    if isinstance(small, cst.Import):
        return [
            a.asname.name.value if a.asname else cst.Module([]).code_for_node(a.name).split(".")[0]
            for a in small.names
        ]
    if isinstance(small, cst.ImportFrom):
        if isinstance(small.names, cst.ImportStar):
            return []
        return [
            (a.asname.name if a.asname else a.name).value  # type: ignore[union-attr]
            for a in small.names
        ]
    targets: List[cst.BaseExpression] = []
    if isinstance(small, cst.Assign):
        targets = [t.target for t in small.targets]
    elif isinstance(small, cst.AugAssign) or isinstance(small, cst.AnnAssign) and small.value:
        targets = [small.target]  # a bare 'x: int' binds nothing
    names: List[str] = []
    while targets:
        t = targets.pop(0)
        if isinstance(t, cst.Name):
            names.append(t.value)
        elif isinstance(t, (cst.Tuple, cst.List)):
            targets += [el.value for el in t.elements]
        elif isinstance(t, cst.StarredElement):
            targets.append(t.value)
    return names


def _check_setup_body(stmt: cst.FunctionDef, positions: Mapping, error) -> None:
    """A setup body runs as module code, so it may not return or yield."""

    class Find(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is stmt  # nested functions may return

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def visit_Return(self, node: cst.Return) -> None:
            raise error(
                f"'{PREFIX} setup' body runs at module level: 'return' is not allowed there",
                positions[node].start.line,
            )

        def visit_Yield(self, node: cst.Yield) -> None:
            raise error(
                f"'{PREFIX} setup' body runs at module level: 'yield' is not allowed there",
                positions[node].start.line,
            )

    stmt.visit(Find())


def _setup_as_module_code(
    stmt: cst.FunctionDef, board: List[str], first: int, positions: Mapping
) -> List[str]:
    """``def setup():`` becomes ``if True:``, so the body runs at global scope, same lines."""
    if not isinstance(stmt.body, cst.IndentedBlock):  # def setup(): x = 1
        # The body stays where it is (it may start on a later line of the header and
        # span several lines); 'if True:' replaces the header in front of it.
        start = positions[stmt.body.body[0]].start
        at = start.line - first
        return ["\n"] * at + ["if True: " + board[at][start.column :]] + board[at + 1 :]
    # Lines taken by 'def setup(...):', through the one with the colon. (Not "up to the
    # first statement": a decorated nested def starts at 'def', below its decorators.)
    header = positions[stmt.body.header].start.line - first + 1
    return ["if True:\n"] + ["\n"] * (header - 1) + board[header:]


def _stub_line(export: Export) -> str:
    """One host line that binds the name to a stub calling the board; the marker's
    options follow only when there are any, to keep the line short. An exception
    class is a host class with the same bases instead."""
    if export.kind == "exception":
        return (
            f"{export.name} = __import__('belay_hook.rpc.stubs').rpc.stubs.exception("
            f"__name__, {export.name!r}, ({''.join(b + ', ' for b in export.bases)}))"
        )
    options = f", {dict(export.options)!r}" if export.options else ""
    return (
        f"{export.name} = __import__('belay_hook.rpc.stubs').rpc.stubs.stub("
        f"__name__, {export.name!r}, {export.kind!r}, {export.signature!r}{options})"
    )
