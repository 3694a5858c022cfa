"""Faults injected for real into the emulated serial link, for tests of code that must survive them.

Two halves of one job: `Faults` is the host's API (``Emulator.faults``), which arms a
fault in the bridge process and returns once it is armed; `FaultStream` is the bridge's
side, which applies the armed faults to the bytes of one direction as they pass.

A fault acts at one byte of the stream, found without timing: the byte `after` bytes
past the start of the next occurrence of `when` (a byte string; by default its last
byte), or, without `when`, `after` bytes (default 0) past the first byte that comes
after the fault was armed. Faults act one
after another in the order they were armed: each one's search starts after the bytes
the previous one touched. So "corrupt the 3rd byte of the next reply frame" is
``faults.flip(when=b"\\xfe", after=2)`` and a second call arms "... of the frame after".
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Dict, List, Tuple

KINDS = ("flip", "replace", "drop", "insert", "duplicate", "stall")
Segment = Tuple[bytes, float]  # bytes, and how long to hold them back (seconds)


class Faults:
    """Faults on the emulated board's serial link (``emu.faults``); see the module docstring
    for where each one acts. By default on what the board sends; ``to_board=True`` acts on
    what the host sends instead. Each call returns once the fault is armed."""

    def __init__(self, ask: Callable[[Dict[str, Any]], Dict[str, Any]]):
        self._ask = ask

    def flip(self, count: int = 1, *, bit: int = 0, **where: Any) -> None:
        """Flip `bit` (0-7) in each of `count` bytes."""
        self.inject("flip", count=count, bit=bit, **where)

    def replace(self, data: bytes, **where: Any) -> None:
        """Send `data` in place of as many bytes."""
        self.inject("replace", data=data, **where)

    def drop(self, count: int = 1, **where: Any) -> None:
        """Lose `count` bytes."""
        self.inject("drop", count=count, **where)

    def insert(self, data: bytes, **where: Any) -> None:
        """Send `data` before the byte."""
        self.inject("insert", data=data, **where)

    def duplicate(self, count: int = 1, **where: Any) -> None:
        """Send each of `count` bytes twice."""
        self.inject("duplicate", count=count, **where)

    def stall(self, seconds: float, **where: Any) -> None:
        """Hold the byte and everything after it for `seconds`, then deliver it all."""
        self.inject("stall", seconds=seconds, **where)

    def inject(
        self,
        kind: str,
        *,
        when: bytes | None = None,
        after: int | None = None,
        to_board: bool = False,
        count: int = 1,
        bit: int = 0,
        data: bytes = b"",
        seconds: float = 0.0,
    ) -> None:
        """Arm a fault of `kind` (one of `KINDS`); the named methods say what each does."""
        when = when or b""
        if after is None:
            after = max(0, len(when) - 1)
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, not {kind!r}")
        if after < max(0, len(when) - 1):
            # The match is seen only once its last byte has arrived: earlier bytes of it
            # may have been delivered already.
            raise ValueError(
                f"after={after} hits a byte inside when={when!r}, which may have been sent "
                f"before its last byte arrives: use after >= {len(when) - 1} or a shorter when"
            )
        if count < 1 or not 0 <= bit <= 7:
            raise ValueError(f"count must be at least 1 and bit 0-7, not {count}, {bit}")
        if kind in ("replace", "insert") and not data:
            raise ValueError(f"a {kind} fault needs data")
        if kind == "stall" and seconds <= 0:
            raise ValueError(f"a stall needs seconds > 0, not {seconds}")
        self._ask({
            "op": "fault", "kind": kind, "when": when.hex(), "after": after,
            "to_board": to_board, "count": count, "bit": bit, "data": data.hex(),
            "seconds": seconds,
        })  # fmt: skip

    def pending(self) -> int:
        """How many armed faults have not acted (fully) yet."""
        return self._ask({"op": "pending"})["pending"]

    def clear(self) -> None:
        """Disarm every fault that has not acted yet."""
        self._ask({"op": "clear"})


class _Armed:
    """One armed fault in the bridge, and how far it has got."""

    def __init__(self, spec: Dict[str, Any]):
        self.kind = spec["kind"]
        self.pattern = bytes.fromhex(spec["when"])
        self.found = not self.pattern
        self.tail = b""  # the stream's last bytes, for a match cut across chunks
        self.skip = spec["after"]
        self.count = spec["count"]
        self.mask = 1 << spec["bit"]
        self.data = bytes.fromhex(spec["data"])
        self.seconds = spec["seconds"]

    def locate(self, data: bytes) -> int | None:
        """Where in `data` this fault acts, or None if not in it (then noted as passed)."""
        if not self.found:
            window = self.tail + data
            at = window.find(self.pattern)
            if at < 0:
                self.tail = window[len(window) - len(self.pattern) + 1 :]
                return None
            self.found = True
            self.skip += at - len(self.tail)  # never negative: see Faults.inject
        if self.skip >= len(data):
            self.skip -= len(data)
            return None
        return self.skip

    def act(self, data: bytes) -> Tuple[bytes, bytes, bool]:
        """Act on `data` (it starts at the byte hit): (bytes to send instead of those
        used, the rest of `data`, whether this fault is done)."""
        if self.kind == "insert":
            return self.data, data, True
        if self.kind == "stall":
            return b"", data, True
        if self.kind == "replace":
            used = min(len(self.data), len(data))
            sent, self.data = self.data[:used], self.data[used:]
            return sent, data[used:], not self.data
        used = min(self.count, len(data))
        self.count -= used
        hit = data[:used]
        if self.kind == "flip":
            hit = bytes(byte ^ self.mask for byte in hit)
        elif self.kind == "drop":
            hit = b""
        else:  # duplicate
            hit = bytes(byte for byte in hit for _ in range(2))
        return hit, data[used:], not self.count


class FaultStream:
    """The faults armed on one direction of the link, applied to its bytes in order."""

    def __init__(self) -> None:
        self._armed: collections.deque = collections.deque()

    def arm(self, spec: Dict[str, Any]) -> None:
        self._armed.append(_Armed(spec))

    def clear(self) -> None:
        self._armed.clear()

    def __len__(self) -> int:
        return len(self._armed)

    def feed(self, data: bytes) -> List[Segment]:
        """`data` with the faults due in it applied, as segments to send in order."""
        out: List[Segment] = []
        hold = 0.0
        while data and self._armed:
            fault = self._armed[0]
            at = fault.locate(data)
            if at is None:
                break
            out.append((data[:at], hold))
            sent, data, done = fault.act(data[at:])
            out.append((sent, hold))
            if fault.kind == "stall":
                hold = fault.seconds
            if done:
                self._armed.popleft()
        out.append((data, hold))
        return [segment for segment in out if segment[0]]
