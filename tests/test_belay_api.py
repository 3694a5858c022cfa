"""What a Belay user reaches for: code as text, proxies by name, timing on the board's clock."""

from __future__ import annotations

import datetime
import traceback

import pytest

import belay_hook
from belay_hook.rpc.proxies import BoardProxy


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
    with pytest.raises(TypeError, match="must be a str"):
        board(42)


def test_board_errors_raise_with_the_code_line(board) -> None:
    with pytest.raises(NameError, match="nothing_here"):
        board("nothing_here + 1")
    with pytest.raises(ZeroDivisionError) as info:
        board("a = 1\nb = 0\nc = a // b\nd = 4")
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.lineno, last.line) == (3, "c = a // b")
    with pytest.raises(SyntaxError):
        board("def (:")
    assert board("a + 41") == 42  # still usable, the namespace kept


def test_proxy_by_name_changes_the_board_object(board) -> None:
    board("data = [1, 2, 3]")
    data = board.proxy("data")
    assert isinstance(data, BoardProxy)
    data.append(4)
    data[0] = 100
    assert len(data) == 4 and list(data) == [100, 2, 3, 4] and 3 in data
    assert board("data") == [100, 2, 3, 4]  # the board's own list changed
    board("table = {}")
    board.proxy("table")["k"] = "v"
    assert board("table") == {"k": "v"}
    board(
        "class Led:\n    def __init__(self):\n        self.on = False\n    def flip(self):\n"
        "        self.on = not self.on\n        return self.on\nled = Led()"
    )
    led = board.proxy("led")
    assert led.flip() is True and board("led.on") is True
    with pytest.raises(NameError):
        board.proxy("no_such_name")


def test_proxy_of_an_import(board) -> None:
    ustruct = board.proxy("import struct as ustruct")
    assert ustruct.pack("<H", 258) == b"\x02\x01"
    assert board("ustruct.calcsize('<I')") == 4
    assert board.proxy("from time import ticks_diff")(10, 4) == 6


def test_return_time_maps_the_board_clock_to_host_time(board) -> None:
    board("import time")
    before = datetime.datetime.now()
    value, when = board("time.sleep_ms(300) or 7", return_time=True)
    after = datetime.datetime.now()
    assert value == 7 and isinstance(when, datetime.datetime)
    # the midpoint of 300 ms of board sleep lies well inside the host's wait
    assert before + datetime.timedelta(milliseconds=100) < when
    assert when < after - datetime.timedelta(milliseconds=100)
    _, first = board("time.sleep_ms(50)", return_time=True)
    _, second = board("time.sleep_ms(50)", return_time=True)
    assert when < first < second


def test_code_as_text_on_a_64k_board(micropython) -> None:
    # the helper loads as a bundle where the agent left room: the agent did not grow
    with belay_hook.connect("emulator", heap="64k") as small:
        small("import gc\nbuf = bytearray(1000)")
        assert small("len(buf) + 1") == 1001
        small.proxy("buf")[0] = 7
        assert small("buf[0]") == 7
        value, when = small("gc.mem_free() > 0", return_time=True)
        assert value is True and isinstance(when, datetime.datetime)
