"""``belay-hook run``: a program run as ``python FILE`` runs it, with the hook installed.

Its errors read as Python's would: a traceback of the program's own frames (``-v``
shows belay_hook's too, for a bug report), and a board that cannot be reached, or a
setting that is wrong, is one line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from belay_hook.errors import BelayHookError, BoardResetError, FrameError, LinkError

_OURS = str(Path(__file__).resolve().parent) + os.sep
_PLUMBING = (_OURS, "<frozen importlib.", "<frozen runpy>")


def run(
    args: argparse.Namespace, device: Callable[[argparse.Namespace], ContextManager[str]]
) -> int:
    """Run ``args.file`` as ``__main__`` on the board ``device(args)`` opens.

    The program finds the board's device in ``$BELAY_HOOK_PORT``, so that what it
    connects to itself (``belay_hook.sync.sync(None, ...)``, say) is the same board,
    also an emulator started for the run.
    """
    from belay_hook.importhook import install

    rest = _options_after_file(args)
    path = args.file.resolve()
    if not path.is_file():
        raise SystemExit(f"belay-hook run: {args.file}: no such file")
    try:
        with device(args) as port, _environ("BELAY_HOOK_PORT", port), install(port) as hook:
            spec = importlib.util.spec_from_file_location("__main__", path, loader=hook)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.argv[:] = [str(args.file), *rest]
            sys.path.insert(0, str(path.parent))
            main_module, sys.modules["__main__"] = sys.modules["__main__"], module
            try:
                hook.exec_module(module)
            except (Exception, KeyboardInterrupt) as exc:
                if isinstance(exc, SyntaxError):
                    raise  # a marker or syntax error: main() reports it at file:line
                return _report(exc, args)
            finally:
                sys.modules["__main__"] = main_module
    except BelayHookError as exc:  # before the program ran: a setting, the port, the emulator
        print(f"belay-hook run: {exc}", file=sys.stderr)
        return 1
    return 0


def _options_after_file(args: argparse.Namespace) -> list:
    """`run FILE --port P ARGS`: options may follow FILE; anything after `--` is the
    program's. Returns the program's arguments."""
    rest = list(args.args)
    while rest and rest[0].partition("=")[0] in ("--port", "--flash", "--no-pins"):
        name, has_value, value = rest.pop(0).partition("=")
        if name == "--no-pins":
            args.no_pins = True
            continue
        if not has_value:
            if not rest:
                raise SystemExit(f"belay-hook run: {name} needs a value")
            value = rest.pop(0)
        setattr(args, name[2:], value if name == "--port" else Path(value))
    return rest[1:] if rest[:1] == ["--"] else rest


def _report(exc: BaseException, args: argparse.Namespace) -> int:
    """The program's error on stderr, as Python shows it; exit status 1 (130 for Ctrl-C,
    as a shell reports a program that SIGINT stopped)."""
    sys.stdout.flush()
    if _unreachable(exc):
        print(f"belay-hook run: {exc} (at {_program_line(exc) or args.file})", file=sys.stderr)
        return 1
    shown = traceback.TracebackException.from_exception(exc)
    if not args.verbose:
        _program_frames_only(shown)
    print("".join(shown.format()), end="", file=sys.stderr)
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def _unreachable(exc: BaseException) -> bool:
    """The board could not be reached at all (no such port, busy, refused): the program's
    traceback through belay_hook would say no more than the message."""
    return isinstance(exc, LinkError) and not isinstance(exc, (BoardResetError, FrameError))


def _program_line(exc: BaseException) -> str | None:
    """file:line of the innermost frame of the program's own code in ``exc``'s traceback."""
    where = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        name = frame.f_code.co_filename
        if not name.startswith((*_PLUMBING, "<")) and Path(name).is_file():
            where = f"{name}:{line}"
    return where


def _program_frames_only(shown: traceback.TracebackException) -> None:
    """Drop belay_hook's and importlib's frames from every exception of the chain,
    as Python hides its import machinery (where only those are, they stay)."""
    seen = set()
    todo = [shown]
    while todo:
        one = todo.pop()
        if id(one) in seen:
            continue
        seen.add(id(one))
        kept = [f for f in one.stack if not f.filename.startswith(_PLUMBING)]
        if kept:
            one.stack = traceback.StackSummary.from_list(kept)
        todo += [e for e in (one.__cause__, one.__context__) if e is not None]


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
