"""The invariants of a split, checked against the source itself: :func:`check_split`.

Kept apart from :mod:`belay_hook.strategies` (which draws modules) so that a
test of real files needs no hypothesis. ``from belay_hook.strategies import
check_split`` works too.
"""

from __future__ import annotations

import ast
import builtins
import inspect
from typing import Any, Dict, List, Sequence, Set, Tuple

from belay_hook.splitter.cut import STUB_KINDS, Split, split
from belay_hook.splitter.markers import Marker, find_markers, line_ending, source_lines

# Marker kinds whose statement reaches the board line for line, as written.
_AS_WRITTEN = ("", "teardown", "thread", "both")


def check_split(source: str, filename: str = "<string>") -> Split:
    """Assert the invariants of ``split(source, filename)`` and return the split.

    Lines keep their numbers on both sides; unmarked lines reach the host byte
    for byte, and so do ``both`` statements; each marked statement stands in the
    MCU source at its own lines, and so does each statement brought in for the
    board code (a literal assignment, an absolute import or an undecorated def,
    every statement binding a brought-in name); all other MCU lines are blank. The host still
    compiles, exports name what the marked statements bind, each stub takes the
    parameters its function does and carries the marker's options, and each
    unresolved name stands on the line given for it. A bad marker or a syntax
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
        assert (result.brought_in, result.unresolved) == ({}, {})
        return result

    mcu = source_lines(result.mcu_source)
    assert len(mcu) == len(lines), f"MCU source has {len(mcu)} lines, the file {len(lines)}"
    assert "\r" not in result.mcu_source, "MCU source must end its lines with \\n only"
    starting: Dict[int, List[ast.stmt]] = {}
    for stmt in ast.parse(source).body:
        starting.setdefault(_first_line(stmt), []).append(stmt)
    marked = [(m, starting[m.line + 1]) for m in markers]
    inside = {n for _, group in marked for n in _span(group)}
    both = {n for m, group in marked if m.kind == "both" for n in _span(group)}
    copied = _brought_in(result, starting, {m.line + 1 for m in markers})
    on_board = inside | {n for group in copied for n in _span(group)}
    for n, (line, h, b) in enumerate(zip(lines, host, mcu), 1):
        if n not in inside or n in both:
            assert h == line, f"line {n} changed on the host: {line!r} became {h!r}"
        if n not in on_board:
            assert b == "\n", f"line {n} is not blank in the MCU source: {b!r}"
        elif n not in inside or n in both:
            assert b == line.rstrip("\r\n") + "\n", f"MCU line {n} is {b!r}, not {line!r}"

    exports: Dict[str, str] = {}
    board = ast.parse(result.mcu_source).body
    want = sum(len(group) for _, group in marked) + sum(len(group) for group in copied)
    assert len(board) == want, f"MCU source has {len(board)} statements, not {want}"
    errors: Dict[str, Any] = {}  # host classes of the marked exception classes so far
    for marker, group in marked:
        first, last = _first_line(group[0]), _last_line(group)
        binds = _binds(group, marker, errors)
        exports.update(binds)
        callables = [name for name, kind in binds.items() if kind in STUB_KINDS]
        for n in range(first, last + 1):
            if marker.kind != "both" and not (callables and n == first):
                blank = not host[n - 1].strip() and line_ending(host[n - 1]) == line_ending(
                    lines[n - 1]
                )
                assert blank, f"host line {n} is {host[n - 1]!r}, not a blank line"
        if "exception" in binds.values():
            _check_exception(host[first - 1], lines[first - 1], group[0], errors)  # type: ignore[arg-type]
        elif callables:
            _check_stub(host[first - 1], lines[first - 1], group[0])
            options = result.details[callables[0]].options
            assert options == marker.options, f"options {options} != {marker.options}"
            args = ast.parse(host[first - 1].strip()).body[-1].value.args  # type: ignore[attr-defined]
            passed = ast.literal_eval(args[4]) if len(args) == 5 else {}
            assert passed == options and len(args) == 4 + bool(options), "stub options"
        if marker.kind == "setup":
            _check_setup(group[0], source_lines(result.mcu_source), first)
        elif marker.kind in _AS_WRITTEN:
            for n in range(first, last + 1):
                want_line = lines[n - 1].rstrip("\r\n") + "\n"
                assert mcu[n - 1] == want_line, f"MCU line {n} is {mcu[n - 1]!r}"
    assert result.exports == exports, f"exports {result.exports} != {exports}"
    for name, n in result.unresolved.items():
        assert name in lines[n - 1], f"unresolved {name!r} is not used at line {n}"
    return result


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])


def _last_line(group: Sequence[ast.stmt]) -> int:
    return max(s.end_lineno or s.lineno for s in group)


def _span(group: Sequence[ast.stmt]) -> range:
    return range(_first_line(group[0]), _last_line(group) + 1)


def _brought_in(
    result: Split, starting: Dict[int, List[ast.stmt]], marked: Set[int]
) -> List[List[ast.stmt]]:
    """Every unmarked statement binding a brought-in name, each checked to be one
    that may go: a literal assignment, an absolute import or an undecorated def."""
    groups = []
    for first, group in starting.items():
        if first in marked:
            continue
        names = _binds(group, Marker(0))
        if not any(name in result.brought_in for name in names):
            continue
        for stmt in group:
            plain_def = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
            absolute_import = isinstance(stmt, ast.Import) or (
                isinstance(stmt, ast.ImportFrom) and not stmt.level
            )
            assert (
                (plain_def and not stmt.decorator_list)
                or _literal_assignment(stmt)
                or absolute_import
            ), f"line {first}: {ast.dump(stmt)[:80]} was brought in"
        groups.append(group)
    for name, line in result.brought_in.items():
        assert name in _binds(starting[line], Marker(0)), f"{name!r} is not bound at line {line}"
    return groups


def _literal_assignment(stmt: ast.stmt) -> bool:
    value = getattr(stmt, "value", None)
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or value is None:
        return False
    try:
        ast.literal_eval(value)
    except ValueError:  # arithmetic beyond literal_eval's: numbers only
        return all(isinstance(n.value, (int, float)) for n in _constants(value))
    return True


def _constants(node: ast.AST) -> List[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant)]


def _binds(
    group: Sequence[ast.stmt], marker: Marker, errors: Dict[str, Any] | None = None
) -> Dict[str, str]:
    """What a marked statement line defines on the board: name -> kind. A class
    whose bases are all builtin exceptions or ``errors`` (earlier marked exception
    classes) is an exception class."""
    stmt = group[0]
    if marker.kind in ("setup", "teardown", "thread"):
        return {stmt.name: marker.kind}  # type: ignore[attr-defined]
    out: Dict[str, str] = {}
    kinds = {ast.FunctionDef: "function", ast.AsyncFunctionDef: "async_function"}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out[stmt.name] = kinds.get(type(stmt), "class")
    if isinstance(stmt, ast.ClassDef) and marker.kind != "both" and errors is not None:
        names = [b.id for b in stmt.bases if isinstance(b, ast.Name)]
        plain = names and len(names) == len(stmt.bases) and not stmt.keywords
        if plain and all(n in errors or _builtin_exception(n) for n in names):
            out[stmt.name] = "exception"
    for small in group:
        if isinstance(small, ast.Import):
            out.update((a.asname or a.name.split(".")[0], "import") for a in small.names)
        elif isinstance(small, ast.ImportFrom):
            out.update((a.asname or a.name, "import") for a in small.names if a.name != "*")
        elif isinstance(small, ast.Assign):
            out.update((n, "assign") for t in small.targets for n in _target_names(t))
        elif isinstance(small, ast.AugAssign) or isinstance(small, ast.AnnAssign) and small.value:
            out.update((n, "assign") for n in _target_names(small.target))  # 'x: int' binds none
    return {name: "both" for name in out} if marker.kind == "both" else out


def _builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def _check_exception(line: str, original: str, cls: ast.ClassDef, errors: Dict[str, Any]) -> None:
    """The host line binds the name to a real exception class with the same bases."""
    assert line_ending(line) == line_ending(original), "exception line lost its line end"
    namespace: Dict[str, Any] = {"__name__": "belay_hook_check_split", **errors}
    exec(line, namespace)
    made = namespace[cls.name]
    bases = [errors.get(b.id) or getattr(builtins, b.id) for b in cls.bases]  # type: ignore[attr-defined]
    assert isinstance(made, type) and issubclass(made, BaseException), f"{cls.name} is no exception"
    assert list(made.__bases__) == bases, f"{cls.name} has bases {made.__bases__}, not {bases}"
    errors[cls.name] = made


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


def _check_setup(setup: ast.stmt, mcu: List[str], first: int) -> None:
    """A setup function reaches the board as ``if True:`` over its body, at the same lines."""
    last = setup.end_lineno or setup.lineno
    node = ast.parse("\n" * (first - 1) + "".join(mcu[first - 1 : last])).body[0]
    assert isinstance(node, ast.If) and isinstance(node.test, ast.Constant), ast.dump(node)
    assert node.test.value is True and not node.orelse, ast.dump(node)

    def shape(body: Sequence[ast.stmt]) -> List[Tuple[int, int | None, str]]:
        return [(s.lineno, s.end_lineno, ast.dump(s)) for s in body]

    assert shape(node.body) == shape(setup.body), "setup body moved on the board"  # type: ignore[attr-defined]
