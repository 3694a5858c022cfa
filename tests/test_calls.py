"""Everything a call can be, end to end on the emulated board (the real VM)."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import traceback

import pytest

import belay_hook
from belay_hook.rpc import events, ops

DEVICE = """
#@mcu
import time

#@mcu
class Counter:
    def __init__(self, start=0):
        self.n = start

    def inc(self, by=1):
        self.n += by
        return self.n

    def fail(self):
        raise KeyError("no such key on the board")

#@mcu
def a_set():
    return frozenset({1, 2, 3})  # no value the codec carries: it stays on the board

#@mcu
def take(obj, item):
    return item in obj

#@mcu
STATE = {"closed": 0, "finished": 0}

#@mcu
def squares(n):
    try:
        for i in range(n):
            yield i * i
        STATE["finished"] += 1
    finally:
        STATE["closed"] += 1

#@mcu
def broken_generator():
    yield 1
    raise ValueError("generator broke at 1")

#@mcu
def state():
    return STATE

#@mcu
def apply(fn, xs):
    return [fn(x) for x in xs]

#@mcu
def twice(fn, x):
    return fn(fn(x))

#@mcu
def add(a, b):
    return a + b

#@mcu
def guarded(fn):
    try:
        fn()
    except ValueError as e:
        return "board caught: " + str(e)

#@mcu
def spin():
    while True:
        pass

#@mcu
def slow(t):
    time.sleep(t)
    return t
"""


@pytest.fixture
def device(hook, modules):
    modules.write("device", DEVICE)
    import device

    return device


def test_class_instances_live_on_the_board(device) -> None:
    c = device.Counter(5)
    assert isinstance(c, device.Counter)
    assert c.inc() == 6 and c.inc(by=10) == 16
    assert c.n == 16  # attribute read
    c.n = 1  # attribute write
    assert c.inc() == 2
    with pytest.raises(KeyError, match="no such key"):
        c.fail()
    other = device.Counter()
    assert other.inc() == 1 and c.inc() == 3  # separate board objects


def test_proxy_forwards_and_goes_back_as_argument(device) -> None:
    s = device.a_set()
    assert isinstance(s, belay_hook.rpc.proxies.BoardProxy)
    assert len(s) == 3 and 2 in s and 7 not in s
    assert sorted(s) == [1, 2, 3]
    assert "1" in repr(s)
    assert device.take(s, 3) is True  # the proxy is the board object again there
    assert s == s and s == s


def test_dropped_proxies_are_freed_on_the_board(device, hook) -> None:
    session = hook.session
    s = device.a_set()
    ref = s._bh_ref
    del s
    gc.collect()
    device.add(1, 1)  # any request carries the release along
    with pytest.raises(belay_hook.StaleProxyError, match="is gone"):
        session.ref_op(ref, ops.PROXY_LEN)


def test_generators_stream_and_close(device) -> None:
    g = device.squares(5)
    assert next(g) == 0
    assert next(g) == 1
    g.close()  # closing the host generator closes the board one
    device.add(0, 0)
    assert device.state()["closed"] == 1 and device.state()["finished"] == 0
    assert list(device.squares(4)) == [0, 1, 4, 9]
    assert device.state()["finished"] == 1


def test_dropping_a_generator_stops_the_board_one(device) -> None:
    g = device.squares(100)
    next(g)
    del g
    gc.collect()
    device.add(0, 0)
    assert device.state()["closed"] == 1


def test_generator_exception_surfaces_at_next(device, modules) -> None:
    g = device.broken_generator()
    assert next(g) == 1
    with pytest.raises(ValueError, match="generator broke at 1") as info:
        next(g)
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (
        last.name == "broken_generator" and last.line == 'raise ValueError("generator broke at 1")'
    )


def test_callbacks_nest_both_ways(device) -> None:
    assert device.apply(lambda x: x * 10, [1, 2, 3]) == [10, 20, 30]
    # board calls host, host calls board again, board calls host again
    assert device.twice(lambda x: device.add(x, 1), 1) == 3
    assert device.twice(lambda x: device.apply(lambda y: y + 1, [x])[0], 5) == 7


def test_callback_exceptions_travel_both_ways(device) -> None:
    def refuse(x):
        raise ValueError(f"host refuses {x}")

    with pytest.raises(ValueError, match="host refuses 1") as info:
        device.apply(refuse, [1])
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)  # the host's own exception, with its host traceback
    assert traceback.extract_tb(cause.__traceback__)[-1].name == "refuse"
    assert device.guarded(lambda: refuse(2)) == "board caught: host refuses 2"
    # raised three levels down (host -> board -> host -> board -> host), seen at the top
    with pytest.raises(ZeroDivisionError):
        device.apply(lambda x: device.twice(lambda y: 1 // (y - y), x), [1])
    assert device.add(1, 2) == 3


def test_per_call_timeout_interrupts_the_board(device) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="spin"), belay_hook.timeout(0.3):
        device.spin()
    assert time.monotonic() - start < 5
    assert device.add(2, 3) == 5  # the next call works


def test_session_default_timeout(micropython, modules) -> None:
    modules.write("sleeper", "#@mcu\nimport time\n\n#@mcu\ndef nap(t):\n    time.sleep(t)\n")
    with belay_hook.install("emulator", timeout=0.3):
        import sleeper

        with pytest.raises(TimeoutError):
            sleeper.nap(3)
        with belay_hook.timeout(5):
            sleeper.nap(0.5)  # per-call override wins


def test_ctrl_c_on_the_host_interrupts_the_board(device) -> None:
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        device.spin()
    assert time.monotonic() - start < 5
    assert device.add(1, 1) == 2


def test_calls_from_many_threads(device) -> None:
    results: dict = {}
    errors: list = []

    def worker(i: int) -> None:
        try:
            results[i] = [device.add(i, j) for j in range(40)]
            counter = device.Counter(i)
            results[i].append(counter.inc())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert all(results[i] == [i + j for j in range(40)] + [i + 1] for i in range(6))


def test_events_from_a_board_thread(hook, modules) -> None:
    modules.write(
        "ticker",
        """
        #@mcu
        import _thread, time

        #@mcu
        from belay_hook import emit

        #@mcu
        def start(n):
            def run():
                for i in range(n):
                    time.sleep(0.005)
                    emit("tick", i)
            _thread.start_new_thread(run, ())
        """,
    )
    import ticker

    got: list = []
    handler = events.on_event("tick", got.append)
    try:
        ticker.start(20)
        deadline = time.monotonic() + 10
        while len(got) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)  # the host idles: no call in flight
            events.wait_idle()
        assert got == list(range(20))  # all of them, in order
    finally:
        events.remove_handler("tick", handler)


def test_closing_prints_nothing_of_the_raw_repl(micropython: str) -> None:
    """After the agent's goodbye the raw REPL prints its end marks and prompt: those are
    the link's bytes, never the program's output (they once leaked into stdout)."""
    from belay_hook.rpc.connection import connect

    for _ in range(5):
        printed: list = []
        session = connect("emulator", on_text=printed.append)
        session.close()
        text = "".join(printed)
        assert "\x04" not in text and ">" not in text, repr(text)
