"""The pytest plugin, run as users run it: pytest in a subprocess, in a project folder.

The plugin is loaded with ``-p`` and its entry point blocked, so these tests mean the
same whether or not this checkout's entry point is registered in the environment.
"""

from __future__ import annotations

import configparser
import importlib
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import serial
import serial.rfc2217

import belay_hook
from belay_hook.emulator import Emulator
from belay_hook.pytest_plugin import port_for_worker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "15_pytest_project"

DRIVER = """
#@mcu
from machine import Pin

#@mcu setup
def setup():
    global led, count
    led = Pin(25, Pin.OUT, value=0)
    count = 0

#@mcu
def toggle():
    global count
    count += 1
    led.value(count % 2)
    return count
"""

WHERE = """
#@mcu both
import sys

#@mcu
def implementation():
    return sys.implementation.name
"""

APP = """
import driver

def blink(n):
    return [driver.toggle() for _ in range(n)]
"""


def run_pytest(
    cwd: Path, *args: str, env: Dict[str, str] | None = None, entry_points: Path | None = None
):
    """pytest in a fresh process with this checkout's belay_hook and its plugin: loaded
    by ``-p``, or by the entry point when ``entry_points`` holds it."""
    skip = ("BELAY_HOOK_PORT", "PYTEST_ADDOPTS")
    environ = {k: v for k, v in os.environ.items() if k not in skip}
    paths = [str(ROOT), str(entry_points or ""), environ.get("PYTHONPATH")]
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    environ.update(env or {})
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    if entry_points is None:
        command += ["-p", "no:belay_hook", "-p", "belay_hook.pytest_plugin"]
    command += ["-W", "ignore::DeprecationWarning", "-rs", *args]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, env=environ
    )


def outcome(proc: subprocess.CompletedProcess) -> Dict[str, int]:
    """{'passed': 3, 'skipped': 1, ...} from pytest's last line."""
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def project(tmp_path: Path, tests: str) -> Path:
    """A user's project: the marked driver, a host module using it, and ``tests``."""
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = .\naddopts = --strict-markers\n")
    (tmp_path / "driver.py").write_text(DRIVER.lstrip())
    (tmp_path / "app.py").write_text(APP.lstrip())
    (tmp_path / "where.py").write_text(WHERE.lstrip())
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_user.py").write_text(textwrap.dedent(tests).lstrip())
    return tmp_path


@pytest.fixture
def pty_board(micropython: str) -> Iterator[str]:
    """An emulated board at a pty path: to pytest in the subprocess, a serial port."""
    with Emulator() as emulator:
        yield emulator.port


class _Pty(serial.Serial):
    """A pty has no modem lines: the RFC 2217 server may set and read them all it likes."""

    cts = dsr = ri = cd = property(lambda self: False)

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass


class Rfc2217Server:
    """A board-farm host in miniature: serves a serial port at ``url``, one client at a
    time, with pyserial's RFC 2217 port manager."""

    def __init__(self, port: str):
        self.serial = _Pty(port, timeout=0.05)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"rfc2217://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with client:
                self._relay(client)

    def _relay(self, client: socket.socket) -> None:
        manager = serial.rfc2217.PortManager(self.serial, _Socket(client))
        gone = threading.Event()
        sender = threading.Thread(target=self._send, args=(client, manager, gone))
        sender.start()
        try:
            for data in iter(lambda: client.recv(4096), b""):
                self.serial.write(b"".join(manager.filter(data)))
        except OSError:
            pass
        gone.set()
        sender.join()  # nothing the board says next goes to a closed socket

    def _send(self, client: socket.socket, manager: Any, gone: threading.Event) -> None:
        while not gone.is_set():
            data = self.serial.read(4096)
            if data:
                try:
                    client.sendall(b"".join(manager.escape(data)))
                except OSError:
                    return

    def close(self) -> None:
        self.listener.close()


class _Socket:
    def __init__(self, sock: socket.socket):
        self.write = sock.sendall


@pytest.fixture
def farm_board(micropython: str) -> Iterator[str]:
    """An emulated board served over RFC 2217, as from another host: its URL."""
    with Emulator() as emulator:
        server = Rfc2217Server(emulator.port)
        yield server.url
        server.close()
        server.serial.close()


def test_a_new_install_imports_afresh_what_the_last_one_loaded(micropython, modules) -> None:
    modules.write("again", "#@mcu\ndef f():\n    return 7\n")
    with belay_hook.install("emulator"):
        import again

        assert again.f() == 7
    assert "again" not in sys.modules  # uninstall forgot it
    with pytest.raises(belay_hook.NoBoardError):
        again.f()  # a reference kept from before still says there is no board
    with belay_hook.install("emulator"):
        fresh = importlib.import_module("again")
        assert fresh is not again
        assert fresh.f() == 7


def declared_entry_points(folder: Path) -> Path:
    """A distribution's metadata in ``folder`` with setup.cfg's entry points, as
    ``pip install`` writes it: on sys.path, pytest finds the plugin by it."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    info = folder / "belay_hook_entry_points-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: belay_hook_entry_points\n")
    (info / "entry_points.txt").write_text(
        f"[pytest11]\n{setup['options.entry_points']['pytest11'].strip()}\n"
    )
    return folder


def test_the_example_project_passes(micropython, tmp_path) -> None:
    proc = run_pytest(EXAMPLE, entry_points=declared_entry_points(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome(proc) == {"passed": 7, "skipped": 1}
    assert "needs real hardware; the board is the emulator" in proc.stdout


def test_the_example_project_passes_on_two_workers(micropython) -> None:
    pytest.importorskip("xdist")
    proc = run_pytest(EXAMPLE, "-n", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome(proc) == {"passed": 7, "skipped": 1}
    assert "2 workers" in proc.stdout


def test_each_test_gets_a_clean_board_and_fresh_modules(micropython, tmp_path) -> None:
    tests = """
    import pytest
    import where  # at the top: collected with no board, so plain Python (with a warning)

    def test_first(board):
        import app
        assert app.blink(3) == [1, 2, 3]
        assert board.emulator.pin_history(25) == [0, 1, 0, 1]

    def test_second_starts_over(board):
        import app  # through a host module: it too was forgotten, so its driver is live
        assert app.blink(1) == [1]
        assert board.emulator.pins == {25: 1}

    def test_imported_without_a_board_it_is_plain_python():
        assert where.implementation() == "cpython"

    def test_then_a_board_test_sends_it_to_the_board(board):
        import where
        assert where.implementation() == "micropython"

    @pytest.mark.hardware
    def test_needs_a_real_board(board):
        raise AssertionError("must not run on the emulator")
    """
    folder = project(tmp_path, tests)
    proc = run_pytest(folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome(proc) == {"passed": 4, "skipped": 1, "warning": 1}
    assert "belay_hook: where imported during collection, with no board" in proc.stdout
    lines = (folder / "tests" / "test_user.py").read_text().splitlines()
    line = lines.index("@pytest.mark.hardware") + 1
    assert f"test_user.py:{line}: needs real hardware; the board is the emulator" in proc.stdout


def test_workers_share_out_the_ports_in_order(pty_board, farm_board, tmp_path) -> None:
    pytest.importorskip("xdist")
    tests = """
    import os
    import pytest

    @pytest.mark.parametrize("n", range(4))
    def test_blink(board, n):
        import app
        assert app.blink(2) == [1, 2]
        worker = os.environ["PYTEST_XDIST_WORKER"]
        with open(f"{worker}-{n}.txt", "w") as f:
            f.write(board.port)

    @pytest.mark.hardware
    def test_runs_on_a_real_port(board):
        import driver
        assert driver.toggle() == 1

    def test_emulator_pins_are_skipped_on_a_real_port(board):
        board.emulator.set_input(3, 1)
    """
    folder = project(tmp_path, tests)
    # gw0: a board on another host; gw1: one on this host
    proc = run_pytest(folder, f"--board={farm_board}", f"--board={pty_board}", "-n", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome(proc) == {"passed": 5, "skipped": 1}
    assert re.search(r"drives the emulator's pins; the board is (rfc2217://|/dev/)", proc.stdout)
    used: Dict[str, set] = {}  # worker -> the ports its tests had
    for record in folder.glob("gw*.txt"):
        used.setdefault(record.name.split("-")[0], set()).add(record.read_text())
    assert used == {"gw0": {farm_board}, "gw1": {pty_board}}


def test_fewer_ports_than_workers_is_an_error_naming_them(pty_board, tmp_path) -> None:
    pytest.importorskip("xdist")
    folder = project(tmp_path, "def test_one(board):\n    pass\n")
    proc = run_pytest(folder, f"--board={pty_board}", "-n", "2")
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "2 pytest-xdist workers but 1 board port(s)" in output
    assert pty_board in output


def test_the_port_comes_from_the_environment(pty_board, tmp_path) -> None:
    tests = f"""
    def test_port(board):
        import driver
        assert board.port == {pty_board!r}
        assert not board.is_emulator
        assert driver.toggle() == 1
    """
    proc = run_pytest(project(tmp_path, tests), env={"BELAY_HOOK_PORT": pty_board})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outcome(proc) == {"passed": 1}


def test_a_missing_port_fails_setup_naming_it(tmp_path) -> None:
    folder = project(tmp_path, "def test_one(board):\n    pass\n")
    proc = run_pytest(folder, f"--board={tmp_path / 'ttyNOPE'}")
    assert outcome(proc) == {"error": 1}
    assert "ttyNOPE" in proc.stdout


def test_a_port_written_apart_from_the_option_is_refused(tmp_path) -> None:
    # pytest would take the port for a test path and pick the rootdir and ini by it
    folder = project(tmp_path, "def test_one(board):\n    pass\n")
    port = tmp_path / "ttyACM0"
    port.touch()
    proc = run_pytest(folder, "--board", str(port))
    assert proc.returncode == 4  # a usage error
    assert f"write --board={port}" in proc.stderr


def test_port_choice_by_worker_index() -> None:
    assert port_for_worker(["emulator"], 5, 8) == "emulator"
    assert port_for_worker(["/dev/a", "rfc2217://farm:2217"], 1, 2) == "rfc2217://farm:2217"
    with pytest.raises(pytest.UsageError, match=r"3 pytest-xdist workers but 2 board port"):
        port_for_worker(["/dev/a", "/dev/b"], 2, 3)
