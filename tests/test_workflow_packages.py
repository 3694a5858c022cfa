"""A project laid out as packages: marked modules importing each other, on both machines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from belay_hook import MarkerError

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


def test_a_relative_marked_import_of_a_marked_module_is_an_error_at_its_line(
    app: Path, hook
) -> None:
    (app / "sensor.py").write_text(SENSOR.replace("from app.util import", "from .util import"))
    with pytest.raises(MarkerError, match=r"relative import.*write 'from app\.util import") as e:
        from app import sensor  # noqa: F401
    assert (e.value.filename, e.value.lineno) == (str(app / "sensor.py"), 5)
