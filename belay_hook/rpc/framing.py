"""The frame format on the serial line, both ways (matching ``mcu/agent.py``); no I/O.

A frame is ``START``, a length, a tag, a body and a 2-byte check:

* the length counts the bytes after it: one byte ``LEN_BASE + n`` for short frames,
  else ``LEN_DIGITS + k`` and ``k`` hex digits;
* the tag is ``TAG_BASE + code * IDS + rid``: the op (requests) or kind (replies)
  and a request id that wraps at ``IDS``;
* the body is one value in the codec's format (a call: the handle, then each
  argument);
* the check is the low 16 bits of the CRC-32 of tag and body, big-endian. The board
  computes it with ``binascii.crc32`` where it has one, with two small tables where
  not; a frame whose check fails is never decoded.

Request frames (host to board) are escaped after ``START``: each byte of
:data:`~belay_hook.rpc.ops.ESCAPED` travels as ``ESCAPE``, ``byte ^ 0x20``. So a
request never holds CR, LF, Ctrl-C or Ctrl-D, and a frame that lands in a REPL
(the board reset under the host) is inert there: it types characters on a line that
is never entered. Reply frames are not escaped; whatever the board prints between
them is text.
"""

from __future__ import annotations

import re
import zlib
from typing import Any, Tuple

from belay_hook.rpc import ops
from belay_hook.rpc.codec import Context, encode

MAX_FRAME = 64 << 20  # no board sends more in one frame; a bigger length is garbage
_TO_ESCAPE = re.compile(b"[" + re.escape(ops.ESCAPED) + b"]")
_START = bytes((ops.START,))
_SHORT = [bytes((ops.LEN_BASE + n,)) for n in range(ops.LEN_SHORT)]


def check(data: bytes) -> bytes:
    """The 2-byte integrity check of a frame's tag and body."""
    return (zlib.crc32(data) & 0xFFFF).to_bytes(2, "big")


def tag(code: int, rid: int) -> int:
    return ops.TAG_BASE + code * ops.IDS + rid % ops.IDS


def untag(byte: int) -> Tuple[int, int]:
    """(op or kind, request id) of a tag byte."""
    return divmod(byte - ops.TAG_BASE, ops.IDS)


def length(n: int) -> bytes:
    """The length field for ``n`` following bytes."""
    if n < ops.LEN_SHORT:
        return _SHORT[n]
    digits = b"%x" % n
    return bytes((ops.LEN_DIGITS + len(digits),)) + digits


def _escape_one(match: re.Match) -> bytes:
    return bytes((ops.ESCAPE, match.group()[0] ^ 0x20))


def escape(data: bytes) -> bytes:
    """``data`` with every byte a REPL or the frame reader acts on escaped."""
    return _TO_ESCAPE.sub(_escape_one, data) if _TO_ESCAPE.search(data) else data


def seal(op: int, rid: int, body: bytes) -> bytes:
    """The request frame of ``body``: header, check, escaped."""
    inner = bytes((tag(op, rid),)) + body
    wire = escape(inner + check(inner))
    return _START + length(len(wire)) + wire


def request(op: int, rid: int, value: Any = None, context: Context | None = None) -> bytes:
    """One request frame; raises TypeError (naming the value) before anything is sent."""
    parts: list = []
    if value is not None or op not in _BARE:
        encode(value, parts, "argument", context)
    return seal(op, rid, b"".join(parts))


_BARE = {ops.OP_INFO, ops.OP_BYE, ops.OP_PING}  # ops whose body is empty


def call_request(
    handle: int, rid: int, args: tuple, kwargs: dict, context: Context | None = None
) -> bytes:
    """A call of the function with ``handle``: its arguments follow, one value each."""
    parts: list = []
    encode(handle, parts)  # a value, not a varint: small ints hold no control byte
    if kwargs:
        encode(kwargs, parts, "keyword argument", context)
    for n, arg in enumerate(args):
        encode(arg, parts, f"argument[{n}]", context)
    return seal(ops.OP_CALL_KW if kwargs else ops.OP_CALL, rid, b"".join(parts))


def reply(kind: int, rid: int, body: bytes) -> bytes:
    """A reply frame as the agent writes it (tests, and emulated faults, build them)."""
    inner = bytes((tag(kind, rid),)) + body
    return _START + length(len(inner) + 2) + inner + check(inner)


class NotAFrame(ValueError):
    """The bytes at a ``START`` byte are no frame header: printed bytes, not a frame."""


def header(buf: bytearray) -> Tuple[int, int] | None:
    """(header size, frame size) of the reply frame at the start of ``buf`` (which
    starts with ``START``), or None until enough has arrived to tell.

    The header size covers START, length and tag; NotAFrame if it cannot be one.
    """
    if len(buf) < 3:
        return None
    first = buf[1]
    if ops.LEN_BASE + 3 <= first < ops.LEN_BASE + ops.LEN_SHORT:
        size, n = 2, first - ops.LEN_BASE
    elif ops.LEN_DIGITS < first <= ops.LEN_DIGITS + 8:
        size = 2 + first - ops.LEN_DIGITS
        if len(buf) <= size:
            return None
        try:
            n = int(bytes(buf[2:size]), 16)
        except ValueError:
            raise NotAFrame("bad length digits") from None
        if not 3 <= n <= MAX_FRAME:
            raise NotAFrame(f"length {n}")
    else:
        raise NotAFrame(f"length byte {first:#04x}")
    kind, _ = untag(buf[size])
    if buf[size] < ops.TAG_BASE or kind not in ops.KIND_NAMES:
        raise NotAFrame(f"tag {buf[size]:#04x}")
    return size + 1, size + n
