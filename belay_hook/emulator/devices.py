"""Virtual I2C and SPI devices on the emulated board's buses, as the host sees them.

A device is a register map: registers at addresses, each holding bytes (one for a
byte-wide register, two for a word...), read and written from a pointer that moves on
by one per byte, through a register's bytes into the next one's. Enough to test a
sensor driver against. The host and the
board share one log in the emulator's state folder (its format: mcu/emulator/buses.py);
a device's registers are the log replayed, so they stay across board resets, as a chip
on the board's buses does.
"""

from __future__ import annotations

import pathlib
from typing import Dict, Iterator, List, Mapping, Tuple

Registers = Mapping[int, bytes]  # start address -> bytes from there on


def check_range(name: str, value: int, top: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= top:
        raise ValueError(f"{name} must be an int from 0 to {top:#x}, not {value!r}")


class Device:
    """A register-map device the board reaches on a bus (`Emulator.add_i2c_device`,
    `Emulator.add_spi_device`): what the board wrote, and what it will read."""

    def __init__(self, log: pathlib.Path, kind: str, bus: int, ident: int | str):
        self._log = log
        self._key = (kind, str(bus), str(ident))

    def _lines(self) -> Iterator[Tuple[str, int, bytes]]:
        """(verb, address, data) of each register write to this device since it was
        (last) added, oldest first: "def" (the host's) or "set" (the board's)."""
        found: List[Tuple[str, int, bytes]] = []
        for line in self._log.read_text().splitlines():
            words = line.split()
            if tuple(words[2:5]) != self._key:
                continue
            if words[1] == "add":
                found.clear()
            else:
                found.append((words[1], int(words[5]), bytes.fromhex(words[6])))
        return iter(found)

    @property
    def registers(self) -> Dict[int, bytes]:
        """Every register set so far, by the host or the board: ``{address: bytes}``."""
        state: Dict[int, bytes] = {}
        for verb, address, data in self._lines():
            if verb == "def":
                state[address] = data
            else:
                _store(state, address, data)
        return dict(sorted(state.items()))

    def read(self, address: int, count: int) -> bytes:
        """`count` bytes from `address` on, as board code would read them (never set: 0)."""
        registers, out = self.registers, b""
        while len(out) < count:
            found = _locate(registers, address)
            if found is None:
                out, address = out + b"\x00", address + 1
            else:
                start, offset = found
                out += registers[start][offset : offset + count - len(out)]
                address = start + len(registers[start])
        return out

    @property
    def writes(self) -> List[Tuple[int, bytes]]:
        """What board code wrote, oldest first: (start address, bytes)."""
        return [(address, data) for verb, address, data in self._lines() if verb == "set"]

    def set(self, address: int, data: bytes) -> None:
        """Make the register at `address` hold `data`: the board reads it from now on (a
        new measurement, a status bit...)."""
        self._append([self._set_line(address, data)])

    def _set_line(self, address: int, data: bytes) -> str:
        check_range("register address", address, 0xFFFF)
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise ValueError(f"register data must be non-empty bytes, not {data!r}")
        kind, bus, ident = self._key
        return f"host def {kind} {bus} {ident} {address} {bytes(data).hex()}"

    def _append(self, lines: List[str]) -> None:
        with open(self._log, "a", encoding="ascii") as log:  # one write: the board
            log.write("".join(line + "\n" for line in lines))  # sees all or none


def _locate(registers: Dict[int, bytes], address: int) -> Tuple[int, int] | None:
    """(register, offset) holding the byte at `address`; None if none does."""
    if address in registers:
        return address, 0
    start = max((start for start in registers if start < address), default=None)
    if start is not None and address < start + len(registers[start]):
        return start, address - start
    return None


def _store(registers: Dict[int, bytes], address: int, data: bytes) -> None:
    """Bytes written from inside a register overwrite its value from there on."""
    found = _locate(registers, address)
    if found is None:
        registers[address] = data
    else:
        start, offset = found
        value = registers[start]
        registers[start] = value[:offset] + data + value[offset + len(data) :]


def add(log: pathlib.Path, kind: str, bus: int, ident: int | str, extra: str,
        registers: Registers | None) -> Device:  # fmt: skip
    """Put a device on a bus; see `Emulator.add_i2c_device`."""
    if not isinstance(bus, int) or bus < -1:
        raise ValueError(f"bus must be an int (-1 for SoftI2C/SoftSPI), not {bus!r}")
    device = Device(log, kind, bus, ident)
    lines = [f"host add {kind} {bus} {ident}{extra}"]
    lines += [device._set_line(address, data) for address, data in (registers or {}).items()]
    device._append(lines)
    return device
