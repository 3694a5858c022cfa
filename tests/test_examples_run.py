"""Every example runs on the emulated board as it is, the way the README says to run it,
on a 64 KB heap: what a small board (ESP8266, SAMD21, a small STM32) has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# example folder -> lines its output must hold
EXPECTED = {
    "01_led": ["device: LED 1", "host: blinked 3 times; the LED is now off"],
    "04_thread": [
        "host: blinker started, the host is free",
        "host: the board blinked",
        "device: blinker stopped",
    ],
    "05_exception": [
        "channel 1: 21",
        "channel 7: ValueError('no sensor on channel 7')",
        "05_exception/main.py:17: raise ValueError",
        "open_log: OSError errno 2",
        "humidity 1: 40%",
        "humidity 2: SensorError('humidity out of range', 2, 140)",
        "parse_reading: caught as ValueError: ReadingError: not a number: 4x2",
    ],
    "06_sync": ["host: lib/ -> /lib: 1 uploaded", "host: sent 'SOS' in 9 flashes"],
    "08_classes": ["led: 6 changes, on now: False", "isinstance(led, Blinker): True"],
    "09_two_boards": ["left blinked 5 times", "right blinked 5 times"],
    "10_generators": [
        "sample 4:",
        "countdown: [5, 4, 3, 2, 1]",
        "stopped early at 999997",
        "Device: bar",
        "host: the board counted 10 characters",
    ],
    "11_proxy_objects": ["len 2, 'left' in it: True", "average 21.33"],
    "13_callbacks": [
        "results: [50.0, 100.0, 150.0]",
        "went through the board and back: host rejects channel 2",
    ],
    "14_events": [
        "host: button pressed (presses so far: 1)",
        "host: button released (presses so far: 3)",
        "host: the board counted 3 presses",
    ],
    "16_single_file": [
        "host: the board flashed 3 times",
        "host: caught SensorError from the board: no channel 7",
    ],
    "17_one_module_two_boards": [
        "left blinked 3 times, right blinked 5 times",
        "isinstance(b, right.Blinker): True",
        "isinstance(b, left.Blinker): False",
    ],
}


def test_every_example_is_covered() -> None:
    folders = {p.parent.name for p in EXAMPLES.glob("*/main.py")}
    assert folders <= set(EXPECTED), f"add expectations for {sorted(folders - set(EXPECTED))}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(micropython: str, name: str) -> None:
    main = EXAMPLES / name / "main.py"
    proc = subprocess.run(
        [sys.executable, "-m", "belay_hook", "run", str(main), "--port", "emulator"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=main.parent,
        env=dict(os.environ, BELAY_HOOK_EMULATOR_HEAP="64k"),
    )
    assert proc.returncode == 0, proc.stderr
    for line in EXPECTED[name]:
        assert line in proc.stdout, f"{line!r} not in output:\n{proc.stdout}"


@pytest.mark.parametrize("name", ["01_led", "16_single_file"])
def test_single_file_example_runs_with_plain_python(micropython: str, name: str) -> None:
    """`python main.py`, the way Belay programs run: install() at the top is enough."""
    main = EXAMPLES / name / "main.py"
    proc = subprocess.run(
        [sys.executable, str(main)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=main.parent,
        env=dict(os.environ, BELAY_HOOK_PORT="emulator", BELAY_HOOK_EMULATOR_HEAP="64k"),
    )
    assert proc.returncode == 0, proc.stderr
    for line in EXPECTED[name]:
        assert line in proc.stdout, f"{line!r} not in output:\n{proc.stdout}"
