"""Hypothesis strategies for property tests of ``#@mcu`` splits, your own modules' included.

:func:`modules` draws whole modules that mix marked and unmarked statements in
the shapes the splitter has to cut cleanly (decorators, every kind of
parameter, multi-line statements, CRLF or lone CR line ends, tabs, ``#@mcu``
inside strings and comments), together with what the generator put where. A
test can then compare a split with the truth instead of with the splitter's
own reading of the source. :func:`check_split` asserts the split invariants
for any source: a drawn module or one of your real files::

    from hypothesis import given
    from belay_hook.strategies import check_split, modules

    @given(modules())
    def test_split(module):
        assert check_split(module.source).exports == module.exports

    def test_my_firmware():
        check_split(Path("main.py").read_text(), "main.py")

Hypothesis is a test extra: this is the only module of belay_hook that imports it.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Sequence, Tuple

from hypothesis import strategies as st

from belay_hook.markers import Marker, find_markers, line_ending, source_lines
from belay_hook.splitter import CALLABLE_KINDS, Split, split

__all__ = ["BOARD_NAMES", "GeneratedModule", "GeneratedStatement", "check_split", "modules"]

# Free names that generated code uses in defaults, annotations, decorators and
# bases, standing for things only a board has. A test that runs generated
# definitions on CPython binds these.
BOARD_NAMES = frozenset({"Pin", "LIMIT", "Base", "timed", "register", "app", "sensor", "sleep_ms"})


@dataclass(frozen=True)
class GeneratedStatement:
    """One top-level statement of a generated module, as the generator wrote it."""

    kind: str  # function, async_function, class, setup, import, assign, block, expr, docstring
    first_line: int  # 1-based; the first decorator's line for a decorated def or class
    last_line: int
    marked: bool  # the line above is its marker ('#@mcu', or '#@mcu setup' for kind setup)
    name: str | None = None  # the def's or class's name
    binds: Tuple[Tuple[str, str], ...] = ()  # (name, export kind) it defines at module level


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
    def marked_lines(self) -> FrozenSet[int]:
        """Lines of marked statements (not their marker lines): all other lines stay put."""
        return frozenset(
            n for s in self.statements if s.marked for n in range(s.first_line, s.last_line + 1)
        )


class _Raw(str):
    """A line inside a multi-line string: indenting it would change the string."""


def _indent(lines: Sequence[str], unit: str) -> List[str]:
    return [line if isinstance(line, _Raw) or not line else unit + line for line in lines]


_STRING_CHARS = "ab #@mcu'\"\\\té"
_CONSTANTS = [
    "0.5", "-1.25", "1e3", "None", "True", "False", "()", "[]", "{}", "(1, 'a')",
    "b'\\x00#@mcu'", "{'k': (1, 2)}", "...", "'#@mcu setup'",
]  # fmt: skip
_LITERALS = st.one_of(
    st.integers(-(10**6), 10**12).map(str),
    st.text(_STRING_CHARS, max_size=8).map(repr),
    st.sampled_from(_CONSTANTS),
)
_BOARD_REFS = st.sampled_from(["Pin.OUT", "Pin.IN", "LIMIT"])
_COMPUTED = [
    "Pin(25, Pin.OUT)", "LIMIT * 2 + 1", "[i * 2 for i in range(3)]", "{'k': LIMIT}",
    "lambda q: q + 1", "1 if LIMIT else 2", 'f"v={LIMIT} #@mcu"', "sensor.read()",
    "not LIMIT", "len('#@mcu')", "(LIMIT, -1)[0]",
]  # fmt: skip
_EXPRESSIONS = st.one_of(_LITERALS, _BOARD_REFS, st.sampled_from(_COMPUTED))
_ANNOTATIONS = st.sampled_from(["int", "str", "float", "bytes", "Pin", '"Pin"', "list"])


class _Writer:
    """Draws the pieces of one module. Every name gets a fresh number, so no two
    statements bind the same name and the expected exports are unambiguous."""

    def __init__(self, draw: Callable[[st.SearchStrategy], Any], unit: str):
        self.draw = draw
        self.unit = unit
        self._count = itertools.count(1)

    def name(self, base: str) -> str:
        return f"{base}_{next(self._count)}"

    def maybe(self) -> bool:
        return self.draw(st.booleans())

    def expr(self) -> str:
        return self.draw(_EXPRESSIONS)

    # ------------------------------------------------------------ pieces

    def filler(self) -> List[str]:
        """Lines between statements that are no statement: blank, comments, look-alikes."""
        choices = ["", "   ", "# a comment", "# not a marker: #@mcu", "##@mcu", "\x0c"]
        return self.draw(st.lists(st.sampled_from(choices), max_size=2))

    def docstring(self) -> List[str]:
        if self.maybe():
            return ['"""One line, #@mcu inside."""']
        return ['"""Several lines.', _Raw("#@mcu"), _Raw("def not_code(): pass"), _Raw('"""')]

    def decorators(self) -> List[str]:
        options = [
            ["@timed"],
            ['@register("#@mcu")'],
            ["@app.route('/led')"],
            ["@register(", self.unit + '"spread",', self.unit + "over=3,", ")"],
        ]
        picked = self.draw(st.lists(st.sampled_from(range(len(options))), max_size=2))
        return [line for i in picked for line in options[i]]

    def param(self, name: str, default: bool) -> str:
        ann = self.draw(_ANNOTATIONS) if self.maybe() else ""
        if default:
            value = self.draw(st.one_of(_LITERALS, _BOARD_REFS))
            return f"{name}: {ann} = {value}" if ann else f"{name}={value}"
        return f"{name}: {ann}" if ann else name

    def params(self, posonly: bool, first: Sequence[str] = ()) -> List[str]:
        """A parameter list: positional-only (unless the board must compile it, MicroPython
        has none), plain, defaults, ``*args`` or bare ``*``, keyword-only, ``**kwargs``."""
        draw = self.draw
        named = [self.name("p") for _ in range(draw(st.integers(0, 3)))]
        positional = [*first, *named]
        slash = draw(st.integers(1, len(positional))) if posonly and positional else 0
        plain = len(named) - draw(st.integers(0, len(named)))  # the rest have defaults
        out = list(first)
        for i, name in enumerate(named):
            out.append(self.param(name, default=i >= plain))
        if slash and self.maybe():
            out.insert(slash, "/")
        kwonly = [self.name("k") for _ in range(draw(st.integers(0, 2)))]
        star = draw(st.sampled_from(["*", "*args", "*args: int"] if kwonly else ["", "*args"]))
        out += [star] if star else []
        out += [self.param(name, default=self.maybe()) for name in kwonly]
        if self.maybe():
            out.append(draw(st.sampled_from(["**kwargs", "**kw: int"])))
        return out

    def header(self, keyword: str, params: Sequence[str], tail: str = ":") -> List[str]:
        """``def name(params):`` on one line, or one parameter a line in brackets."""
        if not params or not self.maybe():
            return [f"{keyword}({', '.join(params)}){tail}"]
        comma = "," if params[-1] != "/" and self.maybe() else ""
        inner = [p + "," for p in params[:-1]] + [params[-1] + comma]
        return [f"{keyword}("] + _indent(inner, self.unit) + [f"){tail}"]

    # ------------------------------------------------------------ statements

    def simple(self, is_async: bool = False) -> List[str]:
        """One statement without a block, possibly over several lines."""
        v = self.name("v")
        options = [
            lambda: [f"{v} = {self.expr()}"],
            lambda: [f"print({self.expr()})"],
            lambda: [f"{v} = [", self.unit + "1,", self.unit + f"{self.expr()},", "]"],
            lambda: [f"{v} = 1 + \\", self.unit + "2"],
            lambda: [f'{v} = """first', _Raw("#@mcu"), _Raw('"""')],
            lambda: [f"{v} = 1; print({v})"],
        ]
        if is_async:
            options.append(lambda: ["await sleep_ms(1)"])
        return self.comment_after(self.draw(st.sampled_from(options))())

    def comment_after(self, lines: List[str]) -> List[str]:
        """Sometimes a comment at the end of the last line."""
        if self.draw(st.integers(0, 3)):
            return lines
        *head, last = lines
        return head + [type(last)(last + "  # note, not #@mcu")]

    def block(self, depth: int, board: bool, is_async: bool = False) -> List[str]:
        """A body: 1-3 statements (blocks and nested defs while shallow) among fillers."""
        lines: List[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            lines += self.draw(st.sampled_from([[], [""], ["# note"], [_Raw("# at column 0")]]))
            if depth < 3 and self.draw(st.integers(0, 3)) == 0:
                lines += self.compound(depth, board, is_async)
            else:
                lines += self.simple(is_async)
        return lines

    def compound(self, depth: int, board: bool, is_async: bool = False) -> List[str]:
        """if/for/while/try/with, or a nested def."""

        def body() -> List[str]:
            return _indent(self.block(depth + 1, board, is_async), self.unit)

        kind = self.draw(st.sampled_from(["if", "for", "while", "try", "with", "def", "oneline"]))
        if kind == "if":
            return ["if LIMIT:"] + body() + (["else:"] + body() if self.maybe() else [])
        if kind == "for":
            return [f"for {self.name('i')} in range(3):"] + body()
        if kind == "while":
            return ["while not LIMIT:"] + body()
        if kind == "try":
            tail = ["finally:"] + body() if self.maybe() else []
            return ["try:"] + body() + ["except ValueError as err:"] + body() + tail
        if kind == "with":
            return [f"with sensor.lock() as {self.name('lk')}:"] + body()
        if kind == "def":
            return self.function(depth + 1, board)[0]
        first, *rest = self.simple() if self.maybe() else ["pass"]
        return [f"if LIMIT: {first}", *rest]

    def function(self, depth: int, board: bool) -> Tuple[List[str], str, str]:
        """A def or async def: lines, kind, name."""
        name = self.name("fn")
        is_async = self.maybe()
        kind = "async_function" if is_async else "function"
        keyword = f"{'async def' if is_async else 'def'} {name}"
        lines = self.decorators()
        params = self.params(posonly=not board)
        tail = self.draw(st.sampled_from(["", " -> int", " -> None", ' -> "Pin"'])) + ":"
        if self.maybe():  # def f(a): return a
            lines.append(f"{keyword}({', '.join(params)}){tail} return {self.expr()}")
            return lines, kind, name
        tail += self.draw(st.sampled_from(["", "  # header comment"]))
        body = self.docstring() if self.maybe() else []
        body += self.block(depth, board, is_async)
        if self.maybe():
            body.append(f"return {self.expr()}")
        return lines + self.header(keyword, params, tail) + _indent(body, self.unit), kind, name

    def klass(self, board: bool) -> Tuple[List[str], str]:
        """A class, with or without ``__init__``: lines, name."""
        name = self.name("Cls")
        lines = self.decorators()
        bases = self.draw(st.sampled_from(["", "()", "(Base)"]))
        if self.maybe():
            return lines + [f"class {name}{bases}: pass"], name
        body = self.docstring() if self.maybe() else []
        if self.maybe():
            body.append(f"{self.name('attr')} = {self.expr()}")
        if self.maybe():
            params = self.params(posonly=not board, first=["self"])
            init = self.header("def __init__", params) + _indent(self.block(1, board), self.unit)
            body += self.filler() + init
        if self.maybe():
            body += ["@staticmethod", f"def {self.name('m')}(x):", self.unit + "return x"]
        header = self.comment_after([f"class {name}{bases}:"])
        return lines + header + _indent(body or ["pass"], self.unit), name

    def imports(self) -> Tuple[List[str], Tuple[str, ...]]:
        """An import statement: lines, the names it binds."""
        a, b, c = self.name("obj"), self.name("obj"), self.name("alias")
        pkg = self.name("pkg")
        options = [
            ([f"import {pkg}"], (pkg,)),
            ([f"import {pkg}.sub as {c}"], (c,)),
            ([f"import {pkg}.sub.leaf"], (pkg,)),
            ([f"import {pkg}, {a}.sub as {c}"], (pkg, c)),
            ([f"from {pkg} import {a}, {b} as {c}"], (a, c)),
            ([f"from {pkg}.sub import (", self.unit + f"{a},", self.unit + f"{b} as {c},", ")"],
             (a, c)),
            ([f"from . import {a}"], (a,)),
        ]  # fmt: skip
        return self.draw(st.sampled_from(options))

    def assignment(self) -> Tuple[List[str], Tuple[Tuple[str, str], ...]]:
        """An assignment (tuple targets, annotated, augmented, multi-line): lines, binds."""
        a, b, m = self.name("v"), self.name("v"), self.name("mod")
        e, f = self.expr(), self.expr()
        ann = self.draw(_ANNOTATIONS)
        options = [
            ([f"{a} = {e}"], (a,)),
            ([f"{a}, {b} = {e}, {f}"], (a, b)),
            ([f"({a}, {b}) = ({e}, {f})"], (a, b)),
            ([f"[{a}, {b}] = [{e}, {f}]"], (a, b)),
            ([f"{a}, *{b} = 1, 2, 3"], (a, b)),
            ([f"{a} = {b} = {e}"], (a, b)),
            ([f"{a}: {ann} = {e}"], (a,)),
            ([f"{a}: {ann}"], ()),  # binds nothing
            ([f"{a} += {e}"], (a,)),
            ([f"{a} = [", self.unit + f"{e},", self.unit + f"{f},", "]"], (a,)),
            ([f"{a} = {{", self.unit + f"'k': {e},", "}"], (a,)),
            ([f"{a} = 1 + \\", self.unit + "2 + \\", "3"], (a,)),
            ([f'{a} = """', _Raw("#@mcu"), _Raw("def looks_marked(): pass"), _Raw('"""')], (a,)),
            ([f"{a} = 1; {b} = {e}"], (a, b)),
        ]
        lines, names = self.draw(st.sampled_from(options))
        binds = tuple((n, "assign") for n in names)
        if self.draw(st.integers(0, 5)) == 0:  # import and assignment on one line
            lines, binds = [f"import {m}; " + lines[0]] + lines[1:], ((m, "import"), *binds)
        return lines, binds

    def setup(self) -> Tuple[List[str], str]:
        """A function for ``#@mcu setup``: no parameters, no return; lines, name."""
        name = self.name("setup")
        headers = [[f"def {name}():"], [f"def {name}() -> None:"], [f"def {name}(", "):"]]
        header = self.draw(st.sampled_from(headers))
        if self.maybe():  # def setup(): v = 1, the body on the header's last line
            first, *rest = self.simple()
            return header[:-1] + [f"{header[-1]} {first}"] + rest, name
        body = self.docstring() if self.maybe() else []
        body = self.filler() + body + self.block(0, board=True)
        return header + _indent(body, self.unit), name


def _statement(
    w: _Writer, marked: bool, board: bool
) -> Tuple[List[str], str, str | None, Tuple[Tuple[str, str], ...]]:
    """One top-level statement: lines, kind, name, binds."""
    kinds = ["function", "class", "import", "assign"]
    kind = w.draw(st.sampled_from(kinds + (["setup"] if marked else ["block", "expr"])))
    if kind == "function":
        lines, kind, name = w.function(0, board=marked and board)
        return lines, kind, name, ((name, kind),)
    if kind == "class":
        lines, name = w.klass(board=marked and board)
        return lines, "class", name, ((name, "class"),)
    if kind == "setup":
        lines, name = w.setup()
        return lines, "setup", name, ((name, "setup"),)
    if kind == "import":
        lines, names = w.imports()
        return lines, "import", None, tuple((n, "import") for n in names)
    if kind == "assign":
        lines, binds = w.assignment()
        return lines, "assign", None, binds
    if kind == "block":
        return w.compound(0, board=False), "block", None, ()
    line = w.draw(st.sampled_from(['print("#@mcu")', "sensor.start()", "LIMIT"]))
    return [line], "expr", None, ()


@st.composite
def _modules(draw: Callable, board_compatible: bool, with_markers: bool, max_statements: int):
    unit = draw(st.sampled_from(["    ", "  ", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    w = _Writer(draw, unit)
    count = draw(st.integers(1, max_statements))
    marks = [with_markers and draw(st.booleans()) for _ in range(count)]
    if with_markers and not any(marks):
        marks[draw(st.integers(0, count - 1))] = True

    lines: List[str] = []
    statements: List[GeneratedStatement] = []
    if draw(st.booleans()):
        lines += w.docstring()
        statements.append(GeneratedStatement("docstring", 1, len(lines), False))
    for marked in marks:
        lines += w.filler()
        body, kind, name, binds = _statement(w, marked, board_compatible)
        if marked:
            word = " setup" if kind == "setup" else ""
            lines.append(draw(st.sampled_from([f"#@mcu{word}", f"#@mcu{word} "])))
        first = len(lines) + 1
        lines += body
        statements.append(GeneratedStatement(kind, first, len(lines), marked, name, binds))
    lines += w.filler()

    if newline == "mixed":
        ends = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    else:
        ends = [newline] * len(lines)
    if draw(st.booleans()):
        ends[-1] = ""  # no line end at the end of the file
    source = "".join(line + end for line, end in zip(lines, ends))
    return GeneratedModule(source, tuple(statements), newline, unit)


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


# ------------------------------------------------------------------ checking


def check_split(source: str, filename: str = "<string>") -> Split:
    """Assert the invariants of ``split(source, filename)`` and return the split.

    Lines keep their numbers on both sides, unmarked lines reach the host byte
    for byte, each marked statement stands in the MCU source at its own lines,
    the host still compiles, exports name what the marked statements bind and
    each stub takes the parameters its function does. A bad marker or a syntax
    error propagates as ``split`` raises it.
    """
    result = split(source, filename)
    lines = source_lines(source)
    host = source_lines(result.host_source)
    assert len(host) == len(lines), f"host source has {len(host)} lines, the file {len(lines)}"
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError:
        pass  # then the host part need not compile either
    else:
        compile(result.host_source, filename, "exec", dont_inherit=True)
    markers = find_markers(source, filename)
    if not markers:
        assert (result.host_source, result.mcu_source, result.exports) == (source, "", {})
        return result

    mcu = source_lines(result.mcu_source)
    assert len(mcu) == len(lines), f"MCU source has {len(mcu)} lines, the file {len(lines)}"
    assert "\r" not in result.mcu_source, "MCU source must end its lines with \\n only"
    starting: Dict[int, List[ast.stmt]] = {}
    for stmt in ast.parse(source).body:
        starting.setdefault(_first_line(stmt), []).append(stmt)
    marked = [(m, starting[m.line + 1]) for m in markers]
    inside = {n for _, group in marked for n in range(_first_line(group[0]), _last_line(group) + 1)}
    for n, (line, h, b) in enumerate(zip(lines, host, mcu), 1):
        if n not in inside:
            assert h == line, f"line {n} changed on the host: {line!r} became {h!r}"
            assert b == "\n", f"line {n} is not blank in the MCU source: {b!r}"

    exports: Dict[str, str] = {}
    board = ast.parse(result.mcu_source).body
    assert len(board) == sum(len(group) for _, group in marked), "MCU source statements"
    for marker, group in marked:
        first, last = _first_line(group[0]), _last_line(group)
        binds = _binds(group, marker)
        exports.update(binds)
        callables = [name for name, kind in binds.items() if kind in CALLABLE_KINDS]
        for n in range(first, last + 1):
            if not (callables and n == first):
                blank = not host[n - 1].strip() and line_ending(host[n - 1]) == line_ending(
                    lines[n - 1]
                )
                assert blank, f"host line {n} is {host[n - 1]!r}, not a blank line"
        if callables:
            _check_stub(host[first - 1], lines[first - 1], group[0])
        if marker.kind == "setup":
            _check_setup(board.pop(0), group[0])
            continue
        for n in range(first, last + 1):
            want = lines[n - 1].rstrip("\r\n") + "\n"
            assert mcu[n - 1] == want, f"MCU line {n} is {mcu[n - 1]!r}, not {want!r}"
        del board[: len(group)]
    assert result.exports == exports, f"exports {result.exports} != {exports}"
    return result


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])


def _last_line(group: Sequence[ast.stmt]) -> int:
    return max(s.end_lineno or s.lineno for s in group)


def _binds(group: Sequence[ast.stmt], marker: Marker) -> Dict[str, str]:
    """What a marked statement line defines on the board: name -> kind."""
    stmt = group[0]
    if marker.kind == "setup":
        return {stmt.name: "setup"}  # type: ignore[attr-defined]
    kinds = {ast.FunctionDef: "function", ast.AsyncFunctionDef: "async_function"}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name: kinds.get(type(stmt), "class")}
    out: Dict[str, str] = {}
    for small in group:
        if isinstance(small, ast.Import):
            out.update((a.asname or a.name.split(".")[0], "import") for a in small.names)
        elif isinstance(small, ast.ImportFrom):
            out.update((a.asname or a.name, "import") for a in small.names if a.name != "*")
        elif isinstance(small, ast.Assign):
            out.update((n, "assign") for t in small.targets for n in _target_names(t))
        elif isinstance(small, ast.AugAssign) or isinstance(small, ast.AnnAssign) and small.value:
            out.update((n, "assign") for n in _target_names(small.target))  # 'x: int' binds none
    return out


def _target_names(target: ast.expr) -> List[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _target_names(t)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _check_stub(stub_line: str, original: str, stmt: ast.stmt) -> None:
    """The host line binds the name to a stub taking the parameters the board's def takes."""
    name = stmt.name  # type: ignore[attr-defined]
    assert line_ending(stub_line) == line_ending(original), "stub line lost its line end"
    namespace: Dict[str, Any] = {"__name__": "belay_hook_check_split"}
    exec(stub_line, namespace)
    got = [
        (p.name, p.kind, p.default is not p.empty)
        for p in inspect.signature(namespace[name]).parameters.values()
    ]
    want = _parameters(stmt)
    assert got == want, f"stub {name}{got} does not take the parameters {want}"


def _parameters(stmt: ast.stmt) -> List[Tuple[str, Any, bool]]:
    """(name, kind, has default) of what calling the def or class takes."""
    P = inspect.Parameter
    if isinstance(stmt, ast.ClassDef):
        defs = (ast.FunctionDef, ast.AsyncFunctionDef)
        init = next((s for s in stmt.body if isinstance(s, defs) and s.name == "__init__"), None)
        if init is not None:
            return _parameters(init)[1:]
        if stmt.bases:  # whatever the base's __init__ takes
            return [("args", P.VAR_POSITIONAL, False), ("kwargs", P.VAR_KEYWORD, False)]
        return []
    args = stmt.args  # type: ignore[attr-defined]
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    out = [
        (a.arg, P.POSITIONAL_ONLY if i < len(args.posonlyargs) else P.POSITIONAL_OR_KEYWORD,
         i >= first_default)
        for i, a in enumerate(positional)
    ]  # fmt: skip
    if args.vararg:
        out.append((args.vararg.arg, P.VAR_POSITIONAL, False))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append((arg.arg, P.KEYWORD_ONLY, default is not None))
    if args.kwarg:
        out.append((args.kwarg.arg, P.VAR_KEYWORD, False))
    return out


def _check_setup(node: ast.stmt, setup: ast.stmt) -> None:
    """A setup function reaches the board as ``if True:`` over its body, at the same lines."""
    assert isinstance(node, ast.If) and isinstance(node.test, ast.Constant), ast.dump(node)
    assert node.test.value is True and not node.orelse, ast.dump(node)

    def shape(body: Sequence[ast.stmt]) -> List[Tuple[int, int | None, str]]:
        return [(s.lineno, s.end_lineno, ast.dump(s)) for s in body]

    assert shape(node.body) == shape(setup.body), "setup body moved on the board"  # type: ignore[attr-defined]
