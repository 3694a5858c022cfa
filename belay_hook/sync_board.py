"""The board side of a sync: the helper on the board, its listing, hashes and the writes.

Everything goes through raw REPL `~belay_hook.board.link.Link.exec` calls:
``mcu/sync_helper.py`` is defined on the board for the duration and removed at the
end. File data travels as Python bytes literals or base64 (whichever is shorter), so
the code sent never holds the raw REPL's control bytes, and no chunk holds more than
1 KiB of data.
"""

from __future__ import annotations

import base64
import sys
from errno import ENOSPC
from typing import Iterable, List, Tuple

from belay_hook import mcu_files
from belay_hook.board.link import Link
from belay_hook.sync_plan import (
    BoardFile,
    Listing,
    SyncError,
    SyncReport,
    checked,
    size_text,
)

CHUNK = 1024  # file bytes per exec call: bounds the board RAM one upload step needs
TEMPORARY = ".bh-part"  # a file's name while it is written, until it checks out
SLOW = 120.0  # seconds for listing or hashing many files on a slow board


class Helper:
    """The sync helper on the board over one link, for a ``with`` block."""

    def __init__(self, link: Link):
        self.link = link
        self.has_hash = self.has_base64 = False  # what the board has, from its first answer
        self.mpy: int | None = None  # the board's sys.implementation._mpy

    def __enter__(self) -> Helper:
        self.link.open()
        answer = self._exec(mcu_files.minified("sync_helper.py"), "setting up the sync helper")
        has_hash, has_base64, mpy = (int(field) for field in answer.split())
        self.has_hash, self.has_base64 = bool(has_hash), bool(has_base64)
        self.mpy = mpy if mpy >= 0 else None
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self._exec("_bh_end()", "removing the sync helper")
            return
        try:
            self.link.exec("_bh_end()", timeout=2.0)
        except Exception:
            pass  # the first error is the one to report

    # -- reading the board

    def listing(self, dst: str) -> Tuple[Listing, bool]:
        """Board paths under `dst` (size of a file, None for a folder), and whether
        `dst` itself exists."""
        out = self._exec(f"_bh_ls({dst!r})", f"listing {dst}", SLOW)
        listing: Listing = {}
        exists = False
        for line in out.splitlines():
            kind, hex_path, *size = line.split()
            path = bytes.fromhex(hex_path).decode()
            if path == dst:
                if kind == "f":
                    raise SyncError(f"board path {dst} is a file, not a folder")
                exists = True
            else:
                listing[checked(dst, path)] = int(size[0]) if kind == "f" else None
        return listing, exists

    def unchanged(self, candidates: List[BoardFile]) -> Iterable[str]:
        """The board paths among `candidates` (same size there) with the same content."""
        if self.has_hash:
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

    def apply(
        self,
        report: SyncReport,
        files: List[BoardFile],
        listing: Listing,
        above: List[str],
        progress: bool,
    ) -> None:
        """Do what `report` says: deletions, then folders (`above` dst first), then uploads."""
        for path in report.deleted:
            remove = "os.rmdir" if listing[path] is None else "os.remove"
            self._exec(f"{remove}({path!r})", f"deleting {path}")
        for path in above + report.created:
            self._exec(f"_bh_md({path!r})", f"creating {path}")
        bar = _Progress(report.bytes_uploaded, progress)
        uploads = set(report.uploaded)
        for f in files:
            if f.remote in uploads:
                self._upload(f, bar)
        bar.close()

    def _upload(self, f: BoardFile, bar: _Progress) -> None:
        """Write to a temporary name, check it, then rename: an interrupted sync never
        leaves a truncated file under the real name (the old one stays until then)."""
        data, what = f.data, f"writing {f.remote}"
        temporary = f.remote + TEMPORARY
        try:
            self._exec(f"_bh_o({temporary!r}, 'wb')", what)
            for start in range(0, len(data), CHUNK):
                chunk = data[start : start + CHUNK]
                self._exec(f"_bh_f.write({self._literal(chunk)})", what)
                bar.advance(len(chunk), f.remote)
            size = int(self._exec(f"_bh_c({temporary!r})", what))
        except SyncError:  # the board refused a write (its flash is full, say)
            self.link.exec(f"_bh_rm({temporary!r})")  # what did fit must not fill it
            raise
        damage = f"{size} of its {len(data)} bytes" if size != len(data) else ""
        if not damage and self.has_hash:
            digest = bytes.fromhex(self._exec(f"_bh_s({temporary!r})", what).strip())
            damage = "" if digest == f.digest else "other bytes than were sent (sha256 differs)"
        if damage:
            self._exec(f"os.remove({temporary!r})", what)
            raise SyncError(f"{what}: the board has {damage}; the old file is left as it was")
        self._exec(f"os.rename({temporary!r}, {f.remote!r})", what)
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
            full = " (the board's flash is full)" if getattr(exc, "errno", 0) == ENOSPC else ""
            raise SyncError(f"{what} on the board: {type(exc).__name__}: {exc}{full}") from exc


def _groups(files: List[BoardFile], max_code: int = 2048) -> Iterable[List[BoardFile]]:
    """Hash requests in batches whose code stays small."""
    group: List[BoardFile] = []
    length = 0
    for f in files:
        if group and length + len(f.remote) + 12 > max_code:
            yield group
            group, length = [], 0
        group.append(f)
        length += len(f.remote) + 12
    if group:
        yield group


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
        return f"[{bar}] {percent:3d}% {size_text(self.done)}/{size_text(self.total)} {name}"

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
