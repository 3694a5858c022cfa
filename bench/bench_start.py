"""Start-up on the emulated board: warm and cold starts, bytes sent, the agent's heap.

One run measures, on the plain pty and on a pty shaped like a 115200-baud UART
(``Emulator(baudrate=115200)``), each as the median of several runs:

* warm start: ``install(port)`` plus the import of a small marked module whose
  bundle (and the agent) are already on the board's flash: time and bytes sent
  (a call and the uninstall follow, untimed);
* cold start of a small module: the agent is on the board, the module's bundle
  is not (a module never imported before): time and bytes sent;
* fresh board: neither the agent nor the bundle is there (the agent is compiled,
  uploaded and verified first);
* the agent's heap: ``gc.mem_alloc()`` after ``gc.collect()`` on the board, in
  the raw REPL before the agent starts and from a call once it serves, on a
  64 KB heap, less what the called module takes alone.

Everything runs on the real MicroPython VM behind ``belay_hook.emulator.Emulator``
with the default ``soft_reset=True`` (the emulator's soft reboot restarts its VM).

    python bench/bench_start.py [--runs N] [--markdown]

Targets (warm < 0.1 s and < 300 bytes on the shaped link, cold < 0.5 s, heap
<= 12 KB) are printed as PASS/MISS for information; the exit status is 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import serial

SHAPES: Dict[str, Dict] = {"plain": {}, "shaped": {"baudrate": 115200}}
MODULE = '''\
"""Benchmark: a small marked module."""


#@mcu
def mem():
    import gc
    gc.collect()
    return gc.mem_alloc()


#@mcu
def add(a, b):
    return a + b
'''


class _Counter:
    """Counts the bytes the host writes to boards: through pyserial (the raw REPL) and
    through the agent's channel (which may write to the port's descriptor directly)."""

    def __init__(self) -> None:
        from belay_hook.rpc.channel import Channel

        self.sent = 0
        self._inside = False
        write_port, write_channel = serial.Serial.write, Channel.write
        counter = self

        def port_write(port: serial.Serial, data: bytes) -> int | None:
            if not counter._inside:
                counter.sent += len(data)
            return write_port(port, data)

        def channel_write(channel: Channel, data: bytes) -> None:
            counter.sent += len(data)
            counter._inside = True
            try:
                write_channel(channel, data)
            finally:
                counter._inside = False

        serial.Serial.write = port_write  # type: ignore[method-assign]
        Channel.write = channel_write  # type: ignore[method-assign]


def _timed(counter: _Counter, work: Callable[[], Callable[[], None]]) -> Tuple[float, int]:
    """Seconds and bytes sent by ``work()``; what it returns (the goodbye) is not timed."""
    sent = counter.sent
    start = time.perf_counter()
    finish = work()
    seconds, sent = time.perf_counter() - start, counter.sent - sent
    finish()
    return seconds, sent


def _start_and_import(
    port: str, folder: Path, name: str, **options: Any
) -> Callable[[], Callable[[], None]]:
    """install(port) and import the benchmark module as `name`; returns the uninstall,
    after a check that a call works."""

    def work() -> Callable[[], None]:
        from belay_hook.importhook import install

        sys.modules.pop(name, None)
        hook = install(port, **options)
        module = __import__(name)

        def finish() -> None:
            try:
                assert module.add(2, 3) == 5
            finally:
                hook.uninstall()

        return finish

    (folder / f"{name}.py").write_text(MODULE, encoding="utf-8")
    return work


def _soft_reboot(port: str) -> Callable[[], Callable[[], None]]:
    """The board's soft reboot alone: Ctrl-D at the raw REPL prompt until the next one."""
    from belay_hook.board.link import Link

    def work() -> Callable[[], None]:
        link = Link(port).open()
        link.enter_raw_repl()
        link.write(b"\x04")
        link.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        return link.close

    return work


def measure(shape: str, runs: int, counter: _Counter, folder: Path) -> Dict[str, List]:
    from belay_hook.emulator import Emulator

    out: Dict[str, List] = {"warm": [], "cold": [], "fresh": [], "noreset": [], "reboot": []}
    flash = tempfile.mkdtemp(prefix="bench-start-flash-")
    with Emulator(flash_dir=flash, **SHAPES[shape]) as emu:
        port = str(emu.port)
        _start_and_import(port, folder, "bench_warm")()()  # agent and bundle go up once
        for i in range(runs):
            out["warm"].append(_timed(counter, _start_and_import(port, folder, "bench_warm")))
            out["noreset"].append(
                _timed(counter, _start_and_import(port, folder, "bench_warm", soft_reset=False))
            )
            out["reboot"].append(_timed(counter, _soft_reboot(port)))
            name = f"bench_cold_{shape}_{i}_{os.getpid()}"
            out["cold"].append(_timed(counter, _start_and_import(port, folder, name)))
    for i in range(runs):
        with Emulator(**SHAPES[shape]) as emu:
            name = f"bench_fresh_{shape}_{i}_{os.getpid()}"
            out["fresh"].append(_timed(counter, _start_and_import(str(emu.port), folder, name)))
    return out


def agent_heap(folder: Path, heap: str = "64k") -> Tuple[int, int, int]:
    """Bytes allocated on a `heap` board: before the agent starts, once it serves
    (measured by a call into the benchmark module), and the module's own share
    (its bundle imported alone, in the raw REPL)."""
    from belay_hook.board.link import Link
    from belay_hook.emulator import Emulator
    from belay_hook.importhook import install

    probe = "import gc\ngc.collect()\nprint(gc.mem_alloc())"
    with Emulator(heap=heap) as emu:
        _start_and_import(str(emu.port), folder, "bench_heap")()()  # agent, bundle on flash
        (bundle,) = (emu.flash_dir / ".belay_hook").glob("b*.mpy")
        with Link(str(emu.port)) as link:
            link.enter_raw_repl(soft_reset=True)
            before = int(link.exec(probe))
            link.exec(f"import sys\nsys.path.append('/.belay_hook')\nimport {bundle.stem}")
            module = int(link.exec(probe)) - before
            link.enter_raw_repl(soft_reset=True)
        sys.modules.pop("bench_heap", None)
        with install(str(emu.port)):
            import bench_heap

            after = bench_heap.mem()
    return before, after, module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-start-"))
    sys.path.insert(0, str(folder))
    os.environ.setdefault("BELAY_HOOK_CACHE", str(folder / "cache"))
    counter = _Counter()
    rows = []
    for shape in SHAPES:
        results = measure(shape, args.runs, counter, folder)
        for kind, label in (
            ("warm", "warm start (agent and bundle on the board)"),
            ("cold", "cold start of a small module (agent on the board)"),
            ("fresh", "fresh board (agent and bundle uploaded)"),
            ("noreset", "warm start, soft_reset=False"),
            ("reboot", "(the emulator's soft reboot alone, raw REPL entry included)"),
        ):
            seconds = statistics.median(t for t, _ in results[kind])
            sent = statistics.median(n for _, n in results[kind])
            rows.append((shape, kind, label, seconds, sent))
    before, after, module = agent_heap(folder)
    targets = {
        ("shaped", "warm"): lambda s, n: s < 0.1 and n < 300,
        ("shaped", "cold"): lambda s, n: s < 0.5,
    }
    print(f"Median of {args.runs} runs; soft_reset=True; host {sys.platform}, "
          f"Python {sys.version.split()[0]}\n")  # fmt: skip
    if args.markdown:
        print("| link | start | seconds | bytes sent | target |")
        print("| --- | --- | ---: | ---: | --- |")
    for shape, kind, label, seconds, sent in rows:
        check = targets.get((shape, kind))
        verdict = "" if check is None else ("PASS" if check(seconds, sent) else "MISS")
        if args.markdown:
            print(f"| {shape} | {label} | {seconds:.3f} | {sent:.0f} | {verdict} |")
        else:
            print(f"{shape:7} {label:62} {seconds:7.3f} s {sent:7.0f} B  {verdict}")
    used = after - before - module
    verdict = "PASS" if used <= 12 * 1024 else "MISS"
    print(textwrap.dedent(f"""
        Agent heap on a 64 KB board: {before} bytes allocated before it starts, {after}
        once it serves with the benchmark module loaded; the module alone takes {module}:
        the agent holds {used} bytes ({used / 1024:.1f} KB) {verdict} (target <= 12 KB)
        """).strip())  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
