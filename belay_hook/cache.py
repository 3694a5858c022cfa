"""A content-addressed disk cache that can never make an import fail.

Entries are written to a temporary file and renamed into place, so a reader
sees a whole entry or none; any error while reading or writing is a miss.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Union

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$BELAY_HOOK_CACHE``, else ``belay_hook`` in the platform's cache folder:
    ``$XDG_CACHE_HOME`` or ``~/.cache`` (Linux and others), ``~/Library/Caches`` (macOS),
    ``%LOCALAPPDATA%`` (Windows)."""
    env = os.environ.get("BELAY_HOOK_CACHE")
    if env:
        return Path(env)
    home = Path(os.path.expanduser("~"))
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "belay_hook"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(local) / "belay_hook" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative path there is invalid and must be ignored.
    return (Path(xdg) if os.path.isabs(xdg) else home / ".cache") / "belay_hook"


def key(*parts: Union[str, bytes]) -> str:
    """A hex key over all parts; each part is length-prefixed so no two lists collide."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def get(name: str) -> bytes | None:
    """The entry called ``name``, or None on a miss or any error."""
    try:
        return (cache_dir() / name).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.debug("cache miss for %s: %s", name, exc)
        return None


def put(name: str, data: bytes) -> None:
    """Store ``data`` atomically under ``name``; a failure only costs the next reader a miss."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, folder / name)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.debug("cache entry %s not written: %s", name, exc)
