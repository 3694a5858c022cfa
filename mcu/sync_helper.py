# belay_hook sync helper: defined on the board for one sync (belay_hook.sync), then removed.
#
# The host runs it in the raw REPL, then sends one-line calls of the functions below.
# Everything printed is plain fields and hex, which the host parses; nothing the
# board sends is evaluated there. Names start with _bh_ so that they meet nothing of
# the user's in the REPL's globals, and stay short: every call travels over the UART.
import os, sys
from binascii import hexlify as _bh_x

try:
    from hashlib import sha256 as _bh_h
except (ImportError, AttributeError):
    _bh_h = None  # the host then compares files by reading them back
try:
    from binascii import a2b_base64 as _bh_a  # file data may come as base64
except ImportError:
    _bh_a = None
_bh_b = bytearray(1024)  # one buffer for hashing: no allocation per piece
_bh_f = None  # the file being written or read back


def _bh_ls(t):
    # Print the tree under t: "d HEXPATH" per folder, "f HEXPATH SIZE" per file
    # (t itself first; a file t gets size -1). Nothing if t does not exist.
    try:
        m = os.stat(t)[0]
    except OSError:
        return
    if not m & 0x4000:
        print('f', _bh_x(t.encode()).decode(), -1)
        return
    print('d', _bh_x(t.encode()).decode())
    s = [t]
    while s:
        d = s.pop()
        for n in os.listdir(d):
            p = d.rstrip('/') + '/' + n
            m = os.stat(p)
            if m[0] & 0x4000:
                s.append(p)
                print('d', _bh_x(p.encode()).decode())
            else:
                print('f', _bh_x(p.encode()).decode(), m[6])


def _bh_s(p):
    # Print the sha256 of file p in hex, reading it in 1 KiB pieces.
    h = _bh_h()
    m = memoryview(_bh_b)
    with open(p, 'rb') as f:
        n = f.readinto(_bh_b)
        while n:
            h.update(m[:n])
            n = f.readinto(_bh_b)
    print(_bh_x(h.digest()).decode())


def _bh_md(p):
    # Make folder p; one already there is fine, a file in its place is not.
    try:
        os.mkdir(p)
    except OSError:
        if not os.stat(p)[0] & 0x4000:
            raise


def _bh_o(p, m):
    # Open p for the chunked writes (or reads) that follow: _bh_f.write(...).
    global _bh_f
    _bh_f = open(p, m)


def _bh_c(p):
    # Close the file and print its size, which the host checks.
    global _bh_f
    _bh_f.close()
    _bh_f = None
    print(os.stat(p)[6])


def _bh_rm(p):
    # Close the file being written and remove it: a failed write leaves nothing behind.
    global _bh_f
    try:
        _bh_f.close()
    except Exception:
        pass
    _bh_f = None
    try:
        os.remove(p)
    except OSError:
        pass


def _bh_end():
    # Remove every _bh_ name again, closing a file left open by an error.
    try:
        _bh_f.close()
    except Exception:
        pass
    g = globals()
    for n in [n for n in g if n.startswith('_bh_')]:
        del g[n]
    import gc
    gc.collect()


# What the board can do: sha256, base64, and its .mpy format (-1: none).
print(int(_bh_h is not None), int(_bh_a is not None), getattr(sys.implementation, '_mpy', -1))
