"""What a sync changes on the board, decided from the board's listing (no board in here).

Given the files and folders the source makes, what the board holds under the
destination and which same-size files the board found unchanged, `plan` says what to
upload, create and delete. Every board path is checked to lie under the destination
before it gets into a plan.
"""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Dict, List, Tuple

from belay_hook.errors import BelayHookError

KEEP = "/.belay_hook"  # the agent's bundle cache: never deleted as an extra
# What a board needs to start and what users put there by hand: --delete keeps these
# (with what is under them) unless asked, or unless they are the destination itself.
PROTECTED = ("/lib", "/boot.py", "/main.py", "/webrepl_cfg.py")

Listing = Dict[str, "int | None"]  # board path -> size of a file, None for a folder


class SyncError(BelayHookError):
    """A sync that cannot be done as asked: bad source, unsafe path, board refused a write."""


@dataclass
class SyncReport:
    """What a sync did (or, for a dry run, would do); board paths throughout."""

    uploaded: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)  # already the same on the board
    deleted: List[str] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)  # extras left alone: protected paths
    created: List[str] = field(default_factory=list)  # folders
    bytes_uploaded: int = 0  # file bytes, before encoding
    dry_run: bool = False
    notes: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{len(self.uploaded)} uploaded ({size_text(self.bytes_uploaded)}), "
            f"{len(self.skipped)} unchanged, {len(self.deleted)} deleted, "
            f"{len(self.created)} folders created"
        )
        text += f", {len(self.kept)} protected kept" if self.kept else ""
        return text + (" (dry run: nothing was changed)" if self.dry_run else "")


@dataclass(frozen=True)
class Rules:
    """What a sync may delete and what it leaves alone, on both sides."""

    delete: bool = False  # remove what is under the destination but not in the source
    keep: Tuple[str, ...] = PROTECTED  # board paths --delete never removes
    exclude: Tuple[str, ...] = ()  # glob patterns: neither copied nor deleted

    def excluded(self, rel: str) -> bool:
        """Whether relative path `rel` or a folder it is in matches a pattern. A pattern
        with a ``/`` matches the path from the top, one without matches a name at any
        depth (as in rsync and .gitignore)."""
        parts = rel.split("/")
        return any(self._matches("/".join(parts[: i + 1])) for i in range(len(parts)))

    def _matches(self, rel: str) -> bool:
        name = posixpath.basename(rel)
        return any(
            fnmatch.fnmatchcase(rel, p.strip("/")) if "/" in p else fnmatch.fnmatchcase(name, p)
            for p in self.exclude
        )

    def keeper(self, dst: str, path: str) -> str | None:
        """The `keep` entry that covers board path `path` (None: none does). An entry
        the destination lies in protects nothing: the user aimed the sync there."""
        covering = (k for k in self.keep if _within(path, k) and not _within(dst, k))
        return next(covering, None)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class BoardFile:
    """A source file and what goes to the board for it."""

    source: Path
    remote: str
    data: bytes

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.data).digest()


def board_path(dst: str, rel: str) -> str:
    """The board path for a relative source path; refuses any that leaves `dst`."""
    return checked(dst, posixpath.join(dst, rel))


def checked(dst: str, path: str) -> str:
    """`path`, if it is a normalised board path strictly inside `dst`."""
    inside = path.startswith(dst.rstrip("/") + "/") and path != dst
    if posixpath.normpath(path) != path or not inside:
        raise SyncError(f"board path {path!r} is not inside the destination {dst}")
    return path


def plan(
    report: SyncReport,
    dst: str,
    dst_exists: bool,
    dirs: List[str],
    files: List[BoardFile],
    listing: Listing,
    unchanged: Collection[str],
    rules: Rules,
) -> None:
    """Fill `report` with what makes `dst` hold `dirs` and `files` (board paths).

    `listing` is what the board has under `dst`; `unchanged`, the board paths found
    equal to their source. Extras go only with `rules.delete`, and never excluded or
    protected ones; but a ``.py`` that would shadow its new ``.mpy`` and anything in a
    folder that must go always do.
    """
    wanted = set(dirs) | {f.remote for f in files}
    if not dst_exists and dst != "/":
        report.created.append(dst)
    for path in dirs:
        if path not in listing:
            report.created.append(path)
        elif listing[path] is not None:  # a board file where a folder goes
            report.deleted.append(path)
            report.created.append(path)
    for f in files:
        if f.remote in listing and listing[f.remote] is None:
            if not rules.delete:
                raise SyncError(
                    f"board path {f.remote} is a folder where {f.source} goes; "
                    "use --delete to replace it"
                )
            report.deleted.append(f.remote)  # with what is in it, below
        if f.remote in unchanged:
            report.skipped.append(f.remote)
        else:
            report.uploaded.append(f.remote)
            report.bytes_uploaded += len(f.data)
    for path in sorted(set(listing) - wanted, key=deepest_first):
        if path == KEEP or path.startswith(KEEP + "/"):
            continue  # the agent's bundle cache is not the user's to mirror
        shadowed = path.endswith(".py") and path[:-3] + ".mpy" in wanted  # .py wins imports
        keeper = rules.keeper(dst, path)
        if shadowed or any(path.startswith(d + "/") for d in report.deleted):
            report.deleted.append(path)
        elif not rules.delete or rules.excluded(path[len(dst) :].lstrip("/")):
            continue
        elif keeper is None:
            report.deleted.append(path)
        elif keeper not in report.kept:
            report.kept.append(keeper)  # once, with what is under it
    report.deleted.sort(key=deepest_first)


def deepest_first(path: str) -> Tuple[int, str]:
    return (-path.count("/"), path)


def size_text(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"
