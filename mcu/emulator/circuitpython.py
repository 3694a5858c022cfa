# The CircuitPython flavour of the emulated board. The bridge runs the VM as
# `boot.py FLASH STATE circuitpython MODE`; boot.py calls install() while the host's /
# is still mounted, then supervise() once flash is mounted read-only.
#
# To board code the VM then looks like CircuitPython: sys.implementation.name is
# "circuitpython", there are `supervisor` and `board` modules, no `_thread`, and a
# MicroPython .mpy file is refused. supervise() plays CircuitPython's supervisor: run
# code.py, "Code done running.", wait for a key, then the REPL (or a reload). The
# version, texts (maybe translated) and markers come from STATE/circuitpython.json,
# written by the bridge (belay_hook/emulator_circuitpython.py), which acts on the
# markers and gives the REPL CircuitPython's banner.
import builtins
import collections
import io
import json
import micropython
import sys
import time

_CLEAR_LINE = "\x1b[2K\x1b[0G"
_OWN_FRAMES = ('  File "boot.py"', '  File "circuitpython.py"')
_import = builtins.__import__
_conf = {}


def _circuitpython_import(name, *args):
    if name == "_thread":
        raise ImportError("no module named '_thread'")
    module = _import(name, *args)
    if getattr(module, "__file__", "").endswith(".mpy"):
        raise ValueError("incompatible .mpy file")  # CircuitPython's .mpy differ
    return module


def install(state, mode):
    global _conf
    with open(state + "/circuitpython.json") as f:
        _conf = json.load(f)
    _conf["mode"] = mode
    import cpsys
    import supervisor  # noqa: F401 (both stay in sys.modules for board code)
    import board  # noqa: F401

    del sys.modules["cpsys"], cpsys.__file__
    fields = ("name", "version", "_machine", "_mpy")
    implementation = collections.namedtuple("implementation", fields)
    cpsys.implementation = implementation(
        "circuitpython", tuple(_conf["version"]), _conf["machine"], _conf["mpy"]
    )
    cpsys.platform = _conf["platform"]
    sys.modules["sys"] = cpsys
    builtins.__import__ = _circuitpython_import


def _write(text):
    sys.stdout.write(text)


def _title(status):
    _write("\x1b]0;\U0001f40d%s | %s\x1b\\" % (status, _conf["release"]))


def _run_code(texts):
    # How code.py ended: "done" (or an exception), "exit" (sys.exit()), "reload".
    for name in ("code.txt", "code.py", "main.py", "main.txt"):
        try:
            open(name).close()
            break
        except OSError:
            pass
    else:
        return "done"
    _write(_CLEAR_LINE + name + texts["output"] + "\r\n")
    _title(name)
    status, ended = "Done", "done"
    try:
        micropython.kbd_intr(3)
        execfile(name, {"__name__": "__main__"})
        micropython.kbd_intr(-1)
    except SystemExit:
        micropython.kbd_intr(-1)
        ended = "reload" if sys.modules["supervisor"]._reloading else "exit"
    except (Exception, KeyboardInterrupt) as e:
        micropython.kbd_intr(-1)
        trace = io.StringIO()
        sys.print_exception(e, trace)
        for line in trace.getvalue().split("\n")[:-1]:
            if not line.startswith(_OWN_FRAMES):  # the board shows code.py's frames only
                _write(line + "\r\n")
        status = "%s %s" % (name, type(e).__name__)
    _title(status)
    return ended


def supervise():
    # Outside code.py a Ctrl-C is no interrupt but input (the bridge passes it on), as
    # on CircuitPython: it can be the key its supervisor waits for.
    micropython.kbd_intr(-1)
    _write(_conf["ready"])
    texts = _conf["texts"]
    mode = _conf["mode"]
    if mode != "repl":
        if mode == "soft":
            _write("\r\n" + _CLEAR_LINE + texts["auto_reload"] + "\r\n")
        ended = _run_code(texts)
        _write("\r\n" + texts["done"] + "\r\n")
        if ended == "done":
            if mode != "soft":
                _write(_CLEAR_LINE + texts["auto_reload"] + "\r\n")
            _write("\r\n" + texts["press_key"] + "\r\n")
            if sys.stdin.buffer.read(1) == b"\x04":
                ended = "reload"
        if ended == "reload":
            # The VM cannot exit from here (with -i, SystemExit ends the script only):
            # the bridge kills it and soft-reboots the board.
            _write(_conf["reload"])
            while True:
                time.sleep(1)
    _title("REPL")
    _write(_conf["repl"])
