# belay_hook remote helper: the board side of code sent as text (board("x = 5")).
#
# The host loads it like any bundle the first time such code is sent, then calls
# its functions by name; the resident agent knows nothing of it. MicroPython only.

#@mcu
from time import ticks_us, ticks_diff

#@mcu
ns = {"__name__": "__main__"}  # globals of code sent as text, kept between calls

#@mcu
ref = [0]  # the board ticks the host mapped to its own clock


#@mcu
def run(code, name, timed):
    # An expression's value, or statements run (None); with timed, also the start
    # and end ticks counted from ref.
    try:
        c, f = compile(code, name, "eval"), eval
    except SyntaxError:
        c, f = compile(code, name, "exec"), exec
    t = ticks_us()
    v = f(c, ns)
    if timed:
        return v, ticks_diff(t, ref[0]), ticks_diff(ticks_us(), ref[0])
    return v


#@mcu
def clock(t):
    # The board's ticks now (t None), else t becomes the reference.
    if t is None:
        return ticks_us()
    ref[0] = t


#@mcu
class Fwd:
    # Stands for a list, dict or bytearray (which travel by value) so that the host
    # gets a proxy, and what it does through it reaches the board's own object.
    def __init__(self, o):
        self._o = o

    def __getattr__(self, n):
        return getattr(self._o, n)

    def __getitem__(self, k):
        return self._o[k]

    def __setitem__(self, k, v):
        self._o[k] = v

    def __delitem__(self, k):
        del self._o[k]

    def __len__(self):
        return len(self._o)

    def __iter__(self):
        return iter(self._o)

    def __contains__(self, x):
        return x in self._o

    def __eq__(self, x):
        return self._o == x

    def __repr__(self):
        return repr(self._o)


#@mcu
kinds = {}  # a Fwd subclass per type name, so the proxy says "list"


#@mcu
def keep(code, name):
    # What expression code gives, so that it travels as a proxy.
    v = eval(compile(code, name, "eval"), ns)
    t = type(v)
    if t in (list, dict, bytearray):
        n = t.__name__
        if n not in kinds:
            kinds[n] = type(n, (Fwd,), {})
        v = kinds[n](v)
    return v
