"""Imports at the top of a module follow the board code that uses them (real emulated board)."""

from __future__ import annotations

import sys
import traceback

import pytest

SENSORS = """\
import struct
import time
from machine import Pin

SCALE = 2


#@mcu
def pack(value):
    time.sleep_ms(1)
    Pin(2, Pin.OUT).value(1)
    return struct.pack("<h", value * SCALE)


def unpack(raw):
    return struct.unpack("<h", raw)[0]
"""


def test_board_function_uses_top_level_imports(hook, modules) -> None:
    modules.write("sensors_imp", SENSORS)
    import sensors_imp

    assert sensors_imp.unpack(sensors_imp.pack(-21)) == -42
    assert sensors_imp.time is __import__("time")  # the host keeps its own imports


def test_board_only_import_does_not_break_the_host_and_says_so_when_used(hook, modules) -> None:
    path = modules.write("sensors_pin", SENSORS)
    import sensors_pin

    assert "machine" not in sys.modules  # the stand-in left once the module ran
    with pytest.raises(ModuleNotFoundError) as caught:
        sensors_pin.Pin(2)
    assert f"{path}:3 imports it for the board code" in str(caught.value)
    assert caught.value.name == "machine"
    assert repr(sensors_pin.Pin) == "<board-only machine.Pin>"


def test_module_the_board_lacks_is_an_import_error_at_its_line(hook, modules) -> None:
    path = modules.write(
        "needs_csv",
        """\
        import time
        import csv

        #@mcu
        def rows(text):
            return list(csv.reader([text]))
        """,
    )
    with pytest.raises(ImportError) as caught:
        import needs_csv  # noqa: F401
    assert "csv" in str(caught.value)
    frame = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno, frame.line) == (path, 2, "import csv")
    assert caught.value.__notes__ == [
        f"{path}:2 imports 'csv' for the board code, and the board has no such module: "
        "install it on the board, or give board code what it needs as arguments"
    ]


def test_import_used_by_host_code_too_stays_a_real_host_import(hook, modules) -> None:
    modules.write(
        "both_sides",
        """\
        import struct as s

        #@mcu
        def size():
            return s.calcsize("<hi")

        def host_size():
            return s.calcsize("<hi")
        """,
    )
    import both_sides

    assert both_sides.size() == both_sides.host_size() == 6


def test_other_modules_imported_meanwhile_see_no_stand_in(hook, modules) -> None:
    modules.write(
        "probe_machine",
        """\
        try:
            import machine
            ON_BOARD = True
        except ImportError:
            ON_BOARD = False
        """,
    )
    modules.write(
        "uses_probe",
        """\
        from machine import Pin
        import probe_machine

        #@mcu
        def led(n):
            return repr(Pin(n))
        """,
    )
    import uses_probe

    assert uses_probe.probe_machine.ON_BOARD is False  # a library probing for the board
    assert uses_probe.led(5).startswith("Pin(5")
    assert repr(uses_probe.Pin) == "<board-only machine.Pin>"
