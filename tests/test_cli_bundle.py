"""``belay-hook bundle FILE``: what goes to the board, as text, JSON or a .mpy file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from belay_hook.cli import main

BLINKY = """\
import time

#@mcu
from machine import Pin

#@mcu setup
def setup():
    led = Pin(25, Pin.OUT)

#@mcu
def set_led(state):
    print("device: LED", state)
    led.value(state)

def blink(n):                      # host code calling MCU code
    for _ in range(n):
        set_led(1); time.sleep(0.2)
        set_led(0); time.sleep(0.2)
"""


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache, never the user's; subprocesses inherit it."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BELAY_HOOK_CACHE", str(folder))
    return folder


@pytest.fixture
def blinky(tmp_path: Path) -> Path:
    path = tmp_path / "blinky.py"
    path.write_text(BLINKY, encoding="utf-8")
    return path


def test_prints_mcu_source_manifest_and_sizes(blinky: Path, capsys) -> None:
    assert main(["bundle", str(blinky)]) == 0
    out = capsys.readouterr().out
    assert " 4 | from machine import Pin" in out
    assert " 7 | if True:" in out  # the setup body runs at module level, same lines
    assert " 8 |     led = Pin(25, Pin.OUT)" in out
    assert "11 | def set_led(state):" in out
    assert "def blink" not in out  # host code stays home
    assert '"set_led"' in out and '"kind": "function"' in out
    assert "bytes source" in out and "bytes .mpy" in out


def test_json(blinky: Path, capsys) -> None:
    assert main(["bundle", str(blinky), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"mcu_source", "manifest", "sizes"}
    assert out["mcu_source"].splitlines()[10] == "def set_led(state):"
    exports = out["manifest"]["exports"]
    assert exports["set_led"] == {"kind": "function", "line": 11, "signature": "state"}
    assert exports["setup"]["kind"] == "setup" and exports["Pin"]["kind"] == "import"
    assert out["sizes"]["source_bytes"] == len(out["mcu_source"].encode())
    assert out["sizes"]["mpy_bytes"] > 0


def test_mpy_output(blinky: Path, tmp_path: Path) -> None:
    out = tmp_path / "blinky.mpy"
    assert main(["bundle", str(blinky), "--mpy", str(out)]) == 0
    assert out.read_bytes()[:2] == b"M\x06"


def test_format(blinky: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "blinky.mpy"
    assert main(["bundle", str(blinky), "--json", "--format", "6.1", "--mpy", str(out)]) == 0
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert manifest["format"] == "6.1"
    assert "mpy v6.1" in manifest["compiler"]
    assert out.read_bytes()[:2] == b"M\x06"


def test_source_format_has_no_mpy(blinky: Path, tmp_path: Path, capsys) -> None:
    assert main(["bundle", str(blinky), "--format", "source"]) == 0
    assert "uploaded as source" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="source"):
        main(["bundle", str(blinky), "--format", "source", "--mpy", str(tmp_path / "x.mpy")])


def test_bad_format_names_it(blinky: Path) -> None:
    with pytest.raises(SystemExit, match="'6.3:z80'"):
        main(["bundle", str(blinky), "--format", "6.3:z80"])


def test_line_numbers_follow_python_lines(tmp_path: Path, capsys) -> None:
    path = tmp_path / "odd.py"
    path.write_text('#@mcu\ns = "a\u2028b\x0cc"\n#@mcu\ndef f():\n    return s\n', encoding="utf-8")
    assert main(["bundle", str(path)]) == 0
    assert "4 | def f():" in capsys.readouterr().out


def test_byte_order_mark_is_not_code_before_a_marker(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbf#@mcu\r\ndef f():\r\n    return 1\r\n")
    assert main(["bundle", str(path)]) == 0
    assert "2 | def f():" in capsys.readouterr().out


def test_marker_error_exits_1_at_file_and_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("x = 1\n\n#@mcu bogus\ndef f(): pass\n", encoding="utf-8")
    assert main(["bundle", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path.resolve()}:3: MarkerError:" in err
    assert "#@mcu bogus" in err


def test_board_compile_error_exits_1_at_file_and_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text("x = 1\n#@mcu\ndef f():\n    nonlocal x\n", encoding="utf-8")
    assert main(["bundle", str(path)]) == 1
    assert f"{path.resolve()}:4: SyntaxError:" in capsys.readouterr().err


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.py"
    with pytest.raises(SystemExit) as caught:
        main(["bundle", str(missing)])
    assert caught.value.code not in (0, None)
    assert "nowhere.py" in str(caught.value.code)


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_python_dash_m(blinky: Path) -> None:
    proc = _run(sys.executable, "-m", "belay_hook", "bundle", str(blinky), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "set_led" in json.loads(proc.stdout)["manifest"]["exports"]
    proc = _run(sys.executable, "-m", "belay_hook", "bundle", str(blinky.with_name("gone.py")))
    assert proc.returncode != 0 and "gone.py" in proc.stderr


def test_console_script(blinky: Path) -> None:
    script = shutil.which("belay-hook")
    if script is None:
        if os.environ.get("CI"):
            pytest.fail("the belay-hook console script is not installed")
        pytest.skip("the belay-hook console script is not installed")
    proc = _run(script, "bundle", str(blinky))
    assert proc.returncode == 0, proc.stderr
    assert "11 | def set_led(state):" in proc.stdout
