"""What a marked def or class shows the host: parameters, methods, constants, bases.

Read from the libcst tree of the statement; annotations are dropped (they may
name board-only types), and only literal class constants are kept, so nothing
here needs the board to be understood.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import AbstractSet, Dict, Tuple

import libcst as cst

from belay_hook.splitter import dependencies
from belay_hook.splitter.result import Method

_BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


def exception_bases(cls: cst.ClassDef, errors: AbstractSet[str]) -> Tuple[str, ...]:
    """The bases of an exception class whose bases are all builtin exceptions or
    marked exception classes above it, else nothing: the host makes its own twin
    of such a class from those bases."""
    names = [a.value.value for a in cls.bases if not a.keyword and isinstance(a.value, cst.Name)]
    if cls.keywords or not names or len(names) != len(cls.bases):
        return ()
    if all(n in _BUILTIN_EXCEPTIONS or n in errors for n in names):
        return tuple(names)
    return ()


def signature(params: cst.Parameters) -> str:
    """The parameter list without annotations (they may name board-only types)."""
    text = cst.Module([]).code_for_node(_strip_annotations(params))
    fn = ast.parse(f"def _({text}): pass").body[0]
    return ast.unparse(fn.args)  # one line, comments and line breaks gone


def _strip_annotations(params: cst.Parameters) -> cst.Parameters:
    class Strip(cst.CSTTransformer):
        def leave_Param(self, original: cst.Param, updated: cst.Param) -> cst.Param:
            return updated.with_changes(annotation=None)

    return params.visit(Strip())


def init_signature(cls: cst.ClassDef) -> str:
    """What calling the class takes: its ``__init__`` without ``self``."""
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__":
            return _without_first(signature(stmt.params))
    return "*args, **kwargs" if cls.bases else ""


def _without_first(params: str) -> str:
    """A method's parameters as its callers see them: ``self`` or ``cls`` gone."""
    sig = ast.parse(f"def _({params}): pass").body[0].args  # type: ignore[attr-defined]
    if sig.posonlyargs:
        sig.posonlyargs.pop(0)
    elif sig.args:
        sig.args.pop(0)
    return ast.unparse(sig)


def members(cls: cst.ClassDef) -> Tuple[Dict[str, Method], Tuple[str, ...]]:
    """Public methods with the parameters a host proxy takes, and @property names.

    Public: no leading underscore, or a dunder (a proxy may want len(), with, calls)
    other than ``__init__`` (the class's own signature) and ``__new__``. As in
    Python, the last def of a name wins; property setters and deleters add nothing.
    """
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    members: Dict[str, Method | None] = {}  # None: a property
    for stmt in body:
        if not isinstance(stmt, cst.FunctionDef):
            continue
        name = stmt.name.value
        dunder = len(name) > 4 and name.startswith("__") and name.endswith("__")
        if name in ("__init__", "__new__") or (name.startswith("_") and not dunder):
            continue
        words = [_decorator_word(d.decorator) for d in stmt.decorators]
        if any(w in ("setter", "deleter", "getter") for w in words):
            continue
        if "property" in words:
            members[name] = None
            continue
        binding = next((w for w in words if w in ("staticmethod", "classmethod")), "method")
        params = signature(stmt.params)
        if binding != "staticmethod":
            params = _without_first(params)
        members[name] = Method(params, binding, stmt.asynchronous is not None)
    methods = {name: m for name, m in members.items() if m is not None}
    return methods, tuple(name for name, m in members.items() if m is None)


def class_constants(cls: cst.ClassDef, name: str, source: str) -> Dict[str, str]:
    """``NAME = literal`` in the class body, by name -> the literal's text, unless the
    module assigns ``Cls.NAME`` or ``cls.NAME`` anywhere: the host may then copy the
    value instead of asking the board (a value the board changes would go stale)."""
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    found: Dict[str, str] = {}
    for stmt in body:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
            continue
        target = small.targets[0].target
        if not isinstance(target, cst.Name):
            continue
        text = cst.Module([]).code_for_node(small.value)
        try:
            value = ast.parse(f"({text})", mode="eval").body
        except SyntaxError:
            continue
        if dependencies.is_literal(value):
            found[target.value] = ast.unparse(value)
    if not found:
        return found
    rebound = re.compile(
        rf"\b(?:{re.escape(name)}|cls|type\(self\)|self\.__class__)\.(\w+)\s*"
        r"(?:[-+*/%&|^@]|<<|>>|//|\*\*)?=(?!=)"
    )
    for attr in rebound.findall(source):
        found.pop(attr, None)
    return found


def _decorator_word(expr: cst.BaseExpression) -> str:
    """``property``, ``staticmethod``, ``setter`` (of ``@x.setter``): the name that says."""
    if isinstance(expr, cst.Call):
        expr = expr.func
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else ""
