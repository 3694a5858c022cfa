"""What the board code needs from the rest of its module, and whether that may follow it.

Board functions read module constants, call small helpers nobody marked and use
modules imported at the top of the file. A literal constant, an absolute import,
or an undecorated helper whose own needs can all be met, is copied into the board
part at its own lines (the host keeps it too; an import the board lacks is an
ImportError at its line when the bundle loads). Anything else the board code
reads from the host's module level (a computed value, a class, a relative
import) is a MarkerError that names the chain, raised now because on the board
it would be a NameError at some later call. Names found nowhere are
only recorded: they may be the board's own builtins, which only the runtime
can ask the board about.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import AbstractSet, Dict, List, Mapping, Sequence, Set, Tuple

from belay_hook.errors import MarkerError
from belay_hook.splitter.markers import PREFIX
from belay_hook.splitter.scopes import needs

# What the board has without importing: MicroPython's builtins module (the unix
# port's, a superset of the bare-metal ports'), module globals every module has,
# and names the compiler itself takes (const, the viper casts).
MICROPYTHON_BUILTINS = frozenset([
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "EOFError",
    "Ellipsis", "Exception", "GeneratorExit", "ImportError", "IndentationError", "IndexError",
    "KeyError", "KeyboardInterrupt", "LookupError", "MemoryError", "NameError",
    "NotImplemented", "NotImplementedError", "OSError", "OverflowError", "RuntimeError",
    "StopAsyncIteration", "StopIteration", "SyntaxError", "SystemExit", "TypeError",
    "UnicodeError", "ValueError", "ViperTypeError", "ZeroDivisionError",
    "__build_class__", "__class__", "__dict__", "__file__", "__import__", "__name__",
    "__repl_print__", "abs", "all", "any", "bin", "bool", "bytearray", "bytes", "callable",
    "chr", "classmethod", "compile", "complex", "delattr", "dict", "dir", "divmod",
    "enumerate", "eval", "exec", "execfile", "filter", "float", "frozenset", "getattr",
    "globals", "hasattr", "hash", "help", "hex", "id", "input", "int", "isinstance",
    "issubclass", "iter", "len", "list", "locals", "map", "max", "memoryview", "min", "next",
    "object", "oct", "open", "ord", "pow", "print", "property", "range", "repr", "reversed",
    "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum", "super",
    "tuple", "type", "zip",
    "const", "ptr8", "ptr16", "ptr32", "uint",
])  # fmt: skip

_NUMBER_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
               ast.LShift, ast.RShift, ast.BitOr, ast.BitAnd, ast.BitXor)  # fmt: skip
_HOST_ONLY = f"; mark it '{PREFIX} both' or pass it as an argument"


@dataclass(frozen=True)
class Dependencies:
    """What the splitter adds to the board part for the board code's sake."""

    brought_in: Dict[str, int] = field(default_factory=dict)  # name -> its statement's line
    unresolved: Dict[str, int] = field(default_factory=dict)  # name -> first line using it
    lines: Tuple[Tuple[int, int], ...] = ()  # first..last line of each statement to copy
    imports: Dict[str, int] = field(default_factory=dict)  # module copied imports import -> line


# --------------------------------------------------------------- resolving


@dataclass
class _Group:
    """Top-level statements sharing lines (``a = 1; b = 2``): copied whole or not at all."""

    first: int  # the first decorator's line for a decorated def or class
    last: int
    stmts: List[ast.stmt]


def _groups(tree: ast.Module) -> List[_Group]:
    groups: List[_Group] = []
    for stmt in tree.body:
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])
        last = stmt.end_lineno or stmt.lineno
        if groups and first <= groups[-1].last:
            groups[-1].stmts.append(stmt)
            groups[-1].last = max(groups[-1].last, last)
        else:
            groups.append(_Group(first, last, [stmt]))
    return groups


# A reason a name cannot follow the board code: phrases of the chain, advice.
_Failure = Tuple[List[str], str]


class _Resolver:
    """Decides, name by name and once each, whether host bindings may go to the board."""

    def __init__(
        self,
        groups: Sequence[_Group],
        board: Set[str],
        star: bool,
        lines: Sequence[str],
        late: AbstractSet[str] = frozenset(),
    ):
        self.board = board  # module-level names the board code binds itself
        self.late = late  # names board functions bind with 'global', when they run
        self.star = star
        self.lines = lines
        self.host: Dict[str, List[_Group]] = {}
        self.rebound: Dict[str, Tuple[str, int]] = {}  # name -> host function setting it
        for group in groups:
            for stmt in group.stmts:
                for name in self._binds(stmt, group):
                    self.host.setdefault(name, []).append(group)
        self.done: Dict[str, _Failure | None] = {}
        self.brought_in: Dict[str, int] = {}
        self.unresolved: Dict[str, int] = {}
        self.copy: Set[Tuple[int, int]] = set()
        self.imports: Dict[str, int] = {}

    def _binds(self, stmt: ast.stmt, group: _Group) -> Set[str]:
        """Module-level names ``stmt`` binds; a def's body is read only if it may say
        'global' (it then binds those names too, when it runs)."""
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return needs([stmt]).binds
        if not any("global" in line for line in self.lines[group.first - 1 : group.last]):
            return {stmt.name}
        names = needs([stmt]).binds
        for name in names - {stmt.name}:
            self.rebound.setdefault(name, (stmt.name, stmt.lineno))
        return names

    def use(self, name: str, line: int, own: AbstractSet[str] = frozenset()) -> _Failure | None:
        """Account for code reading ``name`` at ``line``; a failure says why it cannot."""
        if name in own or name in self.board:
            return None
        if name in self.host:
            if name in MICROPYTHON_BUILTINS and self._imported(name):
                return None  # 'from rich import print' on the host: the board's print serves
            failure = self._need(name)
            if failure is None:
                self.brought_in.setdefault(name, self.host[name][0].first)
            elif name in MICROPYTHON_BUILTINS or name in self.late:
                return None  # 'from rich import print' on the host: the board's print serves
            return failure
        if name not in MICROPYTHON_BUILTINS and name not in self.late and not self.star:
            self.unresolved.setdefault(name, line)
        return None

    def _imported(self, name: str) -> bool:
        return all(
            isinstance(s, (ast.Import, ast.ImportFrom)) for g in self.host[name] for s in g.stmts
        )

    def _need(self, name: str) -> _Failure | None:
        if name in self.done:  # a helper being checked counts as fine: recursion
            return self.done[name]
        self.done[name] = None
        self.done[name] = failure = self._check(name)
        return failure

    def _check(self, name: str) -> _Failure | None:
        if name in self.rebound:
            function, line = self.rebound[name]
            return (
                [f"{name!r}, which host function {function!r} (line {line}) sets with 'global'"],
                "; the board would not see that: pass the value as an argument",
            )
        groups = self.host[name]
        for group in groups:
            stmt = group.stmts[0]
            if all(_constant(s) or _absolute_import(s) for s in group.stmts):
                for s in group.stmts:
                    if _absolute_import(s):
                        for module in _imported_modules(s):
                            self.imports.setdefault(module, s.lineno)
                continue
            if (
                isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                and not stmt.decorator_list
            ):
                helper = needs([stmt])
                for used, line in sorted(helper.reads.items(), key=lambda item: item[1]):
                    failure = self.use(used, line, helper.binds - helper.late)
                    if failure is not None:
                        phrases, advice = failure
                        return [f"helper {name!r} (line {stmt.lineno})", *phrases], advice
                continue
            text = self.lines[group.first - 1].strip()
            text = text if len(text) <= 60 else text[:57] + "..."
            return [
                f"{name!r} (line {group.first}: {text}) that exists only on the host"
            ], _HOST_ONLY
        self.copy.update((g.first, g.last) for g in groups)
        return None


def _constant(stmt: ast.stmt) -> bool:
    """``NAME = literal`` (or ``A, B = ...``, ``NAME: type = ...``): safe to run twice."""
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets = [stmt.target]
    else:
        return False
    return all(_plain_target(t) for t in targets) and is_literal(stmt.value)  # type: ignore[arg-type]


def _absolute_import(stmt: ast.stmt) -> bool:
    """``import m``, ``from m import x``: the board runs it the same; a relative or
    future import means nothing there."""
    if isinstance(stmt, ast.Import):
        return True
    return isinstance(stmt, ast.ImportFrom) and not stmt.level and stmt.module != "__future__"


def _imported_modules(stmt: ast.stmt) -> List[str]:
    if isinstance(stmt, ast.Import):
        return [alias.name for alias in stmt.names]
    return [stmt.module or ""]  # type: ignore[attr-defined]


def _plain_target(node: ast.expr) -> bool:
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_plain_target(e) for e in node.elts)
    if isinstance(node, ast.Starred):
        return _plain_target(node.value)
    return isinstance(node, ast.Name)


def is_literal(node: ast.expr) -> bool:
    """Numbers, text, bytes, True/False/None, containers of those, arithmetic on numbers."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and is_literal(k) for k in node.keys) and all(
            is_literal(v) for v in node.values
        )
    return isinstance(node, ast.Constant) or _number(node)


def _number(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)) and _number(node.operand)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _NUMBER_OPS) and _number(node.left) and _number(node.right)
    return False


def _who(stmt: ast.stmt, kind: str) -> str:
    """How an error names the board code that needs something."""
    if kind == "setup":
        return f"setup function {stmt.name!r}"  # type: ignore[attr-defined]
    if isinstance(stmt, ast.ClassDef):
        return f"board class {stmt.name!r}"
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        word = {"thread": "thread function", "teardown": "teardown function"}.get(kind)
        return f"{word or 'board function'} {stmt.name!r}"
    return "board code"


def resolve(
    tree: ast.Module, marked: Mapping[int, str], lines: Sequence[str], filename: str
) -> Dependencies:
    """What the board code of ``tree`` needs from its unmarked statements.

    ``marked``: first line of each marked statement -> its marker kind. A need
    the board cannot have raises MarkerError at the line of the board code using it.
    """
    groups = _groups(tree)
    board: Set[str] = set()
    late: Set[str] = set()  # bound by a board function's 'global', once it runs
    star = False
    uses: List[Tuple[int, str, str]] = []  # (line, name, who)
    for group in groups:
        kind = marked.get(group.first)
        if kind is None:
            continue
        stmt = group.stmts[0]
        code = stmt.body if kind == "setup" else group.stmts  # type: ignore[attr-defined]
        found = needs(code)
        board |= found.binds - found.late
        late |= found.late
        star |= found.star
        uses += [(line, name, _who(stmt, kind)) for name, line in found.reads.items()]
    if all(name in board for _, name, _ in uses):
        return Dependencies()
    host = [g for g in groups if g.first not in marked]
    resolver = _Resolver(host, board, star, lines, late)
    for line, name, who in sorted(uses):
        failure = resolver.use(name, line)
        if failure is not None:
            phrases, advice = failure
            message = f"{who} uses " + ", which uses ".join(phrases) + advice
            raise MarkerError(message, filename, line, lines[line - 1])
    return Dependencies(
        resolver.brought_in,
        resolver.unresolved,
        tuple(sorted(resolver.copy)),
        resolver.imports,
    )
