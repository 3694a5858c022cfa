# belay_hook resident agent: runs on the board, serves calls from the host.
#
# Uploaded once per session through the raw REPL and left running: each call
# is then one framed request in and one framed reply out, nothing compiled.
#
# Host -> board:  0xFE, 8 hex digits body length, 8 hex digits request id, body.
#   The body never holds 0x03 (Ctrl-C must stay an interrupt): 0x10 is sent
#   as 0x10 0x11 and 0x03 as 0x10 0x13.
# Board -> host:  0xFE, kind byte, 4-byte little-endian length, body.
#   Printed text passes between frames: UTF-8 never holds 0xFE.
# Request body: op byte, then one value (see _enc for the tags).
# Reply body: request id (varint), then one value.
#
# MicroPython only: keep it small (it is uploaded as source) and frugal.

import sys
import struct

_in = sys.stdin.buffer
_out = sys.stdout.buffer
_mods = {}
_DIR = "/.belay_hook"


def _read(n):
    b = _in.read(n)
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
    elif isinstance(v, (list, tuple)):
        out.append(b"l" if isinstance(v, list) else b"t")
        _put_uint(len(v), out)
        for x in v:
            _enc(x, out)
    elif isinstance(v, dict):
        out.append(b"d")
        _put_uint(len(v), out)
        for k in v:
            _enc(k, out)
            _enc(v[k], out)
    else:
        raise TypeError("cannot send %s to the host" % type(v).__name__)


def _send(kind, rid, value):
    out = []
    _put_uint(rid, out)
    _enc(value, out)
    n = 0
    for p in out:
        n += len(p)
    head = b"\xfe" + kind + struct.pack("<I", n)
    if n < 512:
        _out.write(head + b"".join(out))
    else:
        _out.write(head)
        for p in out:
            _out.write(p)


def _error(rid, e):
    import io

    s = io.StringIO()
    sys.print_exception(e, s)
    args = []
    for a in e.args:
        try:
            _enc(a, [])
        except TypeError:
            a = repr(a)
        args.append(a)
    _send(b"E", rid, (type(e).__name__, args, e.errno if isinstance(e, OSError) else None, s.getvalue()))


def _load(name, base):
    # The bundle file is already in _DIR; it is imported under a name made of
    # its digest, so a changed bundle is a new module, and aliased as the host
    # module so board code of other modules can import it.
    if _DIR not in sys.path:
        sys.path.append(_DIR)
    m = __import__(base)
    _mods[name] = m
    if name != "__main__" and name not in sys.modules:
        sys.modules[name] = m


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


def _info():
    i = sys.implementation
    return (i.name, tuple(i.version), getattr(i, "_mpy", None), sys.platform, _DIR)


def _skip(n):
    while n:
        n -= len(_in.read(min(n, 256)))


def _serve():
    while True:
        h = _read(17)
        if h[0] != 254:
            continue
        n = int(h[1:9], 16)
        rid = int(h[9:], 16)
        try:
            b = _read(n)
        except MemoryError as e:
            _skip(n)  # stay in step with the host, then say why
            _error(rid, e)
            continue
        try:
            if 16 in b:
                b = b.replace(b"\x10\x13", b"\x03").replace(b"\x10\x11", b"\x10")
            op = b[0]
            a = _dec(b, 1)[0]
            b = None
            if op == 67:  # C: (module, name, args, kwargs)
                r = getattr(_mods[a[0]], a[1])(*a[2], **a[3])
            elif op == 80:  # P: (path, data, append)
                r = _put(*a)
            elif op == 72:  # H: path
                r = _has(a)
            elif op == 76:  # L: (module, file base name)
                r = _load(*a)
            elif op == 73:  # I
                r = _info()
            elif op == 88:  # X: leave the loop, back to the REPL
                _send(b"R", rid, None)
                return
            a = None
            _send(b"R", rid, r)
        except SystemExit:
            raise  # sys.exit() on a board means reboot: let it
        except BaseException as e:  # noqa: B036 - KeyboardInterrupt ends a call, not the agent
            b = a = r = None
            _error(rid, e)


_serve()
