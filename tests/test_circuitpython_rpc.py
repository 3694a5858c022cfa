"""The import hook on an emulated CircuitPython board: source bundles, RAM, no threads."""

from __future__ import annotations

import pytest

import belay_hook
from belay_hook import BelayHookError


@pytest.fixture
def cp_hook(micropython):
    with belay_hook.install("emulator", flavour="circuitpython") as hook:
        yield hook


def test_marked_module_runs_on_circuitpython(cp_hook, modules) -> None:
    path = modules.write(
        "cpmod",
        """
        #@mcu setup
        def setup():
            global count
            count = 0

        #@mcu
        def bump(n):
            global count
            count += n
            return count

        #@mcu
        def fail():
            return 1 // 0

        #@mcu thread
        def background():
            pass
        """,
    )
    import cpmod

    session = cp_hook.session
    assert session.format.source_only  # CircuitPython's .mpy differs: source goes up
    assert session.ram_only  # its flash is read-only to code: loaded into RAM
    assert cpmod.bump(2) == 2 and cpmod.bump(3) == 5
    with pytest.raises(ZeroDivisionError) as info:
        cpmod.fail()
    import traceback

    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno) == (path, 14)
    with pytest.raises(BelayHookError, match="no _thread"):
        cpmod.background()
    assert cpmod.bump(1) == 6  # still usable
