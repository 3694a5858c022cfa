"""Accidents before a program connects: whatever state the board was left in, the next
program gets it, or a clear error naming the port says why not.

Each board state is made for real on the emulator: files on its flash, a previous host
program killed (SIGKILL) in the middle of its work, another program holding the port.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest
import serial

import belay_hook
from belay_hook.board.link import Link
from belay_hook.emulator import Emulator
from belay_hook.errors import LinkError


@pytest.fixture
def flash(tmp_path: pathlib.Path, micropython: str) -> pathlib.Path:
    folder = tmp_path / "flash"
    folder.mkdir()
    return folder


def board_with(flash, **files: str) -> Emulator:
    for name, text in files.items():
        (flash / f"{name}.py").write_text(text)
    return Emulator(flash_dir=str(flash))


@pytest.mark.timeout(60)
def test_a_boot_py_that_raises_does_not_stop_the_next_program(flash) -> None:
    boot = "import machine\nraise OSError('sensor missing')\n"
    with board_with(flash, boot=boot) as emu, belay_hook.connect(emu.port, timeout=10) as board:
        assert board("6 * 7") == 42


@pytest.mark.timeout(60)
def test_a_boot_py_printing_pages_does_not_stop_the_next_program(flash) -> None:
    """boot.py runs again at the connect's soft reboot and prints more than 4 KB between
    the reboot's OK and the raw REPL prompt."""
    boot = "for n in range(2000):\n    print('booting, step', n)\n"
    with board_with(flash, boot=boot) as emu, belay_hook.connect(emu.port, timeout=10) as board:
        assert board("6 * 7") == 42


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "main",
    [
        "import time\nwhile True:\n    time.sleep(0.01)\n",
        "n = 0\nwhile True:\n    print('tick', n)\n    n += 1\n",
    ],
    ids=["sleeping-loop", "printing-loop"],
)
def test_a_main_py_loop_is_stopped_on_connect(flash, main: str) -> None:
    with board_with(flash, main=main) as emu, belay_hook.connect(emu.port, timeout=10) as board:
        assert board("6 * 7") == 42


@pytest.mark.timeout(60)
def test_a_main_py_deaf_to_ctrl_c_is_a_clear_error(flash) -> None:
    main = "import micropython\nmicropython.kbd_intr(-1)\nwhile True:\n    pass\n"
    with board_with(flash, main=main) as emu, Link(emu.port, timeout=2.0) as link:
        with pytest.raises(TimeoutError) as info:
            link.enter_raw_repl()
        message = str(info.value)
        assert message.startswith(f"{emu.port}: ")
        assert "ignores Ctrl-C" in message and "main.py" in message


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "main",
    [
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
        "    except KeyboardInterrupt:\n        pass\n",
        "import sys\nsys.exit()\n",
    ],
    ids=["catches-ctrl-c", "exits-at-once"],
)
def test_a_main_py_hard_to_stop_is_taken_over_or_a_clear_error(flash, main: str) -> None:
    """Whether a Ctrl-C lands where such code cannot catch it is luck, on firmware too:
    the program gets the board, or an error saying what holds it."""
    with board_with(flash, main=main) as emu, Link(emu.port, timeout=2.0) as link:
        try:
            link.enter_raw_repl()
        except TimeoutError as exc:
            message = str(exc)
            assert message.startswith(f"{emu.port}: ")
            assert "ignores Ctrl-C" in message or "soft reboot" in message
        else:
            assert link.exec("print(6 * 7)").strip() == b"42"


KILLED = """
import sys, time
import belay_hook
from belay_hook.rpc import framing, ops

board = belay_hook.connect(sys.argv[1], timeout=None)
board("import time\\ndef count():\\n    n = 0\\n    while True:\\n        n += 1\\n        yield n")
how = sys.argv[2]
if how == "mid-frame":  # the write of a big request, cut off by the kill
    frame = framing.request(ops.OP_CALL_NAME, 1, ("m", "f", ("x" * 50000,), {}))
    board.channel.write(frame[: len(frame) // 2])
elif how == "mid-generator":
    counter = board.proxy("count()")
    next(counter)
print("ready", flush=True)
if how == "mid-call":
    board("time.sleep(600)")
time.sleep(600)
"""


@pytest.fixture
def killed_host(tmp_path) -> Iterator:
    """Run a host program on a board until it is ready, then SIGKILL it."""
    script = tmp_path / "killed.py"
    script.write_text(KILLED)

    def kill_after(port: str, how: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, str(script), port, how], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout.readline().strip() == "ready"
            if how == "mid-call":
                import time

                time.sleep(0.3)  # the call's request is on the board
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    yield kill_after


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["idle", "mid-call", "mid-generator", "mid-frame"])
def test_the_next_program_gets_a_board_whose_host_was_killed(killed_host, how: str) -> None:
    with Emulator() as emu:
        killed_host(emu.port, how)
        with belay_hook.connect(emu.port, timeout=10) as board:
            assert board("6 * 7") == 42


HOLDER = """
import sys, serial
port = serial.Serial(sys.argv[1], exclusive=True)
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.mark.timeout(60)
def test_a_port_held_by_another_program_is_a_clear_error(micropython) -> None:
    if os.name != "posix":
        pytest.skip("exclusive port locks are posix")
    with Emulator() as emu:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, emu.port],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "holding"
            with pytest.raises(LinkError) as info:
                belay_hook.connect(emu.port, timeout=10)
            assert str(info.value).startswith(f"{emu.port}: busy")
        finally:
            holder.communicate("")
        with belay_hook.connect(emu.port, timeout=10) as board:  # let go: it works
            assert board("1 + 1") == 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("moment", ["loader upload", "agent started"])
def test_reset_pressed_while_the_program_connects(micropython, monkeypatch, moment) -> None:
    """The user presses RESET just as the program starts: it connects all the same."""
    from belay_hook.rpc import agent

    with Emulator() as emu:
        belay_hook.connect(emu.port).close()  # the agent is on the board's flash
        pressed = []

        def press() -> None:
            if not pressed:
                pressed.append(True)
                emu.hard_reset()

        if moment == "loader upload":
            paste = Link._paste

            def paste_then_reset(self: Link, code: bytes, due) -> None:
                press()  # the loader's lines reach a fresh REPL, not the raw-paste reader
                paste(self, code, due)

            monkeypatch.setattr(Link, "_paste", paste_then_reset)
        else:
            start = agent.start

            def start_then_reset(link: Link, **options) -> str:
                how = start(link, **options)
                press()  # the agent is up and greets the host; then the board resets
                return how

            monkeypatch.setattr(agent, "start", start_then_reset)
        with belay_hook.connect(emu.port, timeout=10) as board:
            assert pressed and board("6 * 7") == 42
            assert board("6 * 8") == 48


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "when, after",
    [(b">OK", 2), (b"MPY: soft reboot\r\nraw R", 22), (b"\x06\xfe", 4), (b"\x06\xfe", 1)],
    ids=["reboot-ok", "raw-repl-banner", "greeting-body", "greeting-start"],
)
def test_a_byte_garbled_while_connecting_costs_a_retry_not_the_connect(
    micropython, when: bytes, after: int
) -> None:
    with Emulator() as emu:
        belay_hook.connect(emu.port).close()  # the agent is on the board's flash
        emu.faults.flip(when=when, after=after)
        with belay_hook.connect(emu.port, timeout=10) as board:
            assert emu.faults.pending() == 0
            assert board("6 * 7") == 42


@pytest.mark.timeout(60)
def test_a_reset_before_anything_was_loaded_costs_nothing(micropython) -> None:
    """RESET pressed after connect, before the first import: no board state was lost,
    so the first import or call just works (a reset between calls raises, see
    test_recovery, because state was lost there)."""
    with Emulator() as emu, belay_hook.connect(emu.port, timeout=10) as board:
        emu.hard_reset()
        time.sleep(0.3)  # its banner has come by now
        assert board("6 * 7") == 42
        emu.hard_reset()
        time.sleep(0.3)
        with pytest.raises(belay_hook.BoardResetError, match="between calls"):
            board("6 * 8")  # the Belay-style helper was loaded: that state is gone
        assert board("6 * 8") == 48


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "typed, shown",
    [
        (b"\x05", b"=== "),
        (b"\x05x = (\r\n", b"x = (\r\n=== "),
        (b"x = (", b"x = ("),
        (b"for i in range(3):\r\n", b"...     "),
    ],
    ids=["paste-mode", "paste-mode-with-a-line", "half-a-line", "a-block-open"],
)
def test_a_board_left_mid_input_at_its_friendly_repl_is_taken_over(
    micropython, typed: bytes, shown: bytes
) -> None:
    with Emulator() as emu:
        with serial.Serial(emu.port, timeout=10) as port:  # someone typed at its REPL, left
            port.write(typed)
            assert port.read_until(shown).endswith(shown)
        with belay_hook.connect(emu.port, timeout=10) as board:
            assert board("x = 6 * 7") is None and board("x") == 42
