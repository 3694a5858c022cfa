"""`belay-hook run` and how a port is chosen when none is given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from belay_hook.board import ports

ROOT = Path(__file__).resolve().parent.parent


def test_led_example_runs_on_the_emulator(micropython: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "belay_hook", "run", "examples/01_led/main.py",
         "--port", "emulator", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("device: LED 1") == 2
    assert "host: blinked 2 times; the LED is now off" in proc.stdout
    # the emulator shows the LED going on and off
    assert "Pin(25) -> 1" in proc.stderr and "Pin(25) -> 0" in proc.stderr


@pytest.mark.parametrize("where", ["before FILE", "after FILE"])
def test_no_pins_keeps_the_pin_trace_off(micropython: str, where: str) -> None:
    led = "examples/01_led/main.py"
    args = ["--no-pins", led] if where == "before FILE" else [led, "--no-pins"]
    proc = subprocess.run(
        [sys.executable, "-m", "belay_hook", "run", *args, "--port", "emulator", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("device: LED 1") == 1 and "Pin(" not in proc.stderr


def test_run_passes_arguments_and_reports_board_errors(micropython: str, tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import sys\n\n#@mcu\ndef inverse(x):\n    return 1 / x\n\n"
        "print(sys.argv[1:])\nprint(inverse(int(sys.argv[1])))\n"
    )
    run = [sys.executable, "-m", "belay_hook", "run", str(prog), "--port", "emulator"]
    ok = subprocess.run([*run, "4"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["['4']", "0.25"]
    bad = subprocess.run([*run, "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    assert f'File "{prog}", line 5, in inverse' in bad.stderr
    assert "ZeroDivisionError" in bad.stderr


def test_run_missing_file() -> None:
    from belay_hook.cli import main

    with pytest.raises(SystemExit, match="nope.py"):
        main(["run", "nope.py", "--port", "emulator"])


def test_port_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELAY_HOOK_PORT", "/dev/from-env")
    assert ports.resolve("/dev/given") == "/dev/given"
    assert ports.resolve() == "/dev/from-env"


def test_port_from_pyproject(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BELAY_HOOK_PORT", raising=False)
    (tmp_path / "pyproject.toml").write_text('[tool.belay_hook]\nport = "socket://localhost:1"\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert ports.resolve(start=nested) == "socket://localhost:1"


def test_port_falls_back_to_emulator_with_notice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("BELAY_HOOK_PORT", raising=False)
    monkeypatch.setattr(ports, "usb_boards", lambda: [])
    assert ports.resolve(start=tmp_path) == ports.EMULATOR
    assert "using the emulator" in capsys.readouterr().err


def test_several_usb_boards_must_be_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    class Port:
        def __init__(self, device: str) -> None:
            self.device, self.description = device, "Board in FS mode"

    monkeypatch.delenv("BELAY_HOOK_PORT", raising=False)
    monkeypatch.setattr(ports, "usb_boards", lambda: [Port("/dev/ttyACM0"), Port("/dev/ttyACM1")])
    with pytest.raises(ConnectionError, match="ttyACM0.*ttyACM1"):
        ports.resolve(start=tmp_path)
    monkeypatch.setattr(ports, "usb_boards", lambda: [Port("/dev/ttyACM3")])
    assert ports.resolve(start=tmp_path) == "/dev/ttyACM3"
