"""Marked code typed interactively: IPython cells go to the board; plain prompts warn."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

IPython = pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402


@pytest.fixture(autouse=True)
def _no_prompt():
    """IPython sets sys.ps1 as a prompt would; later tests must not see it."""
    had = hasattr(sys, "ps1")
    yield
    if not had and hasattr(sys, "ps1"):
        del sys.ps1


@pytest.fixture
def shell(hook):
    """An in-process IPython shell with the extension loaded, the board an emulator."""
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "belay_hook")
    yield ip
    ip.run_line_magic("unload_ext", "belay_hook")
    InteractiveShell.clear_instance()


def run(ip, cell: str):
    """Run one cell as a user types it; its error, if any, is raised here."""
    result = ip.run_cell(cell)
    result.raise_error()
    return result.result


def test_marked_cell_runs_on_the_board_and_shows_its_value(shell) -> None:
    value = run(
        shell,
        "#@mcu\nimport sys\n\n#@mcu\ndef where():\n    return sys.implementation.name\n\nwhere()\n",
    )
    assert value == "micropython"
    assert shell.user_ns["where"]() == "micropython"


def test_later_cells_see_earlier_board_names(shell) -> None:
    run(shell, "#@mcu\nLIMIT = 40\n\n#@mcu\ndef limit():\n    return LIMIT\n")
    run(shell, "#@mcu\ndef over(x):\n    return x > limit() + 1\n")
    assert run(shell, "[over(41), over(42)]") == [False, True]


def test_exception_class_from_one_cell_is_caught_in_another(shell) -> None:
    run(
        shell,
        "#@mcu\nclass SensorError(Exception):\n    pass\n\n"
        '#@mcu\ndef read():\n    raise SensorError("unplugged")\n',
    )
    value = run(shell, "try:\n    read()\nexcept SensorError as e:\n    caught = e\ncaught.args")
    assert value == ("unplugged",)


def test_cells_without_markers_run_as_usual(shell) -> None:
    assert run(shell, "x = 6\nx * 7") == 42
    assert shell.transform_cell("x = 1\n") == "x = 1\n"


def test_install_in_ipython_without_the_extension_warns() -> None:
    ip = InteractiveShell.instance()
    try:
        from belay_hook.interactive import InteractiveWarning, warn_if_interactive

        with pytest.warns(InteractiveWarning, match="%load_ext belay_hook"):
            warn_if_interactive()
    finally:
        InteractiveShell.clear_instance()
    assert ip is not None
    if hasattr(sys, "ps1"):  # set by IPython as by a prompt
        del sys.ps1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_interactive()  # no shell, no prompt: nothing to say


def test_install_at_the_python_prompt_warns(micropython: str) -> None:
    typed = "import belay_hook\nhook = belay_hook.install('emulator')\nhook.uninstall()\n"
    proc = subprocess.run(
        [sys.executable, "-i"],
        input=typed,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert "InteractiveWarning: at the Python prompt, marked code typed in runs on the host" in (
        proc.stderr
    )
