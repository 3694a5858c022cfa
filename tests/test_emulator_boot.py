"""boot.py and main.py in flash run on the emulator as on firmware, on the real VM."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import serial

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
BANNER_END = b'Type "help()" for more information.\r\n>>> '
LOG_BOOT = "open('log', 'a').write('boot\\n')\n"
LOG_MAIN = "open('log', 'a').write('main\\n')\n"


@pytest.fixture
def port(emulator: Emulator) -> Iterator[serial.Serial]:
    with serial.Serial(emulator.port, timeout=10) as opened:
        yield opened


def write(emulator: Emulator, name: str, source: str) -> None:
    (emulator.flash_dir / name).write_text(source)


def log(emulator: Emulator) -> list:
    path = emulator.flash_dir / "log"
    return path.read_text().split() if path.exists() else []


def test_reset_runs_boot_then_main_in_the_repl_globals(emulator: Emulator, port) -> None:
    write(emulator, "boot.py", LOG_BOOT + "print('boot says hi')\n")
    write(emulator, "main.py", LOG_MAIN + "answer = 42\nprint('main says hi')\n")
    emulator.hard_reset()
    out = port.read_until(BANNER_END)
    assert out.startswith(b"boot says hi\nmain says hi\nMicroPython v")
    assert log(emulator) == ["boot", "main"]
    port.write(b"print(answer)\r")
    assert port.read_until(b">>> ") == b"print(answer)\r\n42\n>>> "


def test_soft_reboot_to_friendly_repl_runs_both(emulator: Emulator, port) -> None:
    write(emulator, "boot.py", LOG_BOOT)
    write(emulator, "main.py", LOG_MAIN)
    port.write(b"\x04")
    assert port.read_until(BANNER_END).startswith(b"\r\nMPY: soft reboot\r\nMicroPython v")
    assert log(emulator) == ["boot", "main"]


def test_soft_reboot_in_raw_repl_runs_boot_only(emulator: Emulator, port) -> None:
    write(emulator, "boot.py", LOG_BOOT + "print('from boot')\n")
    write(emulator, "main.py", LOG_MAIN)
    port.write(b"\x01")
    port.read_until(RAW_PROMPT)
    port.write(b"\x04")
    assert port.read_until(RAW_PROMPT) == b"OK\r\nMPY: soft reboot\r\nfrom boot\n" + RAW_PROMPT
    assert log(emulator) == ["boot"]


@pytest.mark.parametrize(
    "ending, then",
    [
        ("sys.exit()", b"MPY: soft reboot\r\nMPY: soft reboot\r\n" + RAW_PROMPT),  # raw again
        ("machine.reset()", BANNER_END),  # a hard reset: the friendly REPL, as after power-up
    ],
)
def test_raw_soft_reboot_with_a_boot_py_that_resets(emulator: Emulator, port, ending, then) -> None:
    once = f"import os, sys, machine\nif len(open('log').read()) < 10:\n    {ending}\n"
    write(emulator, "boot.py", LOG_BOOT + once)
    port.write(b"\x01")
    port.read_until(RAW_PROMPT)
    port.write(b"\x04")
    out = port.read_until(then)
    assert out.startswith(b"OK\r\nMPY: soft reboot\r\n") and out.endswith(then), out
    assert log(emulator) == ["boot", "boot"]


def test_raw_soft_reboot_interrupts_a_boot_py_that_runs_on(emulator: Emulator, port) -> None:
    write(emulator, "boot.py", "print('looping')\nwhile True:\n    pass\n")
    port.write(b"\x01")
    port.read_until(RAW_PROMPT)
    port.write(b"\x04")
    assert port.read_until(b"looping\n").endswith(b"MPY: soft reboot\r\nlooping\n")
    port.write(b"\x03")
    out = port.read_until(RAW_PROMPT)
    assert b"KeyboardInterrupt" in out and out.endswith(b"\n" + RAW_PROMPT)
    port.write(b"print(6 * 7)\x04")
    assert port.read_until(b"\x04>") == b"OK42\n\x04\x04>"


def test_link_interrupts_a_running_main_on_connect(emulator: Emulator, port) -> None:
    write(
        emulator, "main.py", "import time\nprint('running')\nwhile True:\n    time.sleep_ms(10)\n"
    )
    emulator.hard_reset()
    assert port.read_until(b"running\n") == b"running\n"
    with Link(emulator.port, timeout=10) as link:
        link.enter_raw_repl()
        assert link.exec("print(1 + 1)") == b"2\n"


def test_main_traceback_shows_only_main_frames(emulator: Emulator, port) -> None:
    write(emulator, "main.py", "def f():\n    1 / 0\n\nf()\n")
    emulator.hard_reset()
    out = port.read_until(BANNER_END)
    assert out.startswith(
        b'Traceback (most recent call last):\n  File "main.py", line 4, in <module>\n'
        b'  File "main.py", line 2, in f\nZeroDivisionError: divide by zero\nMicroPython v'
    )


@pytest.mark.parametrize(
    "call, between",
    [("machine.reset()", b""), ("machine.soft_reset()", b"MPY: soft reboot\r\n")],
)
def test_reset_from_main_resets_the_board(emulator: Emulator, port, call, between) -> None:
    main = LOG_MAIN + (
        "import machine, os\nif 'once' not in os.listdir():\n"
        f"    open('once', 'w').close()\n    print('going')\n    {call}\n"
    )
    write(emulator, "main.py", main)
    emulator.hard_reset()
    out = port.read_until(BANNER_END)
    assert out.startswith(b"going\n" + between + b"MicroPython v"), out
    assert out.count(b"MicroPython v") == 1
    assert log(emulator) == ["main", "main"]


def test_power_up_with_a_running_main(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("while True:\n    pass\n")
    with Emulator(tmp_path) as emu, Link(emu.port, timeout=10) as link:
        link.enter_raw_repl()
        assert link.exec("print('in')") == b"in\n"
