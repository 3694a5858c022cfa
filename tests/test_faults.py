"""Never silently wrong, never hung: the call path under real faults on the emulated link.

Each test injects its fault for real (a reset of the VM, bytes flipped, dropped or
duplicated by the emulator's bridge, a stray Ctrl-C on the port) and checks that
the call it hits raises a clear error or returns the right value, and that the
session works afterwards.
"""

from __future__ import annotations

import gc
import threading
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import pytest

import belay_hook
from belay_hook.emulator import Emulator
from belay_hook.rpc import framing, ops

BOARD = """
#@mcu
import sys, time

#@mcu setup
def setup():
    STATE = {"n": 0}

#@mcu
def inc(i):
    return i + 1

#@mcu
def echo(x):
    return x

#@mcu
def bump():
    STATE["n"] += 1
    return STATE["n"]

#@mcu
def nap(seconds):
    time.sleep(seconds)
    return seconds

#@mcu
def say(data):
    sys.stdout.write(data)

#@mcu
def reset_after(seconds):
    time.sleep(seconds)
    import machine
    machine.reset()

#@mcu
def chatter(lines):
    for n in range(lines):
        print("line", n)

#@mcu
def later(text, delay):
    import _thread
    def run():
        time.sleep(delay)
        print(text)
    _thread.start_new_thread(run, ())

#@mcu
def announce(topic, value):
    from belay_hook import emit
    emit(topic, value)
    return value

#@mcu
def ask(fn, x):
    return fn(x) + 1

#@mcu
class Box:
    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value
"""

HANG = 30.0  # a call still running after this long is hung


def finishes(fn: Callable[[], Any], limit: float = HANG) -> Any:
    """``fn()``'s result or exception, failing the test if it hangs."""
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"hung: still running after {limit}s"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture
def board(micropython, modules, tmp_path) -> Iterator[SimpleNamespace]:
    """The BOARD module on an emulator, with no call timeout (a hang is a failure)."""
    flash = tmp_path / "flash"
    flash.mkdir()
    printed: list = []
    modules.write("faulty", BOARD)
    with (
        Emulator(flash_dir=str(flash)) as emu,
        belay_hook.install(
            emu.port, timeout=None, on_text=printed.append, reconnect_delay=0.1
        ) as hook,
    ):
        import faulty

        yield SimpleNamespace(
            mod=faulty, emu=emu, session=hook.session, printed=printed, flash=flash
        )


def test_a_reset_during_a_call_without_timeout_raises_not_hangs(board) -> None:
    board.mod.bump()
    with pytest.raises(belay_hook.BoardResetError, match="reset"):
        finishes(lambda: board.mod.reset_after(0.2))
    assert finishes(board.mod.bump) == 1  # reconnected, setup ran afresh


def test_a_reset_between_calls_is_raised_at_the_next_call(board) -> None:
    board.mod.bump()
    board.emu.hard_reset()  # while the host idles: its idle reader sees the banner

    def noticed() -> None:
        while board.session.channel.lost is None:
            threading.Event().wait(0.01)

    finishes(noticed)
    with pytest.raises(belay_hook.BoardResetError, match="between calls"):
        finishes(board.mod.bump)
    assert board.mod.bump() == 1


def test_a_reset_during_a_long_call_raises_at_once(board) -> None:
    calling = threading.Thread(target=board.emu.hard_reset)
    threading.Timer(0.3, calling.start).start()
    with pytest.raises(belay_hook.BoardResetError, match="reset"):
        finishes(lambda: board.mod.nap(600))
    calling.join()
    assert board.mod.bump() == 1


def test_a_frame_that_lands_in_a_repl_runs_nothing(board) -> None:
    """Request frames never hold CR, LF or Ctrl-A..D: typed at a >>> prompt, inert."""
    with pytest.raises(belay_hook.BoardResetError):
        finishes(lambda: board.mod.reset_after(0))
    link = board.session.link  # the board waits at its friendly prompt now
    code = "\rimport os\ros.mkdir('pwned')\r\n\x04"
    link.serial.write(framing.call_request(1, 1, (code,), {"k": code}))
    link.serial.write(framing.request(ops.OP_CALL_NAME, 2, ("m", "f", (code,), {})))
    link.serial.write(framing.request(ops.OP_PUT, 3, (code, code.encode(), True)))
    link.enter_raw_repl()  # Ctrl-C: the line typed so far is dropped, never entered
    assert link.exec("print(6 * 7)").strip() == b"42"
    assert not (board.flash / "pwned").exists()
    assert board.mod.bump() == 1  # and the session carries on, on a fresh agent


def test_stray_ctrl_c_between_calls_keeps_the_agent_and_its_state(board) -> None:
    assert board.mod.bump() == 1
    box = board.mod.Box(7)
    for _ in range(3):
        board.session.channel.write(b"\x03")  # a Ctrl-C just after a call completed
        assert board.mod.bump() in (2, 3, 4)
    assert board.mod.bump() == 5 and box.get() == 7


def test_a_timeout_keeps_board_state(board) -> None:
    assert board.mod.bump() == 1
    box = board.mod.Box("kept")
    with pytest.raises(TimeoutError), belay_hook.timeout(0.2):
        board.mod.nap(5)
    assert board.mod.bump() == 2 and box.get() == "kept"


def test_stale_proxies_never_alias_new_objects(board) -> None:
    old = board.mod.Box("old")
    with pytest.raises(belay_hook.BoardResetError):
        finishes(lambda: board.mod.reset_after(0))
    new = board.mod.Box("new")  # the same id on the fresh agent
    with pytest.raises(belay_hook.StaleProxyError, match="Box"):
        old.get()
    with pytest.raises(ReferenceError):
        board.mod.echo(old)
    del old
    gc.collect()
    assert new.get() == "new"  # freeing the stale proxy freed nothing


def test_prints_holding_ctrl_d_arrive_in_order(board) -> None:
    board.mod.say("a\x04b")
    board.mod.say("\x04>c\x04\x04")
    board.mod.say("d")
    assert board.mod.inc(1) == 2
    assert "".join(board.printed) == "a\x04b\x04>c\x04\x04d"


def test_prints_while_the_host_idles_appear_without_a_call(board) -> None:
    board.mod.later("from a board thread", 0.1)
    done = threading.Event()

    def seen() -> None:
        while "from a board thread" not in "".join(board.printed):
            done.wait(0.01)

    finishes(seen, limit=10)


def test_a_timeout_covers_the_wait_for_another_threads_call(board) -> None:
    holder = threading.Thread(target=board.mod.nap, args=(1.5,))
    holder.start()
    while not board.session.channel._busy:
        threading.Event().wait(0.01)
    with pytest.raises(TimeoutError, match="another thread"), belay_hook.timeout(0.2):
        board.mod.inc(1)
    holder.join()
    assert board.mod.inc(1) == 2


def right_or_frame_error(call: Callable[[], Any], expected: Any) -> bool:
    """The call's value is right, or it raised FrameError; True if it raised."""
    try:
        value = finishes(call)
    except belay_hook.FrameError as exc:
        assert "damaged" in str(exc) or "lost" in str(exc)
        return True
    assert value == expected
    return False


@pytest.mark.parametrize("fault", ["flip", "flip7", "drop", "duplicate"])
def test_a_damaged_reply_is_an_error_never_a_wrong_value(board, fault: str) -> None:
    """Every byte of the reply frame of inc(41), damaged in turn (the reply is 6 bytes)."""
    errors = 0
    for after in range(6):
        faults = board.emu.faults
        if fault.startswith("flip"):
            faults.flip(when=b"\xfe", after=after, bit=7 if fault == "flip7" else 0)
        else:
            getattr(faults, fault)(when=b"\xfe", after=after)
        errors += right_or_frame_error(lambda: board.mod.inc(41), 42)
        assert faults.pending() == 0
        assert finishes(lambda: board.mod.inc(1)) == 2  # the stream resynchronised
    assert errors >= 1


@pytest.mark.parametrize("fault", ["flip", "drop", "duplicate"])
def test_a_damaged_request_is_an_error_never_a_wrong_call(board, fault: str) -> None:
    assert board.mod.bump() == 1
    for after in range(7):  # every byte of the request frame of echo(1234)
        getattr(board.emu.faults, fault)(when=b"\xfe", after=after, to_board=True)
        right_or_frame_error(lambda: board.mod.echo(1234), 1234)
        assert finishes(lambda: board.mod.echo("ok")) == "ok"
    assert board.mod.bump() == 2  # the agent and its state lived through it all


def test_a_garbled_event_costs_nothing_else(board, capfd) -> None:
    board.emu.faults.flip(when=b"\xfe", after=4)  # the event, sent before the result
    assert finishes(lambda: board.mod.announce("topic", 5)) == 5
    assert "damaged frame" in capfd.readouterr().err
    assert board.mod.inc(1) == 2


def test_a_garbled_host_call_is_a_frame_error(board) -> None:
    board.emu.faults.flip(when=b"\xfe", after=4)  # the board's call of the host function
    with pytest.raises(belay_hook.FrameError):
        finishes(lambda: board.mod.ask(lambda x: x * 2, 3))
    assert board.mod.ask(lambda x: x * 2, 3) == 7
    assert board.mod.bump() == 1  # state kept: no reset happened


def test_a_reply_after_its_timeout_is_dropped(board) -> None:
    assert board.mod.bump() == 1
    board.emu.faults.stall(1.0, when=b"\xfe")
    with pytest.raises(TimeoutError), belay_hook.timeout(0.3):
        board.mod.inc(1)
    assert board.mod.inc(5) == 6  # not the late 2
    assert board.mod.bump() == 2


EXITING = """
import sys, threading, time
import belay_hook

hook = belay_hook.install(sys.argv[1], timeout=None)
import faulty

threading.Thread(target=faulty.nap, args=(600,), daemon=sys.argv[2] == "daemon").start()
while not hook.session.channel._busy:
    time.sleep(0.01)
time.sleep(0.5)  # the request is on the board now
print("exiting", flush=True)
"""


@pytest.mark.parametrize("kind", ["daemon", "plain"])
def test_exiting_with_a_call_in_flight_interrupts_it(micropython, modules, kind: str) -> None:
    import os
    import subprocess
    import sys

    modules.write("faulty", BOARD)
    script = modules.write("exiting", EXITING)
    with Emulator() as emu:
        env = {
            **os.environ,
            "PYTHONPATH": f"{modules.path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        proc = subprocess.run(
            [sys.executable, script, emu.port, kind],
            capture_output=True,
            text=True,
            timeout=HANG,
            env=env,
        )
    assert "exiting" in proc.stdout, proc.stderr
    if kind == "plain":  # the thread's call ends with the interrupt
        assert "KeyboardInterrupt" in proc.stderr


@pytest.fixture
def relayed(micropython) -> Iterator[str]:
    """A ``socket://`` URL fronting an emulated board: a TCP-to-pty relay, as a
    network serial server would be."""
    import os
    import select
    import socket

    with Emulator() as emu:
        server = socket.create_server(("127.0.0.1", 0))
        stop = threading.Event()

        def relay() -> None:
            conn, _ = server.accept()
            fd = os.open(emu.port, os.O_RDWR | os.O_NOCTTY)
            try:
                while not stop.is_set():
                    for ready in select.select([conn, fd], [], [], 0.05)[0]:
                        if ready is conn:
                            data = conn.recv(65536)
                            if not data:
                                return
                            os.write(fd, data)
                        else:
                            conn.sendall(os.read(fd, 65536))
            finally:
                conn.close()
                os.close(fd)

        thread = threading.Thread(target=relay, daemon=True)
        thread.start()
        yield f"socket://127.0.0.1:{server.getsockname()[1]}"
        stop.set()
        thread.join(5)
        server.close()


def test_socket_ports_carry_calls_and_prints(relayed, modules) -> None:
    printed: list = []
    modules.write("faulty", BOARD)
    with belay_hook.install(relayed, timeout=None, on_text=printed.append):
        import faulty

        assert finishes(lambda: faulty.inc(41)) == 42
        finishes(lambda: faulty.chatter(3000))
        assert finishes(lambda: faulty.echo(bytes(range(256)) * 64)) == bytes(range(256)) * 64
        in_order = "".join(printed) == "".join(f"line {n}\n" for n in range(3000))
        assert in_order  # (a bool: a diff of 30 kB of text would take minutes)
