"""``belay-hook``: look at what goes to the board, and run programs with the hook."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List

from belay_hook import bundle


def main(argv: List[str] | None = None) -> int:
    """Entry point of ``belay-hook`` and ``python -m belay_hook``."""
    parser = argparse.ArgumentParser(prog="belay-hook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("bundle", help="show the MCU bundle a marked module makes")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--mpy", type=Path, metavar="OUT", help="write the compiled bundle to OUT")
    p.add_argument(
        "--format",
        default=None,
        metavar="N",
        help="board format: a board's sys.implementation._mpy (e.g. 2822), "
        "MAJOR.SUB[:ARCH] (e.g. 6.1:armv6m) or 'source'; default: the current MicroPython",
    )
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser(
        "run",
        help="run a host program with the hook installed (the file may hold #@mcu code too)",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--port", default=None, help="device path, pyserial URL or 'emulator'")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    p.set_defaults(func=cmd_run)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SyntaxError as exc:  # MarkerError too: report like a compiler, at file:line
        print(_format_syntax_error(exc), file=sys.stderr)
        return 1


def cmd_bundle(args: argparse.Namespace) -> int:
    try:
        fmt = bundle.BoardFormat.parse(args.format) if args.format else None
    except ValueError as exc:
        raise SystemExit(f"belay-hook bundle: {exc}") from None
    try:
        source = args.file.read_text(encoding="utf-8-sig")  # as Python reads it: BOM or not
    except OSError as exc:
        raise SystemExit(f"belay-hook bundle: {args.file}: {exc.strerror or exc}") from None
    result = bundle.split_cached(source, str(args.file.resolve()))
    built = bundle.build(result, fmt)
    sizes = {
        "source_bytes": len(result.mcu_source.encode()),
        "mpy_bytes": len(built.code) if built.is_mpy else None,
    }
    if args.mpy:
        if not built.is_mpy:
            raise SystemExit(f"belay-hook bundle: format {built.format} takes source, not .mpy")
        args.mpy.write_bytes(built.code)
    if args.json:
        out = {"mcu_source": result.mcu_source, "manifest": built.manifest, "sizes": sizes}
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print(f"# MCU source of {args.file} (line numbers are the file's own)")
    width = len(str(result.mcu_source.count("\n") or 1))
    # split("\n"), not splitlines(): a form feed or U+2028 in a string is no line end
    for n, line in enumerate(result.mcu_source.split("\n"), 1):
        if line.strip():
            print(f"{n:>{width}} | {line}")
    if not result.has_mcu:
        print("(no #@mcu markers: nothing goes to the board)")
    print("\n# Manifest")
    print(json.dumps(built.manifest, indent=2))
    mpy = f"{sizes['mpy_bytes']} bytes .mpy" if built.is_mpy else "uploaded as source"
    print(f"\n# Sizes: {sizes['source_bytes']} bytes source, {mpy} (format {built.format})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run FILE as ``__main__`` through the hook, like ``python FILE`` with a board."""
    import importlib.util

    from belay_hook import ports
    from belay_hook.importhook import install

    rest = list(args.args)
    # `run FILE --port P ARGS`: the option may follow FILE; anything after `--` is the program's.
    if rest[:1] == ["--port"] and len(rest) > 1:
        args.port, rest = rest[1], rest[2:]
    elif rest and rest[0].startswith("--port="):
        args.port, rest = rest[0].split("=", 1)[1], rest[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    path = args.file.resolve()
    if not path.is_file():
        raise SystemExit(f"belay-hook run: {args.file}: no such file")
    port = ports.resolve(args.port)
    # On the emulator, show the pins: there is no LED to look at otherwise.
    options = {"show_pins": True} if port == ports.EMULATOR else {}
    with install(port, **options) as hook:
        spec = importlib.util.spec_from_file_location("__main__", path, loader=hook)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.argv[:] = [str(args.file), *rest]
        sys.path.insert(0, str(path.parent))
        main_module = sys.modules["__main__"]
        sys.modules["__main__"] = module
        try:
            hook.exec_module(module)
        finally:
            sys.modules["__main__"] = main_module
    return 0


def _format_syntax_error(exc: SyntaxError) -> str:
    where = f"{exc.filename}:{exc.lineno}" if exc.lineno else str(exc.filename)
    out = f"{where}: {type(exc).__name__}: {exc.msg}"
    if exc.text:
        text = exc.text.rstrip("\r\n")
        out += f"\n    {text.strip()}"
        if exc.offset:
            indent = len(text) - len(text.lstrip())
            out += "\n    " + " " * max(exc.offset - 1 - indent, 0) + "^"
    return out
