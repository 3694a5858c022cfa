"""The MCU bundle: a split's board source plus manifest, compiled for one board format.

The bundle is compiled (`belay_hook.compiler`) by the mpy-cross that emits
exactly what the board reads. Where none can (CircuitPython, an old major
version) the bundle is source and the board compiles it.

Splits and compiled bundles are cached on disk by content, so importing an
unchanged module again costs a hash and a file read.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict

from belay_hook import __version__, cache
from belay_hook.compiler import (
    NATIVE_EMITTERS,
    BoardFormat,
    CompileError,
    Compiler,
    compile_mpy,
    compiler_for,
    current_format,
)
from belay_hook.splitter.markers import line_ending, source_lines
from belay_hook.splitter.result import Export as Export  # re-exported: bundle.Export
from belay_hook.splitter.result import Split

# Text any native decorator must contain: without it, no parse is needed.
_NATIVE_TEXT = re.compile(r"@[\s\\]*micropython[\s\\]*\.[\s\\]*(?:native|viper|asm_)")


# Every module whose code shapes a split, read as files: importing the splitter
# would load libcst, which a warm-cache import never needs.
SPLIT_MODULES = ("markers.py", "cut.py", "members.py", "dependencies.py", "scopes.py", "result.py")


def _tool_id() -> str:
    """Version plus a hash of the code that makes splits, so an edited checkout never
    reads entries that an older splitter wrote."""
    here = Path(__file__).parent / "splitter"
    code = b"".join((here / name).read_bytes() for name in SPLIT_MODULES)
    return f"belay_hook {__version__} {cache.key(code)[:12]}"


TOOL = _tool_id()


@dataclass(frozen=True)
class Bundle:
    """What gets uploaded for one module: compiled code (or source) and its manifest."""

    split: Split
    format: BoardFormat
    code: bytes
    is_mpy: bool
    manifest: Dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Content hash: the board keeps bundles under this name."""
        return cache.key(self.code)[:16]


# ------------------------------------------------------------------ bundling


def split_cached(source: str, filename: str) -> Split:
    """``splitter.split``, memoised on disk by source text, file name and tool version.

    The splitter (and libcst with it) is imported on a miss only.
    """
    name = cache.key("split", TOOL, filename, source) + ".json"
    data = cache.get(name)
    if data is not None:
        try:
            return Split.from_json(json.loads(data), filename, source)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    from belay_hook.splitter.cut import split

    result = split(source, filename)
    cache.put(name, json.dumps(result.to_json()).encode())
    return result


def build(result: Split, fmt: BoardFormat | None = None, module: str | None = None) -> Bundle:
    """Compile a split's board part for ``fmt`` (default: :func:`current_format`).

    ``module``: the name the board code sees as ``__name__``, as the host part does
    (the board imports the bundle under its file's name); it makes relative imports work.
    """
    fmt = fmt or current_format()
    if module is not None:
        result = _named(result, module)
    line = _native_line(result.mcu_source)
    native = line is not None
    if line is not None and not fmt.arch and not fmt.source_only:
        raise SyntaxError(
            f"board format {fmt} names no native architecture, but this code uses "
            "@micropython.native/viper; give the board's _mpy value as the format",
            (result.filename, line, 1, source_lines(result.source)[line - 1]),
        )
    compiler = compiler_for(fmt, native)
    manifest = dict(result.manifest(), format=str(fmt))
    if compiler is None:
        _check_syntax_on_host(result)
        manifest["compiler"] = None
        return Bundle(result, fmt, result.mcu_source.encode(), False, manifest)
    manifest["compiler"] = compiler.banner
    march = fmt.arch if native else None
    try:
        code = compile_mpy(result.mcu_source.encode(), result.filename, compiler, march)
    except CompileError as exc:
        raise _compile_error(exc.text, result, compiler, march) from None
    return Bundle(result, fmt, code, True, manifest)


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.While,
             ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith, ast.Match)  # fmt: skip


def _named(result: Split, module: str) -> Split:
    """The split with ``__name__ = module`` on a line of its board source before any code
    (or before line 1's own simple statement): every line keeps its number."""
    lines = source_lines(result.mcu_source)
    naming = f"__name__ = {module!r}"
    for n, line in enumerate(lines):
        text = line.strip()
        if text and not text.startswith("#"):
            break
        if not text.startswith("#"):  # blank (a comment line may end in a backslash)
            lines[n] = naming + line_ending(line)
            return replace(result, mcu_source="".join(lines))
    try:
        first = ast.parse(result.mcu_source).body[:1]
    except SyntaxError:
        return result  # the compiler reports it, at its line
    if not lines or not first or isinstance(first[0], _COMPOUND) or first[0].lineno != 1:
        return result  # rare: no line to spare; the board's own name stays
    lines[0] = f"{naming}; {lines[0]}"
    return replace(result, mcu_source="".join(lines))


def _compile_error(text: str, result: Split, compiler: Compiler, march: str | None) -> SyntaxError:
    """mpy-cross's message as a SyntaxError at the host file and line."""
    m = re.search(r'^\s*File ".*", line (\d+)', text, re.M)  # the file name may say "line 9"
    if m is None and march:  # no traceback: it refused -march (older ones print their usage)
        line = _native_line(result.mcu_source) or 1
        msg = f"{compiler.banner} emits no native code for {march}"
    else:
        line = int(m.group(1)) if m else 1
        last = text.strip().splitlines()[-1] if text.strip() else "mpy-cross failed"
        msg = last.split(": ", 1)[1] if last.startswith("SyntaxError: ") else last
    lines = source_lines(result.source)
    text_line = lines[line - 1] if 0 < line <= len(lines) else ""
    return SyntaxError(f"{msg} (in the board code, per mpy-cross)",
                       (result.filename, line, 1, text_line.rstrip("\r\n")))  # fmt: skip


def _check_syntax_on_host(result: Split) -> None:
    """Source bundles get no compiler here; CPython's check catches most mistakes early."""
    compile(result.mcu_source, result.filename, "exec", dont_inherit=True)


def _native_line(mcu_source: str) -> int | None:
    """Line of the first ``@micropython.native``/``viper``/``asm_*`` decorator, or None.

    Read from the syntax tree, not the text: the same words in a docstring do not count.
    Source without the decorator's text is not parsed at all (a warm import stays cheap).
    """
    if not _NATIVE_TEXT.search(mcu_source):
        return None
    try:
        tree = ast.parse(mcu_source)
    except SyntaxError:
        return None  # mpy-cross reports it, at its line
    lines = [
        d.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for d in node.decorator_list
        if isinstance(d, ast.Attribute)
        and isinstance(d.value, ast.Name)
        and d.value.id == "micropython"
        and NATIVE_EMITTERS.fullmatch(d.attr)
    ]
    return min(lines, default=None)
