"""``#@mcu async def``: awaiting the stub runs the coroutine on the board's asyncio."""

from __future__ import annotations

import asyncio
import threading
import traceback

import pytest

import belay_hook

TASKS = """
#@mcu
import asyncio

#@mcu
RAN = []

#@mcu
async def measure(name, ms):
    RAN.append(name + " start")
    await asyncio.sleep_ms(ms)
    RAN.append(name + " end")
    return {"name": name, "slept": ms}

#@mcu
async def fails(n):
    await asyncio.sleep_ms(1)
    raise ValueError("board coroutine failed with " + str(n))

#@mcu
async def both():
    a, b = await asyncio.gather(measure("x", 20), measure("y", 10))
    return [a["name"], b["name"]]

#@mcu
async def forever():
    while True:
        await asyncio.sleep_ms(10)

#@mcu
async def hold(started, ms):
    started()
    await asyncio.sleep_ms(ms)
    RAN.append("held")

#@mcu
class Sensor:
    def __init__(self, base):
        self.base = base

    async def read(self, ms, offset=0):
        await asyncio.sleep_ms(ms)
        return self.base + offset

    async def broken(self):
        raise OSError(5)

#@mcu
def ran():
    return RAN
"""


@pytest.fixture
def tasks(hook, modules):
    modules.write("tasks", TASKS)
    import tasks

    return tasks


def test_awaiting_runs_the_coroutine_on_the_board(tasks) -> None:
    result = asyncio.run(tasks.measure("solo", 5))
    assert result == {"name": "solo", "slept": 5}
    assert tasks.ran() == ["solo start", "solo end"]


def test_the_host_loop_keeps_running_while_the_board_awaits(tasks) -> None:
    async def main():
        ticks = []
        done = False

        async def ticker():
            while not done:
                ticks.append(1)
                await asyncio.sleep(0.01)

        tick = asyncio.create_task(ticker())
        results = await asyncio.gather(tasks.measure("a", 150), tasks.measure("b", 150))
        done = True
        await tick
        return results, ticks

    results, ticks = asyncio.run(main())
    assert results == [{"name": "a", "slept": 150}, {"name": "b", "slept": 150}]
    assert len(ticks) > 1  # the ticker ran on while the board slept (blocked: once)
    # one board: the coroutines ran one after the other, each to its end
    ran = tasks.ran()
    assert sorted(ran) == ["a end", "a start", "b end", "b start"]
    assert ran[0][0] == ran[1][0] and ran[2][0] == ran[3][0]


def test_coroutines_gathered_on_the_board_run_concurrently(tasks) -> None:
    assert asyncio.run(tasks.both()) == ["x", "y"]
    assert tasks.ran() == ["x start", "y start", "y end", "x end"]


def test_board_coroutine_exceptions_arrive_as_for_calls(tasks) -> None:
    with pytest.raises(ValueError, match="failed with 3") as info:
        asyncio.run(tasks.fails(3))
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.name == "fails" and "raise ValueError" in last.line
    assert asyncio.run(tasks.measure("after", 1))["name"] == "after"


def test_timeout_set_around_the_await_applies(tasks) -> None:
    async def main():
        with belay_hook.timeout(0.3):
            await tasks.forever()

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert asyncio.run(tasks.measure("next", 1))["slept"] == 1


def test_queued_awaits_are_timed_from_their_start(tasks) -> None:
    async def main():
        with belay_hook.timeout(2.5):  # each takes 1.5 s; together 3 s
            return await asyncio.gather(tasks.measure("a", 1500), tasks.measure("b", 1500))

    assert [r["name"] for r in asyncio.run(main())] == ["a", "b"]


def test_a_cancelled_queued_await_never_runs(tasks) -> None:
    started = threading.Event()

    async def main():
        first = asyncio.ensure_future(tasks.hold(started.set, 300))
        second = asyncio.ensure_future(tasks.measure("second", 1))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        second.cancel()  # queued behind the first, which runs on the board now
        await first
        with pytest.raises(asyncio.CancelledError):
            await second

    asyncio.run(main())
    assert tasks.ran() == ["held"]


def test_async_methods_of_marked_classes(tasks) -> None:
    async def main():
        sensor = tasks.Sensor(40)
        assert await sensor.read(5, offset=2) == 42
        assert await tasks.Sensor(7).read(1) == 7  # the temporary lives through the await
        with pytest.raises(TypeError, match="read"):
            await sensor.read()  # checked on the host: nothing sent
        with pytest.raises(OSError) as info:
            await sensor.broken()
        assert info.value.errno == 5

    asyncio.run(main())
