"""Property tests of the splitter over modules drawn by belay_hook.strategies."""

from __future__ import annotations

import ast
import inspect

import pytest
from hypothesis import given, settings

from belay_hook import bundle
from belay_hook.rpc import stubs
from belay_hook.splitter.cut import STUB_KINDS, split
from belay_hook.splitter.markers import line_ending, source_lines
from belay_hook.strategies import BOARD_NAMES, GeneratedModule, check_split, modules

FILENAME = "drawn.py"


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Builds go to a temporary cache, never the user's (module scope: hypothesis
    runs many examples per test, and a function-scoped fixture would be shared anyway)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BELAY_HOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@settings(max_examples=300, deadline=None)
@given(modules(board_compatible=False))
def test_check_split_holds_for_drawn_modules(module: GeneratedModule) -> None:
    check_split(module.source, FILENAME)


@settings(max_examples=150, deadline=None)
@given(modules(board_compatible=False))
def test_lines_stay_where_the_generator_put_them(module: GeneratedModule) -> None:
    result = split(module.source, FILENAME)
    lines = source_lines(module.source)
    host = source_lines(result.host_source)
    mcu = source_lines(result.mcu_source)
    assert len(host) == len(mcu) == len(lines)
    assert "\r" not in result.mcu_source
    for n, (line, h, b) in enumerate(zip(lines, host, mcu), 1):
        if n not in module.marked_lines:  # unmarked statements, comments, markers
            assert h == line, f"host line {n}"
        if n not in module.board_lines:  # nor brought in for the board code
            assert b == "\n", f"MCU line {n}"
    for stmt in (s for s in module.statements if s.marked or s.brought_in):
        for n in range(stmt.first_line, stmt.last_line + 1):
            line, h, b = lines[n - 1], host[n - 1], mcu[n - 1]
            if not stmt.marked or stmt.kind == "both":
                assert h == line, f"host line {n}"
            elif n == stmt.first_line and stmt.kind in STUB_KINDS:
                assert h.startswith(f"{stmt.name} = ") and line_ending(h) == line_ending(line)
            else:
                assert not h.strip() and line_ending(h) == line_ending(line), f"host line {n}"
            same = line.rstrip("\r\n") + "\n"
            if stmt.kind == "setup":  # 'def setup():' became 'if True:' on the same lines
                assert b in (same, "\n") or b.startswith("if True:"), f"MCU line {n}"
            else:
                assert b == same, f"MCU line {n}"


@settings(max_examples=150, deadline=None)
@given(modules(board_compatible=False))
def test_board_code_brings_in_the_constants_and_helpers_it_uses(module: GeneratedModule) -> None:
    result = split(module.source, FILENAME)
    assert result.brought_in == module.brought_in
    assert set(result.unresolved) <= BOARD_NAMES  # all else is bound, local or builtin


class _StubRecorder:
    """Stands for belay_hook.rpc.stubs while a stub line runs: records the call."""

    def __init__(self) -> None:
        self.calls: list = []
        self.rpc = self.stubs = self

    def imported(self, *args: object) -> _StubRecorder:
        return self

    def stub(self, *args: object) -> None:
        self.calls.append(args)

    def exception(self, *args: object) -> None:
        self.calls.append(args)


@settings(max_examples=100, deadline=None)
@given(modules(board_compatible=False))
def test_stub_lines_pass_kind_signature_and_options(module: GeneratedModule) -> None:
    result = split(module.source, FILENAME)
    host = source_lines(result.host_source)
    for stmt in module.statements:
        if not (stmt.marked and stmt.kind in STUB_KINDS):
            continue
        recorder = _StubRecorder()
        builtins = {"__import__": recorder.imported, "ValueError": ValueError}
        builtins["Exception"] = Exception
        namespace = {"__name__": "drawn", "__builtins__": builtins}
        exec(host[stmt.first_line - 1], namespace)
        export = result.details[stmt.name]
        want = ("drawn", stmt.name, stmt.kind, export.signature)
        if stmt.kind == "exception":  # a host class with the same bases, no board call
            want = ("drawn", stmt.name, tuple(builtins[b] for b in export.bases))
            assert recorder.calls == [want] and export.bases in (("ValueError",), ("Exception",))
            continue
        assert recorder.calls == [want + ((dict(stmt.options),) if stmt.options else ())]
        assert dict(export.options) == dict(stmt.options)


@settings(max_examples=100, deadline=None)
@given(modules(board_compatible=False))
def test_host_source_compiles(module: GeneratedModule) -> None:
    compile(split(module.source, FILENAME).host_source, FILENAME, "exec", dont_inherit=True)


@settings(max_examples=40, deadline=None)
@given(modules())
def test_mcu_source_compiles_with_mpy_cross(module: GeneratedModule) -> None:
    built = bundle.build(split(module.source, FILENAME))
    assert built.is_mpy
    assert built.code[:2] == bytes((ord("M"), bundle.current_format().version))


@settings(max_examples=100, deadline=None)
@given(modules(board_compatible=False))
def test_exports_are_what_the_generator_marked(module: GeneratedModule) -> None:
    result = split(module.source, FILENAME)
    assert result.exports == module.exports
    for stmt in module.statements:
        if stmt.marked and stmt.binds:
            assert result.details[stmt.binds[0][0]].line == stmt.first_line


@settings(max_examples=100, deadline=None)
@given(modules(with_markers=False))
def test_unmarked_modules_split_to_themselves(module: GeneratedModule) -> None:
    result = split(module.source, FILENAME)
    assert (result.host_source, result.mcu_source, result.exports) == (module.source, "", {})


class _BoardName:
    """A board-only name while a def runs on CPython: ``Pin.OUT`` stays "Pin.OUT", and
    equals the stub's BoardDefault of the same text."""

    def __init__(self, path: str):
        self.path = path

    def __getattr__(self, attr: str) -> _BoardName:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _BoardName(f"{self.path}.{attr}")

    def __repr__(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (_BoardName, stubs.BoardDefault)) and repr(other) == self.path

    __hash__ = None  # type: ignore[assignment]


def _run_on_cpython(source: str, name: str) -> object:
    """The def or class ``name`` of ``source``, defined on CPython. Decorators and
    bases are the board's, so they are left out; of a class only __init__ matters."""
    node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == name)
    node.decorator_list = []
    if isinstance(node, ast.ClassDef):
        node.bases, node.keywords = [], []
        inits = [s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"]
        node.body = inits[:1] or [ast.Pass()]
    namespace = {n: _BoardName(n) for n in BOARD_NAMES}
    code = compile(ast.fix_missing_locations(ast.Module([node], [])), "original", "exec")
    exec(code, namespace)
    return namespace[name]


def _without_annotations(sig: inspect.Signature) -> inspect.Signature:
    return sig.replace(
        parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
        return_annotation=sig.empty,
    )


@settings(max_examples=100, deadline=None)
@given(modules(board_compatible=False))
def test_stubs_have_the_original_signature(module: GeneratedModule) -> None:
    host = source_lines(split(module.source, FILENAME).host_source)
    for stmt in module.statements:
        # An exception class takes what its builtin base takes, on the host as on the board.
        if not (stmt.marked and stmt.kind in STUB_KINDS) or stmt.kind == "exception":
            continue
        namespace = {"__name__": "drawn"}
        exec(host[stmt.first_line - 1], namespace)  # the stub line alone
        got = inspect.signature(namespace[stmt.name])
        node = next(n for n in ast.parse(module.source).body if getattr(n, "name", "") == stmt.name)
        has_init = any(getattr(s, "name", "") == "__init__" for s in getattr(node, "body", ()))
        if isinstance(node, ast.ClassDef) and node.bases and not has_init:
            assert str(got) == "(*args, **kwargs)"  # the base's __init__, unknown here
            continue
        want = _without_annotations(inspect.signature(_run_on_cpython(module.source, stmt.name)))
        assert got == want, f"{stmt.name}: stub {got} != original {want}"
