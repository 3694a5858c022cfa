"""Class attributes, class methods and static methods of a marked class, from the host."""

from __future__ import annotations

import pytest

TMP102 = """\
from machine import I2C

#@mcu
class TMP102:
    REG_TEMP = 0x00
    ADDRESSES = (0x48, 0x49)
    SCALE = 1 / 16
    made = 0  # rebound by __init__: never copied to the host
    bus = I2C(0)  # not a literal: reached through an instance

    def __init__(self, address=0x48):
        self.address = address
        self.mode = "idle"
        TMP102.made += 1

    @classmethod
    def from_bus(cls, index):
        return cls(cls.ADDRESSES[index])

    @staticmethod
    def crc8(data):
        crc = 0
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        return crc

    @classmethod
    def count(cls):
        return cls.made

    def read(self, register):
        return (self.address, register)

    def twin(self):
        return TMP102(self.address + 1)


#@mcu
def make():
    return TMP102(0x4B)
"""


def crc8(data: bytes) -> int:
    """The oracle: the same CRC-8 (polynomial 0x31), computed here."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@pytest.fixture
def sensors(hook, modules):
    modules.write("tmp102_members", TMP102)
    import tmp102_members

    return tmp102_members


def test_literal_class_constants_are_read_on_the_host(sensors) -> None:
    assert sensors.TMP102.REG_TEMP == 0
    assert sensors.TMP102.ADDRESSES == (0x48, 0x49)
    assert sensors.TMP102.SCALE == 0.0625


def test_classmethod_runs_on_the_board_and_returns_an_instance(sensors) -> None:
    sensor = sensors.TMP102.from_bus(1)
    assert isinstance(sensor, sensors.TMP102)
    assert sensor.address == 0x49
    assert sensors.TMP102.count() == 1  # the board's class attribute, after the call


def test_staticmethod_runs_on_the_board(sensors) -> None:
    for data in (b"\xbe\xef", b"", bytes(range(40))):
        assert sensors.TMP102.crc8(data) == crc8(data)


def test_instance_attribute_shadowing_a_class_constant_is_the_board_value(sensors) -> None:
    sensor = sensors.TMP102(0x4A)
    assert sensor.mode == "idle" and sensor.REG_TEMP == 0  # through the instance: the board
    sensor.REG_TEMP = 7
    assert sensor.REG_TEMP == 7 and sensors.TMP102.REG_TEMP == 0


def test_a_rebound_or_computed_class_attribute_says_how_to_reach_it(sensors) -> None:
    with pytest.raises(AttributeError, match="'made'.*through an instance"):
        _ = sensors.TMP102.made
    with pytest.raises(AttributeError, match="'bus'"):
        _ = sensors.TMP102.bus
    assert sensors.TMP102(0x48).made == 1  # through an instance it comes from the board


def test_static_method_checks_its_signature_on_the_host(sensors) -> None:
    with pytest.raises(TypeError, match=r"TMP102.crc8\(\)"):
        sensors.TMP102.crc8()


def test_board_function_returning_an_instance_gives_the_host_class(sensors) -> None:
    sensor = sensors.make()
    assert isinstance(sensor, sensors.TMP102) and sensor.address == 0x4B


def test_method_of_an_object_dropped_at_once_runs_and_checks_its_arguments(sensors) -> None:
    assert sensors.TMP102(0x4C).read(3) == (0x4C, 3)  # the object lives until the call returns
    with pytest.raises(TypeError, match=r"read\(\): missing a required argument: 'register'"):
        sensors.TMP102(0x4C).read()


def test_method_returning_an_instance_gives_the_host_class(sensors) -> None:
    twin = sensors.TMP102(0x48).twin()
    assert isinstance(twin, sensors.TMP102) and twin.read(0) == (0x49, 0)
