"""One request at a time with a running agent: send it, wait for its reply, and in
between serve the board's host calls and events; after a timeout, Ctrl-C or a
damaged frame, bring the agent back to its top level so no reply is left behind.

Request ids wrap at :data:`~belay_hook.rpc.ops.IDS`: one request is outstanding
(nested host calls aside), and a reply to an earlier one (given up on) is
recognised by its id and dropped. A reply slow to come, or a damaged frame, makes
the host ask (a ping) whether the agent still works on the call: if it is back at
its top level, the reply was lost on the line and FrameError says so, never a hang.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Tuple

from serial import SerialException

from belay_hook.errors import BelayHookError, BoardResetError, BoardTimeoutError, FrameError
from belay_hook.rpc import events, framing, ops, proxies
from belay_hook.rpc.channel import Channel, Frame
from belay_hook.rpc.codec import DecodeError, decode
from belay_hook.rpc.objects import ObjectTable

PING_AFTER = 0.5  # a reply this late: ask whether the board still works on it
SETTLE = 2.0  # after an interrupt, how long the agent has to report back
_UNSTOPPED = (
    f"and the board did not answer Ctrl-C within {SETTLE:g}s (its code turned Ctrl-C off with "
    "micropython.kbd_intr(-1), or the link is gone)"
)
_AFTER = ": the next call restarts the agent (a soft reset: the board's state is lost)"
_PAD = b" " * 16  # around a ping: completes any read the agent is stuck in

Reply = Tuple[int, bytes, BaseException | None]  # kind, body, a host function's error


class Conversation:
    """Requests and replies with the agent behind ``channel``."""

    def __init__(
        self, channel: Channel, objects: ObjectTable, lose: Callable[[BaseException], None]
    ):
        self.channel = channel
        self.objects = objects
        self.port = channel.port
        self.rid = 0  # the last request id used
        self._lose = lose

    def exchange(
        self,
        frame: Callable[[int], bytes],
        deadline: float | None,
        timeout: float | None,
        what: str,
    ) -> Reply:
        """Send the request ``frame(rid)`` builds and wait for its reply (the caller holds
        the channel). TypeError from ``frame``: nothing was sent."""
        rid = (self.rid + 1) % ops.IDS
        data = frame(rid)
        self.rid = rid
        self.catch_up()
        dropped = self.objects.take_dropped()
        if dropped:  # freeing needs no reply: it goes along with this request
            data = framing.request(ops.OP_FREE, 0, dropped) + data
        self.channel.write(data)
        return self._await(rid, deadline, timeout, what)

    def greeting(self, timeout: float) -> int:
        """The agent's generation, from the frame it sends as it starts; what came before
        it (the raw REPL's last words) is not the agent's and is dropped."""
        deadline = time.monotonic() + timeout
        with self.channel.hold(deadline, "the agent to start"):
            while True:
                frame = self.channel.read_frame(deadline)
                if frame is None:  # it follows the agent's "started" byte at once
                    raise FrameError(
                        self.port,
                        f"the agent started, but no greeting came within {timeout:g}s "
                        "(garbled on the line?)",
                    )
                if frame[0] == ops.KIND_HELLO:
                    return self.decode(frame[2], "the agent's greeting")

    def catch_up(self) -> None:
        """Take in what came since the last call (the idle reader may not have yet): a
        reset then stops the request before it is typed into a fresh REPL."""
        try:
            frame = self.channel.poll()
            while frame is not None:
                self.idle_frame(frame)
                frame = self.channel.poll()
        except BoardResetError as exc:
            raise BoardResetError(
                self.port, f"between calls: {str(exc)[len(self.port) + 2 :]}"
            ) from None
        except FrameError as exc:
            print(f"belay_hook: {exc}", file=sys.stderr)

    def _await(self, rid: int, deadline: float | None, timeout: float | None, what: str) -> Reply:
        channel = self.channel
        host_error: BaseException | None = None
        damage: FrameError | None = None
        lost_call: FrameError | None = None
        ping: int | None = None
        served: set = set()  # host calls answered
        before_ping: set = set()  # ... of which the answers went out before the ping
        quiet_until = time.monotonic() + PING_AFTER
        try:
            while True:
                until = quiet_until if ping is None else None
                if deadline is not None:
                    until = deadline if until is None else min(until, deadline)
                try:
                    frame = channel.read_frame(until)
                except FrameError as exc:
                    damage, frame = exc, None
                if frame is None:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise BoardTimeoutError(self.port, what, timeout or 0)
                    if ping is None:
                        ping, before_ping = self._ping(), set(served)
                    continue
                kind, frid, body = frame
                if kind == ops.KIND_HOST_CALL:
                    before_ping.discard(frid)  # a new host call with an id used before
                    served.add(frid)
                    host_error = self.serve_host_call(frid, body) or host_error
                elif kind == ops.KIND_EVENT:
                    events.dispatch(*self.decode(body, "an event"))
                elif kind == ops.KIND_PONG and frid == ping:
                    waiting = self.decode(body, "a ping")
                    if waiting is None:  # the agent is idle: no reply is coming
                        raise damage or FrameError(
                            self.port, f"the reply to {what} was lost on the line"
                        )
                    if waiting not in served:  # it waits for a host call that never came
                        lost_call = damage or FrameError(self.port, "a host call was lost")
                        self._answer(waiting, lost_call)
                        served.add(waiting)
                    elif waiting in before_ping:  # the board read its answer, had it come
                        lost_call = damage or FrameError(
                            self.port, "the answer to a host call was lost on the line"
                        )
                        self._answer(waiting, lost_call)
                    ping, quiet_until = None, time.monotonic() + PING_AFTER
                elif kind in (ops.KIND_RESULT, ops.KIND_ERROR) and frid == rid:
                    if served and self._refused(kind, body):
                        # The call ran (it called the host): this is the board refusing a
                        # damaged answer to a host call that shares the call's id.
                        damage = FrameError(
                            self.port, "the answer to a host call was lost on the line"
                        )
                        continue
                    if lost_call is not None:  # the call failed for want of its host call
                        raise lost_call
                    if damage is not None:  # it hit something else: say so, lose nothing
                        print(f"belay_hook: {damage}", file=sys.stderr)
                    return kind, body, host_error
                # else: a late reply, to a call given up on earlier, or a late pong
        except (KeyboardInterrupt, BoardTimeoutError, FrameError) as exc:
            gone = self.settle(interrupt=True)
            if gone is not None and exc.args:  # the user learns the board's state is gone
                exc.args = (f"{exc.args[0]}; {gone}{_AFTER}", *exc.args[1:])
            raise

    def _refused(self, kind: int, body: bytes) -> bool:
        """Whether a reply is the agent's "damaged request" error."""
        if kind != ops.KIND_ERROR:
            return False
        return str(self.decode(body, "an error")[0]).split()[0] == "FrameError"

    def _ping(self) -> int:
        self.rid = rid = (self.rid + 1) % ops.IDS
        self.channel.write(_PAD + framing.request(ops.OP_PING, rid) + _PAD)
        return rid

    def settle(self, interrupt: bool) -> str | None:
        """Bring the agent back to its top level (Ctrl-C the call) and read up to there,
        so no late reply is left; if it does not answer, it is gone (returns why)."""
        channel = self.channel
        try:
            if interrupt:
                channel.write(b"\x03")
            ping = self._ping()
            deadline = time.monotonic() + SETTLE
            while True:
                try:
                    frame = channel.read_frame(deadline)
                except FrameError:
                    continue
                if frame is None:
                    break
                kind, frid, body = frame
                if kind == ops.KIND_EVENT:
                    events.dispatch(*self.decode(body, "an event"))
                elif kind == ops.KIND_HOST_CALL:
                    self._answer(frid, KeyboardInterrupt("the call was given up"))
                elif kind == ops.KIND_PONG and frid == ping:
                    if self.decode(body, "a ping") is None:
                        return None
                    ping = self._ping()  # still nested in host calls: unwinding
        except (BelayHookError, OSError, SerialException) as exc:
            self._lose(exc)
            return f"and then: {exc}"
        self._lose(BoardResetError(self.port, "the agent did not answer after Ctrl-C"))
        return _UNSTOPPED

    def serve_host_call(self, rid: int, body: bytes) -> BaseException | None:
        """Board code called a host function: run it, send the answer, return its error."""
        fn_id, args, kwargs = self.decode(body, "a host call")
        try:
            value = self.objects.function(fn_id)(*args, **kwargs)
            answer = framing.request(ops.OP_ANSWER, rid, (True, value), self.objects)
        except Exception as exc:  # noqa: BLE001 - it travels to the board as its own type
            self._answer(rid, exc)
            return exc
        self.channel.write(answer)
        return None

    def _answer(self, rid: int, exc: BaseException) -> None:
        """Answer host call ``rid`` with an exception the board raises in its place."""
        answer = (False, proxies.sent_exception(exc))
        self.channel.write(framing.request(ops.OP_ANSWER, rid, answer))

    def decode(self, body: bytes, what: str) -> Any:
        try:
            return decode(body, 0, self.objects)[0]
        except DecodeError as exc:  # it passed the check: a bug, or a 1 in 65536 miss
            raise FrameError(self.port, f"undecodable reply to {what}: {exc}") from None

    def idle_frame(self, frame: Frame) -> None:
        """A frame the idle reader found between calls."""
        kind, rid, body = frame
        if kind == ops.KIND_EVENT:
            events.dispatch(*self.decode(body, "an event"))
        elif kind == ops.KIND_HOST_CALL:
            self.serve_host_call(rid, body)
        # else: a late reply or pong, to drop
