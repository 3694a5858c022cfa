"""A board whose flash fills up: the error says so, and nothing half-written stays behind.

The board gets a real full filesystem: boot.py mounts an 8 KB littlefs in RAM at
/small, as a board with little flash left has, and MicroPython's own VfsLfs2 raises
OSError(ENOSPC) when it runs out.
"""

from __future__ import annotations

import ast
import errno
from pathlib import Path
from typing import Iterator

import pytest

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator
from belay_hook.rpc import upload
from belay_hook.rpc.connection import connect
from belay_hook.sync import SyncError, sync

SMALL_FLASH = """\
import os

class RamBlocks:
    def __init__(self, size, count):
        self.size, self.data = size, bytearray(size * count)

    def readblocks(self, n, buf, off=0):
        start = n * self.size + off
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, n, buf, off=0):
        start = n * self.size + off
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.size
        if op == 5:
            return self.size
        if op == 6:
            self.data[arg * self.size:(arg + 1) * self.size] = b"\\xff" * self.size
        return 0

blocks = RamBlocks(256, 32)
os.VfsLfs2.mkfs(blocks)
os.mount(os.VfsLfs2(blocks), "/small")
"""


def board(link: Link, expression: str) -> object:
    """The value of a board expression (a literal's repr, read back here)."""
    return ast.literal_eval(link.exec(f"import os\nprint(repr({expression}))").decode())


@pytest.fixture
def small(micropython: str, tmp_path: Path) -> Iterator[Link]:
    """A link to a board with an 8 KB filesystem at /small."""
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "boot.py").write_text(SMALL_FLASH)
    with Emulator(flash_dir=flash) as board, Link(board.port, timeout=10.0) as link:
        link.enter_raw_repl()
        yield link


def test_full_flash_is_a_clear_error_and_leaves_no_part_file(small: Link, tmp_path) -> None:
    src = tmp_path / "app"
    src.mkdir()
    (src / "table.py").write_text(f"TABLE = {'x' * 20000!r}\n")
    with pytest.raises(SyncError, match=r"(?i)writing /small/table\.py.*no space left") as info:
        sync(small, src, "/small", progress=False)
    assert "flash is full" in str(info.value)
    assert board(small, "os.listdir('/small')") == []  # no table.py.bh-part eating the space
    (src / "table.py").write_text("TABLE = 'short'\n")  # the space is there again
    assert sync(small, src, "/small", progress=False).uploaded == ["/small/table.py"]
    assert board(small, "open('/small/table.py').read()") == "TABLE = 'short'\n"


def test_a_raw_repl_upload_the_flash_cannot_hold_leaves_nothing(small: Link) -> None:
    # How the agent itself goes up: a full flash is the board's OSError, and the part
    # written so far is removed, or it would keep the flash full.
    with pytest.raises(OSError) as info:
        upload.write_via_repl(small, "/small", "big.bin", bytes(range(256)) * 80)
    assert info.value.errno == errno.ENOSPC
    assert board(small, "os.listdir('/small')") == []


def test_a_bundle_upload_the_flash_cannot_hold_leaves_nothing(
    micropython: str, tmp_path: Path
) -> None:
    # How bundles go up, through the running agent.
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "boot.py").write_text(SMALL_FLASH)
    with Emulator(flash_dir=flash) as emu, connect(emu.port, timeout=10) as session:
        with pytest.raises(OSError) as info:
            upload.store(session._request, "/small", "big.mpy", b"x" * 20000, progress=False)
        assert info.value.errno == errno.ENOSPC
        assert session("__import__('os').listdir('/small')") == []
        assert session("1 + 1") == 2
