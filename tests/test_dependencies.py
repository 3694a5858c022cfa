"""Unmarked constants and helpers follow the board code; host-only names are errors."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

import belay_hook
from belay_hook import bundle
from belay_hook.splitter.cut import Split, split
from belay_hook.strategies import check_split

FILENAME = "firmware.py"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELAY_HOOK_CACHE", str(tmp_path / "cache"))


def _split(source: str) -> Split:
    """The checked split of a dedented module."""
    return check_split(textwrap.dedent(source), FILENAME)


def _error(source: str) -> SyntaxError:
    with pytest.raises(belay_hook.MarkerError) as caught:
        split(textwrap.dedent(source), FILENAME)
    assert caught.value.filename == FILENAME
    return caught.value


# ------------------------------------------------------------- bringing in

CONSTANTS = """\
import time
LED_PIN = 25
NAMES = ("a", "b",
         "c")
SCALE = 3.3 / 65535
MASK: int = ~0 << 4
TABLE = {"k": [1, -2.5, None, True], b"raw": {1, 2}}

#@mcu
def read(n=LED_PIN):
    return NAMES[n] * SCALE, MASK, TABLE
"""


def test_literal_constants_are_brought_in_at_their_lines() -> None:
    result = _split(CONSTANTS)
    assert result.brought_in == {"LED_PIN": 2, "NAMES": 3, "SCALE": 5, "MASK": 6, "TABLE": 7}
    assert result.host_source.splitlines()[:7] == CONSTANTS.splitlines()[:7]
    board = result.mcu_source.splitlines()
    assert board[0] == ""  # import time stays home
    assert board[1:7] == CONSTANTS.splitlines()[1:7]
    assert result.unresolved == {}
    assert bundle.build(result).is_mpy


def test_brought_in_lines_keep_crlf_off_the_board() -> None:
    source = "X = (1,\r\n     2)\r\n#@mcu\r\ndef f():\r\n    return X\r\n"
    result = check_split(source, FILENAME)
    assert result.mcu_source == "X = (1,\n     2)\n\ndef f():\n    return X\n"
    assert result.host_source.startswith("X = (1,\r\n     2)\r\n")


HELPERS = """\
OFFSET = 10
def scale(x):
    return clamp(x) * 2 + OFFSET

def clamp(x, low=0):
    return max(low, min(x, LIMIT))

LIMIT = 100

async def pause():
    return 0

def is_even(n):
    return n == 0 or is_odd(n - 1)

def is_odd(n):
    return n != 0 and is_even(n - 1)

def unused():
    import numpy
    return numpy

#@mcu
def read(v):
    return scale(v), is_even(v)

#@mcu
async def wait():
    await pause()
"""


def test_helpers_are_brought_in_with_everything_they_use() -> None:
    result = _split(HELPERS)
    assert result.brought_in == {
        "scale": 2, "clamp": 5, "OFFSET": 1, "LIMIT": 8, "is_even": 13, "is_odd": 16, "pause": 10
    }  # fmt: skip
    assert "def unused" not in result.mcu_source
    assert bundle.build(result).is_mpy


def test_board_code_runs_with_what_was_brought_in(micropython: str, tmp_path: Path) -> None:
    fmt = bundle.BoardFormat.from_mpy(
        int(_run(micropython, "import sys; print(sys.implementation._mpy)", tmp_path))
    )
    (tmp_path / "helpers.mpy").write_bytes(bundle.build(_split(HELPERS), fmt).code)
    assert _run(micropython, "import helpers; print(helpers.read(3))", tmp_path) == "(16, False)"


def _run(micropython: str, code: str, folder: Path) -> str:
    (folder / "run.py").write_text(code + "\n", encoding="utf-8")
    proc = subprocess.run(
        [micropython, str(folder / "run.py")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def test_every_board_kind_brings_in_what_it_reads() -> None:
    result = _split(
        """\
        A, B, C, D, E, F, G = 1, 2, 3, 4, 5, 6, 7
        #@mcu setup
        def setup():
            led = A
        #@mcu teardown
        def stop():
            return B
        #@mcu thread
        def loop(n=C):
            return led
        #@mcu both
        def shared():
            return D
        #@mcu
        class Board(dict, metaclass=type):
            size = E
            def get(self):
                return F
        #@mcu
        G2 = G
        """
    )
    assert result.brought_in == {name: 1 for name in "ABCDEFG"}
    assert "led" not in result.unresolved  # the setup body binds it on the board


def test_marked_names_are_not_brought_in() -> None:
    result = _split(
        """\
        LED = 1
        #@mcu
        LED = 2
        #@mcu
        def f():
            return LED
        """
    )
    assert result.brought_in == {}
    assert result.mcu_source.splitlines()[0] == ""


# ------------------------------------------------------------ host-only

CHAIN = """\
np = load_numpy()

NAMES = ("a", "b")

def norm(x):
    return helper_sum(x) / len(x)

def helper_sum(x):
    return np.sum(x)

#@mcu
from machine import Pin

#@mcu
def blink(times):
    led = Pin(25)
    return norm(times)
"""


def test_host_only_name_through_helpers_is_an_error_naming_the_chain() -> None:
    err = _error(CHAIN)
    assert err.lineno == 17 and err.text == "    return norm(times)"
    assert err.msg == (
        "board function 'blink' uses helper 'norm' (line 5), which uses helper 'helper_sum' "
        "(line 8), which uses 'np' (line 1: np = load_numpy()) that exists only on the host; "
        "mark it '#@mcu both' or pass it as an argument"
    )


def test_marking_the_import_both_resolves_the_chain() -> None:
    result = _split(CHAIN.replace("np = load_numpy()", "#@mcu both\nnp = load_numpy()", 1))
    assert result.brought_in == {"norm": 6, "helper_sum": 9}
    assert result.exports["np"] == "both"


@pytest.mark.parametrize(
    "host, why",
    [
        ("from . import time", "'time' (line 1: from . import time)"),
        ("from .clock import time", "'time' (line 1: from .clock import time)"),
        ("time = load()", "'time' (line 1: time = load())"),
        ("time = LIMIT * 2", "'time' (line 1: time = LIMIT * 2)"),
        ("time = f'{1}'", "'time' (line 1: time = f'{1}')"),
        ("time = 1; load()", "'time' (line 1: time = 1; load())"),
        ("class time: pass", "'time' (line 1: class time: pass)"),
        ("@cache\ndef time(): pass", "'time' (line 1: @cache)"),
        ("try:\n    import utime as time\nexcept ImportError:\n    pass", "'time' (line 1: try:)"),
        ("for time in range(3): pass", "'time' (line 1: for time in range(3): pass)"),
        ("time = 1\ntime = 'x' + other", "'time' (line 2: time = 'x' + other)"),
    ],
)
def test_host_only_binding_is_an_error_at_the_board_line(host: str, why: str) -> None:
    source = f"{host}\n#@mcu\ndef f():\n    x = 1\n    return time.sleep(x)\n"
    err = _error(source)
    assert (err.lineno, err.text) == (source.count("\n"), "    return time.sleep(x)")
    assert err.msg.startswith(f"board function 'f' uses {why} that exists only on the host")


def test_host_function_setting_a_global_is_an_error() -> None:
    err = _error(
        """\
        DEBUG = False
        def main():
            global DEBUG
            DEBUG = True
        #@mcu
        def log(text):
            if DEBUG:
                print(text)
        """
    )
    assert err.lineno == 7
    assert "'DEBUG', which host function 'main' (line 2) sets with 'global'" in err.msg


@pytest.mark.parametrize(
    "board, who, line",
    [
        ("#@mcu\nclass C:\n    x = np\n", "board class 'C'", 4),
        ("#@mcu setup\ndef start():\n    x = np\n", "setup function 'start'", 4),
        ("#@mcu teardown\ndef stop():\n    x = np\n", "teardown function 'stop'", 4),
        ("#@mcu thread\ndef run():\n    x = np\n", "thread function 'run'", 4),
        ("#@mcu\nx = np\n", "board code", 3),
        ("#@mcu both\nx = np\n", "board code", 3),
        ("#@mcu\n@np.vectorize\ndef f(): pass\n", "board function 'f'", 3),
        ("#@mcu\ndef f(a=np): pass\n", "board function 'f'", 3),
    ],
)
def test_error_names_the_board_code(board: str, who: str, line: int) -> None:
    err = _error("np = load()\n" + board)
    assert err.msg.startswith(f"{who} uses 'np' (line 1: np = load())")
    assert err.lineno == line


def test_first_use_in_the_file_is_reported() -> None:
    err = _error("a, b = load()\n#@mcu\ndef f():\n    return b\n#@mcu\ndef g():\n    return a\n")
    assert (err.lineno, err.msg[:24]) == (4, "board function 'f' uses ")


def test_host_binding_of_a_builtin_name_leaves_the_board_its_own() -> None:
    result = _split("from rich import print\n#@mcu\ndef f():\n    print('hi')\n")
    assert (result.brought_in, result.unresolved) == ({}, {})


# ------------------------------------------------------------- shadowing

SHADOWED = """\
import numpy as np
import time as t
import os as walrus, sys as caught, json as loop, re as ctx, math as ann
from collections import deque as cls_attr

#@mcu
def f(np, *t, **kw):
    return np, t, kw

#@mcu
def g():
    walrus = [y := 1 for _ in range(3)]
    caught = 0
    try:
        pass
    except Exception as caught:
        pass
    for loop in range(3):
        pass
    with open("x") as ctx:
        pass
    ann: int
    return walrus, y, caught, loop, ctx, ann, [t for t in range(2)], (lambda np: np)(1)

#@mcu
def h():
    def inner(t):
        return t
    class Local:
        np = 1
        def method(self, walrus=2):
            return walrus
    return inner, Local

#@mcu
def counter():
    cls_attr = 0
    def bump():
        nonlocal cls_attr
        cls_attr += 1
    return bump

#@mcu
def annotated(x: np.ndarray) -> t.Any:
    y: np.float32 = x
    return y
"""


def test_local_names_shadow_host_names() -> None:
    result = _split(SHADOWED)
    assert (result.brought_in, result.unresolved) == ({}, {})


def test_class_attribute_does_not_shadow_in_methods() -> None:
    err = _error("np = load()\n#@mcu\nclass C:\n    np = 1\n    def m(self):\n        return np\n")
    assert err.lineno == 6


def test_global_declared_in_board_code_binds_on_the_board() -> None:
    """The board binds counter and ticks when start() runs; tick() reads counter first,
    so its module-level value goes too (tick() before start() counts from 0, as locally)."""
    result = _split(
        """\
        counter = 0  # copied: the board has its own from then on
        #@mcu
        def start():
            global counter, ticks
            counter = ticks = 0
        #@mcu
        def tick():
            global counter
            counter += 1
            return ticks
        """
    )
    assert (result.brought_in, result.unresolved) == ({"counter": 1}, {})
    assert result.mcu_source.splitlines()[0].startswith("counter = 0")


def test_a_global_only_set_on_the_board_needs_nothing_from_the_host() -> None:
    result = _split(
        """\
        cache = make_cache()  # host only: never read by board code before it sets it
        #@mcu
        def remember(x):
            global cache
            cache = x
        #@mcu
        def recall():
            return cache
        """
    )
    assert (result.brought_in, result.unresolved) == ({}, {})


def test_inline_assembler_bodies_are_instructions() -> None:
    result = _split(
        "#@mcu\nimport micropython\n#@mcu\n@micropython.asm_thumb\n"
        "def add(r0, r1):\n    add(r0, r0, r1)\n    mov(r2, 7)\n"
    )
    assert result.unresolved == {}


# ------------------------------------------------------------- unresolved


def test_names_found_nowhere_are_recorded_not_errors() -> None:
    result = _split(
        """\
        #@mcu
        def f():
            print(len(range(3)), const(1))
            return machine.freq() + typo + machine.reset()
        #@mcu
        class C(Base):
            pass
        """
    )
    assert result.unresolved == {"machine": 4, "typo": 4, "Base": 6}
    assert result.manifest()["unresolved"] == {"machine": 4, "typo": 4, "Base": 6}


def test_star_import_on_the_board_may_define_anything() -> None:
    result = _split("#@mcu\nfrom machine import *\n#@mcu\ndef f():\n    return Pin(1)\n")
    assert result.unresolved == {}
