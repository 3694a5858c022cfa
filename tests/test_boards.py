"""Named boards, the bundle cache on the board's flash, and loading into RAM."""

from __future__ import annotations

import sys
import threading

import pytest

import belay_hook

SLOW = """
__board__ = "{board}"

#@mcu
import time

#@mcu
def nap(t):
    time.sleep(t)
    return "{board}"

#@mcu
def name():
    return "{board}"
"""


def test_modules_go_to_their_named_boards(micropython, modules) -> None:
    modules.write("on_left", SLOW.format(board="left"))
    modules.write("on_right", SLOW.format(board="right"))
    with belay_hook.install(boards={"left": "emulator", "right": "emulator"}) as hook:
        import on_left
        import on_right

        assert (on_left.name(), on_right.name()) == ("left", "right")
        assert hook.board("left") is not hook.board("right")
        # a long call on one board does not hold up the other
        long_call = threading.Thread(target=on_left.nap, args=(3,))
        long_call.start()
        assert on_right.name() == "right"
        assert long_call.is_alive()
        long_call.join()


def test_unknown_board_name_is_named(micropython, modules) -> None:
    modules.write("on_nowhere", SLOW.format(board="middle"))
    with (
        belay_hook.install(boards={"left": "emulator"}),
        pytest.raises(LookupError, match="'middle'.*known boards: left"),
    ):
        import on_nowhere  # noqa: F401


def test_bundles_stay_on_the_board(micropython, modules, tmp_path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    path = modules.write("cached", "#@mcu\ndef f():\n    return 1\n")
    with belay_hook.install("emulator", flash_dir=str(flash)) as hook:
        import cached

        assert cached.f() == 1
        first = hook.session.uploaded_bytes
    assert first > 0
    # bundles are b*; the agent (a*) is kept beside them
    stored = sorted(p.name for p in (flash / ".belay_hook").glob("b*"))
    assert len(stored) == 1

    # a new session on the same board: the bundle is there, nothing is uploaded
    assert "cached" not in sys.modules  # uninstall forgot it: the next import reloads
    with belay_hook.install("emulator", flash_dir=str(flash)) as hook:
        import cached  # noqa: F811

        assert cached.f() == 1
        assert hook.session.uploaded_bytes == 0

    # a changed module: the new bundle goes up and the stale one is removed
    assert "cached" not in sys.modules  # uninstall forgot it: the next import reloads
    with open(path, "w") as f:
        f.write("#@mcu\ndef f():\n    return 2\n")
    with belay_hook.install("emulator", flash_dir=str(flash)) as hook:
        import cached  # noqa: F811

        assert cached.f() == 2
        assert hook.session.uploaded_bytes > 0
    now = sorted(p.name for p in (flash / ".belay_hook").glob("b*"))
    assert len(now) == 1 and now != stored


def test_loading_into_ram(hook, modules) -> None:
    hook.session.ram_only = True  # as if the filesystem were read-only
    path = modules.write("in_ram", "#@mcu\ndef f(x):\n    return 10 // x\n")
    import in_ram

    assert in_ram.f(2) == 5
    with pytest.raises(ZeroDivisionError) as info:
        in_ram.f(0)
    import traceback

    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno) == (path, 3)
