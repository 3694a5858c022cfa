"""`belay-hook --version` and `-v`/`-vv`: connection steps and a frame trace on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from belay_hook import __version__
from belay_hook.cli import main
from belay_hook.rpc.codec import encode


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"belay-hook {__version__} (Python {sys.version.split()[0]}")


@pytest.mark.parametrize("argv", [["-v", "exec"], ["exec", "-v"]])
def test_verbose_shows_connection_steps(micropython: str, capfd, argv) -> None:
    assert main([*argv, "print(6 * 7)", "--port", "emulator"]) == 0
    out, err = capfd.readouterr()
    assert out == "42\n"
    steps = [line.split(" ms ", 1)[1] for line in err.splitlines() if " ms belay_hook." in line]
    assert steps[-2].startswith("belay_hook.board.transport: opened /dev/")
    assert steps[-1].endswith(": raw REPL (micropython)")
    assert not any("rpc.channel" in s for s in steps)  # frames only at -vv


def test_verbose_says_where_an_unnamed_port_came_from(
    micropython: str, capfd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELAY_HOOK_PORT", "emulator")
    assert main(["-v", "exec", "print(1)"]) == 0
    assert "belay_hook.board.ports: port emulator (from $BELAY_HOOK_PORT)" in capfd.readouterr().err


def test_quiet_by_default(micropython: str, capfd) -> None:
    assert main(["exec", "print(1)", "--port", "emulator"]) == 0
    assert "belay_hook." not in capfd.readouterr().err


def test_very_verbose_traces_frames(micropython: str, tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text("#@mcu\ndef add(a, b):\n    return a + b\n\nprint('sum', add(40, 2))\n")
    proc = subprocess.run(
        [sys.executable, "-m", "belay_hook", "-vv", "run", str(prog), "--port", "emulator"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "sum 42" in proc.stdout
    sent = [line for line in proc.stderr.splitlines() if "rpc.channel: > fe " in line]
    received = [line for line in proc.stderr.splitlines() if "rpc.channel: < result " in line]
    assert sent and received
    # the call's arguments and result, as the codec writes them
    assert any(f" {_hex(40)} {_hex(2)} " in line for line in sent)  # add(40, 2)
    assert any(line.endswith(f" {_hex(42)}") for line in received)
    assert all(len(line) < 200 for line in sent + received)  # short, even for the bundle


def _hex(value: object) -> str:
    parts: list = []
    encode(value, parts)
    return b"".join(parts).hex(" ")
