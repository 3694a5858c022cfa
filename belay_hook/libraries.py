"""Put MicroPython libraries on a board's flash, as mip would, from this machine.

What can be installed (each as mip and mpremote name it):

* a package name, ``NAME`` or ``NAME@VERSION``, looked up in a mip index (default:
  micropython-lib's): ``<index>/package/<mpy>/<name>/<version>.json``, whose
  ``hashes`` name files in ``<index>/file/<hash[:2]>/<hash>``; the index may also be
  a local folder laid out the same way;
* an ``http(s)://`` URL or a ``github:org/repo/path`` / ``gitlab:...`` shorthand of a
  ``.py``/``.mpy`` file, a ``package.json``, or a folder holding one;
* a local path: a ``.py``/``.mpy`` file, a ``package.json``, a folder holding one, or a
  Python package folder (one with ``__init__.py``).

A ``package.json`` lists ``urls`` (``[dest, source]``, sources relative to the
file itself where not a URL), ``hashes`` (``[dest, short sha256]`` in the index's file
store) and ``deps`` (``[name or URL, version]``). ``.py`` files are compiled to
``.mpy`` for the board's format (unless ``mpy=False``), everything is checked
against the hashes it comes with, and the files are copied into the target folder
by `belay_hook.sync`, which sends only those the board does not already have.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

from belay_hook import cache, compiler
from belay_hook.board import ports
from belay_hook.board.link import Link
from belay_hook.compiler import BoardFormat
from belay_hook.errors import BelayHookError
from belay_hook.rpc import connection
from belay_hook.sync import SyncReport, sync

log = logging.getLogger(__name__)

INDEX = "https://micropython.org/pi/v2"  # micropython-lib's mip index
TARGET = "/lib"
URL_PREFIXES = ("http://", "https://", "file://", "github:", "gitlab:")
ALWAYS_SOURCE = ("boot.py", "main.py")
_TIMEOUT = 30.0  # seconds for one download


class LibraryError(BelayHookError):
    """A library that cannot be installed: not found, a bad package.json, a wrong hash."""


@dataclass(frozen=True)
class LibFile:
    """One file for the board: its path under the target folder, content and origin."""

    dest: str
    data: bytes
    origin: str


def install_packages(
    specs: Sequence[str],
    port_or_link: Union[str, Link, None] = None,
    *,
    target: str = TARGET,
    index: str = INDEX,
    mpy: bool = True,
    base: Union[str, os.PathLike, None] = None,
    progress: bool = False,
) -> SyncReport:
    """Install `specs` (see the module docstring) and their dependencies into `target`.

    `port_or_link` is an open `Link` or a port as `ports.resolve` takes it; `base` is
    the folder relative local paths start from (default: the current one). Returns the
    `belay_hook.sync.SyncReport` of the copy: which files went up, which were already
    there. Raises LibraryError naming the package, file or URL at fault.
    """
    if isinstance(port_or_link, Link):
        link = port_or_link.open()
    else:
        port = ports.resolve(port_or_link)
        session = connection.open_session(port)  # the hook's board: work through its link
        with contextlib.ExitStack() as stack:
            if session is not None:
                link = stack.enter_context(session.lend_link())
            else:
                device = stack.enter_context(connection.device_for(port))
                link = stack.enter_context(Link(device))
            report = install_packages(specs, link, target=target, index=index, mpy=mpy,
                                      base=base, progress=progress)  # fmt: skip
            if session is None:
                link.exit_raw_repl()  # a terminal opened next finds the usual prompt
            return report
    value = int(link.exec("import sys\nprint(getattr(sys.implementation, '_mpy', 0))"))
    fmt = BoardFormat.from_mpy(value) if value and mpy else None
    log.info("board format %s; installing into %s", fmt or "source (.py)", target)
    files = collect(specs, index=index, fmt=fmt, base=base)
    with tempfile.TemporaryDirectory(prefix="belay_hook-lib-") as tmp:
        for f in files.values():
            path = Path(tmp, *f.dest.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.data)
        report = sync(link, tmp, target, progress=progress)
    for path in report.uploaded:
        log.info("installed %s", path)
    for path in report.skipped:
        log.info("unchanged %s", path)
    return report


def collect(
    specs: Iterable[str],
    *,
    index: str = INDEX,
    fmt: BoardFormat | None = None,
    base: Union[str, os.PathLike, None] = None,
) -> Dict[str, LibFile]:
    """Every file `specs` and their dependencies put on a board of format `fmt` (None:
    source only), by destination; nothing is sent anywhere."""
    resolver = _Resolver(index.rstrip("/"), fmt)
    for spec in specs:
        name, at, version = spec.rpartition("@")
        if not at or _is_local(spec) or "/" in version:
            name, version = spec, ""
        resolver.package(name, version or None, Path(base or "."))
    return resolver.files


def pyproject_dependencies(start: Path | None = None) -> Tuple[List[str], Path | None]:
    """``[tool.belay_hook] dependencies`` and the folder of the pyproject.toml that
    lists them (relative paths start there)."""
    table, path = ports.pyproject_config(start)
    deps = table.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise LibraryError(f"{path}: [tool.belay_hook] dependencies must be a list of strings")
    return deps, path.parent if path else None


def rewrite_url(url: str, branch: str | None = None) -> str:
    """``github:org/repo/path`` and ``gitlab:...`` as the raw file URLs they stand for."""
    for prefix, host in (("github:", "https://raw.githubusercontent.com/{}/{}/{}/{}"),
                         ("gitlab:", "https://gitlab.com/{}/{}/-/raw/{}/{}")):  # fmt: skip
        if url.startswith(prefix):
            org, repo, *rest = url[len(prefix) :].split("/")
            return host.format(org, repo, branch or "HEAD", "/".join(rest))
    return url


def _is_local(spec: str) -> bool:
    """A path (``./x``, ``a/b``, ``x.py``): bare names are packages of the index, as in pip."""
    if spec.startswith(URL_PREFIXES):
        return False
    return "/" in spec or "\\" in spec or spec.endswith((".py", ".mpy", ".json")) or spec == "."


class _Resolver:
    """Walks packages and their dependencies, fetching files into `files`."""

    def __init__(self, index: str, fmt: BoardFormat | None):
        self.index = index
        self.fmt = fmt
        self.files: Dict[str, LibFile] = {}
        self.seen: set = set()

    def package(self, spec: str, version: str | None, base: Path) -> None:
        if spec.startswith(URL_PREFIXES):
            self._remote(spec, version)
        elif _is_local(spec):
            self._local(base / spec, spec)
        else:
            self._indexed(spec, version)

    # -- where packages come from

    def _remote(self, url: str, version: str | None) -> None:
        if url.endswith((".py", ".mpy")):
            self._add(posixpath.basename(url), _fetch(rewrite_url(url, version)), url)
            return
        if not url.endswith(".json"):
            url = url.rstrip("/") + "/package.json"
        self._json(rewrite_url(url, version), version)

    def _local(self, path: Path, spec: str) -> None:
        if not path.exists():
            raise LibraryError(f"{spec}: no such file or folder ({path.resolve()})")
        if path.is_file() and path.suffix in (".py", ".mpy"):
            self._add(path.name, _fetch(str(path)), str(path))
        elif path.is_file() and path.suffix == ".json":
            self._json(str(path), None)
        elif (path / "package.json").is_file():
            self._json(str(path / "package.json"), None)
        elif (path / "__init__.py").is_file():
            for file in sorted(path.rglob("*.py")):
                if "__pycache__" not in file.parts:
                    rel = file.relative_to(path.parent).as_posix()
                    self._add(rel, file.read_bytes(), str(file))
        else:
            raise LibraryError(
                f"{spec}: not a library: give a .py or .mpy file, a package.json, a folder "
                "holding one, or a package folder with __init__.py"
            )

    def _indexed(self, name: str, version: str | None) -> None:
        version = version or "latest"
        what = f"{name}@{version}"
        # The board's .mpy builds first; an index of sources only is compiled here.
        for build in dict.fromkeys([str(self.fmt.version) if self.fmt else "py", "py"]):
            url = _join(self.index, "package", build, name, f"{version}.json")
            try:
                data = _fetch(url)
            except _NotFound:
                continue
            if url not in self.seen:
                self.seen.add(url)
                self._package(data, url, None, what)
            return
        raise LibraryError(f"package {what}: not in the index {self.index}")

    def _json(self, url: str, version: str | None) -> None:
        if url not in self.seen:
            self.seen.add(url)
            self._package(_fetch(url), url, version, url)

    def _package(self, data: bytes, url: str, version: str | None, what: str) -> None:
        """Install what a package.json (`data`, read from `url`) lists."""
        try:
            meta = json.loads(data)
        except ValueError as exc:
            raise LibraryError(f"{what}: {url} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise LibraryError(f"{what}: {url} is not a package.json object")
        log.info("package %s %s", what, meta.get("version", ""))
        remote = "://" in url
        base = url.rpartition("/")[0] if remote else str(Path(url).parent)
        for dest, short_hash in _pairs(meta, "hashes", what):
            self._add(dest, self._stored(short_hash, what, dest), f"{what}: {dest}", short_hash)
        for dest, source in _pairs(meta, "urls", what):
            full = source if source.startswith(URL_PREFIXES) else _join(base, source)
            try:
                data = _fetch(rewrite_url(full, version))
            except LibraryError as exc:
                raise LibraryError(f"{what}: {dest}: {exc}") from None
            self._add(dest, data, f"{what}: {dest}")
        for dep, dep_version in _pairs(meta, "deps", what):
            self.package(dep, dep_version or None, Path("." if remote else base))

    def _stored(self, short_hash: str, what: str, dest: str) -> bytes:
        """A file from the index's content store, through the local cache."""
        short_hash = short_hash.lower()
        name = f"mip-{short_hash}"
        data = cache.get(name)
        if data is not None and hashlib.sha256(data).hexdigest().startswith(short_hash):
            return data
        try:
            data = _fetch(_join(self.index, "file", short_hash[:2], short_hash))
        except _NotFound:
            raise LibraryError(f"{what}: {dest}: no file {short_hash} in {self.index}") from None
        cache.put(name, data)
        return data

    # -- what goes to the board

    def _add(self, dest: str, data: bytes, origin: str, short_hash: str | None = None) -> None:
        _check_dest(dest, origin)
        if short_hash and not hashlib.sha256(data).hexdigest().startswith(short_hash.lower()):
            raise LibraryError(f"{origin}: content does not match its hash {short_hash}")
        name = posixpath.basename(dest)
        if self.fmt is not None and dest.endswith(".py") and name not in ALWAYS_SOURCE:
            compiled = _compile(data, dest, self.fmt)
            if compiled is not None:
                dest, data = dest[:-3] + ".mpy", compiled
        old = self.files.get(dest)
        if old is not None and old.data != data:
            raise LibraryError(f"{origin} and {old.origin} both install {dest}, differently")
        log.debug("%s <- %s (%d bytes)", dest, origin, len(data))
        self.files[dest] = LibFile(dest, data, origin)


class _NotFound(LibraryError):
    """A 404, or a missing local file, where another place may be tried."""


def _compile(data: bytes, dest: str, fmt: BoardFormat) -> bytes | None:
    """`data` as .mpy for `fmt`, or None where no compiler here emits it (it goes as source)."""
    try:
        compiled = compiler.compile_file(data, dest, fmt)
    except compiler.CompileError as exc:
        raise LibraryError(f"{dest}: mpy-cross: {exc.last_line}") from None
    if compiled is None:
        log.info("%s: no mpy-cross here emits %s; it goes as source", dest, fmt)
    return compiled


def _pairs(meta: dict, key: str, what: str) -> List[Tuple[str, str]]:
    items = meta.get(key, [])
    ok = isinstance(items, list) and all(
        isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) for i in items
    )
    if not ok:
        raise LibraryError(f"{what}: '{key}' must be a list of [string, string] pairs")
    return [(a, b if isinstance(b, str) else "") for a, b in items]


def _check_dest(dest: str, origin: str) -> None:
    """A destination stays inside the target folder: no absolute paths, no '..'."""
    parts = dest.split("/")
    if not dest or "\\" in dest or any(p in ("", ".", "..") for p in parts):
        raise LibraryError(f"{origin}: bad destination {dest!r} (a relative path, no '..')")


def _join(base: str, *parts: str) -> str:
    if "://" in base:
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base, *parts))


def _fetch(where: str) -> bytes:
    """The bytes at a URL or local path; a missing one raises _NotFound."""
    if "://" not in where:
        try:
            return Path(where).read_bytes()
        except FileNotFoundError:
            raise _NotFound(f"{where}: no such file") from None
        except OSError as exc:
            raise LibraryError(f"{where}: cannot read: {exc.strerror or exc}") from None
    log.debug("GET %s", where)
    try:
        with urllib.request.urlopen(where, timeout=_TIMEOUT) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NotFound(f"{where}: not found (HTTP 404)") from None
        raise LibraryError(f"{where}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):
            raise _NotFound(f"{where}: no such file") from None
        raise LibraryError(f"{where}: {exc.reason}") from None
    except OSError as exc:
        raise LibraryError(f"{where}: {exc}") from None
