# belay_hook resident agent: runs on the board, serves calls from the host.
#
# Started once per session by a loader sent through the raw REPL and left running: each call
# is then one framed request in and one framed reply out, nothing compiled.
# The wire format is described in belay_hook/rpc/framing.py and its names are
# those of belay_hook/rpc/ops.py (tests/test_ops.py checks they agree):
#   frame = START, length, tag (op or kind, request id), body, 2-byte check
# Requests are escaped (they never hold CR, LF or Ctrl-A..D); replies are not,
# and whatever board code prints passes between them as text.
#
# Ctrl-C interrupts board code only while it runs (kbd_intr); one that comes
# between calls is a stray byte here, skipped like any byte outside a frame.
# Ctrl-A outside a frame stops the agent (a tool taking the raw REPL back).
#
# MicroPython only: keep it small and frugal. It lives compiled on the
# board's flash (belay_hook/rpc/agent.py) and its code stays in RAM while it serves.

import sys
import struct
from micropython import const

_START = const(0xFE)
_ESCAPE = const(0x10)
_TAG_BASE = const(0x20)
_IDS = const(8)
_LEN_BASE = const(0x20)
_LEN_SHORT = const(0xC0)
_LEN_DIGITS = const(0xE0)
_FIX = const(0x80)
_FIX_COUNT = const(96)
_FIX2 = const(0xE0)
_FIX2_COUNT = const(4096)

_OP_CALL = const(1)
_OP_CALL_KW = const(2)
_OP_CALL_NAME = const(3)
_OP_OBJECT = const(4)
_OP_THREAD = const(5)
_OP_PUT = const(6)
_OP_COMMIT = const(7)
_OP_LOAD = const(8)
_OP_LOAD_RAM = const(9)
_OP_INFO = const(10)
_OP_ANSWER = const(11)
_OP_FREE = const(12)
_OP_BYE = const(13)
_OP_PING = const(14)
_OP_AWAIT = const(15)

_KIND_RESULT = const(1)
_KIND_ERROR = const(2)
_KIND_HOST_CALL = const(3)
_KIND_EVENT = const(4)
_KIND_PONG = const(5)
_KIND_HELLO = const(6)

_PROXY_GETATTR = const(1)
_PROXY_SETATTR = const(2)
_PROXY_DELATTR = const(3)
_PROXY_CALL = const(4)
_PROXY_METHOD = const(5)
_PROXY_GETITEM = const(6)
_PROXY_SETITEM = const(7)
_PROXY_DELITEM = const(8)
_PROXY_LEN = const(9)
_PROXY_ITER = const(10)
_PROXY_NEXT = const(11)
_PROXY_CLOSE = const(12)
_PROXY_REPR = const(13)
_PROXY_STR = const(14)
_PROXY_CONTAINS = const(15)
_PROXY_BOOL = const(16)
_PROXY_EQ = const(17)
_PROXY_LT = const(18)
_PROXY_LE = const(19)
_PROXY_GT = const(20)
_PROXY_GE = const(21)
_PROXY_DIR = const(22)
_PROXY_SEND = const(23)
_PROXY_THROW = const(24)
_PROXY_AWAIT = const(25)
_PROXY_ENTER = const(26)
_PROXY_EXIT = const(27)
_PROXY_HASH = const(28)


_in = sys.stdin.buffer
_out = sys.stdout.buffer
_mods = {}
_fns = {}  # function handle -> (module, name)
_refs = {}  # id -> board object the host holds a proxy for
_n = [0, 0, 0]  # last proxy id, last host-call id, board code running (nesting)
_busy = [0]  # a frame is being written: events emitted meanwhile wait in _later
_later = []
_held = [b""]  # bytes read past a damaged frame, read again first
_DIR = "/.belay_hook"
try:
    import os

    _GEN = 1 + int.from_bytes(os.urandom(2), "big") % 30000
except Exception:
    import time

    _GEN = 1 + time.ticks_us() % 30000
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
try:
    from micropython import kbd_intr as _intr
except ImportError:

    def _intr(c):
        pass


try:
    from binascii import crc32 as _crc
except ImportError:  # CRC-32 in two 16-bit halves: small ints on every port
    _TL = []
    _TH = []
    for _i in range(256):
        _c = _i
        for _ in range(8):
            _c = (_c >> 1) ^ (0xEDB88320 if _c & 1 else 0)
        _TL.append(_c & 0xFFFF)
        _TH.append(_c >> 16)

    def _crc(data, c=0):
        lo = (c & 0xFFFF) ^ 0xFFFF
        hi = (c >> 16) ^ 0xFFFF
        for b in data:
            i = (lo ^ b) & 255
            lo = _TL[i] ^ ((hi & 255) << 8 | lo >> 8)
            hi = _TH[i] ^ (hi >> 8)
        return (hi ^ 0xFFFF) << 16 | lo ^ 0xFFFF


def _check(parts):
    c = 0
    for p in parts:
        c = _crc(p, c)
    return c & 0xFFFF


def _read(n):
    b = _held[0]
    if b:
        _held[0] = b[n:]
        b = b[:n]
    while len(b) < n:
        b += _in.read(n - len(b))
    return b


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
    if _FIX <= t < _FIX + _FIX_COUNT:
        return t - _FIX, i
    if _FIX2 <= t < _FIX2 + 16:
        return _FIX_COUNT + ((t - _FIX2) << 8) + b[i], i + 1
    if t == 78:  # N
        return None, i
    if t == 84:  # T
        return True, i
    if t == 70:  # F
        return False, i
    if t == 102:  # f
        return struct.unpack("<d", b[i : i + 8])[0], i + 8
    if t == 83:  # S: a slice's start, stop and step
        x, i = _dec(b, i)
        y, i = _dec(b, i)
        z, i = _dec(b, i)
        return _HostFn(0)[x:y:z], i  # some ports have no slice()
    n, i = _uint(b, i)
    if t == 105:  # i: zigzag
        return (n >> 1) ^ -(n & 1), i
    if t == 80:  # P: a proxy coming back, as generation and id
        r, i = _uint(b, i)
        if n != _GEN or r not in _refs:
            raise StaleProxyError("board object #%d is gone (freed, or from an earlier agent)" % r)
        return _refs[r], i
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
    if t == 101:  # e
        return set(v), i
    if t == 116:  # t
        return tuple(v), i
    if t == 100:  # d
        d = {}  # a loop, not a comprehension: one function less in RAM
        for k in range(0, len(v), 2):
            d[v[k]] = v[k + 1]
        return d, i
    return v, i  # l


def _enc(v, out):
    if v is None:
        out.append(b"N")
    elif v is True:
        out.append(b"T")
    elif v is False:
        out.append(b"F")
    elif isinstance(v, int):
        if 0 <= v < _FIX_COUNT:
            out.append(bytes((_FIX + v,)))
        elif _FIX_COUNT <= v < _FIX_COUNT + _FIX2_COUNT:
            m = v - _FIX_COUNT
            out.append(bytes((_FIX2 + (m >> 8), m & 255)))
        elif -(1 << 62) < v < (1 << 62):
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
    elif type(v) in (list, tuple, set):
        out.append(b"l" if type(v) is list else b"t" if type(v) is tuple else b"e")
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
    out = [bytes((_TAG_BASE + kind * _IDS + rid % _IDS,))]
    _enc(value, out)
    n = 2
    for p in out:
        n += len(p)
    c = _check(out)
    out.append(bytes((c >> 8, c & 255)))
    if n < _LEN_SHORT:
        head = bytes((_START, _LEN_BASE + n))
    else:
        d = ("%x" % n).encode()
        head = bytes((_START, _LEN_DIGITS + len(d))) + d
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
        _send(_KIND_EVENT, 0, _later.pop(0))


def emit(topic, value=None):
    # Send an event to the host's handlers, from anywhere: a call, a thread,
    # a timer or a pin interrupt (through micropython.schedule).
    if _busy[0]:
        _later.append((topic, value))
    else:
        _send(_KIND_EVENT, 0, (topic, value))


class _Api:  # board code: `from belay_hook import emit`
    emit = emit


sys.modules["belay_hook"] = _Api


def _error(rid, e):
    import builtins
    import io

    s = io.StringIO()
    sys.print_exception(e, s)
    # A class of the board's own goes with its first bases up to a builtin, space
    # separated ("SensorError ValueError"): the host rebuilds the same hierarchy.
    t = type(e)
    n = t.__name__
    while getattr(builtins, t.__name__, None) is not t and getattr(t, "__bases__", ()):
        t = t.__bases__[0]
        n += " " + t.__name__
    o = e.errno if isinstance(e, OSError) else None
    d = getattr(e, "__dict__", 0) or {}  # what its __init__ set: e.code
    _send(_KIND_ERROR, rid, (n, e.args, o, s.getvalue(), d))  # args as they are: a list stays one


def _run(f, a, k):
    # Board code runs with Ctrl-C armed; the agent's own work never sees one.
    _n[2] += 1
    _intr(3)
    try:
        return f(*a, **k)
    finally:
        _n[2] -= 1
        if not _n[2]:
            _intr(-1)


class StaleProxyError(Exception):
    pass


def _named(m, n):
    # Function n of module m; "Cls.meth" reaches a class's method.
    n = n.split(".")
    f = _mods[m][n[0]]
    for x in n[1:]:
        f = getattr(f, x)
    return f


class _HostFn:
    # A host function passed in: calling it asks the host to run it, and
    # serves the host's own calls meanwhile (they may nest).
    def __init__(self, i):
        self.i = i

    def __getitem__(self, k):  # _HostFn(0)[a:b:c] is a slice, on ports without slice()
        return k

    @staticmethod
    def error(n, a):
        # An exception the host raised, rebuilt: the builtin class of that name, else a
        # class of that name in the board's modules (a marked one), else a new one.
        import builtins

        for d in [0] + list(_mods.values()):
            t = d.get(n) if d else getattr(builtins, n, None)
            if isinstance(t, type) and issubclass(t, BaseException):
                try:
                    return t(*a)
                except Exception:  # its __init__ takes other arguments than its args
                    pass
        return type(n, (Exception,), {})(*a)

    def __call__(self, *a, **k):
        _n[1] += 1
        rid = _n[1] % _IDS
        _send(_KIND_HOST_CALL, rid, (self.i, a, k))
        while True:
            r = _serve1(rid)
            if type(r) is tuple:
                break
        if r[0]:
            return r[1]
        raise _HostFn.error(*r[1][:2])


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
    sys.modules.pop(base, None)  # imported again (a reload): its code runs again
    m = _run(__import__, (base,), {})
    if name != "__main__" and (name in _mods or name not in sys.modules):
        sys.modules[name] = m  # also over its older bundle: a reload must reach importers
    _mods[name] = m.__dict__


def _ram(name, filename, source):
    # No writable filesystem: compile the bundle's source here, into RAM.
    d = {"__name__": name}
    _run(exec, (compile(source, filename, "exec"), d), {})
    _mods[name] = d


def _put(path, data, append):
    try:
        import os

        os.mkdir(_DIR)
    except OSError:
        pass
    with open(path, "ab" if append else "wb") as f:
        f.write(data)


def _has(path, sha, cheap, to=None):
    # Whether `path` holds the content the host expects: 12 hex digits of its
    # sha256 or, on a board without sha256, its size and byte sum. A file that
    # does not is removed, so it is never imported; one that does is renamed
    # to `to` if given (an upload arrived whole).
    import os

    try:
        import hashlib

        h = hashlib.sha256()
    except (ImportError, AttributeError):
        h = None
    n = s = 0
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(256)
                if not b:
                    break
                n += len(b)
                if h:
                    h.update(b)
                else:
                    s += sum(b)
    except OSError:
        return False
    if h:
        import binascii

        d = binascii.hexlify(h.digest()[:6]).decode()
    else:
        d = "%x_%x" % (n, s)
    if d not in (sha, cheap):
        os.remove(path)
        return False
    if to:
        try:
            os.remove(to)
        except OSError:
            pass
        os.rename(path, to)
    return True


def _on(o, op, x):
    # One operation on a proxied object, named by the host.
    if op == _PROXY_GETATTR:
        return getattr(o, x)
    if op == _PROXY_METHOD:
        return getattr(o, x[0])(*x[1], **x[2])
    if op == _PROXY_CALL:
        return o(*x[0], **x[1])
    if op == _PROXY_SETATTR:
        setattr(o, x[0], x[1])
    elif op == _PROXY_DELATTR:
        delattr(o, x)
    elif op == _PROXY_GETITEM:
        return o[x]
    elif op == _PROXY_SETITEM:
        o[x[0]] = x[1]
    elif op == _PROXY_DELITEM:
        del o[x]
    elif op == _PROXY_LEN:
        return len(o)
    elif op == _PROXY_ITER:
        return iter(o)
    elif op == _PROXY_NEXT:
        return next(o)
    elif op == _PROXY_SEND or op == _PROXY_THROW:
        # Resume generator o: (1, what it yielded), (0, what it returned), or (2, None)
        # when the exception thrown in came out uncaught (the host raises its own).
        t = None
        try:
            if op == _PROXY_SEND:
                return 1, o.send(x)
            t = _HostFn.error(*x)
            return 1, o.throw(t)
        except StopIteration as e:
            return 0, e.value
        except BaseException as e:  # noqa: B036 - only to tell the thrown one apart
            if e is t:
                return 2, None
            raise
    elif op == _PROXY_AWAIT:
        import asyncio

        c = getattr(o, x[0])(*x[1], **x[2])
        try:
            return asyncio.run(c)
        finally:
            c.close()
    elif op == _PROXY_ENTER:  # 0 when it returns o itself: the host has that
        r = o.__enter__()
        return 0 if r is o else (r,)
    elif op == _PROXY_EXIT:  # None, or the exception leaving the block: (type name, args)
        e = x and _HostFn.error(*x)
        return bool(o.__exit__(e and type(e), e, None))
    elif op == _PROXY_CLOSE:
        o.close()
    elif op == _PROXY_REPR:
        return repr(o)
    elif op == _PROXY_STR:
        return str(o)
    elif op == _PROXY_CONTAINS:
        return x in o
    elif op == _PROXY_BOOL:
        return bool(o)
    elif op == _PROXY_EQ:
        return o == x
    elif op == _PROXY_LT:
        return o < x
    elif op == _PROXY_LE:
        return o <= x
    elif op == _PROXY_GT:
        return o > x
    elif op == _PROXY_GE:
        return o >= x
    elif op == _PROXY_HASH:
        return hash(o)
    elif op == _PROXY_DIR:
        return dir(o)
    else:
        raise ValueError(op)


def _do(op, b):
    if op == _OP_CALL or op == _OP_CALL_KW:  # handle, [kwargs], arguments
        h, i = _dec(b, 0)
        k = {}
        if op == _OP_CALL_KW:
            k, i = _dec(b, i)
        a = []
        while i < len(b):
            x, i = _dec(b, i)
            a.append(x)
        m, f = _fns[h]
        return _run(_mods[m][f], a, k)
    a = _dec(b, 0)[0] if b else None
    if op == _OP_CALL_NAME:  # (module, name, args, kwargs); "Cls.meth" calls a class's method
        return _run(_named(a[0], a[1]), a[2], a[3])
    if op == _OP_OBJECT:  # (proxy reference, operation, argument)
        return _run(_on, a, {})
    if op == _OP_THREAD:  # (module, name, args, kwargs) in a new thread
        import _thread

        _thread.start_new_thread(_mods[a[0]][a[1]], a[2], a[3])
    elif op == _OP_PUT:  # (path, data, append)
        _put(*a)
    elif op == _OP_COMMIT:  # (temporary path, path, sha, cheap): verify, then rename
        return _has(a[0], a[2], a[3], a[1])
    elif op == _OP_LOAD:  # (module, file name, handles, cheap digest): False if not there
        if not _has(_DIR + "/" + a[1], a[1][a[1].index("_") + 1 : a[1].index(".")], a[3]):
            return False
        _load(a[0], a[1][: a[1].index(".")])
        _handles(a[0], a[2])
        return True
    elif op == _OP_LOAD_RAM:  # (module, file name, source, handles)
        _ram(a[0], a[1], a[2])
        _handles(a[0], a[3])
    elif op == _OP_AWAIT:  # (module, name, args, kwargs): a coroutine, run to its end
        import asyncio

        c = _named(a[0], a[1])(*a[2], **a[3])
        try:
            return _run(asyncio.run, (c,), {})
        finally:
            c.close()
    elif op == _OP_INFO:
        i = sys.implementation
        import builtins

        b = dir(builtins) if a else None  # the host caches them per firmware
        return (i.name, tuple(i.version), getattr(i, "_mpy", None), sys.platform, _DIR, b)
    else:
        raise ValueError(op)


def _frame():
    # The next request frame as (op, rid, body): body None if it was damaged,
    # a MemoryError if it was too big; no frame if it was cut short. Outside a frame: stray bytes (a late
    # Ctrl-C) are skipped, Ctrl-A stops the agent ("X").
    if _poll and not _held[0]:  # idle in short polls: timers and pins run between them
        while not _poll.poll(20):
            pass
    c = _read(1)[0]
    while True:
        while c != _START:
            if c == 1:
                return "X"
            c = _read(1)[0]
        c = _read(1)[0]
        if _LEN_BASE <= c < _LEN_BASE + _LEN_SHORT:
            n = c - _LEN_BASE
        elif _LEN_DIGITS < c <= _LEN_DIGITS + 8:
            d = _read(c - _LEN_DIGITS)
            c = 0
            try:
                n = int(d, 16)
            except ValueError:
                continue
        else:
            continue
        if n < 3:
            continue
        # In short reads: a START inside means this frame was cut short. The tag,
        # never escaped, comes first: a frame too big for the heap is read to its
        # end all the same (staying in step) and answered with MemoryError.
        t = _read(1)[0]
        if t == _START:
            _held[0] = b"\xfe" + _held[0]
            return
        w = bytearray()
        k = 1
        while k < n:
            p = _read(min(n - k, 16))
            k += len(p)
            s = p.find(b"\xfe")
            if s >= 0:
                _held[0] = p[s:] + _held[0]
                return
            if w is not None:
                try:
                    w += p
                except MemoryError:
                    w = None
        rid = (t - _TAG_BASE) % _IDS
        try:
            w = bytes(w)
            if 16 in w:
                for e in b"\x01\x02\x03\x04\n\r\xfe":
                    w = w.replace(bytes((16, e ^ 32)), bytes((e,)))
                w = w.replace(b"\x10\x30", b"\x10")
        except (MemoryError, TypeError):  # TypeError: bytes(None), no room to read it
            w = None
        if w is None:
            return 0, rid, MemoryError("a request of %d bytes: too big for the board's heap" % n)
        if _check((bytes((t,)), w[:-2])) != w[-2] << 8 | w[-1]:
            return 0, rid, None
        return (t - _TAG_BASE) // _IDS, rid, w[:-2]


def _serve1(wait=-1):
    # Read and serve one request. Returns the answer for host-call `wait`
    # when that arrives, "X" when the host says goodbye.
    f = _frame()
    if f is None or f == "X":
        return f
    op, rid, b = f
    if b is None:
        _send(_KIND_ERROR, rid, ("FrameError", ["the board received a damaged request"], None, ""))
        return
    if isinstance(b, MemoryError):
        _error(rid, b)
        return
    try:
        if op == _OP_ANSWER:  # answer to a host call
            return _dec(b, 0)[0] if rid == wait else None
        if op == _OP_FREE:  # proxies the host dropped (negative: close it first); no reply
            for i in _dec(b, 0)[0]:
                o = _refs.pop(abs(i), None)
                if i < 0 and o is not None:
                    o.close()
            return
        if op == _OP_PING:
            _send(_KIND_PONG, rid, None if wait < 0 else wait)
            return
        if op == _OP_BYE:  # leave the loop, back to the REPL
            _send(_KIND_RESULT, rid, None)
            return "X"
        r = _do(op, b)
        b = None
        _send(_KIND_RESULT, rid, r)
    except SystemExit:
        raise  # sys.exit() on a board means reboot: let it
    except BaseException as e:  # noqa: B036 - KeyboardInterrupt ends a call, not the agent
        b = r = None
        _error(rid, e)


def _main():
    # Called once the module is imported: its top-level code is freed by then.
    import gc

    gc.collect()  # what the loader read goes before any call allocates
    _intr(-1)
    _out.write(b"\x06")  # serving from now on: the host owns the port
    _send(_KIND_HELLO, 0, _GEN)
    while True:
        try:
            if _serve1() == "X":
                break
        except (KeyboardInterrupt, MemoryError):  # a call ended as its reply went: it is over
            pass
    _intr(3)
