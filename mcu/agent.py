# belay_hook resident agent: runs on the board, serves calls from the host.
#
# Uploaded once per session through the raw REPL and left running: each call
# is then one framed request in and one framed reply out, nothing compiled.
#
# Host -> board:  0xFE, body length, frame id, body. The length and the id are
#   each a digit (how many hex digits follow) and that many hex digits, so a
#   small call's header is five bytes and never holds a control byte.
#   The body never holds 0x03 (Ctrl-C must stay an interrupt): 0x10 is sent
#   as 0x10 0x11 and 0x03 as 0x10 0x13.
# Board -> host:  0xFE, kind byte, body length (varint), body.
#   Printed text passes between frames: UTF-8 never holds 0xFE.
# Request body: op byte, then one value (see _enc for the tags).
# Reply body: frame id (varint), then one value. Kinds: R result, E error,
#   K call of a host function (the host answers with op A), V event.
#
# MicroPython only: keep it small (it is uploaded as source) and frugal.

import sys
import struct

_in = sys.stdin.buffer
_out = sys.stdout.buffer
_mods = {}
_fns = {}  # function handle -> (module, name)
_refs = {}  # id -> board object the host holds a proxy for
_n = [0, 0]  # last proxy id, last host-call id
_busy = [0]  # a frame is being written: events emitted meanwhile wait in _later
_later = []
_DIR = "/.belay_hook"
try:
    import _thread

    _lock = _thread.allocate_lock()
except ImportError:
    _lock = None
try:
    import select

    _poll = select.poll()
    _poll.register(_in, select.POLLIN)
except Exception:
    _poll = None


def _read(n):
    b = _in.read(n)
    while len(b) < n:
        b += _in.read(n - len(b))
    return b


def _skip(n):
    while n:
        n -= len(_in.read(min(n, 256)))


def _uint(b, i):
    n = s = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 127) << s
        s += 7
        if c < 128:
            return n, i


def _put_uint(n, out):
    while n > 127:
        out.append(bytes((n & 127 | 128,)))
        n >>= 7
    out.append(bytes((n,)))


def _dec(b, i):
    t = b[i]
    i += 1
    if t == 78:  # N
        return None, i
    if t == 84:  # T
        return True, i
    if t == 70:  # F
        return False, i
    if t == 102:  # f
        return struct.unpack("<d", b[i : i + 8])[0], i + 8
    n, i = _uint(b, i)
    if t == 105:  # i: zigzag
        return (n >> 1) ^ -(n & 1), i
    if t == 80:  # P: a proxy coming back
        return _refs[n], i
    if t == 99:  # c: a host function
        return _HostFn(n), i
    if t in (115, 98, 97, 73):  # s b a I
        v = bytes(b[i : i + n])
        i += n
        if t == 115:
            return v.decode(), i
        if t == 97:
            return bytearray(v), i
        if t == 73:
            return int(v), i
        return v, i
    v = []
    for _ in range(n * 2 if t == 100 else n):
        x, i = _dec(b, i)
        v.append(x)
    if t == 116:  # t
        return tuple(v), i
    if t == 100:  # d
        return {v[k]: v[k + 1] for k in range(0, len(v), 2)}, i
    return v, i  # l


def _enc(v, out):
    if v is None:
        out.append(b"N")
    elif v is True:
        out.append(b"T")
    elif v is False:
        out.append(b"F")
    elif isinstance(v, int):
        if -(1 << 62) < v < (1 << 62):
            out.append(b"i")
            _put_uint(v << 1 if v >= 0 else (-v << 1) - 1, out)
        else:
            s = str(v).encode()
            out.append(b"I")
            _put_uint(len(s), out)
            out.append(s)
    elif isinstance(v, float):
        out.append(b"f" + struct.pack("<d", v))
    elif isinstance(v, (str, bytes, bytearray)):
        out.append(b"s" if isinstance(v, str) else b"b" if isinstance(v, bytes) else b"a")
        if isinstance(v, str):
            v = v.encode()
        _put_uint(len(v), out)
        out.append(v)
    elif type(v) in (list, tuple):
        out.append(b"l" if type(v) is list else b"t")
        _put_uint(len(v), out)
        for x in v:
            _enc(x, out)
    elif type(v) is dict:
        out.append(b"d")
        _put_uint(len(v), out)
        for k in v:
            _enc(k, out)
            _enc(v[k], out)
    else:  # anything else stays here; the host gets a proxy to it
        _n[0] += 1
        _refs[_n[0]] = v
        out.append(b"P")
        _put_uint(_n[0], out)
        t = type(v).__name__.encode()
        _put_uint(len(t), out)
        out.append(t)


def _send(kind, rid, value):
    out = []
    _put_uint(rid, out)
    _enc(value, out)
    n = 0
    for p in out:
        n += len(p)
    head = [b"\xfe" + kind]
    _put_uint(n, head)
    head = b"".join(head)
    if _lock:
        _lock.acquire()
    _busy[0] = 1
    try:
        if n < 512:
            _out.write(head + b"".join(out))
        else:
            _out.write(head)
            for p in out:
                _out.write(p)
    finally:
        _busy[0] = 0
        if _lock:
            _lock.release()
    while _later:
        _send(b"V", 0, _later.pop(0))


def emit(topic, value=None):
    # Send an event to the host's handlers, from anywhere: a call, a thread,
    # a timer or a pin interrupt (through micropython.schedule).
    if _busy[0]:
        _later.append((topic, value))
    else:
        _send(b"V", 0, (topic, value))


class _Api:  # board code: `from belay_hook import emit`
    emit = emit


sys.modules["belay_hook"] = _Api


def _error(rid, e):
    import io

    s = io.StringIO()
    sys.print_exception(e, s)
    args = [a if a is None or isinstance(a, (str, int, float, bytes)) else repr(a) for a in e.args]
    _send(
        b"E",
        rid,
        (type(e).__name__, args, e.errno if isinstance(e, OSError) else None, s.getvalue()),
    )


class _HostFn:
    # A host function passed in: calling it asks the host to run it, and
    # serves the host's own calls meanwhile (they may nest).
    def __init__(self, i):
        self.i = i

    def __call__(self, *a, **k):
        _n[1] += 1
        rid = _n[1]
        _send(b"K", rid, (self.i, a, k))
        while True:
            r = _serve1(rid)
            if type(r) is tuple:
                break
        if r[0]:
            return r[1]
        import builtins

        t = getattr(builtins, r[1][0], None)
        if not (isinstance(t, type) and issubclass(t, Exception)):
            raise Exception("%s: %s" % r[1][:2])
        raise t(*r[1][1])


def _handles(name, handles):
    # Small numbers for the module's functions: a call then names one in a byte.
    for h, f in handles:
        _fns[h] = (name, f)


def _load(name, base):
    # The bundle file is in _DIR, named <module tag>_<digest>: imported under
    # that name, so a changed bundle is a new module; older bundles of the
    # same module are deleted; aliased as the host module so board code of
    # other modules can import it.
    import os

    tag = base[: base.index("_") + 1]
    for f in os.listdir(_DIR):
        if f.startswith(tag) and not f.startswith(base + "."):
            os.remove(_DIR + "/" + f)
    if _DIR not in sys.path:
        sys.path.append(_DIR)
    m = __import__(base)
    _mods[name] = m.__dict__
    if name != "__main__" and name not in sys.modules:
        sys.modules[name] = m


def _ram(name, filename, source):
    # No writable filesystem: compile the bundle's source here, into RAM.
    d = {"__name__": name}
    exec(compile(source, filename, "exec"), d)
    _mods[name] = d


def _put(path, data, append):
    try:
        import os

        os.mkdir(_DIR)
    except OSError:
        pass
    with open(path, "ab" if append else "wb") as f:
        f.write(data)


def _has(path):
    try:
        open(path, "rb").close()
        return True
    except OSError:
        return False


def _on(o, op, x):
    # One operation on a proxied object, named by the host.
    if op == "getattr":
        return getattr(o, x)
    if op == "method":
        return getattr(o, x[0])(*x[1], **x[2])
    if op == "call":
        return o(*x[0], **x[1])
    if op == "setattr":
        setattr(o, x[0], x[1])
    elif op == "delattr":
        delattr(o, x)
    elif op == "getitem":
        return o[x]
    elif op == "setitem":
        o[x[0]] = x[1]
    elif op == "delitem":
        del o[x]
    elif op == "len":
        return len(o)
    elif op == "iter":
        return iter(o)
    elif op == "next":
        return next(o)
    elif op == "close":
        o.close()
    elif op == "repr":
        return repr(o)
    elif op == "str":
        return str(o)
    elif op == "contains":
        return x in o
    elif op == "bool":
        return bool(o)
    elif op == "eq":
        return o == x
    elif op == "lt":
        return o < x
    elif op == "le":
        return o <= x
    elif op == "gt":
        return o > x
    elif op == "ge":
        return o >= x
    elif op == "dir":
        return dir(o)
    else:
        raise ValueError(op)


def _do(op, a):
    if op == 99:  # c: (function handle, args, kwargs)
        m, f = _fns[a[0]]
        return _mods[m][f](*a[1], **a[2])
    if op == 67:  # C: (module, name, args, kwargs)
        return _mods[a[0]][a[1]](*a[2], **a[3])
    if op == 79:  # O: (proxy id, operation, argument)
        return _on(_refs[a[0]], a[1], a[2])
    if op == 84:  # T: (module, name, args, kwargs) in a new thread
        import _thread

        _thread.start_new_thread(_mods[a[0]][a[1]], a[2], a[3])
    elif op == 80:  # P: (path, data, append)
        _put(*a)
    elif op == 72:  # H: path
        return _has(a)
    elif op == 76:  # L: (module, file base name, handles)
        _load(a[0], a[1])
        _handles(a[0], a[2])
    elif op == 82:  # R: (module, file name, source, handles)
        _ram(a[0], a[1], a[2])
        _handles(a[0], a[3])
    elif op == 73:  # I
        i = sys.implementation
        import builtins

        return (i.name, tuple(i.version), getattr(i, "_mpy", None), sys.platform, _DIR, dir(builtins))


def _serve1(wait=0):
    # Read and serve one request. Returns the answer for host-call `wait`
    # when that arrives, "X" when the host says goodbye.
    if _poll:  # idle in short polls: scheduled callbacks (timers, pins) run between them
        while not _poll.poll(20):
            pass
    h = _read(2)
    if h[0] != 254:
        return
    h = _read(h[1] - 47)  # the length's hex digits and the id's digit count
    n = int(h[:-1], 16)
    rid = int(_read(h[-1] - 48), 16)
    try:
        b = _read(n)
    except MemoryError as e:
        _skip(n)  # stay in step with the host, then say why
        _error(rid, e)
        return
    try:
        if 16 in b:
            b = b.replace(b"\x10\x13", b"\x03").replace(b"\x10\x11", b"\x10")
        op = b[0]
        a = _dec(b, 1)[0]
        b = None
        if op == 65:  # A: answer to a host call
            return a if rid == wait else None
        if op == 70:  # F: proxies the host dropped (negative: close it first); no reply
            for i in a:
                o = _refs.pop(abs(i), None)
                if i < 0 and o is not None:
                    o.close()
            return
        if op == 88:  # X: leave the loop, back to the REPL
            _send(b"R", rid, None)
            return "X"
        r = _do(op, a)
        a = None
        _send(b"R", rid, r)
    except SystemExit:
        raise  # sys.exit() on a board means reboot: let it
    except BaseException as e:  # noqa: B036 - KeyboardInterrupt ends a call, not the agent
        b = a = r = None
        _error(rid, e)


while _serve1() != "X":
    pass
