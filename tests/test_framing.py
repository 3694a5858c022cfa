"""Frames: inert in a REPL, checked end to end, compact for trivial calls."""

from __future__ import annotations

import ast
import zlib

from hypothesis import given
from hypothesis import strategies as st

from belay_hook import mcu_files
from belay_hook.rpc import codec, framing, ops
from tests.test_codec import same, values

# What a REPL acts on: Ctrl-A..Ctrl-D, LF, CR.
REPL_BYTES = b"\x01\x02\x03\x04\n\r"


def unescape(wire: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(wire):
        if wire[i] == ops.ESCAPE:
            out.append(wire[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(wire[i])
            i += 1
    return bytes(out)


def opened(frame: bytes) -> tuple:
    """(op, rid, body) of a request frame, checking its length and check."""
    assert frame[0] == ops.START
    if frame[1] < ops.LEN_DIGITS:
        n, size = frame[1] - ops.LEN_BASE, 2
    else:
        size = 2 + frame[1] - ops.LEN_DIGITS
        n = int(frame[2:size], 16)
    wire = frame[size:]
    assert len(wire) == n
    inner = unescape(wire)
    assert framing.check(inner[:-2]) == inner[-2:]
    op, rid = framing.untag(inner[0])
    return op, rid, inner[1:-2]


@given(values, st.integers(min_value=0, max_value=10**6))
def test_request_frames_are_inert_in_a_repl(value: object, rid: int) -> None:
    for frame in (
        framing.request(ops.OP_CALL_NAME, rid, value),
        framing.call_request(3, rid, (value,), {"k": value}),
        framing.request(ops.OP_PUT, rid, ("/f", bytes(range(256)) * 3, True)),
    ):
        assert not any(byte in frame for byte in REPL_BYTES)
        assert frame.count(bytes((ops.START,))) == 1  # the reader resyncs at the next


@given(values, st.integers(min_value=0, max_value=10**6))
def test_request_frames_carry_what_was_sent(value: object, rid: int) -> None:
    op, got_rid, body = opened(framing.request(ops.OP_CALL_NAME, rid, value))
    assert (op, got_rid) == (ops.OP_CALL_NAME, rid % ops.IDS)
    assert same(codec.decode(body)[0], value)


@given(st.binary(min_size=1, max_size=40), st.integers(0, 7), st.integers(0, 7))
def test_one_flipped_bit_fails_the_check(body: bytes, byte: int, bit: int) -> None:
    frame = bytearray(framing.reply(ops.KIND_RESULT, 1, body))
    frame[2 + byte % (len(frame) - 2)] ^= 1 << bit
    try:
        size, end = framing.header(frame) or (0, 0)
    except framing.NotAFrame:
        return  # read as printed bytes: never decoded
    if end == len(frame):  # the length still fits: the check must catch it
        assert framing.check(bytes(frame[size - 1 : end - 2])) != frame[end - 2 : end]


def test_trivial_calls_take_at_most_eight_bytes_each_way() -> None:
    """Whatever the request count; only the 2-byte check is escaped now and then."""
    sizes = []
    for rid in range(64):
        assert len(framing.call_request(1, rid, (), {})) == 6  # f()
        assert len(framing.reply(ops.KIND_RESULT, rid, b"N")) == 6  # None
        for i in range(0, 4000, 7):
            request = framing.call_request(1, rid, (i,), {})  # inc(i)
            sizes.append(len(request))
            parts: list = []
            codec.encode(i + 1, parts)
            assert len(framing.reply(ops.KIND_RESULT, rid, b"".join(parts))) <= 7
    assert max(sizes) <= 10
    assert sum(sizes) / len(sizes) < 8.2


def test_board_check_without_binascii_matches() -> None:
    """The agent's table CRC-32 (boards without binascii.crc32) equals zlib's."""
    tree = ast.parse(mcu_files.path("agent.py").read_text(encoding="utf-8"))
    fallback = next(
        node.handlers[0].body
        for node in tree.body
        if isinstance(node, ast.Try) and "_crc" in ast.unparse(node.handlers[0])
    )
    space: dict = {}
    exec(compile(ast.Module(body=fallback, type_ignores=[]), "agent.py", "exec"), space)
    for data in (b"", b"a", bytes(range(256)), b"hello world" * 7):
        assert space["_crc"](data) == zlib.crc32(data)
        half = len(data) // 2
        assert space["_crc"](data[half:], space["_crc"](data[:half])) == zlib.crc32(data)
