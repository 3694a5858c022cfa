"""The emulated board against what firmware does, on the real MicroPython VM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, List

import pytest
import serial

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def _children(pid: int) -> List[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _all_gone(pids: Iterable[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def port(emulator: Emulator) -> Iterable[serial.Serial]:
    """The emulator's port, opened with plain pyserial: to check exact bytes."""
    with serial.Serial(emulator.port, timeout=10) as opened:
        yield opened


def _raw_repl(port: serial.Serial) -> None:
    port.write(b"\x01")
    assert port.read_until(RAW_PROMPT).endswith(RAW_PROMPT)


# -- processes ---------------------------------------------------------------------


def test_close_leaves_no_process_or_folder(micropython: str) -> None:
    emu = Emulator().start()
    bridge = emu._bridge.pid
    vms = _children(bridge)  # the VM, and the spare that the next reset starts
    state = emu._state
    assert len(vms) == 2 and all(map(_alive, vms)) and state.is_dir()
    emu.close()
    assert _all_gone([bridge, *vms])
    assert not state.exists()


def test_dead_host_takes_bridge_and_vm_along(micropython: str) -> None:
    script = (
        "import time\nfrom belay_hook.emulator import Emulator\n"
        "emu = Emulator().start()\nprint(emu._bridge.pid, emu._state, flush=True)\n"
        "time.sleep(60)\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    host = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": root},
    )
    try:
        pid, state = host.stdout.readline().decode().split()
        bridge = int(pid)
        vms = _children(bridge)
        assert vms
    finally:
        host.kill()
        host.wait()
        host.stdout.close()
    assert _all_gone([bridge, *vms])
    subprocess.run(["rm", "-rf", state], check=True)  # its finalizer never ran


def test_dead_bridge_takes_vm_along(micropython: str) -> None:
    emu = Emulator().start()
    vms = _children(emu._bridge.pid)
    emu._bridge.kill()
    assert _all_gone(vms)
    emu.close()


def test_a_reset_still_boots_when_the_spare_vm_died(emulator: Emulator, port) -> None:
    def started(pid: int) -> int:  # clock ticks after boot (field 22 of /proc/PID/stat)
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])

    spare = max(_children(emulator._bridge.pid), key=started)  # started after the VM
    os.kill(spare, signal.SIGKILL)
    assert _all_gone([spare])
    port.write(b"\x04")
    assert port.read_until(b">>> ").startswith(b"\r\nMPY: soft reboot\r\nMicroPython ")
    assert spare not in _children(emulator._bridge.pid)


def test_start_reports_a_vm_that_cannot_boot(micropython: str) -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        Emulator(heap="nonsense").start()


# -- REPL behaviour ------------------------------------------------------------------


def test_soft_reboot_in_raw_repl_is_what_firmware_sends(emulator: Emulator, port) -> None:
    vm = _children(emulator._bridge.pid)
    _raw_repl(port)
    port.write(b"x = 42\x04")
    assert port.read_until(b">") == b"OK\x04\x04>"
    port.write(b"\x04")
    assert port.read_until(RAW_PROMPT) == b"OK\r\nMPY: soft reboot\r\n" + RAW_PROMPT
    assert _children(emulator._bridge.pid) != vm  # a fresh VM ...
    port.write(b"print(x)\x04")
    assert b"NameError" in port.read_until(b"\x04>")  # ... with nothing left of the old one


def test_soft_reboot_in_friendly_repl(emulator: Emulator, port) -> None:
    port.write(b"\x04")
    reply = port.read_until(b">>> ")
    assert reply.startswith(b"\r\nMPY: soft reboot\r\nMicroPython ")
    assert reply.endswith(b'Type "help()" for more information.\r\n>>> ')


@pytest.mark.parametrize(
    "code", [b"import sys\nsys.exit()", b"import machine\nmachine.soft_reset()"]
)
def test_exit_in_board_code_is_a_soft_reboot(emulator: Emulator, port, code: bytes) -> None:
    _raw_repl(port)
    port.write(b"x = 1\x04")
    port.read_until(b"\x04>")
    port.write(code + b"\x04")
    assert port.read_until(RAW_PROMPT) == b"OK\x04\x04MPY: soft reboot\r\n" + RAW_PROMPT
    port.write(b"print(x)\x04")
    assert b"NameError" in port.read_until(b"\x04>")


def test_machine_reset_is_a_hard_reset(emulator: Emulator, port) -> None:
    _raw_repl(port)
    port.write(b"x = 1\x04")
    port.read_until(b"\x04>")
    port.write(b"import machine\nmachine.reset()\x04")
    reply = port.read_until(b">>> ")
    assert reply.startswith(b"OK\x04\x04MicroPython ") and b"soft reboot" not in reply
    _raw_repl(port)  # back in the friendly REPL, as after power-up
    port.write(b"print(x)\x04")
    assert b"NameError" in port.read_until(b"\x04>")


@pytest.mark.parametrize("raw_paste", [True, False])
def test_ctrl_c_interrupts_running_code(emulator: Emulator, raw_paste: bool) -> None:
    with Link(emulator.port, raw_paste=raw_paste) as link:
        link.exec_start("while True:\n    pass")
        time.sleep(0.1)
        link.serial.write(b"\x03")
        reply = link.read_until(b"\x04>", timeout=5)
        assert reply.startswith(b"\x04Traceback") and b"KeyboardInterrupt" in reply
        assert link.raw_paste is raw_paste


def test_ctrl_c_at_the_prompt_keeps_the_vm(emulator: Emulator, port) -> None:
    vm = _children(emulator._bridge.pid)
    port.write(b"\x03")
    assert port.read_until(b">>> ") == b"\r\n>>> "
    _raw_repl(port)
    port.write(b"\x03\x03print(1)\x04")  # Ctrl-C clears the raw REPL's line
    assert port.read_until(b"\x04>") == b"OK1\n\x04\x04>"
    assert _children(emulator._bridge.pid) == vm


def test_ctrl_c_is_data_after_kbd_intr_off(link: Link) -> None:
    link.exec_start(
        "import micropython, sys\nmicropython.kbd_intr(-1)\nprint(sys.stdin.buffer.read(1))"
    )
    link.serial.write(b"\x03")
    assert link.read_until(b"\x04>", timeout=5) == b"b'\\x03'\n\x04\x04>"


# -- stdin/stdout while code runs ----------------------------------------------------


def test_all_bytes_but_ctrl_c_reach_running_code_unchanged(link: Link) -> None:
    data = bytes(b for b in range(256) if b != 0x03) * 4
    link.exec_start(f"import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read({len(data)}))")
    link.write(data)
    assert link.read_exactly(len(data), timeout=5) == data
    assert link.read_exactly(3) == b"\x04\x04>"


def test_stdin_read_waits_for_all_bytes(link: Link) -> None:
    assert link.exec("import sys\nprint(hasattr(sys.stdin.buffer, 'readinto'))") == b"True\n"
    link.exec_start("import sys\nprint(sys.stdin.buffer.read(5))")
    link.write(b"ab")
    time.sleep(0.2)
    assert link.in_waiting == 0
    link.write(b"cde")
    assert link.read_until(b"\n") == b"b'abcde'\n"


def test_big_write_is_held_back_not_lost(link: Link) -> None:
    size = 200_000
    data = bytes((i * 7 + 1) % 256 for i in range(size)).replace(b"\x03", b"\x04")
    link.exec_start(
        "import sys, time\ntime.sleep(1)\nn = total = 0\n"
        f"while n < {size}:\n"
        f"    d = sys.stdin.buffer.read(min(4096, {size} - n))\n"
        "    n += len(d)\n    total += sum(d)\nprint(n, total)"
    )
    start = time.monotonic()
    link.write(data)
    waited = time.monotonic() - start
    assert link.read_until(b"\n", timeout=30) == f"{size} {sum(data)}\n".encode()
    assert waited > 0.5  # the board read nothing for a second: the host's write had to wait


# -- flash ---------------------------------------------------------------------------


def test_board_sees_only_its_flash(emulator: Emulator, link: Link) -> None:
    assert link.exec("import os\nprint(os.listdir('/'))") == b"[]\n"
    for path in ("/etc/passwd", "/../etc/passwd", "../../../../../../etc/passwd"):
        with pytest.raises(FileNotFoundError):
            link.exec(f"open({path!r})")
    link.exec("os.chdir('/..')\nopen('x', 'w').write('hi')\nos.rename('/x', '/y')")
    assert link.exec("print(os.getcwd(), os.listdir())") == b"/ ['y']\n"
    assert (emulator.flash_dir / "y").read_text() == "hi"
    link.exec("os.mkdir('/lib')\nopen('/lib/mod.py', 'w').write('V = 7')")
    assert link.exec("import mod\nprint(mod.V)") == b"7\n"


def test_given_flash_folder_is_kept_across_reboots_and_close(micropython: str, tmp_path) -> None:
    with Emulator(flash_dir=tmp_path) as emu, Link(emu.port) as link:
        link.exec("open('/main.py', 'w').write('print(1)')")
        link.soft_reset()
        assert link.exec("print(open('/main.py').read())") == b"print(1)\n"
    assert (tmp_path / "main.py").read_text() == "print(1)"


def test_board_has_no_trace_of_the_boot(link: Link) -> None:
    reply = link.exec("import sys\nprint(sys.path, sys.argv, 'flash' in sys.modules, dir())")
    assert reply == b"['', '.frozen', '/lib'] [] False ['sys', '__name__', '__file__']\n"


# -- machine module ------------------------------------------------------------------


def test_output_pins_are_visible_on_the_host(emulator: Emulator, link: Link) -> None:
    link.exec("from machine import Pin\np = Pin(25, Pin.OUT)\np.on()\np.off()\np.toggle()")
    link.exec("Pin('LED').value(0)\nPin(2, Pin.OUT, value=1)\nPin(3, Pin.IN).value(1)")
    assert emulator.pins == {25: 0, 2: 1}
    assert emulator.pin_history(25) == [0, 1, 0, 1, 0]
    times = [when for when, _, _ in emulator.pin_events()]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 60


def test_set_input_drives_board_inputs(emulator: Emulator, link: Link) -> None:
    read = (
        "from machine import Pin, ADC\n"
        "print(Pin(5, Pin.IN).value(), Pin(6, Pin.IN, Pin.PULL_UP).value(), ADC(26).read_u16())"
    )
    assert link.exec(read) == b"0 1 0\n"
    emulator.set_input(5, 1)
    emulator.set_input(6, 0)
    emulator.set_input(26, 40000)
    assert link.exec(read) == b"1 0 40000\n"


def test_show_pins_prints_changes_on_stderr(micropython: str, capfd) -> None:
    with Emulator(show_pins=True) as emu, Link(emu.port) as link:
        link.exec("from machine import Pin\nPin(25, Pin.OUT).on()")
        shown = ""
        deadline = time.monotonic() + 5
        while "Pin(25) -> 1" not in shown and time.monotonic() < deadline:
            time.sleep(0.05)
            shown += capfd.readouterr().err
    assert "[emulator] Pin(25) -> 0 \u25cb" in shown
    assert "[emulator] Pin(25) -> 1 \u25cf" in shown


def test_machine_peripherals(link: Link) -> None:
    code = """
import machine
from machine import I2C, SPI, PWM, Pin
i2c = I2C(0, scl=Pin(1), sda=Pin(0))
try:
    i2c.readfrom(0x3C, 2)
except OSError as e:
    nobody = e.errno
spi = SPI(0)
rx = bytearray(3)
spi.write_readinto(b'abc', rx)
pwm = PWM(Pin(15), freq=1000, duty_u16=32768)
print(i2c.scan(), nobody, rx, spi.read(2))
print(pwm.freq(), pwm.duty_u16(), pwm.duty_ns(), len(machine.unique_id()), machine.freq())
print(machine.time_pulse_us(Pin(7, Pin.IN), 1, 2000), machine.disable_irq())
"""
    assert link.exec(code) == (
        b"[] 5 bytearray(b'\\x00\\x00\\x00') b'\\x00\\x00'\n1000 32768 500007 8 125000000\n-2 0\n"
    )


def test_timer_calls_back_until_deinit(link: Link) -> None:
    code = """
import machine, time
ticks = 0
def tick(timer):
    global ticks
    ticks += 1
timer = machine.Timer(period=10, callback=tick)
for _ in range(100):
    time.sleep_ms(2)
timer.deinit()
seen = ticks
for _ in range(50):
    time.sleep_ms(2)
print(seen, ticks - seen)
"""
    seen, after = map(int, link.exec(code).split())
    assert 5 <= seen <= 30 and after <= 1  # one tick may have been scheduled already


# -- options -------------------------------------------------------------------------


@pytest.mark.parametrize("heap, size", [("256k", 256 * 1024), ("96k", 96 * 1024)])
def test_heap_option(micropython: str, heap: str, size: int) -> None:
    with Emulator(heap=heap) as emu, Link(emu.port) as link:
        total = int(link.exec("import gc\ngc.collect()\nprint(gc.mem_free() + gc.mem_alloc())"))
    assert 0.9 * size <= total <= size


def test_shaped_link_is_slower(micropython: str) -> None:
    with Emulator(baudrate=115200, latency=0.0005) as emu, Link(emu.port) as link:
        link.enter_raw_repl()
        start = time.monotonic()
        assert len(link.exec("print('x' * 8191)", timeout=30)) == 8192
        # 8 KiB at 11520 bytes/s takes 0.71 s; only a loose bound on a busy machine.
        assert time.monotonic() - start > 0.4


# -- platforms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "system, machine, expected",
    [
        ("Linux", "aarch64", "none for Linux aarch64"),
        ("Darwin", "x86_64", "none for Darwin x86_64"),
        ("Linux", "x86_64", "pip install 'belay_hook[emulator]'"),
    ],
)
def test_no_vm_names_the_platform(monkeypatch, system: str, machine: str, expected: str) -> None:
    import belay_hook.emulator as emulator_module

    monkeypatch.setattr(emulator_module, "find_micropython", lambda: None)
    monkeypatch.setattr(emulator_module.platform, "system", lambda: system)
    monkeypatch.setattr(emulator_module.platform, "machine", lambda: machine)
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        Emulator().start()
