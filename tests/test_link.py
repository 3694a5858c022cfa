"""The serial link and raw REPL commands, against the emulator's real MicroPython VM."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator
from belay_hook.errors import BoardResetError, BoardTimeoutError, LinkError, McuError

BIG_CODE = "data = '" + "x" * 20_000 + "'\nprint(len(data))\n"


def test_exec_returns_output_using_raw_paste(link: Link) -> None:
    assert link.exec("print(1 + 1)") == b"2\n"
    assert link.raw_paste is True
    assert link.exec(b"x = 5") == b""
    assert link.exec("print(x * 2)") == b"10\n"  # state stays between calls


def test_exec_streams_output(link: Link) -> None:
    chunks = []
    code = "import time\nfor i in range(3):\n    print(i)\n    time.sleep_ms(50)"
    assert link.exec(code, on_output=chunks.append) == b"0\n1\n2\n"
    assert b"".join(chunks) == b"0\n1\n2\n" and len(chunks) >= 2


@pytest.mark.parametrize("raw_paste", [True, False])
def test_20kb_upload(emulator: Emulator, raw_paste: bool) -> None:
    with Link(emulator.port, raw_paste=raw_paste) as link:
        assert link.exec(BIG_CODE) == b"20000\n"
        assert link.raw_paste is raw_paste


def test_syntax_error_stops_a_raw_paste_upload_early(link: Link) -> None:
    with pytest.raises(SyntaxError):
        link.exec("x = (\n" + "1\n" * 10_000)
    assert link.exec("print('still fine')") == b"still fine\n"


def test_board_exceptions_keep_their_builtin_type(link: Link) -> None:
    with pytest.raises(ValueError, match="bad value") as caught:
        link.exec("def f():\n    raise ValueError('bad value')\nf()")
    trace = caught.value.board_traceback
    assert trace.startswith("Traceback (most recent call last):")
    assert 'File "<stdin>", line 2, in f' in trace
    with pytest.raises(ZeroDivisionError):
        link.exec("1 / 0")
    with pytest.raises(FileNotFoundError) as missing:
        link.exec("open('/nope')")
    assert missing.value.errno == 2
    with pytest.raises(SyntaxError):
        link.exec("x = (")
    with pytest.raises(McuError) as custom:
        link.exec("class SensorError(Exception):\n    pass\nraise SensorError('hot')")
    assert (custom.value.type_name, custom.value.message) == ("SensorError", "hot")


def test_exec_start_hands_over_the_stream(link: Link) -> None:
    link.exec_start(
        "import sys\nprint('ready')\nwhile True:\n"
        "    sys.stdout.buffer.write(sys.stdin.buffer.read(1).upper())"
    )
    assert link.read_until(b"ready\n") == b"ready\n"
    link.write(b"abc")
    assert link.serial.read(3) == b"ABC"  # nothing was kept back by the Link
    link.enter_raw_repl()  # interrupts the loop
    assert link.exec("print('back')") == b"back\n"


def test_read_until_stops_at_the_token(link: Link) -> None:
    link.exec_start("print('abcXdef')")
    assert link.read_until(b"X") == b"abcX"
    assert link.serial.read(7) == b"def\n\x04\x04>"
    assert link.read_available() == b""


def test_soft_reset_clears_globals(link: Link) -> None:
    link.exec("x = 1")
    link.soft_reset()
    with pytest.raises(NameError):
        link.exec("print(x)")


def test_board_reboot_during_exec(link: Link) -> None:
    link.exec("x = 1")
    with pytest.raises(BoardResetError):
        link.exec("import sys\nsys.exit()")
    with pytest.raises(NameError):
        link.exec("print(x)")


def test_interrupt_stops_a_busy_loop(link: Link) -> None:
    link.exec_start("while True:\n    pass")
    time.sleep(0.1)
    link.interrupt()
    assert link.exec("print('after')") == b"after\n"


def test_interrupt_gets_past_code_that_catches_the_first_ctrl_c(link: Link) -> None:
    link.exec_start(
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except KeyboardInterrupt:\n        break\nwhile True:\n    pass"
    )
    time.sleep(0.1)
    link.interrupt()
    assert link.exec("print('after')") == b"after\n"


@pytest.mark.parametrize("junk", [b"\x02x = 1 + ", b"\x02\r\n>>> x"])
def test_soft_reset_gets_past_a_line_typed_at_the_friendly_prompt(
    emulator: Emulator, link: Link, junk: bytes
) -> None:
    # Stray bytes just before the Ctrl-D (left unread by code that was interrupted,
    # or noise): Ctrl-B, then a line the friendly REPL holds, where Ctrl-A and
    # Ctrl-D do nothing. The soft reset must still happen.
    link.exec("x = 1")
    emulator.faults.insert(junk, when=b"\x01", after=1, to_board=True)
    link.enter_raw_repl(soft_reset=True)
    with pytest.raises(NameError):
        link.exec("print(x)")
    assert link.exec("print('after')") == b"after\n"


def test_timeout_names_the_port_and_the_last_bytes(link: Link) -> None:
    with pytest.raises(BoardTimeoutError) as caught:
        link.exec("print('working')\nimport time\ntime.sleep(5)", timeout=0.5)
    message = str(caught.value)
    assert link.port in message and "working" in message and "0.5s" in message
    assert b"working" in caught.value.last_received
    link.interrupt()
    assert link.exec("print(1)") == b"1\n"
    with pytest.raises(BoardTimeoutError, match="never sent"):
        link.read_until(b"never", timeout=0.2, waiting_for="never sent")


def test_control_bytes_are_refused(link: Link) -> None:
    with pytest.raises(ValueError, match="Ctrl-C"):
        link.exec("x = '\x03'")
    with pytest.raises(ValueError, match="0x04"):
        link.exec_start(b"x = '\x04'")
    with pytest.raises(ValueError, match="0x03"):
        link.write(b"ab\x03")
    assert link.exec("print('x')") == b"x\n"


def test_missing_port_is_named() -> None:
    with pytest.raises(LinkError, match="/dev/ttyNOSUCH.*no such port"):
        Link("/dev/ttyNOSUCH").open()


def test_busy_port_is_named(emulator: Emulator) -> None:
    with Link(emulator.port), pytest.raises(LinkError, match="busy") as caught:
        Link(emulator.port).open()
    assert caught.value.port == emulator.port


def test_pyserial_urls_work() -> None:
    with Link("loop://", timeout=1) as loop:
        loop.write(b"hello")
        assert loop.read_exactly(5) == b"hello"


def test_raw_repl_round_trip(link: Link) -> None:
    link.exit_raw_repl()
    link.enter_raw_repl()
    assert link.exec("print(3)") == b"3\n"


def test_a_late_banner_before_the_raw_paste_answer_is_skipped(link: Link, emulator) -> None:
    """A reboot's raw REPL banner still on its way is not the board refusing raw-paste
    (that took it for old firmware, then read the real answer as the code's 'OK')."""
    emulator.faults.insert(b"raw REPL; CTRL-B to exit\r\n>", when=b"R")
    assert link.exec("print(6 * 7)") == b"42\n"
    assert link.raw_paste
    assert link.exec("print(7 * 6)") == b"42\n"


@pytest.mark.parametrize("answer", [b"echo", b"AT OK\r\n", b""])
def test_a_device_that_is_no_micropython_board_is_named_as_such(answer: bytes) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)

    def device() -> None:  # echoes what it gets, or says the same thing to anything, or nothing
        while True:
            try:
                data = os.read(master, 1024)
            except OSError:
                return
            if answer:
                os.write(master, data if answer == b"echo" else answer)

    threading.Thread(target=device, daemon=True).start()
    try:
        with (
            Link(os.ttyname(slave), timeout=1.0) as link,
            pytest.raises(BoardTimeoutError, match="not a MicroPython board|is it a Micro"),
        ):
            link.enter_raw_repl()
    finally:
        os.close(master)
        os.close(slave)
