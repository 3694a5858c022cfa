"""Split + compile time of a 2,000-line marked module, cold and with a warm cache.

Each measurement runs in a fresh interpreter, as a real import would: "cold"
starts from an empty cache, "warm" finds the split and the .mpy cached. Also
times the split alone in-process (no interpreter start, no imports).

    python bench/bench_split.py [--lines 2000] [--runs 5] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ONE_IMPORT = textwrap.dedent(
    """
    import sys, time
    t0 = time.perf_counter()
    from belay_hook import bundle
    source = open(sys.argv[1], encoding="utf-8").read()
    t1 = time.perf_counter()
    result = bundle.split_cached(source, sys.argv[1])
    t2 = time.perf_counter()
    bundle.build(result)
    t3 = time.perf_counter()
    print(t1 - t0, t2 - t1, t3 - t2)
    """
)


def make_module(lines: int) -> str:
    """A module of about ``lines`` lines: every third function marked, imports, constants."""
    out = ["import time", "", "#@mcu", "from machine import Pin", ""]
    n = 0
    while len(out) < lines:
        marked = n % 3 == 0
        if marked:
            out.append("#@mcu")
        out += [
            f"def func_{n}(a, b=2, *args, key=None, **kw):",
            f'    """Function {n}: a docstring that mentions #@mcu but is no marker."""',
            "    total = a + b  # a comment",
            "    for i in range(len(args)):",
            "        total += args[i]",
            "    if key is not None:",
            f"        total *= {n + 1}",
            "    return total",
            "",
        ]
        if n % 10 == 0:
            out += ["#@mcu", f"CONST_{n} = ({n}, 'text', b'bytes')", ""]
        n += 1
    return "\n".join(out[:lines]) + "\n"


def measure(path: Path, cache: str) -> tuple:
    env = dict(os.environ, BELAY_HOOK_CACHE=cache)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", ONE_IMPORT, str(path)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    total = time.perf_counter() - start
    imports, split_s, compile_s = map(float, out.split())
    return total, imports, split_s, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print a table for PERFORMANCE.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_module.py"
        path.write_text(make_module(args.lines), encoding="utf-8")
        cold, warm = [], []
        for run in range(args.runs):
            cache = os.path.join(tmp, f"cache{run}")
            cold.append(measure(path, cache))
            warm.append(measure(path, cache))

        from belay_hook.splitter.cut import split

        split_times = []
        source = path.read_text(encoding="utf-8")
        for _ in range(args.runs):
            t = time.perf_counter()
            split(source, str(path))
            split_times.append(time.perf_counter() - t)

    def med(rows: list, i: int) -> float:
        return statistics.median(r[i] for r in rows) * 1000

    rows = [
        ("whole import step, fresh process", med(cold, 0), med(warm, 0)),
        ("  importing belay_hook.bundle", med(cold, 1), med(warm, 1)),
        ("  split (split_cached)", med(cold, 2), med(warm, 2)),
        ("  compile (build, mpy-cross)", med(cold, 3), med(warm, 3)),
    ]
    in_process = statistics.median(split_times) * 1000
    if args.markdown:
        print(f"{args.lines}-line module, median of {args.runs} runs, milliseconds:\n")
        print("| step | cold cache | warm cache | warm / cold |")
        print("| --- | ---: | ---: | ---: |")
        for name, c, w in rows:
            print(f"| {name.strip()} | {c:.1f} | {w:.1f} | {w / c:.2f} |")
        print(f"\nSplit alone, in-process, no cache: {in_process:.1f} ms.")
    else:
        print(f"{args.lines}-line module, median of {args.runs} runs (ms)")
        for name, c, w in rows:
            print(f"{name:<36} cold {c:8.1f}   warm {w:8.1f}   ratio {w / c:.2f}")
        print(f"{'split alone, in-process':<36} {in_process:8.1f}")


if __name__ == "__main__":
    main()
