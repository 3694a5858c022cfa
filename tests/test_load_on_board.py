"""One marked module bound to several boards with belay_hook.load, no copy of the code."""

from __future__ import annotations

import sys

import pytest

import belay_hook

SENSORS = """
#@mcu
from machine import Pin

#@mcu setup
def setup():
    global presses
    presses = 0

#@mcu
def press():
    global presses
    presses += 1
    return presses

#@mcu
class Lamp:
    def __init__(self, pin):
        self.pin = Pin(pin, Pin.OUT)

    def on(self):
        self.pin.value(1)
"""


@pytest.fixture
def two_boards(micropython):
    with belay_hook.install(boards={"left": "emulator", "right": "emulator"}) as hook:
        yield hook
    for name in ("lamps@left", "lamps@right"):
        sys.modules.pop(name, None)


def test_each_bound_module_has_its_own_board_state(two_boards, modules) -> None:
    modules.write("lamps", SENSORS)
    left = belay_hook.load("lamps", board="left")
    right = belay_hook.load("lamps", board="right")
    assert [left.press(), left.press(), left.press(), right.press()] == [1, 2, 3, 1]
    right.Lamp(25).on()
    assert two_boards.board("right").emulator.pins.get(25) == 1
    assert two_boards.board("left").emulator.pins.get(25) != 1  # the left lamp stays off
    assert (left.__name__, sys.modules["lamps@right"]) == ("lamps@left", right)


def test_classes_of_each_binding_are_their_own(two_boards, modules) -> None:
    modules.write("lamps", SENSORS)
    left = belay_hook.load("lamps", board="left")
    right = belay_hook.load("lamps", board="right")
    lamp = left.Lamp(2)
    assert isinstance(lamp, left.Lamp) and not isinstance(lamp, right.Lamp)


def test_unknown_board_and_module_are_named(two_boards, modules) -> None:
    modules.write("lamps", SENSORS)
    with pytest.raises(LookupError, match="'middle'.*known boards: left, right"):
        belay_hook.load("lamps", board="middle")
    assert "lamps@middle" not in sys.modules
    with pytest.raises(ModuleNotFoundError, match="'no_such_module'"):
        belay_hook.load("no_such_module", board="left")


def test_load_without_a_hook_says_to_install(modules) -> None:
    modules.write("lamps", SENSORS)
    with pytest.raises(belay_hook.NoBoardError, match="install"):
        belay_hook.load("lamps", board="left")
