"""Exceptions behave as if the marked code ran locally: each user program here runs
twice, through the import hook on the emulated board and unmarked in this CPython (the
oracle), and both runs must give the same result. Also: cancelling an await."""

from __future__ import annotations

import importlib
import textwrap
import types
from typing import Any, Callable

import pytest
from conftest import outcome

PROGRAM = """
#@mcu
class Part:
    def __init__(self, n):
        self.n = n

    def size(self):
        return self.n

#@mcu
class SensorError(Exception):
    def __init__(self, code, detail="no detail"):
        super().__init__(code, detail)
        self.code = code

#@mcu
class Overheat(SensorError):
    pass

#@mcu
def read(fetch):
    try:
        return fetch()
    except SensorError as e:
        return "fallback after %s" % (e.code,)

#@mcu
def read_args(fetch):
    try:
        fetch()
    except SensorError as e:
        return e.args

#@mcu
def fail(code):
    raise Overheat(code, "too hot")

#@mcu
def reject(values):
    raise ValueError("bad values", values, None)

#@mcu
def lose(n):
    raise LookupError(Part(n))

#@mcu
def guarded():
    while True:
        try:
            yield "ok"
        except SensorError as e:
            yield "handled %s" % (e.args[0],)
"""


@pytest.fixture
def both(as_local) -> Callable[[Callable[[Any], Any]], Any]:
    """``both(program)``: program's result through the hook, checked against the same
    program on the same source run locally."""
    return as_local("faulty", PROGRAM)


def test_board_code_catches_a_marked_exception_a_host_callback_raises(both) -> None:
    def program(m: Any) -> Any:
        def fetch() -> Any:
            raise m.SensorError(7, "unplugged")

        def refuse() -> Any:
            raise m.SensorError(None, b"\x00raw")

        return m.read(fetch), m.read(lambda: 21), m.read_args(refuse)

    assert both(program) == ("fallback after 7", 21, (None, b"\x00raw"))


def test_a_board_generator_catches_a_marked_exception_thrown_in(both) -> None:
    def program(m: Any) -> Any:
        gen = m.guarded()
        return next(gen), gen.throw(m.SensorError(3)), next(gen)

    assert both(program) == ("ok", "handled 3", "ok")


def test_exception_args_keep_their_types(both) -> None:
    def program(m: Any) -> Any:
        try:
            m.lose(2)
        except LookupError as exc:
            lost = isinstance(exc.args[0], m.Part), exc.args[0].size()
        return lost, outcome(lambda m: m.reject([1, (2, 3)]), m)

    assert both(program) == ((True, 2), ("ValueError", ("bad values", [1, (2, 3)], None)))


def test_attributes_a_board_exception_set_reach_the_host(both) -> None:
    def program(m: Any) -> Any:
        try:
            m.fail(451)
        except m.SensorError as exc:
            return type(exc).__name__, exc.args, exc.code

    assert both(program) == ("Overheat", (451, "too hot"), 451)


SPIN = """
stopped = []

#@mcu
async def spin():
    import asyncio

    try:
        while True:
            await asyncio.sleep(0.01)
    finally:
        stopped.append("stopped")

#@mcu
def what_stopped():
    return stopped
"""


def test_a_cancelled_await_stops_on_the_board(hook, modules) -> None:
    """wait_for's timeout cancels the await: the board's coroutine ends (its finally
    runs) and the board is free, as locally; it used to spin on, holding every later
    call until the session's own timeout."""
    import asyncio

    import belay_hook

    async def program(m: Any) -> Any:
        try:
            await asyncio.wait_for(m.spin(), 0.2)
        except asyncio.TimeoutError:
            return m.what_stopped()

    local = types.ModuleType("spin_local")
    exec(compile(textwrap.dedent(SPIN), "spin_local.py", "exec"), local.__dict__)  # noqa: S102
    modules.write("spin", SPIN)
    board = importlib.import_module("spin")
    with belay_hook.timeout(10):  # a hang fails the test instead of stalling it
        assert asyncio.run(program(board)) == asyncio.run(program(local)) == ["stopped"]
