"""Make a folder on the board's filesystem a copy of a folder here (the drive replicator).

Libraries, ``main.py`` and data files must be on a board's flash before code imports
them. Flash is slow and wears out, and the serial link is slow, so only what differs
is written: the board hashes its own files (sha256 in 1 KiB pieces, or, without
``hashlib``, sends back the files whose size matches to be compared here) and
only files whose content differs are uploaded.

Everything goes through raw REPL `~belay_hook.board.link.Link.exec` calls: a small helper
is defined on the board for the duration and deleted at the end. File data travels
as Python bytes literals or base64 (whichever is shorter), so the code sent never
holds the raw REPL's control bytes, and no chunk holds more than 1 KiB of data.

Nothing is ever written outside the destination: source names with ``..``,
separators or symlinks leading out of the source folder are refused, and every
board path is checked to lie under the destination before it is written or deleted.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Tuple, Union

from belay_hook import compiler
from belay_hook.board import ports
from belay_hook.board.link import Link
from belay_hook.compiler import BoardFormat
from belay_hook.errors import BelayHookError
from belay_hook.rpc import connection

KEEP = "/.belay_hook"  # the agent's bundle cache: never deleted as an extra

CHUNK = 1024  # file bytes per exec call: bounds the board RAM one upload step needs
SLOW = 120.0  # seconds for listing or hashing many files on a slow board
ALWAYS_SOURCE = ("boot.py", "main.py")  # the board runs these by name: never .mpy
SKIPPED_DIRS = ("__pycache__",)  # CPython's caches: no board can load them
SKIPPED_SUFFIXES = (".pyc",)
_NATIVE = re.compile(rb"@micropython\.(?:" + compiler.NATIVE_EMITTERS.pattern.encode() + rb")\b")

# Defined on the board for one sync. Everything it prints is plain fields and hex,
# which the host parses; nothing the board sends is evaluated. Its first line says
# whether the board has sha256 and a2b_base64 (1 or 0), and its .mpy format (-1: none).
_HELPER = """\
import os, sys
from binascii import hexlify as _bh_x
try:
    from hashlib import sha256 as _bh_h
except (ImportError, AttributeError):
    _bh_h = None
try:
    from binascii import a2b_base64 as _bh_a
except ImportError:
    _bh_a = None
_bh_b = bytearray(1024)
_bh_f = None
def _bh_ls(t):
    try:
        m = os.stat(t)[0]
    except OSError:
        return
    if not m & 0x4000:
        print('f', _bh_x(t.encode()).decode(), -1)
        return
    print('d', _bh_x(t.encode()).decode())
    s = [t]
    while s:
        d = s.pop()
        for n in os.listdir(d):
            p = d.rstrip('/') + '/' + n
            m = os.stat(p)
            if m[0] & 0x4000:
                s.append(p)
                print('d', _bh_x(p.encode()).decode())
            else:
                print('f', _bh_x(p.encode()).decode(), m[6])
def _bh_s(p):
    h = _bh_h()
    m = memoryview(_bh_b)
    with open(p, 'rb') as f:
        n = f.readinto(_bh_b)
        while n:
            h.update(m[:n])
            n = f.readinto(_bh_b)
    print(_bh_x(h.digest()).decode())
def _bh_md(p):
    try:
        os.mkdir(p)
    except OSError:
        if not os.stat(p)[0] & 0x4000:
            raise
def _bh_o(p, m):
    global _bh_f
    _bh_f = open(p, m)
def _bh_c(p):
    global _bh_f
    _bh_f.close()
    _bh_f = None
    print(os.stat(p)[6])
print(int(_bh_h is not None), int(_bh_a is not None), getattr(sys.implementation, '_mpy', -1))
"""
_CLEANUP = """\
try:
    _bh_f.close()
except Exception:
    pass
del _bh_h, _bh_a, _bh_x, _bh_b, _bh_f, _bh_ls, _bh_s, _bh_md, _bh_o, _bh_c
import gc
gc.collect()
"""


class SyncError(BelayHookError):
    """A sync that cannot be done as asked: bad source, unsafe path, board refused a write."""


@dataclass
class SyncReport:
    """What a sync did (or, for a dry run, would do); board paths throughout."""

    uploaded: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)  # already the same on the board
    deleted: List[str] = field(default_factory=list)
    created: List[str] = field(default_factory=list)  # folders
    bytes_uploaded: int = 0  # file bytes, before encoding
    dry_run: bool = False
    notes: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{len(self.uploaded)} uploaded ({_size(self.bytes_uploaded)}), "
            f"{len(self.skipped)} unchanged, {len(self.deleted)} deleted, "
            f"{len(self.created)} folders created"
        )
        return text + (" (dry run: nothing was changed)" if self.dry_run else "")


@dataclass(frozen=True)
class _Source:
    """A file of the source folder: its relative POSIX path, host path and content."""

    rel: str
    path: Path
    data: bytes


@dataclass(frozen=True)
class _File:
    """A source file and what goes to the board for it."""

    source: Path
    remote: str
    data: bytes

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.data).digest()


def sync(
    port_or_link: Union[str, Link, None],
    src: Union[str, os.PathLike],
    dst: str = "/",
    delete: bool = False,
    mpy: bool = False,
    progress: bool = True,
    dry_run: bool = False,
) -> SyncReport:
    """Make the board folder `dst` hold what the folder `src` holds.

    `port_or_link`: an open (or openable) `Link`, or a port as `ports.resolve` takes it.
    A port that a session of this program holds (the import hook's board, also
    ``emulator``) is worked through that session: its agent stops for the sync and
    restarts at the next call, with every bundle put back. Otherwise the port is opened
    for the sync (``emulator`` starts one for the duration, whose flash is then thrown
    away). Unchanged files are skipped; `delete` removes board files and folders under
    `dst` that `src` does not have; `mpy` uploads ``.py`` files (but ``boot.py`` and
    ``main.py``) compiled to ``.mpy`` for the board's format, removing a ``.py`` of
    the same name that would shadow it; `progress` draws a bar on stderr; `dry_run`
    only reports what would change. Raises SyncError for bad input, naming the path.
    """
    dst = _board_folder(dst)
    root = _source_folder(src)
    dirs, files = _scan(root)

    def run(link: Link) -> SyncReport:
        return _Sync(link, dst, delete, mpy, progress, dry_run).run(dirs, files)

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


def _board_folder(dst: str) -> str:
    """`dst` as an absolute, normalised board path; refuses ``..`` and relative paths."""
    if not dst.startswith("/"):
        raise SyncError(f"destination {dst!r}: give an absolute board path such as /lib")
    parts = [p for p in dst.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise SyncError(f"destination {dst!r}: '.' and '..' are not allowed in it")
    return "/" + "/".join(parts)


def _source_folder(src: Union[str, os.PathLike]) -> Path:
    path = Path(src)
    if not path.exists():
        raise SyncError(f"{path}: no such folder")
    if not path.is_dir():
        raise SyncError(f"{path}: is a file, not a folder (sync copies a folder's contents)")
    return path


def _scan(root: Path) -> Tuple[List[str], List[_Source]]:
    """Folders and files under `root` as relative POSIX paths (parents first), files read:
    bad input shows before the board is touched. Symlinks are followed only while they
    stay inside `root`."""
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
            _check_name(entry.name, path)
            name = f"{rel}/{entry.name}" if rel else entry.name
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
    native = bool(_NATIVE.search(data))
    if native and not fmt.arch:
        return None
    found = compiler.compiler_for(fmt, native)
    if found is None:
        return None
    try:
        return compiler.compile_mpy(data, name, found, fmt.arch if native else None)
    except compiler.CompileError as exc:
        lines = exc.text.strip().splitlines()
        raise SyncError(f"{name}: mpy-cross: {lines[-1] if lines else 'failed'}") from None


# ------------------------------------------------------------------- the board side


class _Sync:
    """One sync over one link: plan from the board's listing, then change the board."""

    def __init__(
        self,
        link: Link,
        dst: str,
        delete: bool,
        mpy: bool,
        progress: bool,
        dry_run: bool,
    ):
        self.link = link
        self.dst = dst
        self.delete = delete
        self.mpy = mpy
        self.progress = progress
        self.report = SyncReport(dry_run=dry_run)
        self.has_base64 = False  # what the board has, from the helper's answer
        self.listing: Dict[str, int | None] = {}  # board path -> size, None for a folder
        self.dst_exists = False

    def run(self, dirs: List[str], sources: List[_Source]) -> SyncReport:
        self.link.open()
        answer = self._exec(_HELPER, "setting up the sync helper")
        has_hash, has_base64, mpy = (int(field) for field in answer.split())
        self.has_base64 = bool(has_base64)
        mpy_value = mpy if mpy >= 0 else None
        try:
            files = self._files(sources, mpy_value)
            remote_dirs = [self._remote(d) for d in dirs]
            self.listing = self._listing()
            self._plan(remote_dirs, files, self.listing, has_hash)
            if not self.report.dry_run:
                self._apply(files)
        except BaseException:
            try:
                self.link.exec(_CLEANUP, timeout=2.0)
            except Exception:
                pass  # the first error is the one to report
            raise
        self._exec(_CLEANUP, "removing the sync helper")
        return self.report

    # -- planning

    def _remote(self, rel: str) -> str:
        """The board path for a relative source path; refuses any that leaves dst."""
        return self._checked(posixpath.join(self.dst, rel))

    def _checked(self, path: str) -> str:
        inside = path.startswith(self.dst.rstrip("/") + "/") and path != self.dst
        if posixpath.normpath(path) != path or not inside:
            raise SyncError(f"board path {path!r} is not inside the destination {self.dst}")
        return path

    def _files(self, sources: List[_Source], mpy_value: int | None) -> List[_File]:
        fmt = BoardFormat.from_mpy(mpy_value) if mpy_value else None
        if self.mpy and fmt is None:
            self.report.notes.append(
                "--mpy: the board reports no .mpy format; .py files go as source"
            )
        files: Dict[str, _File] = {}
        for rel, path, data in ((s.rel, s.path, s.data) for s in sources):
            name = posixpath.basename(rel)
            if self.mpy and fmt is not None and rel.endswith(".py") and name not in ALWAYS_SOURCE:
                compiled = _compile(data, rel, fmt)
                if compiled is None:
                    self.report.notes.append(
                        f"--mpy: no mpy-cross here emits {fmt} for {rel}; it goes as source"
                    )
                else:
                    rel, data = rel[:-3] + ".mpy", compiled
            remote = self._remote(rel)
            if remote in files:
                raise SyncError(f"{path} and {files[remote].source} both become {remote}")
            files[remote] = _File(path, remote, data)
        return list(files.values())

    def _listing(self) -> Dict[str, int | None]:
        """Board paths under dst: size for a file, None for a folder. Notes whether dst
        itself exists."""
        out = self._exec(f"_bh_ls({self.dst!r})", f"listing {self.dst}", SLOW)
        listing: Dict[str, int | None] = {}
        for line in out.splitlines():
            kind, hex_path, *size = line.split()
            path = bytes.fromhex(hex_path).decode()
            size = [int(n) for n in size]
            if path == self.dst:
                if kind == "f":
                    raise SyncError(f"board path {self.dst} is a file, not a folder")
                self.dst_exists = True
            else:
                listing[self._checked(path)] = size[0] if kind == "f" else None
        return listing

    def _plan(
        self,
        dirs: List[str],
        files: List[_File],
        listing: Dict[str, int | None],
        has_hash: bool,
    ) -> None:
        report = self.report
        wanted = set(dirs) | {f.remote for f in files}
        if not self.dst_exists and self.dst != "/":
            report.created.append(self.dst)
        for path in dirs:
            if path not in listing:
                report.created.append(path)
            elif listing[path] is not None:  # a board file where a folder goes
                report.deleted.append(path)
                report.created.append(path)
        same_size = [f for f in files if listing.get(f.remote) == len(f.data)]
        unchanged = set(self._unchanged(same_size, has_hash))
        for f in files:
            if f.remote in listing and listing[f.remote] is None:
                if not self.delete:
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
        for path in sorted(set(listing) - wanted, key=_deepest_first):
            if path == KEEP or path.startswith(KEEP + "/"):
                continue  # the agent's bundle cache is not the user's to mirror
            shadowed = path.endswith(".py") and path[:-3] + ".mpy" in wanted  # .py wins imports
            if self.delete or shadowed or any(path.startswith(d + "/") for d in report.deleted):
                report.deleted.append(path)
        report.deleted.sort(key=_deepest_first)

    def _unchanged(self, candidates: List[_File], has_hash: bool) -> Iterable[str]:
        """The board paths among `candidates` (same size there) with the same content."""
        if has_hash:
            for group in _groups(candidates):
                code = "\n".join(f"_bh_s({f.remote!r})" for f in group)
                digests = self._exec(code, f"hashing {group[0].remote}...", SLOW).splitlines()
                for f, digest in zip(group, digests):
                    if bytes.fromhex(digest.strip()) == f.digest:
                        yield f.remote
            return
        for f in candidates:  # no hashlib: the board sends the file back
            what = f"reading {f.remote}"
            self._exec(f"_bh_o({f.remote!r}, 'rb')", what)
            same = all(
                bytes.fromhex(self._exec(f"print(_bh_x(_bh_f.read({CHUNK})).decode())", what))
                == f.data[start : start + CHUNK]
                for start in range(0, len(f.data), CHUNK)
            )
            self._exec(f"_bh_c({f.remote!r})", what)
            if same:
                yield f.remote

    # -- changing the board

    def _apply(self, files: List[_File]) -> None:
        report = self.report
        for path in report.deleted:
            remove = "os.rmdir" if self.listing[path] is None else "os.remove"
            self._exec(f"{remove}({path!r})", f"deleting {path}")
        parts = self.dst.split("/")[1:-1] if not self.dst_exists else []
        above = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # may not exist yet
        for path in ["/" + a for a in above] + report.created:
            self._exec(f"_bh_md({path!r})", f"creating {path}")
        bar = _Progress(report.bytes_uploaded, self.progress)
        uploads = set(report.uploaded)
        for f in files:
            if f.remote in uploads:
                self._upload(f, bar)
        bar.close()

    def _upload(self, f: _File, bar: _Progress) -> None:
        data, what = f.data, f"writing {f.remote}"
        self._exec(f"_bh_o({f.remote!r}, 'wb')", what)
        for start in range(0, len(data), CHUNK):
            chunk = data[start : start + CHUNK]
            self._exec(f"_bh_f.write({self._literal(chunk)})", what)
            bar.advance(len(chunk), f.remote)
        size = int(self._exec(f"_bh_c({f.remote!r})", what))
        if size != len(data):
            raise SyncError(f"{what}: the board has {size} of its {len(data)} bytes")
        bar.file_done(f.remote)

    def _literal(self, chunk: bytes) -> str:
        """Board code for the bytes: a bytes literal or base64, whichever is shorter."""
        literal = repr(chunk)
        if self.has_base64:
            encoded = f"_bh_a({base64.b64encode(chunk).decode()!r})"
            if len(encoded) < len(literal):
                return encoded
        return literal

    def _exec(self, code: str, what: str, timeout: float | None = None) -> str:
        """Run helper code; an exception on the board becomes a SyncError naming `what`."""
        try:
            return self.link.exec(code, timeout=timeout).decode()
        except Exception as exc:
            if getattr(exc, "board_traceback", None) is None:
                raise
            raise SyncError(f"{what} on the board: {type(exc).__name__}: {exc}") from exc


def _deepest_first(path: str) -> Tuple[int, str]:
    return (-path.count("/"), path)


def _groups(files: List[_File], max_code: int = 2048) -> Iterable[List[_File]]:
    """Hash requests in batches whose code stays small."""
    group: List[_File] = []
    length = 0
    for f in files:
        if group and length + len(f.remote) + 12 > max_code:
            yield group
            group, length = [], 0
        group.append(f)
        length += len(f.remote) + 12
    if group:
        yield group


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


class _Progress:
    """A text progress bar on stderr: redrawn in place on a terminal, a line per file
    otherwise (a log has no use for a hundred redraws)."""

    WIDTH = 24

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.done = 0
        self.enabled = enabled and total > 0
        self.stream = sys.stderr
        self.tty = self.stream.isatty()

    def _line(self, name: str) -> str:
        filled = self.WIDTH * self.done // self.total
        percent = 100 * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return f"[{bar}] {percent:3d}% {_size(self.done)}/{_size(self.total)} {name}"

    def advance(self, n: int, name: str) -> None:
        self.done += n
        if self.enabled and self.tty:
            self.stream.write("\r" + self._line(name)[:100].ljust(100))
            self.stream.flush()

    def file_done(self, name: str) -> None:
        if self.enabled and not self.tty:
            self.stream.write(self._line(name) + "\n")

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
