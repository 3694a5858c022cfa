"""End to end: marked modules imported through the hook, calls on the emulated board (real VM)."""

from __future__ import annotations

import importlib
import inspect
import linecache
import math
import sys
import traceback

import pytest

import belay_hook

BLINKY = """
import time

#@mcu
from machine import Pin

#@mcu setup
def setup():
    led = Pin(25, Pin.OUT)
    calls = [0]

#@mcu
def set_led(state):
    print("device: LED", state)
    led.value(state)
    calls[0] += 1
    return calls[0]

#@mcu
def led_state():
    return led.value()

def blink(n):
    for _ in range(n):
        set_led(1)
        set_led(0)
"""


def test_import_and_call(hook, modules, capfd) -> None:
    modules.write("blinky", BLINKY)
    import blinky

    blinky.blink(2)
    assert blinky.led_state() == 0
    assert blinky.set_led(1) == 5  # setup state persists across calls
    assert hook.session.emulator.pin_history(25)[-5:] == [1, 0, 1, 0, 1]
    out = capfd.readouterr().out
    assert out.count("device: LED 1") == 3 and "device: LED 0" in out


def test_unmarked_modules_are_left_alone(hook, modules) -> None:
    modules.write("plain", "def f():\n    return 42\n")
    import plain

    assert plain.f() == 42
    assert not isinstance(plain.__loader__, type(hook))
    assert not hook._sessions  # no board was needed


VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**64 + 1,
    -(2**100),
    1.5,
    -0.0,
    math.inf,
    "",
    "héllo ✓ \x00\x03\x10",
    b"",
    bytes(range(256)),
    bytearray(b"\x03\x10\xfe"),
    [],
    (),
    {},
    [1, (2, [3, {"k": (b"v",)}])],
    (1,),
    {1: "a", "b": [None], (1, 2): 3.25},
]


def test_every_value_type_round_trips(hook, modules) -> None:
    modules.write(
        "echoes",
        """
        #@mcu
        def echo(x):
            return x

        #@mcu
        def kinds(x):
            return [type(v).__name__ for v in x]
        """,
    )
    import echoes

    for value in VALUES:
        back = echoes.echo(value)
        assert back == value and type(back) is type(value), value
    assert math.isnan(echoes.echo(math.nan))
    # tuple and list stay distinct on the board too
    assert echoes.kinds([(1,), [1], b"", bytearray()]) == ["tuple", "list", "bytes", "bytearray"]


def test_large_bytes_cross_both_ways(hook, modules) -> None:
    # 64 KiB comes back; 16 KiB goes out (an argument is held about three times
    # over while it is unescaped and decoded, in a heap of 256 KiB).
    modules.write(
        "blobs",
        """
        #@mcu
        def make(n):
            return bytes(range(256)) * (n // 256)

        #@mcu
        def total(data):
            return len(data), sum(data) % 251
        """,
    )
    import blobs

    data = blobs.make(64 * 1024)
    assert data == bytes(range(256)) * 256
    data = data[: 16 * 1024]
    assert blobs.total(data) == (len(data), sum(data) % 251)


def test_argument_too_big_for_the_board_is_a_memory_error(hook, modules) -> None:
    modules.write("sink", "#@mcu\ndef size(data):\n    return len(data)\n")
    import sink

    with pytest.raises(MemoryError):
        sink.size(bytes(512 * 1024))
    assert sink.size(b"still works") == 11


def test_agent_crash_is_reported_not_waited_for(hook, modules) -> None:
    modules.write("crash", "#@mcu\nimport sys\n\n#@mcu\ndef stop():\n    sys.exit()\n")
    import crash

    with pytest.raises(belay_hook.BoardResetError, match="rebooted|stopped"):
        crash.stop()


def test_board_exception_keeps_type_message_and_host_line(hook, modules) -> None:
    path = modules.write(
        "faults",
        """
        #@mcu
        def divide(a, b):
            return a / b

        #@mcu
        def lookup(d, k):
            return d[k]

        #@mcu
        def missing_file():
            return open("/no/such/file")

        #@mcu
        class BoardOnly(Exception):
            pass

        #@mcu
        def custom():
            raise BoardOnly("made on the board")

        #@mcu
        def nested():
            return divide(1, 0)
        """,
    )
    import faults

    with pytest.raises(ZeroDivisionError) as info:
        faults.divide(1, 0)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno, frames[-1].name) == (path, 3, "divide")
    assert frames[-1].line == "return a / b"

    with pytest.raises(KeyError) as info:
        faults.lookup({"a": 1}, "b")
    assert info.value.args == ("b",)

    with pytest.raises(OSError) as info:
        faults.missing_file()
    assert info.value.errno == 2

    with pytest.raises(faults.BoardOnly) as info:  # a marked exception class: the host's twin
        faults.custom()
    assert type(info.value) is faults.BoardOnly and info.value.args == ("made on the board",)

    with pytest.raises(ZeroDivisionError) as info:
        faults.nested()
    lines = [(f.name, f.lineno) for f in traceback.extract_tb(info.value.__traceback__)]
    assert lines[-2:] == [("nested", 23), ("divide", 3)]
    # the session is still usable after errors
    assert faults.divide(6, 3) == 2.0


def test_stub_checks_arguments_before_sending(hook, modules) -> None:
    modules.write(
        "sigs",
        """
        #@mcu
        from machine import Pin

        #@mcu
        def configure(pin, mode=Pin.OUT, *, pull=None, **extra):
            return [pin, mode, pull, extra]
        """,
    )
    import sigs

    assert str(inspect.signature(sigs.configure)) == "(pin, mode=Pin.OUT, *, pull=None, **extra)"
    session = hook.session
    sent_before = session._talk.rid  # request ids move only when a request goes out
    with pytest.raises(TypeError, match="configure"):
        sigs.configure()
    with pytest.raises(TypeError, match="configure"):
        sigs.configure(1, 2, 3)
    with pytest.raises(TypeError, match="frozenset"):
        sigs.configure(frozenset({1, 2}))
    with pytest.raises(TypeError, match="object"):
        sigs.configure(1, pull=object())
    assert session._talk.rid == sent_before
    # board defaults apply on the board: Pin.OUT is the board's own value
    assert sigs.configure(5) == [5, 1, None, {}]
    assert sigs.configure(5, pull=2, x=1) == [5, 1, 2, {"x": 1}]


def test_imported_twice_uploads_once(hook, modules) -> None:
    modules.write("twice", "#@mcu\ndef f():\n    return 1\n")
    import twice  # noqa: F401

    uploaded = hook.session.uploaded_bytes
    assert uploaded > 0
    del sys.modules["twice"]
    importlib.import_module("twice")
    assert hook.session.uploaded_bytes == uploaded
    assert sys.modules["twice"].f() == 1


def test_host_code_keeps_real_file_for_tools(hook, modules) -> None:
    path = modules.write("tooling", BLINKY)
    import tooling

    assert tooling.__file__ == path
    assert inspect.getsource(tooling.blink).startswith("def blink(n):")
    assert linecache.getline(path, 12) == "def set_led(state):\n"
    assert tooling.set_led.__module__ == "tooling"


def test_mcu_syntax_error_is_reported_at_host_line(hook, modules) -> None:
    path = modules.write("broken", "#@mcu\ndef f():\n    nonlocal x\n")
    with pytest.raises(SyntaxError) as info:
        import broken  # noqa: F401
    assert (info.value.filename, info.value.lineno) == (path, 3)


def test_marker_error_at_import(hook, modules) -> None:
    path = modules.write("badmark", "x = 1\n#@mcu nonsense\ny = 2\n")
    with pytest.raises(belay_hook.MarkerError) as info:
        import badmark  # noqa: F401
    assert (info.value.filename, info.value.lineno) == (path, 2)


def test_setup_error_fails_the_import_at_its_line(hook, modules) -> None:
    path = modules.write("badsetup", "#@mcu setup\ndef setup():\n    x = 1 // 0\n")
    with pytest.raises(ZeroDivisionError) as info:
        import badsetup  # noqa: F401
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno) == (path, 3)


def test_heap_too_small_names_the_module(micropython, modules) -> None:
    # A bundle whose import needs far more RAM than the board has.
    modules.write("hungry", "#@mcu\nBIG = bytearray(4 * 1024 * 1024)\n")
    with belay_hook.install("emulator", heap="256k"), pytest.raises(MemoryError, match="hungry"):
        import hungry  # noqa: F401


def test_async_stub_runs_on_the_board(hook, modules) -> None:
    import asyncio

    modules.write(
        "coro",
        """
        #@mcu
        def add(a, b):
            return a + b

        async def host_side():
            return 1
        """,
    )
    import coro

    assert asyncio.run(coro.host_side()) == 1
    assert coro.add(2, 3) == 5


def test_calls_without_a_board_say_so(modules) -> None:
    from belay_hook.splitter.cut import split

    result = split("#@mcu\ndef f(a):\n    return a\n", "mod.py")
    namespace = {"__name__": "not_installed"}
    exec(compile(result.host_source, "mod.py", "exec"), namespace)
    with pytest.raises(belay_hook.NoBoardError, match=r"f\(\) runs on the board"):
        namespace["f"](1)


def test_uninstall_detaches_and_closes(micropython, modules) -> None:
    modules.write("gone", "#@mcu\ndef f():\n    return 1\n")
    hook = belay_hook.install("emulator")
    import gone

    emulator = hook.session.emulator
    assert gone.f() == 1
    hook.uninstall()
    assert hook not in sys.meta_path
    assert emulator.port is None or emulator._bridge is None or emulator._bridge.poll() is not None
    with pytest.raises(belay_hook.NoBoardError, match="'gone' was uninstalled.*import the"):
        gone.f()


def test_missing_port_is_named(modules) -> None:
    modules.write("nowhere", "#@mcu\ndef f():\n    return 1\n")
    with (
        belay_hook.install("/dev/does-not-exist"),
        pytest.raises(belay_hook.LinkError, match="/dev/does-not-exist"),
    ):
        import nowhere  # noqa: F401
