"""The pieces of drawn modules: statements, bodies, parameters, expressions.

Split from :mod:`belay_hook.strategies`, which puts the pieces together into
modules and keeps the record of what stands where. Imports hypothesis, as that
module does.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Sequence, Tuple

from hypothesis import strategies as st


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


class Writer:
    """Draws the pieces of one module. Every name gets a fresh number, so no two
    statements bind the same name and the expected exports are unambiguous."""

    def __init__(self, draw: Callable[[st.SearchStrategy], Any], unit: str):
        self.draw = draw
        self.unit = unit
        self._count = itertools.count(1)
        self.deps: Dict[str, Tuple[str, ...]] = {}  # constant or helper -> what it uses

    def name(self, base: str) -> str:
        return f"{base}_{next(self._count)}"

    def maybe(self) -> bool:
        return self.draw(st.booleans())

    def expr(self) -> str:
        """An expression; now and then a constant or helper of the module's."""
        if self.deps and not self.draw(st.integers(0, 3)):
            return self.draw(st.sampled_from(sorted(self.deps)))
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

    def compound(
        self, depth: int, board: bool, is_async: bool = False, defs: bool = True
    ) -> List[str]:
        """if/for/while/try/with, or a nested def (unless ``defs`` is off: at the
        top, a def would be no block)."""

        def body() -> List[str]:
            return _indent(self.block(depth + 1, board, is_async), self.unit)

        kinds = ["if", "for", "while", "try", "with", "oneline"] + (["def"] if defs else [])
        kind = self.draw(st.sampled_from(kinds))
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

    def function(
        self, depth: int, board: bool, is_async: bool | None = None
    ) -> Tuple[List[str], str, str]:
        """A def or async def: lines, kind, name."""
        name = self.name("fn")
        is_async = self.maybe() if is_async is None else is_async
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

    def klass(self, board: bool) -> Tuple[List[str], str, str]:
        """A class, with or without ``__init__``: lines, name, and kind (``exception``
        for one derived from a builtin exception, else ``class``)."""
        name = self.name("Cls")
        lines = self.decorators()
        bases = self.draw(st.sampled_from(["", "()", "(Base)", "(ValueError)", "(Exception)"]))
        kind = "exception" if "Error" in bases or "Exception" in bases else "class"
        if self.maybe():
            return lines + [f"class {name}{bases}: pass"], name, kind
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
        return lines + header + _indent(body or ["pass"], self.unit), name, kind

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

    def plain_def(self, kind: str) -> Tuple[List[str], str]:
        """A function for ``#@mcu setup`` or ``teardown``: no parameters; only a
        teardown may return. Lines, name."""
        name = self.name(kind)
        headers = [[f"def {name}():"], [f"def {name}() -> None:"], [f"def {name}(", "):"]]
        header = self.draw(st.sampled_from(headers))
        if self.maybe():  # def setup(): v = 1, the body on the header's last line
            first, *rest = self.simple()
            return header[:-1] + [f"{header[-1]} {first}"] + rest, name
        body = self.docstring() if self.maybe() else []
        body = self.filler() + body + self.block(0, board=True)
        if kind == "teardown" and self.maybe():
            body.append("return")
        return header + _indent(body, self.unit), name

    def dependency(self) -> Tuple[List[str], str, str]:
        """An unmarked literal constant, an import of a module both sides have, or a
        plain def using an earlier one (so the board code may need a chain): lines,
        kind, name."""
        if not self.draw(st.integers(0, 3)):
            name = self.name("mod")
            self.deps[name] = ()
            shapes = [
                [f"import struct as {name}"],
                [f"from time import sleep as {name}"],
                [f"import sys as {name}, time"],
                ["from time import (", self.unit + f"sleep as {name},", ")"],
            ]
            return self.draw(st.sampled_from(shapes)), "import", name
        if self.deps and self.maybe():
            name, used = self.name("helper"), self.draw(st.sampled_from(sorted(self.deps)))
            self.deps[name] = (used,)
            return [f"def {name}(x):", self.unit + f"return ({used}, x)"], "helper", name
        name, value, more = self.name("CONST"), self.draw(_LITERALS), self.draw(_LITERALS)
        self.deps[name] = ()
        shapes = [
            [f"{name} = {value}"],
            [f"{name}: int = -{self.draw(st.integers(0, 99))} * 2 + 1"],
            [f"{name} = (", self.unit + f"{value},", self.unit + f"{more},", ")"],
        ]
        return self.draw(st.sampled_from(shapes)), "constant", name
