"""Accidents during a session: a Ctrl-C on the host, board code that turns Ctrl-C off,
a reset at an awkward moment. The call they hit raises a clear error naming the port,
and the next call works, without anyone touching the board.

Faults act for real on the emulated board; the host is the program a user writes.
"""

from __future__ import annotations

import _thread
import threading
from types import SimpleNamespace
from typing import Iterator

import pytest

import belay_hook
from belay_hook.emulator import Emulator
from belay_hook.rpc.session import Session

BOARD = """
#@mcu
import time

#@mcu setup
def setup():
    STATE = {"n": 0}

#@mcu
def bump():
    STATE["n"] += 1
    return STATE["n"]

#@mcu
def nap(seconds):
    time.sleep(seconds)
    return seconds

#@mcu
def ask(fn, x):
    return fn(x) + 1

#@mcu
def log(line):
    print(line)
    return STATE["n"]

#@mcu
def deaf(seconds):
    import micropython
    micropython.kbd_intr(-1)  # Ctrl-C is a byte like any other now
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < seconds * 1000:
        pass
    return "done"
"""

OTHER = """
#@mcu
def triple(x):
    return 3 * x
"""

SLOW_SETUP = """
#@mcu setup
def setup():
    import time
    time.sleep(1.5)
    READY = True

#@mcu
def ready():
    return READY
"""


@pytest.fixture
def board(micropython, modules) -> Iterator[SimpleNamespace]:
    modules.write("accident", BOARD)
    modules.write("accident_other", OTHER)
    with (
        Emulator() as emu,
        belay_hook.install(emu.port, timeout=5, reconnect_delay=0.1) as hook,
    ):
        import accident
        import accident_other

        yield SimpleNamespace(mod=accident, other=accident_other, emu=emu, session=hook.session)


@pytest.mark.timeout(60)
def test_a_call_that_turned_ctrl_c_off_times_out_saying_the_state_goes(board) -> None:
    assert board.mod.bump() == 1
    with pytest.raises(TimeoutError) as info, belay_hook.timeout(0.5):
        board.mod.deaf(3)
    message = str(info.value)
    assert message.startswith(f"{board.emu.port}: ") and "deaf()" in message
    assert "did not answer Ctrl-C" in message and "state is lost" in message
    assert board.mod.bump() == 1  # as the error said: a fresh agent, setup ran again
    assert board.other.triple(5) == 15


@pytest.mark.timeout(60)
def test_a_board_deaf_for_good_fails_the_next_call_soon_not_after_every_attempt(
    board,
) -> None:
    board.session.link.timeout = 2.0
    board.session.reconnect_attempts = 1000  # each one would wait the link's timeout
    with pytest.raises(TimeoutError), belay_hook.timeout(0.5):
        board.mod.deaf(10_000)
    with pytest.raises(ConnectionError) as info, belay_hook.timeout(1):
        board.mod.bump()
    message = str(info.value)
    assert message.startswith(f"{board.emu.port}: ") and "ignores Ctrl-C" in message
    board.emu.hard_reset()  # the user presses reset: the next call works
    assert board.mod.bump() == 1


@pytest.mark.timeout(60)
def test_ctrl_c_while_reconnecting_loses_no_module(board, monkeypatch) -> None:
    assert board.other.triple(2) == 6
    board.emu.hard_reset()
    with pytest.raises(belay_hook.BoardResetError):
        for _ in range(100):  # the idle reader sees the reset soon; the next call says so
            board.mod.bump()
            threading.Event().wait(0.05)
    original = Session.load

    def load(self: Session, module: str, bundle) -> None:
        if module == "accident_other":
            raise KeyboardInterrupt  # the user's Ctrl-C, as this module goes back
        original(self, module, bundle)

    monkeypatch.setattr(Session, "load", load)
    with pytest.raises(KeyboardInterrupt):
        board.mod.bump()
    monkeypatch.setattr(Session, "load", original)
    assert board.other.triple(7) == 21
    assert board.mod.bump() == 1


@pytest.mark.timeout(60)
def test_ctrl_c_during_a_call_then_the_next_call_works(board) -> None:
    assert board.mod.bump() == 1
    threading.Timer(0.3, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        board.mod.nap(30)
    assert board.mod.bump() == 2  # the board code was interrupted; the state stayed


@pytest.mark.timeout(60)
def test_ctrl_c_during_an_import_then_importing_again_works(board, modules) -> None:
    import sys

    modules.write("accident_slow", SLOW_SETUP)
    threading.Timer(0.5, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        import accident_slow  # noqa: F401 - its setup code sleeps on the board
    sys.modules.pop("accident_slow", None)
    import accident_slow

    assert accident_slow.ready() is True
    assert board.mod.bump() == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "line", ["watchdog: soft reboot in 5 s", "last soft reboot was at 12:00", "soft reboots: 3"]
)
def test_board_code_that_logs_a_soft_reboot_keeps_the_board(board, line: str) -> None:
    assert board.mod.bump() == 1
    assert board.mod.log(line) == 1  # no BoardResetError: the board did not reset
    assert board.mod.bump() == 2  # nor was it reset by a reconnect


@pytest.mark.timeout(60)
def test_a_reset_into_a_main_py_loop_during_a_call_is_named_and_recovered(
    micropython, modules, tmp_path
) -> None:
    """Firmware prints its banner only after main.py: a reset into an endless main.py
    shows nothing until the call's timeout interrupts main.py."""
    (tmp_path / "main.py").write_text("import time\nwhile True:\n    time.sleep(0.01)\n")
    modules.write("accident", BOARD)
    with (
        Emulator(flash_dir=str(tmp_path)) as emu,
        belay_hook.install(emu.port, timeout=5, reconnect_delay=0.1),
    ):
        import accident

        assert accident.bump() == 1
        threading.Timer(0.3, emu.hard_reset).start()
        with pytest.raises(TimeoutError) as info, belay_hook.timeout(1.5):
            accident.nap(30)
        message = str(info.value)
        assert message.startswith(f"{emu.port}: ") and "the board reset" in message
        assert "state is lost" in message
        assert accident.bump() == 1  # reconnected, setup ran again


@pytest.mark.timeout(60)
@pytest.mark.parametrize("after", [2, 4, 6])
def test_a_damaged_answer_to_a_host_call_is_a_frame_error_not_a_hang(board, after) -> None:
    """Board code calls a host function; the host's answer is damaged on its way."""
    ran = []

    def double(x: int) -> int:
        ran.append(x)
        return 2 * x

    assert board.mod.ask(double, 1) == 3
    faults = board.emu.faults
    faults.replace(b"\xfe", when=b"\xfe", to_board=True)  # passes the request by
    faults.flip(when=b"\xfe", after=after, to_board=True)  # a byte of the answer
    with pytest.raises(belay_hook.FrameError, match="lost on the line"), belay_hook.timeout(10):
        board.mod.ask(double, 20)
    assert faults.pending() == 0
    assert ran == [1, 20]  # the host function ran once: never again behind the user's back
    assert board.mod.ask(double, 5) == 11
    assert board.mod.bump() == 1  # the agent and its state lived through it
