"""What a Belay user reaches for: code as text, proxies by name, timing on the board's clock."""

from __future__ import annotations

import datetime
import gc
import traceback

import pytest

import belay_hook
from belay_hook.rpc import ops


@pytest.fixture
def board(micropython):
    with belay_hook.connect("emulator") as session:
        yield session


def test_expressions_and_statements(board) -> None:
    assert board("1 + 1") == 2
    assert board("x = 5") is None
    assert board("x") == 5
    board("def f(n):\n    return [i * x for i in range(n)]")
    assert board("f(3)") == [0, 5, 10]
    assert board("import sys; y = sys.implementation.name") is None
    assert board("y") == "micropython"


def test_board_errors_raise_with_the_code_line(board) -> None:
    with pytest.raises(NameError, match="nothing_here"):
        board("nothing_here + 1")
    with pytest.raises(ZeroDivisionError) as info:
        board("a = 1\nb = 0\nc = a // b\nd = 4")
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.lineno, last.line) == (3, "c = a // b")
    with pytest.raises(SyntaxError):
        board("def (:")
    assert board("2 * 21") == 42  # still usable


def test_proxy_by_name_changes_the_board_object(board) -> None:
    board("data = [1, 2, 3]")
    data = board.proxy("data")
    assert isinstance(data, belay_hook.rpc.proxies.BoardProxy)
    data.append(4)
    data[0] = 100
    assert len(data) == 4 and list(data) == [100, 2, 3, 4]
    assert board("data") == [100, 2, 3, 4]  # the board's own list changed
    board(
        "class Led:\n    def __init__(self):\n        self.on = False\n    def flip(self):\n"
        "        self.on = not self.on\n        return self.on\nled = Led()"
    )
    led = board.proxy("led")
    assert led.flip() is True and board("led.on") is True
    with pytest.raises(NameError):
        board.proxy("no_such_name")


def test_proxy_of_an_import(board) -> None:
    machine = board.proxy("import machine")
    pin = machine.Pin(25, machine.Pin.OUT)
    pin.value(1)
    assert pin.value() == 1 and board("machine.Pin(25).value()") == 1
    assert board.proxy("from time import ticks_add as add")(1, 2) == 3
    assert board("add(2, 2)") == 4  # bound in the namespace, as the import says
    with pytest.raises(ImportError):
        board.proxy("import no_such_module")


def well_inside(when, before, after) -> bool:
    """Whether ``when``, the midpoint of 500 ms of board sleep, is more than 150 ms from
    either end of the host's wait: true of a mapping within 100 ms, false of raw ticks,
    of the start or end alone, or of a wrong offset."""
    margin = datetime.timedelta(milliseconds=150)
    return before + margin < when < after - margin


def test_return_time_maps_the_board_clock_to_host_time(board) -> None:
    board("import time")
    before = datetime.datetime.now()
    value, when = board("time.sleep_ms(500) or 7", return_time=True)
    after = datetime.datetime.now()
    assert value == 7 and isinstance(when, datetime.datetime)
    assert well_inside(when, before, after)


def test_timed_call_of_a_board_object(board) -> None:
    board("import time\ndef nap(ms):\n    time.sleep_ms(ms)\n    return ms")
    nap = board.proxy("nap")
    before = datetime.datetime.now()
    value, when = board.timed_call(nap, 500)
    after = datetime.datetime.now()
    assert value == 500
    assert well_inside(when, before, after)
    with pytest.raises(TypeError, match="would not run on the board"):
        board.timed_call(len, [1])


def test_timed_call_of_a_marked_function(hook, modules) -> None:
    modules.write(
        "timed",
        """
        #@mcu
        import time

        #@mcu
        def nap(ms):
            if ms < 0:
                raise ValueError("a nap cannot be negative")
            time.sleep_ms(ms)
            return "slept"
        """,
    )
    import timed

    before = datetime.datetime.now()
    value, when = hook.session.timed_call(timed.nap, 500)
    after = datetime.datetime.now()
    assert value == "slept"
    assert well_inside(when, before, after)
    with pytest.raises(ValueError, match="negative") as info:
        hook.session.timed_call(timed.nap, -1)
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "nap"


def test_proxies_from_code_are_freed_when_dropped(board) -> None:
    board("big = bytearray(600)")
    held = board.proxy("big")
    board("del big")
    assert len(held) == 600  # the host's proxy keeps it alive on the board
    ref = held._ref
    del held
    gc.collect()
    board("0")  # the release goes out first, if it has not yet
    with pytest.raises(belay_hook.StaleProxyError, match="is gone"):
        board.ref_op(ref, ops.PROXY_LEN)
