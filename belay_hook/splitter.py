"""Split one module into the part that stays on the host and the part for the board.

Both parts keep the original line numbers: the host part replaces each marked
statement with a stub line and blank lines, the board part holds the marked
statements where they stood and blank lines elsewhere. So line N is line N on
both machines, and every traceback can point at the user's own file.

libcst gives the statements and their exact extents; the text is cut by lines,
so unmarked lines reach the host byte for byte (comments, CRLF, tabs and all).
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from belay_hook.errors import MarkerError
from belay_hook.markers import (
    PREFIX,
    Marker,
    find_markers,
    line_ending,
    newlines_only,
    source_lines,
)

# Kinds whose host name becomes a stub that calls the board.
CALLABLE_KINDS = ("function", "async_function", "class")


@dataclass(frozen=True)
class Export:
    """A name the marked code defines on the board."""

    name: str
    kind: str  # function, async_function, class, setup, import, assign
    line: int  # first line of the statement (its first decorator, if any)
    signature: str | None = None  # parameter list, for callable kinds


@dataclass(frozen=True)
class Split:
    """The result of :func:`split`: host source, board source and what the board defines."""

    filename: str
    source: str
    host_source: str
    mcu_source: str
    details: Mapping[str, Export] = field(default_factory=dict)

    @property
    def exports(self) -> Dict[str, str]:
        """Name -> kind of everything the board part defines."""
        return {name: e.kind for name, e in self.details.items()}

    @property
    def has_mcu(self) -> bool:
        return bool(self.mcu_source)

    def manifest(self) -> dict:
        """What the bundle carries besides code: exports with kinds, lines and signatures."""
        from belay_hook import __version__

        return {
            "tool": f"belay_hook {__version__}",
            "filename": self.filename,
            "source_sha256": hashlib.sha256(self.source.encode()).hexdigest(),
            "mcu_sha256": hashlib.sha256(self.mcu_source.encode()).hexdigest(),
            "exports": {
                name: {"kind": e.kind, "line": e.line, "signature": e.signature}
                for name, e in self.details.items()
            },
        }


def split(source: str, filename: str = "<string>") -> Split:
    """Split ``source`` at its ``#@mcu`` markers; raise MarkerError or SyntaxError at file:line."""
    markers = find_markers(source, filename)
    if not markers:
        return Split(filename, source, source, "")
    lines = source_lines(source)
    module = _parse(source, lines, filename)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    extents = {}  # first line -> (statement, last line)
    for stmt in wrapper.module.body:
        first = positions[stmt.decorators[0]].start.line if _decorators(stmt) else None
        extents[first or positions[stmt].start.line] = (stmt, positions[stmt].end.line)

    host = list(lines)
    mcu = ["\n"] * len(lines)
    details: Dict[str, Export] = {}
    for marker in markers:
        found = extents.get(marker.line + 1)
        if found is None:
            raise _no_statement(marker, lines, extents, filename)
        stmt, last = found
        first = marker.line + 1
        exports, board_lines = _mark(stmt, marker, lines, first, last, filename, positions)
        for e in exports:
            details[e.name] = e
        for i in range(first, last + 1):
            # A blank line keeps its end; the file's last line may have none, and an
            # empty last line would be no line at all, so it keeps a space.
            host[i - 1] = line_ending(lines[i - 1]) or " "
            mcu[i - 1] = board_lines[i - first]
        stubs = [e for e in exports if e.kind in CALLABLE_KINDS]
        if stubs:
            host[first - 1] = "; ".join(_stub_line(e) for e in stubs) + line_ending(
                lines[first - 1]
            )
    return Split(filename, source, "".join(host), "".join(mcu), details)


def _parse(source: str, lines: List[str], filename: str) -> cst.Module:
    """The module's syntax tree, from a copy with ``\\n`` line ends: the text is cut
    from ``lines`` by position, so only lines and columns need to match."""
    try:
        return cst.parse_module(newlines_only(lines))
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
) -> Tuple[List[Export], List[str]]:
    """Exports of one marked statement and its board lines (first..last, '\\n' endings)."""
    board = [line.rstrip("\r\n") + "\n" for line in lines[first - 1 : last]]

    def error(msg: str, line: int = first) -> MarkerError:
        return MarkerError(msg, filename, line, lines[line - 1])

    if marker.kind == "setup":
        if not isinstance(stmt, cst.FunctionDef):
            raise error(f"'{PREFIX} setup' marks a function whose body runs at start-up")
        if stmt.asynchronous or stmt.decorators:
            raise error(f"'{PREFIX} setup' takes a plain def, without async or decorators")
        if _has_params(stmt.params):
            raise error(f"'{PREFIX} setup' function {stmt.name.value}() takes no parameters")
        _check_setup_body(stmt, positions, error)
        return [Export(stmt.name.value, "setup", first)], _setup_as_module_code(
            stmt, board, first, positions
        )
    if isinstance(stmt, cst.FunctionDef):
        kind = "async_function" if stmt.asynchronous else "function"
        return [Export(stmt.name.value, kind, first, _signature(stmt.params))], board
    if isinstance(stmt, cst.ClassDef):
        return [Export(stmt.name.value, "class", first, _init_signature(stmt))], board
    if isinstance(stmt, cst.SimpleStatementLine):
        exports = []
        for small in stmt.body:
            kind = "import" if isinstance(small, (cst.Import, cst.ImportFrom)) else "assign"
            exports += [Export(name, kind, first) for name in _bound_names(small)]
        return exports, board
    return [], board  # if/for/while/try/with: runs on the board when the bundle loads


def _has_params(params: cst.Parameters) -> bool:
    return bool(
        params.params
        or params.posonly_params
        or params.kwonly_params
        or params.star_kwarg
        or isinstance(params.star_arg, cst.Param)
    )


def _signature(params: cst.Parameters) -> str:
    """The parameter list without annotations (they may name board-only types)."""
    text = cst.Module([]).code_for_node(_strip_annotations(params))
    fn = ast.parse(f"def _({text}): pass").body[0]
    return ast.unparse(fn.args)  # one line, comments and line breaks gone


def _strip_annotations(params: cst.Parameters) -> cst.Parameters:
    class Strip(cst.CSTTransformer):
        def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
            return updated.with_changes(annotation=None)

    return params.visit(Strip())


def _init_signature(cls: cst.ClassDef) -> str:
    """What calling the class takes: its ``__init__`` without ``self``."""
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__":
            sig = ast.parse(f"def _({_signature(stmt.params)}): pass").body[0].args
            if sig.posonlyargs:
                sig.posonlyargs.pop(0)
            elif sig.args:
                sig.args.pop(0)
            return ast.unparse(sig)
    return "*args, **kwargs" if cls.bases else ""


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
    """One host line that binds the name to a stub calling the board."""
    return (
        f"{export.name} = __import__('belay_hook.stubs').stubs.stub("
        f"__name__, {export.name!r}, {export.kind!r}, {export.signature!r})"
    )
