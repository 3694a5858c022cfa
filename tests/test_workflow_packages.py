"""A project laid out as packages: marked modules importing each other, on both machines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

UTIL = "#@mcu\ndef double(x):\n    return 2 * x\n"
HELPERS = "def host_format(x):\n    return f'<{x}>'\n"
SENSOR = """\
from . import helpers
from .util import double

#@mcu
from app.util import double as board_double

#@mcu
def read():
    return board_double(21)

def report():
    return helpers.host_format(double(read()))
"""


@pytest.fixture
def app(modules) -> Path:
    """Package ``app``: a plain ``__init__``, a host-only helper and two marked modules."""
    folder = modules.path / "app"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "helpers.py").write_text(HELPERS)
    (folder / "util.py").write_text(UTIL)
    (folder / "sensor.py").write_text(SENSOR)
    yield folder
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]


def test_marked_modules_of_a_package_import_each_other_on_the_board(app: Path, hook) -> None:
    from app import sensor  # app.util was never imported here: the board still gets it

    assert sensor.report() == "<84>"


def test_relative_marked_imports_work_on_the_board(app: Path, hook) -> None:
    (app / "sensor.py").write_text(SENSOR.replace("from app.util import", "from .util import"))
    from app import sensor

    assert sensor.report() == "<84>"


def test_board_code_sees_the_module_s_own_name(app: Path, hook) -> None:
    (app / "named.py").write_text("#@mcu\ndef name():\n    return __name__\n")
    from app import named

    assert named.name() == "app.named"  # as on the host, not the bundle's file name


def test_board_name_when_code_starts_on_line_one(modules, hook) -> None:
    modules.write(
        "first", "import time\n#@mcu\ndef name():\n    return __name__, time.time() > 0\n"
    )
    helper = "def helper():\n    return 7\n#@mcu\ndef seven():\n    return helper()\n"
    modules.write("helper_first", helper)
    import first
    import helper_first

    assert first.name() == ("first", True)
    assert helper_first.seven() == 7  # no line to spare for the name: it still loads
