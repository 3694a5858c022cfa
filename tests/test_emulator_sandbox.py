"""Board code on the emulator reads, writes and runs nothing on the host outside its flash.

Each test takes one route out and checks on the host that it led nowhere: a secret file
outside flash stays unread, a folder outside flash stays empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from belay_hook.board.link import Link
from belay_hook.emulator import Emulator, find_micropython, jail

SECRET = "the host's secret"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside flash with a secret file and a host module in it."""
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "hostmod.py").write_text(f"print({SECRET!r})\n")
    (tmp_path / "drop").mkdir()
    return tmp_path


def attempt(link: Link, code: str) -> str:
    """Run `code` on the board; what it printed, or the name of the error that stopped it."""
    wrapped = "try:\n" + "".join(f"    {line}\n" for line in code.splitlines())
    wrapped += "except Exception as e:\n    print('blocked', type(e).__name__, e)"
    return link.exec(wrapped).decode()


def assert_nothing_escaped(result: str, outside: Path) -> None:
    assert SECRET not in result
    assert list((outside / "drop").iterdir()) == []


ROUTES = {
    "os.system": "import os\nos.system('touch {drop}/x')",
    "os.popen": "import os\nos.popen('touch {drop}/x')",
    "os.execvp": "import os\nos.execvp('touch', ['touch', '{drop}/x'])",
    "os.getenv": "import os\nprint(os.getenv('HOME'))",
    "ffi": "import ffi\nffi.open('libc.so.6').func('i', 'system', 's')('touch {drop}/x')",
    "uctypes": "import uctypes\nprint(uctypes.bytes_at(0, 8))",
    "termios": "import termios\nprint(termios.tcgetattr(0))",
    "VfsPosix in os": "import os\nprint(os.VfsPosix('{outside}').open('secret.txt', 'r').read())",
    "VfsPosix in vfs": "import vfs\nprint(vfs.VfsPosix().open('{secret}', 'r').read())",
    "mount a host folder": (
        "import os\nos.umount('/')\nos.mount(os.VfsPosix('{outside}'), '/')\n"
        "print(open('/secret.txt').read())"
    ),
    "the mounted flash's type": (
        "import vfs\nflash = vfs.mount()[0][0]\n"
        "print([getattr(flash, n) for n in dir(flash)])\n"
        "print(type(flash)().open('{secret}', 'r').read())"
    ),
    "unmounted flash": "import os\nos.umount('/')\nprint(open('{secret}').read())",
    "dot-dot": "print(open('../../../../../../../../{secret}').read())",
    "absolute path": "print(open('{secret}').read())",
    "chdir up": "import os\nos.chdir('/..')\nprint(os.listdir())\nprint(open('{secret}').read())",
    "write outside": "open('{drop}/x', 'w').write('x')",
    "/proc": "print(open('/proc/self/environ').read())",
    "sys.path": "import sys\nsys.path.insert(0, '{outside}')\nimport hostmod",
    "__import__": "import sys\nsys.path.append('{outside}')\n__import__('hostmod')",
    "execfile": "execfile('{outside}/hostmod.py')",
    "the unix port's machine": (
        "import sys\ndel sys.modules['machine']\nimport machine\nprint(machine.mem32[0])"
    ),
    "unix socket": "import socket\nsocket.socket(1, 1).connect(b'\\x01\\x00{drop}/s')",
    "the pins file": "import machine\nprint([n for n in dir(machine) if 'events' in n])\n"
    "machine._events.write('x')",
}


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_route_out_is_closed(link: Link, outside: Path, route: str) -> None:
    code = ROUTES[route].format(
        outside=outside, drop=outside / "drop", secret=outside / "secret.txt"
    )
    result = attempt(link, code)
    assert result.startswith("blocked") or "blocked" in result.splitlines()[-1], result
    assert_nothing_escaped(result, outside)


@pytest.mark.parametrize("link_to", ["secret.txt", "drop"])
def test_symlink_in_flash_to_the_host_is_refused(
    emulator: Emulator, link: Link, outside: Path, link_to: str
) -> None:
    os.symlink(outside / link_to, emulator.flash_dir / "door")
    os.symlink(outside, emulator.flash_dir / "folder")
    for code in [
        "print(open('door').read())",
        "print(open('folder/secret.txt').read())",
        "open('door/x', 'w').write('x')",
        "open('folder/drop/x', 'w').write('x')",
        "import os\nos.chdir('folder')\nprint(os.listdir())",
    ]:
        result = attempt(link, code)
        assert result.startswith("blocked OSError"), (code, result)
        assert_nothing_escaped(result, outside)


def test_flash_works_as_before(emulator: Emulator, link: Link) -> None:
    code = (
        "import os\nos.mkdir('lib')\nopen('lib/m.py', 'w').write('X = 42')\n"
        "os.rename('lib/m.py', 'lib/n.py')\nimport n\nprint(n.X, os.listdir('/lib'))\n"
        "os.chdir('lib')\nprint(os.getcwd(), open('n.py').read())"
    )
    assert attempt(link, code) == "42 ['n.py']\n/lib X = 42\n"
    assert (emulator.flash_dir / "lib" / "n.py").read_text() == "X = 42"


@pytest.mark.skipif(
    not jail.wraps(find_micropython() or ""), reason="no Landlock here, or not the wheel's VM"
)
def test_os_barrier_holds_when_the_python_layer_is_taken_apart(link: Link, outside: Path) -> None:
    # Board code that rebuilds the import machinery gets the unix port's real os back.
    code = (
        "import builtins, sys\ndel builtins.__import__\n"
        "for name in ('os', 'vfs', 'socket'):\n    del sys.modules[name]\n"
        "import os, vfs, socket\nprint('system', os.system('touch {drop}/x'))\n"
        "try:\n    socket.socket(socket.AF_UNIX, 1)\nexcept OSError as e:\n"
        "    print('unix socket', e)\n"
        "print(vfs.VfsPosix().open('{secret}', 'r').read())"
    ).format(drop=outside / "drop", secret=outside / "secret.txt")
    result = attempt(link, code)
    lines = result.splitlines()
    assert lines[0].startswith("system ") and lines[-1].startswith("blocked OSError")
    assert lines[1] == "unix socket [Errno 13] EACCES" or os.uname().machine != "x86_64"
    assert_nothing_escaped(result, outside)
