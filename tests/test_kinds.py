"""Marker kinds and options at run time: thread, teardown, both, timeout; dependencies."""

from __future__ import annotations

import time
import warnings

import pytest

import belay_hook
from belay_hook.importhook import BoardNameWarning


def test_thread_returns_at_once_and_runs_on(hook, modules) -> None:
    modules.write(
        "worker",
        """
        #@mcu
        import time

        #@mcu
        STATE = {"ticks": 0, "running": False, "stop": False}

        #@mcu thread
        def run(n, pause=0.01):
            STATE["running"] = True
            while STATE["ticks"] < n or not STATE["stop"]:
                STATE["ticks"] += 1
                time.sleep(pause)
            STATE["running"] = False

        #@mcu
        def state():
            return STATE

        #@mcu
        def stop():
            STATE["stop"] = True
        """,
    )
    import worker

    assert worker.run(20) is None  # started; it runs until told to stop
    deadline = time.monotonic() + 10
    while not worker.state()["running"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.state()["running"] is True  # runs on while the host makes calls
    worker.stop()
    while worker.state()["running"] and time.monotonic() < deadline:
        time.sleep(0.05)
    final = worker.state()
    assert final["running"] is False and final["ticks"] >= 20
    with pytest.raises(TypeError, match="run"):
        worker.run()  # the stub keeps the signature


def test_teardown_runs_when_the_hook_is_uninstalled(micropython, modules, capfd) -> None:
    modules.write(
        "tidy",
        """
        #@mcu
        def hello():
            return "hi"

        #@mcu teardown
        def goodbye():
            print("board: teardown ran")
        """,
    )
    hook = belay_hook.install("emulator")
    import tidy

    assert tidy.hello() == "hi"
    assert not hasattr(tidy, "goodbye")  # teardown has no host stub
    hook.uninstall()
    assert "board: teardown ran" in capfd.readouterr().out


def test_both_puts_the_statement_on_both_sides(hook, modules) -> None:
    modules.write(
        "shared",
        """
        #@mcu both
        def scale(x):
            return x * 3

        #@mcu both
        LIMIT = 10

        #@mcu
        def on_board(x):
            return min(scale(x), LIMIT)
        """,
    )
    import shared

    assert shared.scale(2) == 6 and shared.LIMIT == 10  # host copies
    assert shared.on_board(2) == 6 and shared.on_board(9) == 10  # board copies


def test_timeout_option_on_the_marker(hook, modules) -> None:
    modules.write(
        "impatient",
        """
        #@mcu
        import time

        #@mcu timeout=0.3
        def nap(t):
            time.sleep(t)
            return t
        """,
    )
    import impatient

    assert impatient.nap(0) == 0
    with pytest.raises(TimeoutError, match="nap"):
        impatient.nap(5)
    assert impatient.nap(0.01) == 0.01  # interrupted, then usable
    with belay_hook.timeout(5):
        assert impatient.nap(0.5) == 0.5  # a per-call timeout wins over the marker's


def test_helpers_and_constants_come_along(hook, modules) -> None:
    modules.write(
        "helped",
        """
        GAIN = 3
        NAMES = ("a", "b")

        def scale(x):
            return x * GAIN

        #@mcu
        def reading(x):
            return scale(x), NAMES[1]
        """,
    )
    import helped

    assert helped.reading(2) == (6, "b")


def test_unresolved_names_warn_at_their_line(hook, modules) -> None:
    path = modules.write(
        "typo",
        """
        #@mcu
        def f():
            return lenn("x")
        """,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import typo
    found = [w for w in caught if issubclass(w.category, BoardNameWarning)]
    assert len(found) == 1
    assert (found[0].filename, found[0].lineno) == (path, 3)
    assert "'lenn'" in str(found[0].message)
    with pytest.raises(NameError):
        typo.f()


def test_board_builtins_do_not_warn(hook, modules) -> None:
    modules.write("fine", "#@mcu\ndef f():\n    return len(bytearray(2)), abs(-1)\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoardNameWarning)
        import fine
    assert fine.f() == (2, 1)
