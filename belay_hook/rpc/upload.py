"""Files written to the board arrive whole or not at all: a temporary name, a check, a rename.

An upload cut short (a reset, Ctrl-C, an unplugged cable) must never leave a
truncated file under the name the board imports, or every later import of it
fails. So each file goes to ``.t<name>`` beside its final place, the board
computes its digest (12 hex digits of sha256 where ``hashlib.sha256`` exists,
else its size and byte sum) and compares it with the host's, and only a match
is renamed into place. Lookups check the digest too, so a damaged or foreign
file under a final name is replaced, never loaded.

Two ways in: :func:`store` through the running agent's requests (bundles), and
:func:`write_via_repl` through the raw REPL before any agent runs (the agent
itself; also usable for any other file, e.g. by a sync).
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import Any, Callable, Tuple

from belay_hook.errors import BelayHookError, LinkError
from belay_hook.rpc import framing, ops

UPLOAD_CHUNK = 2048  # bytes per write request: bounded board RAM per frame
REPL_CHUNK = 256  # bytes per raw REPL chunk, each acknowledged: a UART buffer's worth
READY = b"\x06"
_SHOW_AFTER = 1.0  # seconds an upload runs before it shows its progress

# Board side of `write_via_repl`: receives chunks escaped as request frames are (no
# byte a REPL acts on: bytes cut off by an interrupt, left in the board's input, are
# inert in its raw REPL), each as four hex digits of length and the bytes,
# acknowledging each with 0x01; 0000 ends it. {plain} lists the escaped bytes with
# ESCAPE last (undoing its pair first would make new pairs). _g is the digest the
# host computes in `digests` (the agent's _dg, in short), read a piece at a time: the
# heap of a small board is in pieces by then.
_BOARD_WRITER = """\
import os,sys
def _g(n):
 try:import hashlib,binascii;s=hashlib.sha256()
 except (ImportError,AttributeError):s=None
 f=open(n,'rb');l=m=0
 while 1:
  b=f.read(256)
  if not b:break
  if s:s.update(b)
  else:l+=len(b);m+=sum(b)
 f.close()
 return binascii.hexlify(s.digest()[:6]).decode() if s else '%x_%x'%(l,m)
def _w(d,t,c,old):
 r=sys.stdin.buffer.read;o=sys.stdout.write
 def g(n):
  b=r(n)
  while len(b)<n:b+=r(n-len(b))
  return b
 try:os.mkdir(d)
 except OSError:pass
 q=d+'/.t'+t.replace('*','');f=open(q,'wb');o('\\x06')
 try:
  while 1:
   k=int(g(4),16)
   if not k:break
   b=g(k)
   if {escape} in b:
    for y in {plain}:b=b.replace(bytes(({escape},y^32)),bytes((y,)))
   f.write(b);o('\\x01')
  f.close()
 except BaseException:
  try:f.close()
  except OSError:pass
  os.remove(q);raise
 e=_g(q)
 if e not in c:os.remove(q);print('!'+e);return
 t=t.replace('*',e);p=d+'/'+t
 for n in os.listdir(d):
  if n==t or old and n.startswith(old):os.remove(d+'/'+n)
 os.rename(q,p);print(t)
"""
BOARD_WRITER = _BOARD_WRITER.replace("{escape}", str(ops.ESCAPE)).replace(
    "{plain}", repr(ops.ESCAPED.replace(bytes((ops.ESCAPE,)), b"") + bytes((ops.ESCAPE,)))
)


def digests(data: bytes) -> Tuple[str, str]:
    """What the board's digest of ``data`` is: (sha256 form, size-and-sum form)."""
    return hashlib.sha256(data).hexdigest()[:12], f"{len(data):x}_{sum(data):x}"


class Progress:
    """A one-line progress report on stderr for transfers that take a while.

    Silent unless stderr is a terminal, ``show`` is true and the transfer has run
    for a second; the line is cleared when it ends.
    """

    def __init__(self, what: str, total: int, show: bool = True):
        self.what = what
        self.total = total
        self.show = show and bool(getattr(sys.stderr, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._shown = False

    def update(self, done: int) -> None:
        if not self.show or time.monotonic() - self._start < _SHOW_AFTER:
            return
        percent = 100 * min(done, self.total) // max(self.total, 1)
        sys.stderr.write(f"\rbelay_hook: {self.what}: {percent:3d}% of {self.total} bytes")
        sys.stderr.flush()
        self._shown = True

    def end(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def store(
    request: Callable[..., Any], folder: str, name: str, code: bytes, progress: bool = True
) -> None:
    """Put ``code`` at ``folder/name`` through the running agent, verified.

    ``request(op, value)`` sends one agent request; an OSError from the board
    (read-only, full) propagates, and what was written of the file is removed.
    """
    path = f"{folder}/{name}"
    sha, cheap = digests(code)
    temporary = f"{folder}/.t{name}"
    bar = Progress(f"uploading {name}", len(code), progress)
    try:
        for start in range(0, max(len(code), 1), UPLOAD_CHUNK):
            request(ops.OP_PUT, (temporary, code[start : start + UPLOAD_CHUNK], start > 0))
            bar.update(start + UPLOAD_CHUNK)
    except OSError as exc:
        if not isinstance(exc, BelayHookError):  # the board refused (full): not the link
            request(ops.OP_COMMIT, (temporary, path, "", ""))  # a mismatch: it is removed
        raise
    finally:
        bar.end()
    if not request(ops.OP_COMMIT, (temporary, path, sha, cheap)):
        raise BelayHookError(f"{path}: the upload arrived damaged on the board (digest differs)")


def write_via_repl(
    link: Any,
    folder: str,
    name: str,
    data: bytes,
    *,
    replaces: str = "",
    progress: bool = True,
    timeout: float = 10.0,
) -> str:
    """Write ``data`` to ``folder/name`` on the board through the raw REPL, verified.

    A ``*`` in ``name`` becomes the board's digest of the data (see `digests`).

    No agent needs to run: the board is left at the raw REPL prompt. Files in
    ``folder`` whose names start with ``replaces`` are deleted once the new one is
    in place. Returns the final path; raises the board's OSError where the
    filesystem refuses (read-only: errno 30) and BelayHookError if the data arrived
    damaged.
    """
    call = f"_w({folder!r},{name!r},{digests(data)!r},{replaces!r})"
    answer = link.exec_until(BOARD_WRITER + call, READY, timeout=timeout)
    if answer is not None:
        raise LinkError(link.port, f"the board did not take the upload: {answer!r}")
    bar = Progress(f"uploading {name}", len(data), progress)
    try:
        for start in range(0, len(data), REPL_CHUNK):
            chunk = framing.escape(data[start : start + REPL_CHUNK])
            link.write(b"%04x" % len(chunk) + chunk)
            ack = link.read_ready(b"\x01", timeout=timeout)
            if ack is not None:
                raise LinkError(link.port, f"the upload stopped: {ack!r}")
            bar.update(start + len(chunk))
        link.write(b"0000")
        text = link.finish(timeout=timeout).decode(errors="replace").strip()
    finally:
        bar.end()
    if text not in [name.replace("*", d) for d in digests(data)]:
        raise BelayHookError(f"{folder}/{name}: the upload arrived damaged on the board ({text})")
    return f"{folder}/{text}"
