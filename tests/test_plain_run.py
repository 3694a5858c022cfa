"""`python main.py`: a single file calling install() runs its marked code on the board."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "16_single_file" / "main.py"


def _python(path: Path, *args: str) -> subprocess.CompletedProcess:
    """``python FILE`` as a user types it, the board being the emulator."""
    env = dict(os.environ, BELAY_HOOK_PORT="emulator")
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
        env=env,
    )


def _program(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "main.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_single_file_example_runs_with_plain_python(micropython: str) -> None:
    proc = _python(EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "host: the board flashed 3 times",
        "host: caught SensorError from the board: no channel 7",
        "host: channel 2 reads 102",
    ]


def test_code_above_install_runs_once_and_the_hook_is_bound(micropython, tmp_path) -> None:
    path = _program(
        tmp_path,
        """\
        import sys
        print("above install")
        import belay_hook
        hook = belay_hook.install()

        #@mcu
        def where():
            import sys
            return sys.implementation.name

        print(where(), hook.modules, sys.argv[1:])
        sys.exit(3)
        """,
    )
    proc = _python(path, "a", "b")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == ["above install", "micropython ['__main__'] ['a', 'b']"]


def test_board_error_points_at_the_program_line(micropython, tmp_path) -> None:
    path = _program(
        tmp_path,
        """\
        import belay_hook
        belay_hook.install()

        #@mcu
        def divide(a, b):
            return a // b

        divide(1, 0)
        """,
    )
    proc = _python(path)
    assert proc.returncode == 1
    assert f'File "{path}", line 6, in divide' in proc.stderr
    assert proc.stderr.rstrip().endswith("ZeroDivisionError: divide by zero")


@pytest.mark.parametrize(
    "source, message",
    [
        (
            "import belay_hook\n#@mcu\ndef f():\n    return 1\nbelay_hook.install()\nf()\n",
            "main.py:2: marked code above the belay_hook.install() call (line 5) already ran "
            "on the host: move install() above it, to the top of the file",
        ),
        (
            "import belay_hook\nwith belay_hook.install():\n    pass\n#@mcu\ndef f():\n    pass\n",
            "main.py:2: call belay_hook.install() as a statement of its own at the top level "
            "of the file (not in a block or 'with'), before the marked code; "
            "or run the program with: belay-hook run main.py",
        ),
        (
            "import belay_hook\n#@mcu\ndef f():\n    return 1\n"
            "def main():\n    belay_hook.install()\n    f()\nmain()\n",
            "main.py:6: belay_hook.install() is called in main(), after this file's marked code "
            "was defined on the host: call it at the top level of the file, above the marked "
            "code; or run the program with: belay-hook run main.py",
        ),
    ],
)
def test_what_cannot_work_says_what_to_do(micropython, tmp_path, source, message) -> None:
    proc = _python(_program(tmp_path, source))
    assert proc.returncode == 1
    assert proc.stderr.rstrip().endswith(message), proc.stderr
