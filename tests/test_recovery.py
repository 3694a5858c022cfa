"""Losing the board: resets, garbage and unplugging give clear errors, and the next call works."""

from __future__ import annotations

import time

import pytest

import belay_hook

FLAKY = """
#@mcu
import sys, time

#@mcu setup
def setup():
    STARTS = [0]
    STARTS[0] += 1

#@mcu
def starts():
    return STARTS[0]

#@mcu
def reset_now():
    import machine
    machine.soft_reset()

#@mcu
def garble(data):
    sys.stdout.buffer.write(data)
    time.sleep(30)

#@mcu
def add(a, b):
    return a + b
"""


@pytest.fixture
def flaky(micropython, modules):
    modules.write("flaky", FLAKY)
    with belay_hook.install("emulator", timeout=5, reconnect_delay=0.2) as hook:
        import flaky

        yield flaky, hook


def test_reset_in_a_call_then_reconnect(flaky) -> None:
    board, hook = flaky
    assert board.starts() == 1
    uploaded = hook.session.uploaded_bytes
    with pytest.raises(belay_hook.BoardResetError, match="rebooted"):
        board.reset_now()
    # the next call reconnects, finds the bundle still on the board's flash
    # (nothing uploaded again), and runs setup afresh
    assert board.add(1, 2) == 3
    assert board.starts() == 1
    assert hook.session.uploaded_bytes == uploaded


def test_garbage_on_the_line_is_an_error_then_recovered(flaky) -> None:
    board, _ = flaky
    start = time.monotonic()
    # a frame header promising 16 MiB that never come
    with pytest.raises(TimeoutError) as info, belay_hook.timeout(1):
        board.garble(b"\xfeR\xff\xff\xff\x00")
    assert "last received" in str(info.value)
    assert time.monotonic() - start < 10
    assert board.add(2, 2) == 4


def test_junk_that_is_no_frame_passes_as_text(flaky, capfd) -> None:
    board, _ = flaky
    with pytest.raises(TimeoutError), belay_hook.timeout(1):
        board.garble(b"\xfeZjunk\xfe")
    assert board.add(3, 3) == 6


def test_board_stopping_mid_frame(flaky) -> None:
    board, _ = flaky
    with pytest.raises(TimeoutError), belay_hook.timeout(1):
        board.garble(b"\xfeR\x10\x00\x00\x00\x01")  # 16-byte frame, 1 byte sent
    assert board.add(4, 4) == 8


def test_unplugged_board_is_a_connection_error(flaky) -> None:
    board, hook = flaky
    hook.session.reconnect_attempts = 2
    emulator = hook.session.emulator
    emulator._bridge.kill()  # the USB cable, pulled
    emulator._bridge.wait()
    start = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        board.add(1, 1)
    assert str(info.value).startswith(f"{emulator.port}: connection lost")
    with pytest.raises(ConnectionError, match="2 attempts to reconnect failed"):
        board.add(1, 1)  # the next call tries to reconnect, and says why it cannot
    assert time.monotonic() - start < 20
