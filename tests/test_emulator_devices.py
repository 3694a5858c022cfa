"""Virtual I2C and SPI devices on the emulated board's buses, on the real VM."""

from __future__ import annotations

import pytest

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator

TMP102 = """
from machine import I2C

class TMP102:
    def __init__(self, i2c, addr=0x48):
        self.i2c, self.addr = i2c, addr

    def celsius(self):
        raw = self.i2c.readfrom_mem(self.addr, 0x00, 2)
        return ((raw[0] << 4) | (raw[1] >> 4)) * 0.0625

    def shutdown(self):
        config = bytearray(self.i2c.readfrom_mem(self.addr, 0x01, 2))
        config[0] |= 0x01
        self.i2c.writeto_mem(self.addr, 0x01, config)

sensor = TMP102(I2C(0))
"""


def test_sensor_driver_reads_and_writes_an_i2c_device(emulator: Emulator, link: Link) -> None:
    tmp102 = emulator.add_i2c_device(
        bus=0, addr=0x48, registers={0x00: b"\x19\x00", 0x01: b"\x60\xa0"}
    )
    link.exec(TMP102)
    assert link.exec("print(sensor.celsius())") == b"25.0\n"
    tmp102.set(0x00, b"\x1a\x80")  # it got warmer
    assert link.exec("print(sensor.celsius())") == b"26.5\n"
    link.exec("sensor.shutdown()")
    assert tmp102.writes == [(0x01, b"\x61\xa0")]
    assert tmp102.registers == {0x00: b"\x1a\x80", 0x01: b"\x61\xa0"}
    assert tmp102.read(0x00, 2) == b"\x1a\x80"


def test_scan_lists_devices_per_bus(emulator: Emulator, link: Link) -> None:
    emulator.add_i2c_device(bus=0, addr=0x68)
    emulator.add_i2c_device(bus=0, addr=0x3C)
    emulator.add_i2c_device(bus=1, addr=0x48)
    emulator.add_i2c_device(bus=-1, addr=0x20)
    code = (
        "from machine import I2C, SoftI2C, Pin\n"
        "print(I2C(0).scan(), I2C(1).scan(), SoftI2C(Pin(1), Pin(0)).scan())"
    )
    assert link.exec(code) == b"[60, 104] [72] [32]\n"


def test_pointer_writes_and_plain_reads(emulator: Emulator, link: Link) -> None:
    device = emulator.add_i2c_device(addr=0x50, registers={0x10: b"abcd"})
    code = (
        "from machine import I2C\ni2c = I2C(0)\ni2c.writeto(0x50, b'\\x11')\n"
        "buf = bytearray(2)\ni2c.readfrom_into(0x50, buf)\n"
        "print(bytes(buf), i2c.readfrom(0x50, 1))\n"
        "i2c.writeto(0x50, b'\\x20XY')\nprint(i2c.readfrom_mem(0x50, 0x20, 2))"
    )
    assert link.exec(code) == b"b'bc' b'd'\nb'XY'\n"
    assert device.writes == [(0x20, b"XY")]


def test_nothing_at_an_address_raises_eio(emulator: Emulator, link: Link) -> None:
    emulator.add_i2c_device(addr=0x48)
    with pytest.raises(OSError, match="5"):
        link.exec("from machine import I2C\nI2C(0).readfrom_mem(0x49, 0, 1)")


def test_devices_keep_their_registers_across_a_reset(emulator: Emulator, link: Link) -> None:
    device = emulator.add_i2c_device(addr=0x48, registers={0: b"\x01"})
    link.exec("from machine import I2C\nI2C(0).writeto_mem(0x48, 0, b'\\x02')")
    link.soft_reset()
    assert (
        link.exec("from machine import I2C\nprint(I2C(0).readfrom_mem(0x48, 0, 1))")
        == b"b'\\x02'\n"
    )
    assert device.registers == {0: b"\x02"}


def test_spi_device_answers_while_selected(emulator: Emulator, link: Link) -> None:
    device = emulator.add_spi_device(bus=1, cs=17, registers={0x0F: b"\x33"})
    code = (
        "from machine import SPI, Pin\ncs = Pin(17, Pin.OUT, value=1)\nspi = SPI(1)\n"
        "cs(0)\nspi.write(b'\\x8f')\nwho = spi.read(1)\ncs(1)\n"
        "cs(0)\nspi.write(b'\\x20\\x01\\x02')\ncs(1)\n"
        "cs(0)\nrx = bytearray(3)\nspi.write_readinto(b'\\xa0\\x00\\x00', rx)\ncs(1)\n"
        "print(who, bytes(rx), spi.read(1))"
    )
    assert link.exec(code) == b"b'3' b'\\x00\\x01\\x02' b'\\x00'\n"
    assert device.writes == [(0x20, b"\x01"), (0x21, b"\x02")]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda emu: emu.add_i2c_device(addr=0x80), "I2C address"),
        (lambda emu: emu.add_i2c_device(bus="0"), "bus must be"),
        (lambda emu: emu.add_i2c_device(registers={0: "text"}), "non-empty bytes"),
        (lambda emu: emu.add_spi_device(cs="two words"), "one word"),
    ],
)
def test_bad_device_is_refused_naming_the_problem(emulator: Emulator, call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call(emulator)
