# Closes the routes by which board code could reach the host through the unix VM (a
# board has none of them): boot.py calls close() last, before any board code runs.
#
# Board code then finds `os` and `vfs` without system(), VfsPosix or the host's
# environment, `socket` without Unix-domain sockets (a socket file such as docker.sock
# leads out), and no `uctypes`, `ffi` or `termios` (raw memory, C calls, the host's
# terminal). Flash hides its host access in closures. This is one layer: code that
# rebuilds the import machinery gets past it, so the bridge adds an OS-level barrier
# (Landlock) where the host kernel has one.
import builtins
import sys

_HIDDEN = {
    "os": ("system", "VfsPosix", "getenv", "putenv", "unsetenv"),
    "vfs": ("VfsPosix",),
    "socket": ("AF_UNIX",),
}
_GONE = ("uctypes", "ffi", "termios")


class _Module:
    # What board code gets for `os` and `vfs`: the module without its host routes.
    def __init__(self, module, hidden):
        for name in dir(module):
            if name not in hidden and name not in ("__class__", "__dict__"):
                setattr(self, name, getattr(module, name))

    def __repr__(self):
        return "<module '%s'>" % self.__name__


def _no_unix(make):
    def socket(af=2, *args):
        if af == 1:  # AF_UNIX
            raise OSError(13)  # EACCES
        return make(af, *args)

    return socket


def close():
    safe = {"machine": sys.modules["machine"]}  # not the unix port's (raw memory)
    for name, hidden in _HIDDEN.items():
        safe[name] = _Module(__import__(name), hidden)
    safe["socket"].socket = _no_unix(__import__("socket").socket)
    sys.modules.update(safe)
    parent = __import__  # CircuitPython's, if installed (builtins.__import__ is not)

    def guarded_import(name, *args):
        if name in _GONE:
            raise ImportError("no module named '%s'" % name)
        module = safe.get(name)
        if module is None:
            return parent(name, *args)
        sys.modules[name] = module  # in case board code took it out
        return module

    builtins.__import__ = guarded_import
