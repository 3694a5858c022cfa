"""Scopes as MicroPython runs them, checked against what CPython's compiler makes of them.

With annotations turned off (MicroPython never evaluates them), the names a
module's code objects load globally are exactly the global reads, and the names
stored at module level (or through 'global') are its module bindings.
"""

from __future__ import annotations

import ast
import dis
import inspect
import types
from typing import Set, Tuple

import pytest
from hypothesis import given, settings

from belay_hook.splitter.scopes import needs
from belay_hook.strategies import GeneratedModule, modules


def _compiled(source: str) -> Tuple[Set[str], Set[str]]:
    """Global reads and module bindings as CPython compiles them (annotations off)."""
    code = compile("from __future__ import annotations\n" + source, "drawn", "exec")
    reads: Set[str] = set()
    binds: Set[str] = set()

    def walk(co: types.CodeType, kind: str) -> None:
        ops = list(dis.get_instructions(co))
        stored = {i.argval for i in ops if i.opname in ("STORE_NAME", "DELETE_NAME")}
        for i in ops:
            if i.opname == "LOAD_GLOBAL" or (
                i.opname in ("LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS")
                and not (kind == "class" and (i.argval in stored or i.argval == "__name__"))
            ):
                reads.add(i.argval)
            if i.opname in ("STORE_GLOBAL", "DELETE_GLOBAL") or (
                kind == "module" and i.opname in ("STORE_NAME", "DELETE_NAME")
            ):
                binds.add(i.argval)
        for const in co.co_consts:
            if isinstance(const, types.CodeType):
                walk(const, "function" if const.co_flags & inspect.CO_OPTIMIZED else "class")

    walk(code, "module")
    return reads - {"__annotations__"}, binds - {"annotations"}


def _scopes(source: str) -> Tuple[Set[str], Set[str]]:
    found = needs(ast.parse(source).body)
    return set(found.reads), found.binds


@settings(max_examples=150, deadline=None)
@given(modules(board_compatible=False))
def test_scopes_agree_with_the_compiler_on_drawn_modules(module: GeneratedModule) -> None:
    assert _scopes(module.source) == _compiled(module.source)


TRICKY = [
    "x = 1\nclass C:\n    y = x\n    z = [y for _ in range(3)]\n    def m(self): return y\n",
    "def f():\n    global g\n    g = 1\n    def h():\n        return g\n",
    "def f():\n    v = 1\n    class C:\n        w = v\n        def m(self): return v, w\n",
    "def f():\n    return [(y := i) for i in range(3)], y\n",
    "def f(a=b, *, c=d):\n    return lambda e=f2: e + a\n",
    "try:\n    pass\nexcept E as err:\n    err2 = err\n",
    "del x\nx += 1\nimport a.b.c\nfrom . import d\nfrom m import e as ee\n",
    "match p:\n    case [1, *rest]: pass\n    case {'k': v, **kw}: pass\n"
    "    case P(q=w) as z: pass\n",
    "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x += 1\n    return g\n",
    "@deco(arg)\nclass C(B, metaclass=M, **kw):\n"
    "    def __init__(self):\n        super().__init__()\n",
    "def f():\n    for i in range(3):\n        with ctx() as (a, b):\n            yield a, b, i\n",
    "x = {k: v for k, v in items if k}\ny = {s for s in x}\nz = (g for g in y if g in x)\n",
    "def f(x: Annot) -> Ret:\n    y: Local = 1\n    z: Other\n    return y\n",
]


@pytest.mark.parametrize("source", TRICKY)
def test_scopes_agree_with_the_compiler_on_tricky_code(source: str) -> None:
    assert _scopes(source) == _compiled(source)


def test_scopes_give_the_first_line_of_each_global_read() -> None:
    found = needs(ast.parse("def f():\n    return a\n\nb = a + c\nc = 1\n").body)
    assert found.reads == {"a": 2, "c": 4}
    assert found.binds == {"f", "b", "c"}
