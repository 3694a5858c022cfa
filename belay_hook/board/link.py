"""The raw REPL over a board's port: interrupt, raw and raw-paste uploads, soft reboot.

`Link` speaks the protocol MicroPython firmware speaks on its USB/UART REPL:
Ctrl-C to interrupt, Ctrl-A for the raw REPL (``raw REPL; CTRL-B to exit``, then
``>``), Ctrl-D to run what was sent or, at an empty prompt, to soft-reboot. Code is
uploaded in raw-paste mode (``\\x05A\\x01``) when the board has it, with its flow
control, else in plain raw REPL chunks. The reply to running code is
``<stdout>\\x04<traceback>\\x04>``.

The byte 0x03 means "interrupt" to a board (a SIGINT in the emulator), so only
`interrupt` ever sends it: `write` and `exec` refuse data that holds one. Every read
has a deadline and a timeout says what was awaited and the last bytes that came.

CircuitPython may, after a reset, run code.py and wait for any key (asked in its
language) before its REPL starts; it writes OSC escapes into the stream and may
translate its soft-reboot line. So the Link reads none of that text: it sends Ctrl-A
again whenever the board falls silent without the raw REPL banner (never translated),
and strips OSC sequences (from exec output too, on CircuitPython). `flavour` is taken
from the last banner seen while taking control, else asked (sys.implementation.name).

Reads never go past what they were asked for, except inside `exec`, whose reply
ends at a prompt the board follows with nothing: bytes the Link took but did not hand
out are kept and come first from its own reads, and after `exec_start` there are none,
so the caller may read `serial` directly from then on.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Union

from belay_hook.board.repl_text import (
    RESET_SPAN,
    OscFilter,
    board_error,
    flavour_in,
    reset_sign,
    strip_osc,
)
from belay_hook.board.transport import Transport, _Due
from belay_hook.errors import BoardResetError, BoardTimeoutError, LinkError

RAW_BANNER = b"raw REPL; CTRL-B to exit"
_SETTLE = 0.2  # silence after an answer that takes a Ctrl-A as lost (_reach_raw_prompt)
_STUCK = 1.0  # silence without an answer that takes the board as still busy
_CHUNK = 256  # plain raw REPL upload: bytes per write, then a pause
_CHUNK_PAUSE = 0.01
_OLD_FIRMWARE_GRACE = 0.3  # after a raw REPL banner, how long a raw-paste answer may lag
# Ctrl-C, Ctrl-A, and for an agent left waiting for the rest of a frame (its host
# died mid-write) a START byte: that frame was cut short, and the Ctrl-A after it stops
# the agent. Enough bytes to complete the 16-byte read the agent may be in.
_UNSTICK = b"\x03\xfe" + b"\x03\x01" * 8
_DEAF = (
    "an answer to Ctrl-C and Ctrl-A (code on the board ignores Ctrl-C: it catches "
    "KeyboardInterrupt or called micropython.kbd_intr(-1), a main.py say, or it resets the "
    "board over and over; stop it on the board, e.g. remove main.py, and connect again; or "
    "the port is not a MicroPython board's)"
)
# Text only a (Micro|Circuit)Python REPL sends: a device that answers without any is
# something else (a modem, another firmware) or speaks at another baud rate.
_REPL_SIGNS = (b">>> ", RAW_BANNER, b"Python", b"Traceback", b"paste mode", b"\n>")
_NO_REPL = (
    "a MicroPython REPL (the device answers, but never with a '>>>' prompt or a raw REPL "
    "banner: is it a MicroPython board, and at its baud rate?)"
)
_FORBIDDEN = {0x01: "Ctrl-A", 0x02: "Ctrl-B", 0x03: "Ctrl-C", 0x04: "Ctrl-D"}
log = logging.getLogger(__name__)


def _to_raw_repl(shown: bytes) -> bytes:
    """What brings a board that showed `shown`, then fell silent, to the raw REPL:
    Ctrl-A, but Ctrl-C first where a friendly prompt has a typed line after it (stray
    input, say): on a line, Ctrl-A only moves the cursor; Ctrl-C clears it."""
    at = shown.rfind(b">>> ")
    return b"\x03\x01" if at >= 0 and shown[at + 4 :] else b"\x01"


class Link(Transport):
    """A serial connection to a MicroPython (or CircuitPython) board and the raw REPL
    commands over it.

    `port` is a device path (``/dev/ttyACM0``, ``COM3``) or a pyserial URL
    (``socket://host:port``, ``rfc2217://...``, ``loop://``). `timeout` is the default
    deadline of each command. `raw_paste=False` never tries raw-paste mode. `flavour`
    is ``"micropython"`` or ``"circuitpython"`` once `enter_raw_repl` has run.
    """

    def __init__(
        self, port: str, *, baudrate: int = 115200, timeout: float = 10.0, raw_paste: bool = True
    ):
        super().__init__(port, baudrate=baudrate, timeout=timeout)
        self.raw_paste: bool | None = None  # whether the last upload used raw-paste mode
        self._try_raw_paste = raw_paste
        self._in_raw_repl = False
        self.flavour: str | None = None

    def _opened(self) -> None:
        self._in_raw_repl = False
        self.flavour = None

    # -- raw REPL commands ------------------------------------------------------------

    def interrupt(self) -> None:
        """Stop whatever the board runs (Ctrl-C twice: code may catch the first) and
        discard what it printed."""
        self._interrupt()

    def _interrupt(self) -> bytes:
        """`interrupt`, returning the last of what the board printed."""
        due = self._due(None)
        seen = b""
        for _ in range(2):
            self._send(b"\x03")
            seen += self._drain(0.05, due)
        self._in_raw_repl = False
        return seen

    def _interrupt_quickly(self) -> bytes:
        """Ctrl-C once and whatever already came back, without waiting for silence:
        `_reach_raw_prompt` reads on until the raw REPL prompt, and interrupts again
        if the board stays busy (code that caught this one). A second Ctrl-C right
        away could land while the board prints the first one's traceback.

        A board already printing (rebooting, say) may yet send a prompt of its own,
        which a Ctrl-A now would double: it is interrupted the patient way."""
        if self.in_waiting:
            return self._interrupt()
        self._send(b"\x03")
        seen = self.read_available()
        self._in_raw_repl = False
        return seen

    def _expect_raw_prompt(self, due: _Due) -> bytes:
        """Read up to the raw REPL prompt the board sends once it has soft-rebooted: the
        one after its ``OK`` for the Ctrl-D (a banner before that was an earlier one's,
        late). A board that came back at its friendly prompt instead (it reset harder
        than asked) gets a Ctrl-A each time it falls silent there; one whose friendly
        REPL holds a typed line (stray input took it there) is asked again."""
        text = bytearray()
        asked = False  # a Ctrl-A was sent: its banner needs no OK before it
        ok_seen = False  # the OK came: text holds what followed it only
        heard = time.monotonic()
        while True:
            data = self._receive_within(_SETTLE, due, "the raw REPL prompt")
            if data:
                heard = time.monotonic()
                text += data
                if not ok_seen and b"OK" in text:
                    # Cut there, not 4 KB back: boot.py may print more than that after it.
                    del text[: text.find(b"OK") + 2]
                    ok_seen = True
                del text[:-4096]
                clean = strip_osc(bytes(text))
                at = clean.rfind(RAW_BANNER)
                fresh = asked or ok_seen
                if fresh and at >= 0 and clean[at + len(RAW_BANNER) :] in (b"\r\n>", b"\n>"):
                    return bytes(text)
            elif b">>> " in (shown := strip_osc(bytes(text))):
                key = _to_raw_repl(shown)
                # A typed line swallowed the Ctrl-D too: clear it, and reboot again.
                asked = key == b"\x01"
                ok_seen = False  # a Ctrl-D sent again: its own OK comes first
                self._send(key if asked else key + b"\x04")
                text.clear()
            elif text.endswith(b"\n>") and time.monotonic() - heard >= _STUCK:
                # At a raw prompt, but its OK or banner came garbled (a noisy line):
                # reboot again, to a fresh OK and banner.
                asked = ok_seen = False
                self._send(b"\x01\x04")
                text.clear()
                heard = time.monotonic()

    def _reach_raw_prompt(self, due: _Due) -> bytes:
        """Send Ctrl-A until the raw REPL prompt comes. A CircuitPython board waiting
        for any key after code.py swallows the Ctrl-A and starts its friendly REPL: an
        answer without the raw REPL banner, then silence, means: send another. Long
        silence means code still runs (it caught the Ctrl-C, or got it too early):
        interrupt it again (the second time with a START byte: see _UNSTICK)."""
        self._send(b"\x01")
        text = bytearray()
        answered = resent = ever = repl = False  # repl: some REPL text came
        unanswered = 0  # the times long silence brought an interrupt
        silent_since = time.monotonic()
        while True:
            try:
                data = self._receive_within(_SETTLE, due, "the raw REPL prompt")
            except BoardTimeoutError as exc:
                if not ever:
                    raise BoardTimeoutError(self.port, _DEAF, due.timeout) from exc
                if not repl:
                    raise BoardTimeoutError(
                        self.port, _NO_REPL, due.timeout, exc.last_received
                    ) from exc
                raise
            if not data:
                if answered or time.monotonic() - silent_since >= _STUCK:
                    if answered:
                        self._send(_to_raw_repl(strip_osc(bytes(text))))
                    else:  # a board slow to boot hears only the usual keys at first
                        self._send(_UNSTICK if unanswered else b"\x03\x01")
                        unanswered += 1
                    answered, resent = False, True
                    silent_since = time.monotonic()
                continue
            answered = ever = True
            silent_since = time.monotonic()
            text += data
            del text[:-4096]  # enough for the last banners
            clean = strip_osc(bytes(text))
            repl = repl or any(sign in clean for sign in _REPL_SIGNS)
            at = clean.rfind(RAW_BANNER)
            line_end = clean[at + len(RAW_BANNER) :] if at >= 0 else b""
            if line_end in (b"\r\n>", b"\n>"):
                break
            # More after a banner (the board reset or printed on): as an answer
            # without one, silence then brings another Ctrl-A.
        if resent:  # the first Ctrl-A may yet bring a banner: read past what it could send
            self._send(b"pass\x04")
            text += self._read_until(b"OK\x04\x04>", due, "the raw REPL prompt")
        return bytes(text)

    def enter_raw_repl(self, soft_reset: bool = False) -> None:
        """Interrupt the board and switch it to the raw REPL; optionally soft-reboot it
        there first (clearing its state). Sets `flavour`.

        Nothing here waits for silence: each step reads until the prompt it expects."""
        seen = self._interrupt_quickly()
        due = self._due(None)
        seen += self._reach_raw_prompt(due)
        if soft_reset:
            self._send(b"\x04")
            # Its own line ("MPY: soft reboot", "soft reboot") may be translated.
            seen += self._expect_raw_prompt(due)
        self._in_raw_repl = True
        self.flavour = flavour_in(seen) or self.flavour
        if self.flavour is None:
            self._ask_flavour(due)
        log.info("%s: raw REPL (%s)", self.port, self.flavour)

    def _ask_flavour(self, due: _Due) -> None:
        """No banner came by: ask the board (in the raw REPL)."""
        try:
            name = self.exec(
                "print(__import__('sys').implementation.name)",
                timeout=max(0.0, due.deadline - time.monotonic()),
            )
        except AttributeError:  # MicroPython before sys.implementation
            name = b""
        self.flavour = "circuitpython" if name.strip() == b"circuitpython" else "micropython"

    def exit_raw_repl(self) -> None:
        """Back to the friendly REPL (``>>>``; on CircuitPython, a fresh VM)."""
        self._send(b"\x02")
        banner = self._read_until(b">>> ", self._due(None), "the friendly REPL prompt")
        self.flavour = flavour_in(banner) or self.flavour
        self._in_raw_repl = False

    def soft_reset(self) -> None:
        """Soft-reboot the board (its Python state is cleared) and leave it in the raw REPL
        (CircuitPython runs no code.py then)."""
        self.enter_raw_repl(soft_reset=True)

    def exec(
        self,
        code: Union[str, bytes],
        timeout: float | None = None,
        on_output: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """Run `code` on the board within `timeout` seconds and return what it printed.

        `on_output` gets the printed bytes as they arrive. An exception on the board is
        raised here with the same builtin type (else McuError) and the board's
        traceback; a reboot during the run raises BoardResetError. On CircuitPython,
        OSC escapes (status-bar updates) are taken out of the output.
        """
        due = self._due(timeout)
        self._upload(_source(code), due)
        return self._reply(due, on_output)

    def _reply(self, due: _Due, on_output: Callable[[bytes], None] | None = None) -> bytes:
        """Read the reply to code sent to run: its output, up to the prompt after it."""
        osc = OscFilter(active=self.flavour == "circuitpython")
        reply = bytearray()  # <stdout> 0x04 <traceback> 0x04 ">"
        streamed = 0
        while True:
            reply += self._receive(4096, due, "the end of the code's output")
            stdout_end = reply.find(b"\x04")
            if on_output is not None and streamed >= 0:
                stop = len(reply) if stdout_end < 0 else stdout_end
                if stop > streamed:
                    _call(on_output, osc.feed(bytes(reply[streamed:stop])))
                if stdout_end >= 0:
                    _call(on_output, osc.flush())
                streamed = stop if stdout_end < 0 else -1
            traceback_end = reply.find(b"\x04", stdout_end + 1) if stdout_end >= 0 else -1
            if 0 <= traceback_end < len(reply) - 1:
                break
        stdout, traceback, after = bytes(reply).split(b"\x04", 2)
        if not after.startswith(b">"):
            self._kept[:0] = after
            raise BoardResetError(
                self.port, "the board rebooted while running the code (sys.exit()? a reset?)"
            )
        self._kept[:0] = after[1:]
        self._in_raw_repl = True
        stdout, traceback = osc.strip(stdout), osc.strip(traceback)
        if traceback:
            raise board_error(traceback.decode(errors="replace"))
        return stdout

    def exec_start(self, code: Union[str, bytes]) -> None:
        """Send `code` and return as soon as the board runs it, without waiting for it to
        end: the caller owns the byte stream from then on."""
        self._upload(_source(code), self._due(None))

    def exec_until(
        self, code: Union[str, bytes], ready: bytes, timeout: float | None = None
    ) -> bytes | None:
        """Send `code` and read what it prints first: None once that is `ready` (the
        code runs on and the caller owns the byte stream), else the code's whole output
        once it ends (its error raised as `exec` does)."""
        due = self._due(timeout)
        self._upload(_source(code), due)
        return self.read_ready(ready, timeout=max(0.0, due.deadline - time.monotonic()))

    def read_ready(self, ready: bytes, timeout: float | None = None) -> bytes | None:
        """After `exec_start` (or `exec_until`): None if the running code prints
        `ready` next, else, once the code ends, all it printed (see `exec`)."""
        due = self._due(timeout)
        first = self._read_exactly(len(ready), due, "the board code to answer")
        if first == ready:
            return None
        self._kept[:0] = first
        return self._reply(due)

    def finish(self, timeout: float | None = None) -> bytes:
        """After `exec_start`: wait for the code to end; what it printed (see `exec`)."""
        return self._reply(self._due(timeout))

    def _upload(self, code: bytes, due: _Due) -> None:
        """Send code to the raw REPL; returns once the board has taken it to run."""
        if not self._in_raw_repl:
            self.enter_raw_repl()
        self.read_available()  # stale output would be read as the answer
        self._in_raw_repl = False  # until the code's reply ends with the prompt
        if self._try_raw_paste:
            self._send(b"\x05A\x01")
            if self._raw_paste_answer(due):
                self.raw_paste = True
                self._paste(code, due)
                return
            self._try_raw_paste = False
        self.raw_paste = False
        for start in range(0, len(code), _CHUNK):
            self._send(code[start : start + _CHUNK])
            time.sleep(_CHUNK_PAUSE)
        self._send(b"\x04")
        answer = self._read_exactly(2, due, "OK from the raw REPL")
        if answer != b"OK":
            raise LinkError(self.port, f"the raw REPL did not take the code: {answer!r}")

    def _raw_paste_answer(self, due: _Due) -> bool:
        """Whether the board takes raw-paste: it answers R\\x01 (yes) or R\\x00 (no), while
        firmware older than raw-paste restarts the raw REPL and prints its banner. Bytes
        still on their way from before (a slow reboot's own banner) are skipped, so a
        banner counts as "no" only when no answer follows it within a moment."""
        seen = bytearray()
        grace: _Due | None = None
        while True:
            try:
                seen += self._receive(1, grace or due, "the raw-paste answer")
            except BoardTimeoutError:
                if grace is None or time.monotonic() >= due.deadline:
                    raise
                return False  # the banner alone: firmware without raw-paste
            if seen.endswith(b"R\x01"):
                return True
            if seen.endswith(b"R\x00"):
                return False
            if seen.endswith((b"CTRL-B to exit\r\n>", b"CTRL-B to exit\n>")):
                grace = min(_Due(time.monotonic() + _OLD_FIRMWARE_GRACE, due.timeout), due)

    def _paste(self, code: bytes, due: _Due) -> None:
        """Raw-paste upload: never more than the board allowed; it sends 0x01 to allow
        another window, 0x04 to stop the upload early (e.g. at a syntax error)."""
        window = int.from_bytes(self._read_exactly(2, due, "the raw-paste window"), "little")
        allowed = window
        sent = 0
        stopped = False
        while sent < len(code) and not stopped:
            while allowed == 0 or self.in_waiting:
                flag = self._receive(1, due, "raw-paste flow control")
                if flag == b"\x04":
                    stopped = True
                    break
                if flag != b"\x01":
                    raise self._not_pasting(flag, due)
                allowed += window
            if not stopped:
                chunk = code[sent : sent + allowed]
                self._send(chunk)
                sent += len(chunk)
                allowed -= len(chunk)
        self._send(b"\x04")  # end of data, or acknowledging the board's stop
        other = b""  # neither a grant nor the end: a byte garbled, or a fresh REPL's text
        while not stopped:
            # The board's 0x04 answer, after any window grants still on their way.
            flag = self._receive(1, due, "the end of the raw-paste upload")
            stopped = flag == b"\x04"
            if flag not in (b"\x01", b"\x04"):
                other = other[-RESET_SPAN:] + flag
                if reset_sign(other) is not None:
                    raise self._not_pasting(other, due)

    def _not_pasting(self, first: bytes, due: _Due) -> LinkError:
        """The board sent text during a raw-paste upload: it left raw-paste mode (it
        reset: the code went to a fresh REPL as typed lines). What it says, as an error."""
        seen = first + self._drain(_SETTLE, due)
        if reset_sign(seen) is not None:
            return BoardResetError(
                self.port, f"the board reset during an upload (reset button? power?): {seen!r}"
            )
        return LinkError(self.port, f"unexpected {seen[-120:]!r} during raw-paste upload")


def _call(on_output: Callable[[bytes], None], data: bytes) -> None:
    if data:
        on_output(data)


def _source(code: Union[str, bytes]) -> bytes:
    data = code.encode() if isinstance(code, str) else bytes(code)
    for byte, name in _FORBIDDEN.items():
        at = data.find(bytes([byte]))
        if at >= 0:
            raise ValueError(
                f"code holds a raw {name} byte ({byte:#04x}) at offset {at}, which the "
                f"raw REPL would act on; write it as an escape such as '\\x{byte:02x}'"
            )
    return data
