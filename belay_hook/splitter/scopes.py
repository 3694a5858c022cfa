"""Which module-level names a piece of Python code reads and binds, by Python's scope rules.

Worked out on the ``ast``: ``symtable`` knows the scopes but has no line numbers
before 3.13, and libcst's ScopeProvider costs more than a whole split. The code
is read as MicroPython runs it: annotations are never evaluated there, so they
use no names, and the body of an inline-assembler function is instructions.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Set, Tuple

_ASSEMBLER = re.compile(r"asm_\w+")  # @micropython.asm_thumb and friends


@dataclass
class Needs:
    """What a piece of module code reads from and binds in the module's namespace."""

    reads: Dict[str, int]  # module-level (global) names read -> first line reading one
    binds: Set[str]  # module-level names it binds, 'global' declarations included
    star: bool = False  # it runs 'from m import *': any name may come from there
    late: Set[str] = field(default_factory=set)  # of binds, those only a function's
    # 'global' binds: when it runs, so until then the name needs its module-level value


class _Scope:
    __slots__ = ("kind", "parent", "bound", "globals", "nonlocals", "reads", "children", "star")

    def __init__(self, kind: str, parent: _Scope | None):
        self.kind = kind  # module, function, class or comprehension
        self.parent = parent
        self.bound: Set[str] = set()
        self.globals: Set[str] = set()
        self.nonlocals: Set[str] = set()
        self.reads: List[Tuple[str, int]] = []
        self.children: List[_Scope] = []
        self.star = False

    def child(self, kind: str) -> _Scope:
        scope = _Scope(kind, self)
        self.children.append(scope)
        return scope

    def is_global(self, name: str) -> bool:
        """Whether ``name`` read in this scope is the module's (or a builtin)."""
        scope = self
        while scope.kind != "module":
            if name in scope.globals:
                return True
            if name in scope.bound or name in scope.nonlocals:
                return False
            scope = scope.parent  # type: ignore[assignment]
            while scope.kind == "class":  # a class body is no enclosing scope
                scope = scope.parent  # type: ignore[assignment]
        return True


def needs(statements: Iterable[ast.stmt]) -> Needs:
    """The global reads and module-level bindings of ``statements`` run as module code."""
    module = _Scope("module", None)
    for stmt in statements:
        _visit(stmt, module)
    reads: Dict[str, int] = {}
    binds = set(module.bound)
    stack = [module]
    while stack:
        scope = stack.pop()
        for name, line in scope.reads:
            if line < reads.get(name, line + 1) and scope.is_global(name):
                reads[name] = line
        if scope is not module:
            binds |= scope.globals & scope.bound
        stack += scope.children
    return Needs(reads, binds, module.star, binds - module.bound)


def _visit(node: ast.AST, scope: _Scope) -> None:
    handler = _HANDLERS.get(type(node))
    if handler is not None:
        handler(node, scope)
        return
    for child in ast.iter_child_nodes(node):
        _visit(child, scope)


def _name(node: ast.Name, scope: _Scope) -> None:
    if isinstance(node.ctx, ast.Load):
        scope.reads.append((node.id, node.lineno))
    else:
        scope.bound.add(node.id)


def _function(node: ast.AST, scope: _Scope) -> None:
    """Decorators and defaults run where the def stands; annotations never run."""
    for expr in getattr(node, "decorator_list", ()):
        _visit(expr, scope)
    args: ast.arguments = node.args  # type: ignore[attr-defined]
    for expr in [*args.defaults, *args.kw_defaults]:
        if expr is not None:
            _visit(expr, scope)
    inner = scope.child("function")
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            inner.bound.add(arg.arg)
    if isinstance(node, ast.Lambda):
        _visit(node.body, inner)
        return
    scope.bound.add(node.name)  # type: ignore[attr-defined]
    if not any(_ASSEMBLER.fullmatch(_last_word(d)) for d in node.decorator_list):  # type: ignore[attr-defined]
        for stmt in node.body:  # type: ignore[attr-defined]
            _visit(stmt, inner)


def _last_word(expr: ast.expr) -> str:
    return expr.attr if isinstance(expr, ast.Attribute) else getattr(expr, "id", "")


def _class(node: ast.ClassDef, scope: _Scope) -> None:
    for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
        _visit(expr, scope)
    scope.bound.add(node.name)
    inner = scope.child("class")
    for stmt in node.body:
        _visit(stmt, inner)


def _comprehension(node: ast.AST, scope: _Scope) -> None:
    """The first iterable is evaluated outside, everything else in the comprehension."""
    generators: List[ast.comprehension] = node.generators  # type: ignore[attr-defined]
    _visit(generators[0].iter, scope)
    inner = scope.child("comprehension")
    for i, gen in enumerate(generators):
        if i:
            _visit(gen.iter, inner)
        _visit(gen.target, inner)
        for cond in gen.ifs:
            _visit(cond, inner)
    for part in ("elt", "key", "value"):
        if hasattr(node, part):
            _visit(getattr(node, part), inner)


def _walrus(node: ast.NamedExpr, scope: _Scope) -> None:
    """``(x := v)`` in a comprehension binds x in the scope around it."""
    _visit(node.value, scope)
    target = scope
    while target.kind == "comprehension":
        target = target.parent  # type: ignore[assignment]
    target.bound.add(node.target.id)  # type: ignore[attr-defined]


def _import(node: ast.AST, scope: _Scope) -> None:
    for alias in node.names:  # type: ignore[attr-defined]
        if alias.name == "*":
            scope.star = True
        else:
            scope.bound.add(alias.asname or alias.name.partition(".")[0])


def _annotated(node: ast.AnnAssign, scope: _Scope) -> None:
    """``x: int`` alone binds x in a function only; the annotation never runs."""
    if node.value is not None:
        _visit(node.value, scope)
    if not isinstance(node.target, ast.Name):
        _visit(node.target, scope)  # obj.attr: int = v reads obj
    elif node.value is not None or scope.kind == "function":
        scope.bound.add(node.target.id)


def _augmented(node: ast.AugAssign, scope: _Scope) -> None:
    """``x += 1`` reads x before it binds it."""
    if isinstance(node.target, ast.Name):
        scope.reads.append((node.target.id, node.target.lineno))
    _visit(node.target, scope)
    _visit(node.value, scope)


def _captures(node: ast.AST, scope: _Scope) -> None:
    """except ... as e, and match captures (case [x, *rest], case {**rest}, case P() as p)."""
    for attr in ("name", "rest"):
        value = getattr(node, attr, None)
        if isinstance(value, str):
            scope.bound.add(value)
    for child in ast.iter_child_nodes(node):
        _visit(child, scope)


_HANDLERS: Dict[type, Callable[..., None]] = {
    ast.Name: _name,
    ast.FunctionDef: _function,
    ast.AsyncFunctionDef: _function,
    ast.Lambda: _function,
    ast.ClassDef: _class,
    ast.ListComp: _comprehension,
    ast.SetComp: _comprehension,
    ast.DictComp: _comprehension,
    ast.GeneratorExp: _comprehension,
    ast.NamedExpr: _walrus,
    ast.Import: _import,
    ast.ImportFrom: _import,
    ast.Global: lambda node, scope: scope.globals.update(node.names),
    ast.Nonlocal: lambda node, scope: scope.nonlocals.update(node.names),
    ast.AnnAssign: _annotated,
    ast.AugAssign: _augmented,
    ast.ExceptHandler: _captures,
    **{
        getattr(ast, name): _captures
        for name in ("MatchAs", "MatchStar", "MatchMapping")
        if hasattr(ast, name)  # Python 3.10+
    },
}
