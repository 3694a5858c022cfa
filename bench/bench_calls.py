"""Calls, bytes and imports on the emulated board: belay_hook vs Belay vs the link's floor.

One run measures, on each link (the plain pty and a pty shaped like a 115200-baud UART):

* the round trip of a trivial marked call (``noop()``) through the import hook, of the
  same call as a Belay task, and of a 1-byte echo by a resident loop on the board (the
  floor: no request/response over this link can be faster);
* the rate of a 64 KiB ``bytes`` return, for belay_hook, Belay and the floor (the board
  writing a prebuilt 64 KiB block as fast as the link takes it);
* a cold import of a small marked module on a fresh board (agent start, then bundle
  upload and import) and a warm re-import in the same session (a hash check).

Everything runs on the real MicroPython VM behind ``belay_hook.emulator.Emulator``. The
three round-trip kinds run on three boards at once, in interleaved blocks, and so do the
bulk transfers: a machine whose speed drifts during the run (other processes, a busy
host) shifts all three alike, and the ratios stay fair.

    python bench/bench_calls.py [--quick] [--markdown] [--links plain,shaped] [--breakdown]

``--breakdown`` adds, on the plain pty, where the time of a call goes: the same round
trip with parts of belay_hook swapped for minimal code, and the CPU time each process
(host, emulator bridge, MicroPython VM) spends per call. Targets are printed as
PASS/MISS for information; the exit status is 0 whatever they say.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import select
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

BLOB_SIZE = 65536
# Our board's heap. On 256 KiB (an RP2040's, as for Belay's call board) the agent
# compiled from source leaves no 64 KiB block for the blob; round trips do not depend
# on it (docs/PERFORMANCE.md).
OURS_HEAP = "384k"
BLOB_EXPR = "bytes(range(256)) * 256"  # every byte value: no codec gets an easy ride
SHAPES: Dict[str, Dict[str, Any]] = {
    "plain": {},
    "shaped": {"baudrate": 115200, "latency": 0.0005},
}
ECHO_LOOP = "import sys\nr=sys.stdin.buffer.read\nw=sys.stdout.buffer.write\nwhile 1:\n w(r(1))"
BULK_LOOP = (
    "import sys\nr=sys.stdin.buffer.read\nw=sys.stdout.buffer.write\n"
    f"B={BLOB_EXPR}\nwhile 1:\n r(1)\n w(B)"
)

CALLS_MODULE = f'''\
"""Benchmark: a trivial call and a 64 KiB return."""


#@mcu setup
def setup():
    HELD = []  # the block, built at the first blob() call, when the heap is least cut up


#@mcu
def noop():
    return None


#@mcu
def inc(i):
    return i + 1


#@mcu
def blob():
    if not HELD:
        import gc

        gc.collect()
        HELD.append({BLOB_EXPR})
    return HELD[0]
'''

SMALL_MODULE = '''\
"""A small marked module: what importing one costs."""

import time

#@mcu
from machine import Pin

#@mcu setup
def setup():
    led = Pin(25, Pin.OUT)
    readings = []


#@mcu
def set_led(state):
    led.value(state)
    return state


#@mcu
def record(value, limit=16):
    readings.append(value)
    if len(readings) > limit:
        readings.pop(0)
    return len(readings)


#@mcu
def average():
    return sum(readings) / len(readings) if readings else 0.0


def blink(times, period=0.0):
    """Host code calling board code."""
    for _ in range(times):
        set_led(1)
        time.sleep(period)
        set_led(0)
'''


@dataclass(frozen=True)
class Plan:
    """How much to measure on one link: enough for stable medians, little enough to finish."""

    calls: int  # round trips of each kind
    block: int  # round trips of one kind before switching to the next
    blob_runs: int  # 64 KiB transfers for the floor and belay_hook
    belay_blob_runs: int  # Belay's are ~3x the bytes (repr) and slow on the shaped link
    warm_imports: int


PLANS = {
    ("plain", False): Plan(calls=500, block=25, blob_runs=5, belay_blob_runs=3, warm_imports=20),
    ("shaped", False): Plan(calls=50, block=10, blob_runs=2, belay_blob_runs=1, warm_imports=5),
    ("plain", True): Plan(calls=100, block=25, blob_runs=2, belay_blob_runs=1, warm_imports=5),
    ("shaped", True): Plan(calls=10, block=5, blob_runs=1, belay_blob_runs=0, warm_imports=2),
}


@dataclass
class LinkResult:
    """Everything measured on one link, in seconds (latencies) and seconds per 64 KiB."""

    name: str
    latency: Dict[str, List[float]] = field(default_factory=dict)
    transfer: Dict[str, List[float]] = field(default_factory=dict)
    connect: Dict[str, float] = field(default_factory=dict)
    cold: Dict[str, float] = field(default_factory=dict)
    warm: List[float] = field(default_factory=list)
    wire: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # bytes out, in per call
    notes: List[str] = field(default_factory=list)


# --------------------------------------------------------------------------- boards


class FloorBoard:
    """A board running a bare loop instead of an agent: the fastest this link can answer."""

    def __init__(self, shape: Dict[str, Any]):
        from belay_hook.board.link import Link
        from belay_hook.emulator import Emulator

        self.emulator = Emulator(**shape).start()
        self.link = Link(self.emulator.port, timeout=30.0).open()
        self.link.enter_raw_repl()
        self.link.exec_start(ECHO_LOOP)
        self.serial = self.link.serial
        self.serial.timeout = 30.0

    def echo(self) -> None:
        """One byte there and back."""
        self.serial.write(b"e")
        if self.serial.read(1) != b"e":
            raise RuntimeError("the echo loop answered something else")

    def start_bulk(self) -> None:
        """Swap the echo loop for one that sends a prebuilt 64 KiB block per byte received."""
        self.link.exec_start(BULK_LOOP)  # interrupts the echo loop first
        self.serial.timeout = 60.0

    def bulk(self) -> None:
        """64 KiB from the board, read as pyserial reads (select, then os.read)."""
        self.serial.write(b"g")
        if len(self.serial.read(BLOB_SIZE)) != BLOB_SIZE:
            raise RuntimeError("the bulk loop sent less than 64 KiB")

    def close(self) -> None:
        self.link.close()
        self.emulator.close()


class OursBoard:
    """belay_hook's import hook on a fresh board; measures the cold import as it sets up."""

    def __init__(self, shape: Dict[str, Any], folder: Path, tag: str, result: LinkResult):
        import belay_hook

        # Imported before the hook is installed: the splitter's source holds the marker
        # text, and a hook that meets it mid-import takes it for a marked module.
        import belay_hook.splitter.cut  # noqa: F401
        from belay_hook.emulator import Emulator

        self.emulator = Emulator(heap=OURS_HEAP, **shape).start()
        self.hook = belay_hook.install(port=self.emulator.port)
        self.small_name = f"bench_small_{tag}"
        self.calls_name = f"bench_calls_{tag}"
        (folder / f"{self.small_name}.py").write_text(SMALL_MODULE, encoding="utf-8")
        (folder / f"{self.calls_name}.py").write_text(CALLS_MODULE, encoding="utf-8")
        self._cold_import(result)
        self.calls = importlib.import_module(self.calls_name)
        expected = bytes(range(256)) * 256
        if self.calls.noop() is not None or self.calls.blob() != expected:
            raise RuntimeError("the benchmark module answered wrongly")

    def _cold_import(self, result: LinkResult) -> None:
        """First import on a fresh board: agent start (connect), then the bundle's import."""
        with _timed_split_and_compile() as host_work:
            start = time.perf_counter()
            session = self.hook.session  # what the first marked import opens
            connected = time.perf_counter()
            importlib.import_module(self.small_name)
            done = time.perf_counter()
        result.cold = {
            "connect": connected - start,
            "bundle": done - connected,
            "split_compile": sum(host_work),
            "total": done - start,
            "bundle_bytes": float(getattr(session, "uploaded_bytes", 0) or 0),
        }

    def warm_import(self) -> float:
        """Re-import in the same session: the bundle is on the board already."""
        sys.modules.pop(self.small_name, None)
        start = time.perf_counter()
        importlib.import_module(self.small_name)
        return time.perf_counter() - start

    def noop(self) -> None:
        self.calls.noop()

    def inc(self) -> None:
        self._i = (getattr(self, "_i", 0) + 1) % 4000  # one and two-byte ints, as a loop has
        self.calls.inc(self._i)

    def blob(self) -> None:
        if len(self.calls.blob()) != BLOB_SIZE:
            raise RuntimeError("blob() returned the wrong size")

    def close(self) -> None:
        for name in (self.small_name, self.calls_name):
            sys.modules.pop(name, None)
        self.hook.uninstall()
        self.emulator.close()


class BelayBoard:
    """Belay's Device on its own emulated board, with the same two tasks."""

    def __init__(self, shape: Dict[str, Any], heap: str = "256k"):
        import belay

        from belay_hook.emulator import Emulator

        self.emulator = Emulator(heap=heap, **shape).start()
        start = time.perf_counter()
        self.device = belay.Device(self.emulator.port)
        self.connect_time = time.perf_counter() - start
        device = self.device

        @device.task
        def noop():
            return None

        @device.task
        def blob():
            return BLOB  # noqa: F821 - a global on the board

        self._noop, self._blob = noop, blob
        self._blob_ready = False

    def noop(self) -> None:
        self._noop()

    def wire_bytes(self) -> Tuple[int, int]:
        """Bytes one noop() call sends and receives, counted at Belay's serial object."""
        board = self.device._board  # noqa: SLF001 - counting needs the port
        counting = _Counting(board.serial)
        board.serial = counting
        try:
            self._noop()
        finally:
            board.serial = counting.serial
        return counting.sent, counting.received

    def blob(self) -> None:
        if not self._blob_ready:
            self.device(f"BLOB = {BLOB_EXPR}")  # built once on the board, as ours is
            self._blob_ready = True
        if len(self._blob()) != BLOB_SIZE:
            raise RuntimeError("Belay's blob() returned the wrong size")

    def close(self) -> None:
        try:
            self.device.close()
        finally:
            self.emulator.close()


class _Counting:
    """A serial port stand-in that counts the bytes through it."""

    def __init__(self, serial: Any):
        self.serial = serial
        self.sent = self.received = 0

    def write(self, data: bytes) -> int:
        self.sent += len(data)
        return self.serial.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self.serial.read(size)
        self.received += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.serial, name)


def _our_wire_bytes(module: str) -> Tuple[str, str]:
    """Bytes of a noop() request frame and of its reply, averaged over the request ids
    (the 2-byte check is escaped now and then)."""
    from belay_hook.rpc import framing

    out = [len(framing.call_request(1, rid, (), {})) for rid in range(64)]
    back = [len(_reply_none(rid)) for rid in range(64)]
    return f"{statistics.mean(out):.2g}", f"{statistics.mean(back):.2g}"


def _reply_none(rid: int) -> bytes:
    """A board's reply to request ``rid`` returning None."""
    from belay_hook.rpc import framing, ops

    return framing.reply(ops.KIND_RESULT, rid, b"N")


@contextlib.contextmanager
def _timed_split_and_compile() -> Iterator[List[float]]:
    """Time the host's split and compile inside an import (module attributes the hook calls)."""
    from belay_hook import bundle

    spent: List[float] = []
    originals = {name: getattr(bundle, name, None) for name in ("split_cached", "build")}

    def timed(fn: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - start)

        return wrapper

    for name, fn in originals.items():
        if fn is not None:
            setattr(bundle, name, timed(fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            if fn is not None:
                setattr(bundle, name, fn)


# ----------------------------------------------------------------------- measuring


def interleaved(
    kinds: Dict[str, Callable[[], None]], total: int, block: int, warmup: int = 10
) -> Dict[str, List[float]]:
    """Round-trip times of each kind, taken in alternating blocks of ``block`` calls."""
    for fn in kinds.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in kinds}
    clock = time.perf_counter
    while len(times[next(iter(kinds))]) < total:
        n = min(block, total - len(times[next(iter(kinds))]))
        for name, fn in kinds.items():
            record = times[name].append
            for _ in range(n):
                start = clock()
                fn()
                record(clock() - start)
    return times


def measure_link(
    name: str, plan: Plan, folder: Path, log: Callable[[str], None], with_belay: bool = True
) -> LinkResult:
    """All measurements on one link; each board is closed before returning."""
    shape = SHAPES[name]
    result = LinkResult(name)
    os.environ["BELAY_HOOK_CACHE"] = str(folder / f"cache-{name}")  # a cold split cache
    with contextlib.ExitStack() as stack:
        log(f"[{name}] belay_hook: fresh board, cold import")
        ours = OursBoard(shape, folder, name, result)
        stack.callback(ours.close)
        result.warm = [ours.warm_import() for _ in range(plan.warm_imports)]

        log(f"[{name}] floor board and Belay board")
        floor = FloorBoard(shape)
        stack.callback(floor.close)
        kinds = {"floor": floor.echo, "ours": ours.noop, "inc": ours.inc}
        result.connect = {"ours": result.cold["connect"]}
        result.wire = {"ours": _our_wire_bytes(ours.calls_name)}
        if with_belay:
            belay = BelayBoard(shape)
            stack.callback(belay.close)
            result.connect["belay"] = belay.connect_time
            result.wire["belay"] = belay.wire_bytes()
            kinds["belay"] = belay.noop

        log(f"[{name}] {plan.calls} round trips of each kind, interleaved")
        result.latency = interleaved(
            kinds,
            plan.calls,
            plan.block,
        )

        if plan.belay_blob_runs and with_belay:
            try:
                belay.blob()
                result.notes.append("Belay returned 64 KiB on a 256 KiB heap")
            except Exception as exc:  # noqa: BLE001 - what Belay raises is the finding
                last = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                result.notes.append(f"Belay, 64 KiB return on a 256 KiB heap: {last}")
            log(f"[{name}] Belay board with a 1 MiB heap for its 64 KiB return")
            big = BelayBoard(shape, heap="1M")
            stack.callback(big.close)
            big.blob()  # builds BLOB on the board; a warm-up, not timed

        log(f"[{name}] 64 KiB transfers, interleaved")
        floor.start_bulk()
        floor.bulk()  # warm-up
        ours.blob()
        result.transfer = {"floor": [], "ours": [], "belay": []}
        for run in range(plan.blob_runs):
            kinds = [("floor", floor.bulk), ("ours", ours.blob)]
            if run < plan.belay_blob_runs and with_belay:
                kinds.append(("belay", big.blob))
            for kind, fn in kinds:
                start = time.perf_counter()
                fn()
                result.transfer[kind].append(time.perf_counter() - start)
    return result


# ------------------------------------------------------------------------ reporting


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}" if seconds >= 1e-3 else f"{seconds * 1e6:.1f}"


def _p90(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def _rate(seconds: List[float]) -> float | None:
    """kB/s (1 kB = 1000 bytes) of the median 64 KiB transfer."""
    return BLOB_SIZE / statistics.median(seconds) / 1000 if seconds else None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def figure_rows(results: List[LinkResult]) -> List[Tuple[str, List[str]]]:
    """The figures, one row per quantity, one column per link."""
    rows: List[Tuple[str, List[str]]] = []

    def row(label: str, cell: Callable[[LinkResult], str]) -> None:
        rows.append((label, [cell(r) for r in results]))

    for kind, label in (
        ("floor", "1-byte echo (floor)"),
        ("ours", "belay_hook noop()"),
        ("belay", "Belay task noop()"),
        ("inc", "belay_hook inc(i)"),
    ):
        row(
            f"Round trip, {label}: median (p90), µs",
            lambda r, k=kind: (
                f"{_us(statistics.median(r.latency[k]))} ({_us(_p90(r.latency[k]))})"
                if k in r.latency
                else "not run"
            ),
        )
    for kind, label in (
        ("floor", "board writes 64 KiB (floor)"),
        ("ours", "belay_hook blob()"),
        ("belay", "Belay task blob()"),
    ):

        def rate_cell(r: LinkResult, k: str = kind) -> str:
            rate = _rate(r.transfer.get(k, []))
            if rate is None:
                return "not run"
            runs = len(r.transfer[k])
            return f"{rate:,.0f} (median of {runs})" if runs > 1 else f"{rate:,.0f} (1 run)"

        row(f"64 KiB return, {label}: kB/s", rate_cell)
    row(
        "Bytes per noop() call, to / from the board: belay_hook; Belay",
        lambda r: "{} / {}; {} / {}".format(*r.wire["ours"], *r.wire.get("belay", "--")),
    )
    row("Connect: belay_hook agent start, ms", lambda r: _ms(r.cold["connect"]))
    row(
        "Connect: Belay `Device()`, ms",
        lambda r: _ms(r.connect["belay"]) if "belay" in r.connect else "not run",
    )
    row(
        "Cold import of the small module, ms: total = connect + bundle",
        lambda r: f"{_ms(r.cold['total'])} = {_ms(r.cold['connect'])} + {_ms(r.cold['bundle'])}",
    )
    row(
        "  of the bundle import: host split + compile, ms; bytes uploaded",
        lambda r: f"{_ms(r.cold['split_compile'])}; {r.cold['bundle_bytes']:,.0f} B",
    )
    row(
        "Warm re-import (bundle on the board), median ms",
        lambda r: f"{_ms(statistics.median(r.warm))} (of {len(r.warm)})" if r.warm else "-",
    )
    return rows


def ratio_rows(results: List[LinkResult]) -> List[Tuple[str, List[str]]]:
    """Ratios with their targets and PASS/MISS, one column per link."""
    rows: List[Tuple[str, List[str]]] = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    def cells(fn: Callable[[LinkResult], str]) -> List[str]:
        return [fn(r) for r in results]

    def med(r: LinkResult, kind: str) -> float:
        return statistics.median(r.latency[kind])

    def belay_over_ours(r: LinkResult) -> str:
        if "belay" not in r.latency:
            return "not run"
        x = med(r, "belay") / med(r, "ours")
        return f"{x:.1f}x {verdict(x >= 5)}"

    def ours_over_floor(r: LinkResult, kind: str = "ours") -> str:
        x = med(r, kind) / med(r, "floor")
        extra = _us(med(r, kind) - med(r, "floor"))
        text = f"{x:.2f}x (+{extra} µs)"
        return f"{text} {verdict(x <= 1.6)}" if r.name == "shaped" else text

    def bytes_ours_over_belay(r: LinkResult) -> str:
        ours, belay = _rate(r.transfer["ours"]), _rate(r.transfer.get("belay", []))
        if ours is None or belay is None:
            return "not run"
        x = ours / belay
        return f"{x:.1f}x {verdict(x >= 20)}" if r.name == "plain" else f"{x:.1f}x"

    def bytes_ours_over_floor(r: LinkResult) -> str:
        x = _rate(r.transfer["ours"]) / _rate(r.transfer["floor"])  # type: ignore[operator]
        return f"{x:.1%} {verdict(x >= 0.95)}" if r.name == "shaped" else f"{x:.1%}"

    def cold(r: LinkResult) -> str:
        seconds = r.cold["total"]
        text = f"{seconds:.2f} s"
        return f"{text} {verdict(seconds < 1.0)}" if r.name == "shaped" else text

    rows.append(("Call latency, Belay / belay_hook (target >= 5x)", cells(belay_over_ours)))
    rows.append(("Call latency, noop() / floor (target <= 1.6x shaped)", cells(ours_over_floor)))
    rows.append(("Call latency, inc(i) / floor", cells(lambda r: ours_over_floor(r, "inc"))))
    rows.append(
        ("64 KiB rate, belay_hook / Belay (target >= 20x on plain)", cells(bytes_ours_over_belay))
    )
    rows.append(
        ("64 KiB rate, belay_hook / floor (target >= 95% on shaped)", cells(bytes_ours_over_floor))
    )
    rows.append(("Cold import, small module (target < 1 s on shaped)", cells(cold)))
    return rows


def machine() -> str:
    """One line on where the figures come from."""
    from belay_hook.emulator import find_micropython

    vm = find_micropython() or "micropython"
    try:
        import subprocess

        code = "import sys;print('.'.join(map(str, sys.implementation.version[:3])))"
        out = subprocess.run(
            [vm, "-c", code], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = "?"
    try:
        import belay

        belay_version = getattr(belay, "__version__", "?")
    except ImportError:
        belay_version = "not installed"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, MicroPython {out} unix VM, "
        f"Belay {belay_version}; load average at the end {load} (other work shares the cores)"
    )


def print_text(results: List[LinkResult], seconds: float) -> None:
    names = [r.name for r in results]
    width = 66
    print(f"\n{machine()}\n")
    print(f"{'':{width}}" + "".join(f"{n:>28}" for n in names))
    for label, cells in figure_rows(results) + [("", [""] * len(results))] + ratio_rows(results):
        print(f"{label:{width}}" + "".join(f"{c:>28}" for c in cells))
    for r in results:
        for note in r.notes:
            print(f"[{r.name}] {note}")
    print(f"\nTotal run time {seconds:.0f} s.")


def print_markdown(results: List[LinkResult], seconds: float) -> None:
    names = [r.name for r in results]
    heads = {"plain": "plain pty", "shaped": "shaped (115200 baud, 0.5 ms)"}
    print(f"Machine: {machine()}.\n")
    print("| quantity | " + " | ".join(heads.get(n, n) for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for label, cells in figure_rows(results):
        print(f"| {label.strip()} | " + " | ".join(cells) + " |")
    print("\n| ratio (target) | " + " | ".join(heads.get(n, n) for n in names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for label, cells in ratio_rows(results):
        print(f"| {label} | " + " | ".join(cells) + " |")
    notes = [f"{r.name}: {note}" for r in results for note in r.notes]
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    print(f"\nWhole run: {seconds:.0f} s.")


# ------------------------------------------------------------------------ breakdown


def _process_cpu(pid: int) -> float:
    """Seconds this process has run on a CPU (scheduler's exact count, not clock ticks)."""
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


def _processes(emulator: Any) -> Dict[str, int]:
    """Host, bridge and VM process ids of one emulated board."""
    bridge = emulator._bridge.pid  # noqa: SLF001 - a benchmark may look inside
    with open(f"/proc/{bridge}/task/{bridge}/children") as children:
        vm = int(children.read().split()[0])
    return {"host": os.getpid(), "bridge": bridge, "vm": vm}


def _raw_round_trip(fd: int, frame: bytes) -> None:
    """Write a frame with one os.write; read one reply frame with select + os.read."""
    os.write(fd, frame)
    got = b""
    while len(got) < 2 or len(got) < 2 + got[1] - 0x20:  # 0xFE, one-byte length
        select.select([fd], [], [])
        got += os.read(fd, 65536)


def breakdown(calls: int, log: Callable[[str], None]) -> List[Tuple[str, float, Dict[str, float]]]:
    """Where a plain-pty call's time goes: wall time and CPU time per process, per variant."""
    from belay_hook.rpc import framing
    from belay_hook.rpc.channel import Channel

    log("[breakdown] boards: echo, frame-sized echo, agent")
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        sys.path.insert(0, tmp)
        stack.callback(sys.path.remove, tmp)
        os.environ["BELAY_HOOK_CACHE"] = str(folder / "cache")
        ours = OursBoard({}, folder, "breakdown", LinkResult("breakdown"))
        stack.callback(ours.close)
        session = ours.hook.session
        handle = session._handles[ours.calls_name, "noop"]
        frame = framing.call_request(handle, 1, (), {})
        reply = _reply_none(1)
        reply_len = len(reply)
        floor = FloorBoard({})
        stack.callback(floor.close)
        sized = FloorBoard({})  # answers a request-sized frame with a reply-sized one
        stack.callback(sized.close)
        sized.link.exec_start(
            "import sys\nr=sys.stdin.buffer.read\nw=sys.stdout.buffer.write\n"
            f"R={reply!r}\nwhile 1:\n r({len(frame)})\n w(R)"
        )
        reader = Channel(sized.serial, "sized")
        stack.callback(reader.close)
        reader.lock.acquire()  # the benchmark reads, not the idle reader
        session.channel.lock.acquire()  # nor for the raw round trips to the agent
        stack.callback(session.channel.lock.release)
        s_sized, s_ours = sized.serial, session.link.serial

        def sized_pyserial() -> None:
            s_sized.write(frame)
            s_sized.read(reply_len)

        def sized_reader() -> None:
            s_sized.write(frame)
            reader.read_frame(time.monotonic() + 5.0)

        variants = [
            ("1-byte echo, pyserial write + read(1) (the floor)", floor.echo, floor.emulator),
            (
                "frame-sized echo, os.write + select/os.read",
                lambda: _raw_round_trip(s_sized.fd, frame),
                sized.emulator,
            ),
            ("frame-sized echo, pyserial write + read(n)", sized_pyserial, sized.emulator),
            ("frame-sized echo, pyserial write + Channel", sized_reader, sized.emulator),
            (
                "agent noop, os.write + select/os.read",
                lambda: _raw_round_trip(s_ours.fd, frame),
                ours.emulator,
            ),
            (
                "agent noop, Session.call()",
                lambda: session.call(ours.calls_name, "noop", (), {}),
                ours.emulator,
            ),
            ("agent noop, import-hook stub", ours.noop, ours.emulator),
        ]
        log(f"[breakdown] {len(variants)} variants x {calls} calls, interleaved")
        pids = {name: _processes(emulator) for name, _, emulator in variants}
        walls: Dict[str, List[float]] = {name: [] for name, _, _ in variants}
        cpu = {name: dict.fromkeys(("host", "bridge", "vm"), 0.0) for name, _, _ in variants}
        for _, fn, _ in variants:
            for _ in range(10):
                fn()
        clock = time.perf_counter
        for _ in range(0, calls, 25):  # interleaved blocks: a drifting machine hits all alike
            for name, fn, _ in variants:
                before = {k: _process_cpu(p) for k, p in pids[name].items()}
                for _ in range(25):
                    start = clock()
                    fn()
                    walls[name].append(clock() - start)
                for k, p in pids[name].items():
                    cpu[name][k] += _process_cpu(p) - before[k]
        out = []
        for name, _, _ in variants:
            n = len(walls[name])
            per_call = {k: v / n for k, v in cpu[name].items()}
            out.append((name, statistics.median(walls[name]), per_call))
    return out


def print_breakdown(rows: List[Tuple[str, float, Dict[str, float]]], markdown: bool) -> None:
    if markdown:
        print("\n| plain pty, one round trip | wall median µs | CPU µs: host | bridge | VM |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, wall, cpu in rows:
            print(
                f"| {name} | {wall * 1e6:.1f} | {cpu['host'] * 1e6:.1f} | "
                f"{cpu['bridge'] * 1e6:.1f} | {cpu['vm'] * 1e6:.1f} |"
            )
        return
    print(
        f"\n{'plain pty, one round trip':52}{'wall µs':>9}{'host':>8}{'bridge':>8}{'VM':>8}"
        "   (CPU µs per call)"
    )
    for name, wall, cpu in rows:
        print(
            f"{name:52}{wall * 1e6:9.1f}{cpu['host'] * 1e6:8.1f}"
            f"{cpu['bridge'] * 1e6:8.1f}{cpu['vm'] * 1e6:8.1f}"
        )


# ----------------------------------------------------------------------------- main


def main(argv: List[str] | None = None) -> int:
    """Run the benchmark; exit status 0 whatever the targets say."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--markdown", action="store_true", help="print tables for PERFORMANCE.md")
    parser.add_argument("--links", default="plain,shaped", help="plain, shaped or both")
    parser.add_argument(
        "--breakdown", action="store_true", help="also show where a call's time goes (plain pty)"
    )
    parser.add_argument("--without-belay", action="store_true", help="measure no Belay board")
    args = parser.parse_args(argv)
    links = [name.strip() for name in args.links.split(",") if name.strip()]
    unknown = [name for name in links if name not in SHAPES]
    if unknown:
        parser.error(f"unknown link(s) {', '.join(unknown)}: choose from {', '.join(SHAPES)}")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        sys.path.insert(0, tmp)
        try:
            for name in links:
                plan = PLANS[name, args.quick]
                results.append(measure_link(name, plan, Path(tmp), log, not args.without_belay))
        finally:
            sys.path.remove(tmp)
    rows = breakdown(300 if args.quick else 2000, log) if args.breakdown else []
    seconds = time.perf_counter() - started
    if args.markdown:
        print_markdown(results, seconds)
    else:
        print_text(results, seconds)
    if rows:
        print_breakdown(rows, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
