"""The serial ports on this machine, and which of them look like MicroPython boards.

A user with three USB gadgets plugged in needs to see which one is the board, and
what to pass as ``--port`` to pick it for good (a ``/dev/ttyACM*`` name changes
with the plugging order; a serial number does not).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List

# USB vendor IDs of boards that run MicroPython or CircuitPython out of the box.
BOARD_VIDS = {
    0x2E8A: "Raspberry Pi",
    0xF055: "MicroPython",
    0x303A: "Espressif",
    0x239A: "Adafruit",
    0x1B4F: "SparkFun",
    0x2886: "Seeed",
}

# Text in a port's description, manufacturer or product that only such boards report
# ("Board in FS mode" is the pyboard's USB product string).
BOARD_HINTS = ("micropython", "circuitpython", "board in fs mode")


@dataclass(frozen=True)
class Device:
    """One serial port as pyserial reports it, reduced to what identifies a board."""

    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    description: str | None = None

    @classmethod
    def from_port(cls, info: Any) -> Device:
        """From a pyserial ``ListPortInfo`` (or anything with its attributes)."""
        return cls(
            device=info.device,
            vid=getattr(info, "vid", None),
            pid=getattr(info, "pid", None),
            serial_number=getattr(info, "serial_number", None),
            manufacturer=getattr(info, "manufacturer", None),
            product=getattr(info, "product", None),
            description=getattr(info, "description", None),
        )

    @property
    def usb_id(self) -> str:
        """``vid:pid`` in lower-case hex, as ``usb:`` selectors take it; "" off USB."""
        if self.vid is None or self.pid is None:
            return ""
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def vendor(self) -> str | None:
        """The board maker, when the vendor ID is one of `BOARD_VIDS`."""
        return BOARD_VIDS.get(self.vid) if self.vid is not None else None

    @property
    def is_board(self) -> bool:
        """Whether it looks like a MicroPython/CircuitPython board."""
        if self.vendor is not None:
            return True
        text = " ".join(filter(None, (self.description, self.manufacturer, self.product)))
        return any(hint in text.lower() for hint in BOARD_HINTS)

    @property
    def label(self) -> str:
        """What the port is, for people: the description, else maker and product."""
        if self.description and self.description != "n/a":
            return self.description
        return " ".join(filter(None, (self.manufacturer, self.product))) or "-"

    @property
    def selector(self) -> str:
        """The most specific ``--port`` that picks this port again after replugging."""
        if self.usb_id and self.serial_number:
            return f"usb:{self.usb_id}:{self.serial_number}"
        return f"usb:{self.usb_id}" if self.usb_id else self.device

    def summary(self) -> str:
        """One line for error messages: device, VID:PID, serial number, description."""
        parts = [self.device, self.usb_id or "no USB id"]
        parts.append(f"serial {self.serial_number}" if self.serial_number else "no serial")
        return f"{', '.join(parts)} ({self.label})"

    def to_json(self) -> Dict[str, Any]:
        """Plain data for ``belay-hook devices --json``."""
        data = asdict(self)
        data.update(usb_id=self.usb_id or None, vendor=self.vendor, board=self.is_board,
                     selector=self.selector)  # fmt: skip
        return data


def scan() -> List[Device]:
    """Every serial port pyserial finds, sorted by device name."""
    from serial.tools import list_ports

    return sorted((Device.from_port(p) for p in list_ports.comports()), key=lambda d: d.device)


def table(devices: List[Device]) -> str:
    """A fixed-width listing, boards marked with ``*``."""
    rows = [("", "DEVICE", "VID:PID", "SERIAL", "DESCRIPTION")]
    for d in devices:
        rows.append(("*" if d.is_board else "", d.device, d.usb_id or "-",
                     d.serial_number or "-", d.label))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)
