"""Faults injected into the emulated link arrive exactly as asked, on the real VM."""

from __future__ import annotations

import time
from typing import Iterator, List

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from belay_hook.emulator import Emulator
from belay_hook.emulator.faults import FaultStream

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
FRAME = b"\\xfeR\\x05hello"  # board code for a reply-like frame: start, kind, length, body


@pytest.fixture
def port(emulator: Emulator) -> Iterator[serial.Serial]:
    """The emulator's port in the raw REPL, opened with plain pyserial: exact bytes."""
    with serial.Serial(emulator.port, timeout=10) as opened:
        opened.write(b"\x01")
        assert opened.read_until(RAW_PROMPT).endswith(RAW_PROMPT)
        yield opened


def run(port: serial.Serial, code: bytes) -> bytes:
    """What board code writes, between the raw REPL's OK and its end marks."""
    port.write(code + b"\x04")
    reply = port.read_until(b"\x04>")
    assert reply.startswith(b"OK") and reply.endswith(b"\x04\x04>"), reply
    return reply[2:-3]


def frames(count: int) -> bytes:
    return b"import sys\nfor _ in range(%d): sys.stdout.buffer.write(b'%s')" % (count, FRAME)


# -- on the board's output -----------------------------------------------------------


def test_flip_hits_the_third_byte_of_each_next_frame(emulator: Emulator, port) -> None:
    emulator.faults.flip(when=b"\xfe", after=2, bit=7)
    emulator.faults.flip(when=b"\xfe", after=2, bit=0)
    assert run(port, frames(3)) == b"\xfeR\x85hello\xfeR\x04hello\xfeR\x05hello"
    assert emulator.faults.pending() == 0
    assert run(port, frames(1)) == b"\xfeR\x05hello"  # spent faults act no more


def test_flip_without_when_counts_from_the_next_byte(emulator: Emulator, port) -> None:
    emulator.faults.flip(after=5, count=2, bit=1)  # the raw REPL's "OK" comes first
    assert run(port, b"print('abcdefgh')") == b"abcfgfgh\n"


@pytest.mark.parametrize(
    "arm, expected",
    [
        (lambda f: f.drop(3, when=b"h", after=1), b"\xfeR\x05ho"),
        (lambda f: f.insert(b"XY", when=b"l"), b"\xfeR\x05heXYllo"),
        (lambda f: f.duplicate(2, when=b"\xfe"), b"\xfe\xfeRR\x05hello"),
        (lambda f: f.replace(b"\x00\x01", when=b"R", after=1), b"\xfeR\x00\x01ello"),
    ],
    ids=["drop", "insert", "duplicate", "replace"],
)
def test_each_fault_kind(emulator: Emulator, port, arm, expected: bytes) -> None:
    arm(emulator.faults)
    assert run(port, frames(1)) == expected


def test_stall_holds_bytes_then_delivers_all(emulator: Emulator, port) -> None:
    emulator.faults.stall(2.0, when=b"\xfe")
    started = time.monotonic()
    port.write(b"print('before')\n" + frames(1) + b"\x04")
    assert port.read_until(b"before\n") == b"OKbefore\n"
    port.timeout = 0.3
    assert port.read(1) == b""  # held ...
    port.timeout = 10
    assert port.read_until(b"\x04>") == b"\xfeR\x05hello\x04\x04>"  # ... then all of it
    assert time.monotonic() - started >= 2.0  # never earlier than the stall (noise adds)


# -- on the host's bytes to the board ---------------------------------------------------


def test_fault_on_bytes_to_the_board(emulator: Emulator, port) -> None:
    emulator.faults.flip(when=b"abc", after=2, bit=0, to_board=True)
    assert run(port, b"print('abc')") == b"abb\n"


def test_clear_disarms(emulator: Emulator, port) -> None:
    emulator.faults.drop(5, when=b"never sent")
    assert emulator.faults.pending() == 1
    emulator.faults.clear()
    assert emulator.faults.pending() == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "smash"}, "fault kind"),
        ({"kind": "flip", "when": b"abc", "after": 1}, "inside when"),
        ({"kind": "flip", "bit": 8}, "bit 0-7"),
        ({"kind": "insert"}, "needs data"),
        ({"kind": "stall"}, "seconds > 0"),
    ],
)
def test_bad_fault_is_refused_naming_the_problem(emulator: Emulator, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        emulator.faults.inject(**kwargs)


# -- reset ---------------------------------------------------------------------------


def test_hard_reset_interrupts_code_and_boots_afresh(emulator: Emulator, port) -> None:
    run(port, b"x = 1")
    port.write(b"while True:\n    pass\x04")
    assert port.read(2) == b"OK"
    emulator.hard_reset()
    banner = port.read_until(b">>> ")
    assert banner.startswith(b"MicroPython v") and b" with " in banner.split(b"\r\n")[0]
    assert banner.endswith(b'Type "help()" for more information.\r\n>>> ')
    port.write(b"\x01")
    assert port.read_until(RAW_PROMPT).endswith(RAW_PROMPT)
    port.write(b"print(x)\x04")
    assert b"NameError" in port.read_until(b"\x04>")


def test_machine_reset_prints_the_firmware_banner(emulator: Emulator, port) -> None:
    port.write(b"import machine\nmachine.reset()\x04")
    banner = port.read_until(b">>> ")
    assert banner.startswith(b"OK\x04\x04MicroPython v")
    assert b"; belay_hook emulator with unix VM\r\n" in banner


# -- the fault engine alone: where a chunk is cut does not matter ------------------------


def _apply(specs: List[dict], chunks: List[bytes]) -> bytes:
    stream = FaultStream()
    for spec in specs:
        stream.arm(spec)
    return b"".join(data for chunk in chunks for data, _ in stream.feed(chunk))


def _spec(kind: str, when: bytes, after: int, **extra) -> dict:
    base = {"kind": kind, "when": when.hex(), "after": after, "count": 2, "bit": 3}
    return {**base, "data": extra.get("data", b"").hex(), "seconds": extra.get("seconds", 0)}


@given(st.binary(min_size=0, max_size=60), st.lists(st.integers(0, 60), max_size=6))
def test_faults_do_not_depend_on_chunking(stream: bytes, cuts: List[int]) -> None:
    specs = [
        _spec("flip", b"\x01\x02", 1),
        _spec("drop", b"", 2),
        _spec("insert", b"\x00", 0, data=b"IN"),
        _spec("replace", b"\x05", 3, data=b"RE"),
        _spec("duplicate", b"", 0),
    ]
    bounds = sorted({0, len(stream), *(cut for cut in cuts if cut < len(stream))})
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    assert _apply(specs, chunks) == _apply(specs, [stream])
