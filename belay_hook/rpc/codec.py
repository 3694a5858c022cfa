"""The value codec shared with the board agent (``mcu/agent.py``, ``_enc``/``_dec``).

One tag byte per value, lengths as unsigned LEB128 varints:
``N`` None, ``T``/``F`` booleans, ``i`` int (zigzag varint), ``I`` big int
(decimal text), ``f`` float (8 bytes, little-endian double), ``s`` str (UTF-8),
``b`` bytes, ``a`` bytearray, ``l`` list, ``t`` tuple, ``e`` set, ``d`` dict, ``S`` slice
(its start, stop and step follow: ``board_list[1:3]``). Small ints,
the commonest arguments and results, fit in the tag: 0x80 + n for 0 <= n < 96,
and 0xE0 + (m >> 8) then m & 255 for m = n - 96 < 4096.

Two tags refer to things that stay where they are: ``P`` a board object, which
the host sees as a proxy (from the board: id and type name; to the board: the
agent's generation, then the id, so a reference from an earlier agent is
refused, never taken for another object), and ``c`` a host function (id), which
board code can call back. A :class:`Context` (the session) gives them meaning;
without one they cannot cross.

Nothing the board sends is ever evaluated: decoding only builds these types.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, List, Protocol, Tuple

_BIG = 1 << 62
_DOUBLE = struct.Struct("<d")
_SMALL = [bytes((n,)) for n in range(128)]
FIX = 0x80  # 0x80 + n: int n, 0 <= n < FIX_COUNT
FIX_COUNT = 96
FIX2 = 0xE0  # 0xE0 + (m >> 8), m & 255: int FIX_COUNT + m, m < 4096
FIX2_COUNT = 4096
_FIXED = [bytes((FIX + n,)) for n in range(FIX_COUNT)]


class Context(Protocol):
    """What the session supplies so proxies and host functions can cross."""

    def proxy_id(self, value: Any) -> tuple | None:
        """(generation, board id) of ``value`` if it is a proxy of this board's objects."""

    def callback_id(self, fn: Callable) -> int:
        """An id under which board code may call host function ``fn``."""

    def proxy(self, ref: int, type_name: str) -> Any:
        """The host stand-in for board object ``ref``."""


class DecodeError(ValueError):
    """The bytes are not a value this codec wrote: a broken or foreign frame."""


def get_uint(b: bytes, i: int) -> Tuple[int, int]:
    """Read a varint at ``i``; return it and the index after it."""
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 127) << shift
        shift += 7
        if c < 128:
            return n, i


class _Uncrossable(Exception):
    """Raised inside the encoder; ``where`` grows on the way out, so the path to the
    offending value is built only when there is one."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what
        self.where: List[str] = []


def encode(
    value: Any, out: List[bytes], path: str = "value", context: Context | None = None
) -> None:
    """Append the encoding of ``value``; TypeError names what cannot cross and where."""
    try:
        _encode(value, out, context)
    except _Uncrossable as exc:
        raise TypeError(f"{path}{''.join(reversed(exc.where))}: {exc.what}") from None


def _encode(value: Any, out: List[bytes], context: Context | None) -> None:
    kind = type(value)
    if kind is int:
        if 0 <= value < FIX_COUNT:
            out.append(_FIXED[value])
        elif FIX_COUNT <= value < FIX_COUNT + FIX2_COUNT:
            m = value - FIX_COUNT
            out.append(bytes((FIX2 + (m >> 8), m & 255)))
        elif -_BIG < value < _BIG:
            out.append(b"i")
            put_uint(value << 1 if value >= 0 else (-value << 1) - 1, out)
        else:
            text = str(value).encode()
            out.append(b"I")
            put_uint(len(text), out)
            out.append(text)
    elif kind is str:
        try:
            data = value.encode()
        except UnicodeEncodeError:
            raise _Uncrossable("str with lone surrogates cannot cross to the board") from None
        out.append(b"s")
        put_uint(len(data), out)
        out.append(data)
    elif value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is float:
        out.append(b"f" + _DOUBLE.pack(value))
    elif kind is bytes or kind is bytearray:
        out.append(b"b" if kind is bytes else b"a")
        put_uint(len(value), out)
        out.append(bytes(value))
    elif kind is tuple or kind is list or kind is set:
        out.append(b"t" if kind is tuple else b"l" if kind is list else b"e")
        put_uint(len(value), out)
        n = 0
        try:
            for n, item in enumerate(value):  # noqa: B007 - n names the culprit below
                _encode(item, out, context)
        except _Uncrossable as exc:
            exc.where.append(f"[{n}]")
            raise
    elif kind is slice:
        out.append(b"S")
        for part in ("start", "stop", "step"):
            try:
                _encode(getattr(value, part), out, context)
            except _Uncrossable as exc:
                exc.where.append(f".{part}")
                raise
    elif kind is dict:
        out.append(b"d")
        put_uint(len(value), out)
        for k, v in value.items():
            try:
                _encode(k, out, context)
            except _Uncrossable as exc:
                exc.where.append(f" key {k!r}")
                raise
            try:
                _encode(v, out, context)
            except _Uncrossable as exc:
                exc.where.append(f"[{k!r}]")
                raise
    elif context is not None and context.proxy_id(value) is not None:
        generation, ref = context.proxy_id(value)  # type: ignore[misc]
        out.append(b"P")
        put_uint(generation, out)
        put_uint(ref, out)
    elif context is not None and callable(value):
        out.append(b"c")
        put_uint(context.callback_id(value), out)
    else:
        raise _Uncrossable(
            f"{kind.__qualname__} cannot cross to the board "
            "(None, bool, int, float, str, bytes, bytearray, list, tuple, set, dict, slice, "
            "board objects and host functions can)"
        )


def put_uint(n: int, out: List[bytes]) -> None:
    """Append ``n`` as an unsigned LEB128 varint."""
    if n < 128:
        out.append(_SMALL[n])
        return
    buf = bytearray()
    while n > 127:
        buf.append(n & 127 | 128)
        n >>= 7
    buf.append(n)
    out.append(bytes(buf))


def decode(b: bytes, i: int = 0, context: Context | None = None) -> Tuple[Any, int]:
    """Decode one value at ``i``; return it and the index after it."""
    try:
        return _decode(b, i, context)
    except (IndexError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(f"cannot decode value at byte {i}: {exc}") from None


def _decode(b: bytes, i: int, context: Context | None) -> Tuple[Any, int]:
    tag = b[i]
    i += 1
    if FIX <= tag < FIX + FIX_COUNT:
        return tag - FIX, i
    if FIX2 <= tag < FIX2 + (FIX2_COUNT >> 8):
        return FIX_COUNT + ((tag - FIX2) << 8) + b[i], i + 1
    if tag == 0x4E:  # N
        return None, i
    if tag == 0x54:  # T
        return True, i
    if tag == 0x46:  # F
        return False, i
    if tag == 0x66:  # f
        if i + 8 > len(b):
            raise DecodeError("truncated float")
        return _DOUBLE.unpack_from(b, i)[0], i + 8
    if tag == 0x53:  # S
        start, i = _decode(b, i, context)
        stop, i = _decode(b, i, context)
        step, i = _decode(b, i, context)
        return slice(start, stop, step), i
    n, i = get_uint(b, i)
    if tag == 0x69:  # i
        return (n >> 1) ^ -(n & 1), i
    if tag == 0x50:  # P: a board object, as id and type name
        size, i = get_uint(b, i)
        type_name = bytes(b[i : i + size]).decode()
        if context is None:
            raise DecodeError(f"a board {type_name} object arrived with no session to proxy it")
        return context.proxy(n, type_name), i + size
    if tag in (0x73, 0x62, 0x61, 0x49):  # s b a I
        if i + n > len(b):
            raise DecodeError("truncated data")
        data = bytes(b[i : i + n])
        i += n
        if tag == 0x73:
            return data.decode(), i
        if tag == 0x61:
            return bytearray(data), i
        if tag == 0x49:
            if not data.lstrip(b"-").isdigit():
                raise DecodeError(f"bad big int {data[:20]!r}")
            return int(data), i
        return data, i
    if tag not in (0x6C, 0x74, 0x64, 0x65):  # l t d e
        raise DecodeError(f"unknown tag {tag:#04x}")
    items = []
    for _ in range(n * 2 if tag == 0x64 else n):
        item, i = _decode(b, i, context)
        items.append(item)
    if tag == 0x74:
        return tuple(items), i
    if tag == 0x65:
        return set(items), i
    if tag == 0x64:
        return dict(zip(items[::2], items[1::2])), i
    return items, i
