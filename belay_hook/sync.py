"""Make a folder on the board's filesystem a copy of a folder here (the drive replicator).

Libraries, ``main.py`` and data files must be on a board's flash before code imports
them. Flash is slow and wears out, and the serial link is slow, so only what differs
is written: the board hashes its own files (sha256 in 1 KiB pieces, or, without
``hashlib``, sends back the files whose size matches to be compared here) and
only files whose content differs are uploaded.

This module reads the source folder and runs a sync; `belay_hook.sync_plan` decides
what changes, `belay_hook.sync_board` talks to the board. Nothing is ever written
outside the destination: source names with ``..``, separators or symlinks leading out
of the source folder are refused, and every board path is checked to lie under the
destination before it is written or deleted.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Tuple, Union

from belay_hook import compiler
from belay_hook.board import ports
from belay_hook.board.link import Link
from belay_hook.compiler import BoardFormat
from belay_hook.rpc import connection
from belay_hook.sync_board import CHUNK as CHUNK  # re-exported: the upload step
from belay_hook.sync_board import Helper
from belay_hook.sync_plan import (
    PROTECTED,
    BoardFile,
    Rules,
    SyncError,
    SyncReport,
    board_path,
    plan,
)

__all__ = ["CHUNK", "PROTECTED", "SyncError", "SyncReport", "sync"]

ALWAYS_SOURCE = ("boot.py", "main.py")  # the board runs these by name: never .mpy
SKIPPED_DIRS = ("__pycache__",)  # CPython's caches: no board can load them
SKIPPED_SUFFIXES = (".pyc",)


@dataclass(frozen=True)
class _Source:
    """A file of the source folder: its relative POSIX path, host path and content."""

    rel: str
    path: Path
    data: bytes


def sync(
    port_or_link: Union[str, Link, None],
    src: Union[str, os.PathLike],
    dst: str = "/",
    delete: bool = False,
    mpy: bool = False,
    progress: bool = True,
    dry_run: bool = False,
    *,
    keep: Iterable[str] = PROTECTED,
    exclude: Iterable[str] = (),
) -> SyncReport:
    """Make the board folder `dst` hold what the folder `src` holds.

    `port_or_link`: an open (or openable) `Link`, or a port as `ports.resolve` takes it.
    A port that a session of this program holds (the import hook's board, also
    ``emulator``) is worked through that session: its agent stops for the sync and
    restarts at the next call, with every bundle put back. Otherwise the port is opened
    for the sync (``emulator`` starts one for the duration, whose flash is then thrown
    away). Unchanged files are skipped; `delete` removes board files and folders under
    `dst` that `src` does not have, but never what `keep` names (board paths, by
    default `PROTECTED`: ``/lib``, ``boot.py``, ``main.py``, ``webrepl_cfg.py``; pass
    ``keep=()`` to delete them too) unless `dst` is in it; `exclude` holds glob
    patterns (``*.md``, ``tests``, ``docs/*.txt``) of paths neither copied nor
    deleted; `mpy` uploads ``.py`` files (but ``boot.py`` and
    ``main.py``) compiled to ``.mpy`` for the board's format, removing a ``.py`` of
    the same name that would shadow it; `progress` draws a bar on stderr; `dry_run`
    only reports what would change. Raises SyncError for bad input, naming the path.
    """
    dst = _board_folder(dst)
    kept = tuple(_board_folder(k, "kept path") for k in _strings(keep))
    rules = Rules(delete, kept, _strings(exclude))
    root = _source_folder(src)
    dirs, files = _scan(root, rules)

    def run(link: Link) -> SyncReport:
        return _run(link, dst, dirs, files, _Options(rules, mpy, progress, dry_run))

    if isinstance(port_or_link, Link):
        return run(port_or_link)
    port = ports.resolve(port_or_link)
    session = connection.open_session(port)
    if session is not None:
        with session.lend_link() as link:
            return run(link)
    with connection.device_for(port) as device, Link(device) as link:
        report = run(link)
        link.exit_raw_repl()  # a terminal opened next finds the usual prompt
        return report


# ------------------------------------------------------------------ the source side


def _board_folder(dst: str, what: str = "destination") -> str:
    """`dst` as an absolute, normalised board path; refuses ``..`` and relative paths."""
    if not dst.startswith("/"):
        raise SyncError(f"{what} {dst!r}: give an absolute board path such as /lib")
    parts = [p for p in dst.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise SyncError(f"{what} {dst!r}: '.' and '..' are not allowed in it")
    return "/" + "/".join(parts)


def _strings(value: Iterable[str]) -> Tuple[str, ...]:
    """One string or several: ``exclude="*.md"`` means what ``exclude=["*.md"]`` does."""
    return (value,) if isinstance(value, str) else tuple(value)


def _source_folder(src: Union[str, os.PathLike]) -> Path:
    path = Path(src)
    if not path.exists():
        raise SyncError(f"{path}: no such folder")
    if not path.is_dir():
        raise SyncError(f"{path}: is a file, not a folder (sync copies a folder's contents)")
    return path


def _scan(root: Path, rules: Rules) -> Tuple[List[str], List[_Source]]:
    """Folders and files under `root` as relative POSIX paths (parents first), files read:
    bad input shows before the board is touched. Symlinks are followed only while they
    stay inside `root`; what `rules` excludes is not looked at."""
    real_root = root.resolve()
    dirs: List[str] = []
    files: List[_Source] = []

    def walk(folder: Path, rel: str, ancestors: FrozenSet[Path]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise SyncError(f"{folder}: cannot list: {exc.strerror or exc}") from None
        for entry in entries:
            path = Path(entry.path)
            name = f"{rel}/{entry.name}" if rel else entry.name
            if rules.excluded(name):
                continue
            _check_name(entry.name, path)
            if entry.is_symlink():
                target = path.resolve()
                if not target.exists():
                    raise SyncError(f"{path}: broken symlink (to {os.readlink(path)})")
                if target != real_root and real_root not in target.parents:
                    raise SyncError(f"{path}: symlink points outside {root}: {target}")
            if entry.is_dir():
                if entry.name in SKIPPED_DIRS:
                    continue
                real = path.resolve()
                if real in ancestors:
                    raise SyncError(f"{path}: symlink loop (back to {real})")
                dirs.append(name)
                walk(path, name, ancestors | {real})
            elif entry.is_file():
                if not entry.name.endswith(SKIPPED_SUFFIXES):
                    files.append(_Source(name, path, _read(path)))
            else:
                raise SyncError(f"{path}: neither a regular file nor a folder")

    walk(root, "", frozenset({real_root}))
    return dirs, files


def _check_name(name: str, path: Path) -> None:
    """A name that means one entry in one folder on every board filesystem."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise SyncError(f"{path}: the name {name!r} cannot be copied to a board")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SyncError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _compile(data: bytes, name: str, fmt: BoardFormat) -> bytes | None:
    """`data` compiled to .mpy for `fmt` (cached), or None if no compiler here can."""
    try:
        return compiler.compile_file(data, name, fmt)
    except compiler.CompileError as exc:
        raise SyncError(f"{name}: mpy-cross: {exc.last_line}") from None


# ------------------------------------------------------------------- one sync


@dataclass(frozen=True)
class _Options:
    rules: Rules
    mpy: bool
    progress: bool
    dry_run: bool


def _run(
    link: Link, dst: str, dirs: List[str], sources: List[_Source], options: _Options
) -> SyncReport:
    """List the board, plan, then (unless a dry run) change the board."""
    report = SyncReport(dry_run=options.dry_run)
    with Helper(link) as board:
        files = _board_files(sources, dst, board.mpy, options.mpy, report)
        listing, dst_exists = board.listing(dst)
        same_size = [f for f in files if listing.get(f.remote) == len(f.data)]
        unchanged = set(board.unchanged(same_size))
        remote_dirs = [board_path(dst, d) for d in dirs]
        plan(report, dst, dst_exists, remote_dirs, files, listing, unchanged, options.rules)
        if not options.dry_run:
            parts = dst.split("/")[1:-1] if not dst_exists else []
            above = ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]  # may be missing
            board.apply(report, files, listing, above, options.progress)
    return report


def _board_files(
    sources: List[_Source], dst: str, board_mpy: int | None, mpy: bool, report: SyncReport
) -> List[BoardFile]:
    """What goes to the board for each source file: itself, or with `mpy` its .mpy."""
    fmt = BoardFormat.from_mpy(board_mpy) if board_mpy else None
    if mpy and fmt is None:
        report.notes.append("--mpy: the board reports no .mpy format; .py files go as source")
    files: Dict[str, BoardFile] = {}
    for source in sources:
        rel, data = source.rel, source.data
        name = posixpath.basename(rel)
        if mpy and fmt is not None and rel.endswith(".py") and name not in ALWAYS_SOURCE:
            compiled = _compile(data, rel, fmt)
            if compiled is None:
                report.notes.append(
                    f"--mpy: no mpy-cross here emits {fmt} for {rel}; it goes as source"
                )
            else:
                rel, data = rel[:-3] + ".mpy", compiled
        remote = board_path(dst, rel)
        if remote in files:
            raise SyncError(f"{source.path} and {files[remote].source} both become {remote}")
        files[remote] = BoardFile(source.path, remote, data)
    return list(files.values())
