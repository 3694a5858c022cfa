"""The wire protocol's names: every request op, reply kind and proxy operation, once.

``mcu/agent.py`` declares the same names with ``const()`` (``_OP_CALL = const(1)``);
``tests/test_ops.py`` checks that the two tables agree. A frame's tag byte carries
an op (or kind) and a request id: ``TAG_BASE + code * IDS + rid``, so tags stay in
0x20..0xEF, clear of every control byte and of the frame start.
"""

from __future__ import annotations

START = 0xFE  # first byte of every frame, both ways; never inside a request frame
ESCAPE = 0x10  # request frames: ESCAPE, byte ^ 0x20 stands for each byte below
# Ctrl-A..Ctrl-D, LF, CR (a REPL acts on them), ESCAPE, START. Outside a frame the agent
# ignores a stray Ctrl-C (an interrupt that came late) and stops at Ctrl-A (a tool
# taking the raw REPL back).
ESCAPED = b"\x01\x02\x03\x04\n\r\x10\xfe"
TAG_BASE = 0x20
IDS = 8  # request ids wrap at this: one request is outstanding, plus late replies
LEN_BASE = 0x20  # a length byte is LEN_BASE + n for n < LEN_SHORT ...
LEN_SHORT = 0xC0
LEN_DIGITS = 0xE0  # ... else LEN_DIGITS + k, then n as k hex digits

# Requests, host to board: the op names what the body holds.
OP_CALL = 1  # function handle, then each positional argument
OP_CALL_KW = 2  # function handle, keyword arguments (dict), then each positional argument
OP_CALL_NAME = 3  # (module, name, args, kwargs): a function loaded by no handle
OP_OBJECT = 4  # (proxy reference, proxy operation, argument)
OP_THREAD = 5  # (module, name, args, kwargs), run in a new board thread
OP_PUT = 6  # (path, data, append): write a piece of a bundle file
OP_COMMIT = 7  # (temporary path, path, sha, cheap): rename it into place if its digest matches
OP_LOAD = 8  # (module, file name, handles, cheap digest): import a bundle file if whole, else False
OP_LOAD_RAM = 9  # (module, file name, source, handles): compile a bundle into RAM
OP_INFO = 10  # nothing: the board's implementation
OP_ANSWER = 11  # (ok, value): the host's answer to a host call, by its id; no reply
OP_FREE = 12  # [reference, ...] the host dropped (negative: close first); no reply
OP_BYE = 13  # nothing: leave the serve loop, back to the REPL
OP_PING = 14  # nothing: answered with KIND_PONG (sent with padding, see channel)
OP_AWAIT = 15  # (module, name, args, kwargs): run the coroutine with the board's asyncio

# Replies and messages, board to host: the kind names what the body holds.
KIND_RESULT = 1  # the value the request returned
KIND_ERROR = 2  # (type name, args, errno, traceback text[, plain attributes])
KIND_HOST_CALL = 3  # (host function id, args, kwargs): board code called a host function
KIND_EVENT = 4  # (topic, value) from belay_hook.emit on the board
KIND_PONG = 5  # None at the agent's top level, else the host-call id it waits for
KIND_HELLO = 6  # the agent's generation, sent once as it starts: the stream is its from here

# Proxy operations (OP_OBJECT), what the host asks of a board object.
PROXY_GETATTR = 1
PROXY_SETATTR = 2
PROXY_DELATTR = 3
PROXY_CALL = 4
PROXY_METHOD = 5
PROXY_GETITEM = 6
PROXY_SETITEM = 7
PROXY_DELITEM = 8
PROXY_LEN = 9
PROXY_ITER = 10
PROXY_NEXT = 11
PROXY_CLOSE = 12
PROXY_REPR = 13
PROXY_STR = 14
PROXY_CONTAINS = 15
PROXY_BOOL = 16
PROXY_EQ = 17
PROXY_LT = 18
PROXY_LE = 19
PROXY_GT = 20
PROXY_GE = 21
PROXY_DIR = 22
PROXY_SEND = 23  # value to send (None: next): (1, yielded), (0, returned)
PROXY_THROW = 24  # (exception type name, args): as PROXY_SEND, or (2, None): not caught
PROXY_AWAIT = 25  # (method name, args, kwargs): run the coroutine method with asyncio
PROXY_ENTER = 26  # nothing: __enter__(), 0 if it returned the object itself, else (value,)
PROXY_EXIT = 27  # None or (exception type name, args): __exit__(), whether it swallowed it
PROXY_HASH = 28  # nothing: hash(), so proxies of one board object meet in sets and dicts

KIND_NAMES = {
    value: name[5:].lower().replace("_", " ")
    for name, value in dict(globals()).items()
    if name.startswith("KIND_")
}
PROXY_NAMES = {
    value: name[6:].lower() for name, value in dict(globals()).items() if name.startswith("PROXY_")
}
OP_NAMES = {
    value: name[3:].lower().replace("_", " ")
    for name, value in dict(globals()).items()
    if name.startswith("OP_")
}


def table() -> dict:
    """Every protocol name with its value: what the agent declares alike with const()."""
    return {k: v for k, v in globals().items() if k.isupper() and isinstance(v, int)}
