"""The MCU part of every example runs on the real MicroPython VM (the unix port).

Each module is split, its board part compiled for the VM's own .mpy format and
imported by ``micropython`` next to a fake ``machine`` module; then every board
function that can be called without arguments is called once. The split itself
must pass ``check_split`` too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from belay_hook import bundle
from belay_hook.rpc import stubs
from belay_hook.splitter.cut import split
from belay_hook.strategies import check_split

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

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

SENSOR = '''\
"""More kinds of board code: a constant, defaults, async, a class, an error."""
import statistics

#@mcu
import asyncio

#@mcu
from machine import ADC, Pin

#@mcu
SCALE = 3.3 / 65535

#@mcu setup
def setup():
    adc = ADC(Pin(26))
    readings = []

#@mcu
def read_volts(samples=4, *, verbose=True):
    total = 0
    for _ in range(samples):
        total += adc.read_u16()
    readings.append(total / samples * SCALE)
    if verbose:
        print("device: volts", readings[-1])
    return readings[-1]

#@mcu
async def settle(ms=1):
    await asyncio.sleep_ms(ms)
    print("device: settled")

#@mcu
class Smoother:
    def __init__(self, k=0.5):
        self.k = k

#@mcu
def fail(reason):
    raise ValueError(reason)

def mean_volts(n):
    return statistics.mean(read_volts() for _ in range(n))
'''

# Just enough of MicroPython's machine module to run examples off a board.
FAKE_MACHINE = """\
class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._value = 1 if value else 0

    def init(self, *args, **kwargs):
        pass

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0
        print("machine: Pin(%r) = %d" % (self.id, self._value))

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(not self._value)

    def irq(self, handler=None, trigger=0):
        pass


class ADC:
    def __init__(self, source, *args, **kwargs):
        self.source = source

    def read_u16(self):
        return 32768


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self._freq, self._duty = freq, duty_u16

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        self._duty = value

    def deinit(self):
        pass


class Timer:
    PERIODIC = 1
    ONE_SHOT = 0

    def __init__(self, id=-1, **kwargs):
        pass

    def init(self, **kwargs):
        pass

    def deinit(self):
        pass


def freq(hz=None):
    return 125000000


def unique_id():
    return b"\\x01\\x02\\x03\\x04"
"""


def _examples() -> List[pytest.param]:
    files = sorted(EXAMPLES.glob("**/*.py")) if EXAMPLES.is_dir() else []
    found = [p for p in files if "#@mcu" in p.read_text(encoding="utf-8")]
    return [pytest.param(p, id=str(p.relative_to(EXAMPLES))) for p in found]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds go to a temporary cache, never the user's."""
    monkeypatch.setenv("BELAY_HOOK_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def vm_format(micropython: str) -> bundle.BoardFormat:
    """The .mpy format the VM loads, as a board reports it. (``micropython``, from
    conftest, fails the run on CI when the VM is missing and skips elsewhere.)"""
    proc = subprocess.run(
        [micropython, "-c", "import sys; print(sys.implementation._mpy)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return bundle.BoardFormat.from_mpy(int(proc.stdout))


def _run_board_part(
    micropython: str,
    fmt: bundle.BoardFormat,
    source: str,
    filename: str,
    folder: Path,
    calls: List[str] | None = None,
) -> subprocess.CompletedProcess:
    """Import the module's board part on the VM, then run ``calls`` (default: every
    board function that takes no required arguments, once)."""
    result = split(source, filename)
    built = bundle.build(result, fmt)
    (folder / ("board_part.mpy" if built.is_mpy else "board_part.py")).write_bytes(built.code)
    (folder / "machine.py").write_text(FAKE_MACHINE, encoding="utf-8")
    # On a board the agent provides `belay_hook.emit`; here a stand-in prints events.
    (folder / "belay_hook.py").write_text(
        "def emit(topic, value=None):\n    print('event', topic, value)\n", encoding="utf-8"
    )
    if calls is None:
        calls = [_call(name, kind) for name, kind in _callable(result.details).items()]
    runner = ["import board_part", *calls, "print('ran all')"]
    (folder / "run.py").write_text("\n".join(runner) + "\n", encoding="utf-8")
    return subprocess.run(
        [micropython, str(folder / "run.py")], capture_output=True, text=True, timeout=60
    )


def _callable(details: Dict[str, bundle.Export]) -> Dict[str, str]:
    """Board functions that can be called without arguments: name -> kind."""
    out = {}
    for name, export in details.items():
        if export.kind in ("function", "async_function"):
            params = stubs.signature(export.signature or "").parameters.values()
            if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                   for p in params):  # fmt: skip
                out[name] = export.kind
    return out


def _call(name: str, kind: str) -> str:
    """One call, on one line. Errors that mean a broken split (a name, module or
    attribute missing on the board, a bad call) fail the run; an exception an
    example raises on purpose (05_exception) is only reported."""
    call = f"board_part.{name}()"
    if kind == "async_function":
        call = f"__import__('asyncio').run(board_part.{name}())"
    broken = "(NameError, ImportError, AttributeError, TypeError, SyntaxError)"
    return (
        f"try:\n    {call}\nexcept {broken}:\n    raise\n"
        f"except Exception as e:\n    print('{name} raised', type(e).__name__)"
    )


@pytest.mark.parametrize(
    "path", [*_examples(), pytest.param("BLINKY", id="blinky"), pytest.param("SENSOR", id="sensor")]
)
def test_board_part_runs_on_the_vm(path, micropython, vm_format, tmp_path: Path) -> None:
    if isinstance(path, Path):
        source, filename = path.read_text(encoding="utf-8"), str(path)
    else:
        source, filename = globals()[path], f"/project/{path.lower()}.py"
    check_split(source, filename)
    proc = _run_board_part(micropython, vm_format, source, filename, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("ran all")


def test_sensor_calls_reach_the_board(micropython, vm_format, tmp_path: Path) -> None:
    proc = _run_board_part(micropython, vm_format, SENSOR, "/project/sensor.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "device: volts 1.65" in proc.stdout  # 32768 of 65535 at 3.3 V
    assert "device: settled" in proc.stdout


def test_blinky_drives_the_pin(micropython, vm_format, tmp_path: Path) -> None:
    calls = ["board_part.set_led(1)", "board_part.set_led(0)"]
    proc = _run_board_part(micropython, vm_format, BLINKY, "/project/blinky.py", tmp_path, calls)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "device: LED 1",
        "machine: Pin(25) = 1",
        "device: LED 0",
        "machine: Pin(25) = 0",
        "ran all",
    ]


def test_board_traceback_points_at_the_host_file_and_line(
    micropython, vm_format, tmp_path: Path
) -> None:
    line = SENSOR.splitlines().index("    raise ValueError(reason)") + 1
    calls = ["board_part.fail('no')"]
    proc = _run_board_part(micropython, vm_format, SENSOR, "/project/sensor.py", tmp_path, calls)
    output = proc.stdout + proc.stderr  # the unix port prints tracebacks to stdout
    assert proc.returncode != 0
    assert f'File "/project/sensor.py", line {line}, in fail' in output
    assert "ValueError: no" in output
