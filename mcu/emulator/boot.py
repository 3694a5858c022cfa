# Boots the emulated board: the unix VM runs this (`micropython -i boot.py FLASH STATE`,
# from this folder) before its REPL, so that what follows sees a board, not the host.
# Its modules are imported by relative name, which is all a board traceback shows of them.
# `... STATE FLAVOUR MODE`: "micropython" runs flash's boot.py and main.py after MODE
# (startup.py), "circuitpython" boots that flavour (circuitpython.py). MODE "spare": the
# bridge starts this VM ahead of the next reset and names the mode, one line on stdin,
# when that reset comes; so a reset does not wait for a process to start.
import os
import sys


def _boot(flash, state, flavour, mode):
    # Its modules sit in the VM's working folder; they must be imported, and the state
    # files opened, while the host's / is still mounted. Found through "" rather than
    # the script's folder, a board traceback names them without the host path.
    sys.path[0] = ""
    import flash as flash_fs
    import machine
    import sandbox
    import startup

    if mode == "spare":
        mode = sys.stdin.readline().strip()
    for name in ("flash", "sandbox", "startup"):
        del sys.modules[name]  # a board has none of them
    machine._attach(state)
    circuitpython = flavour == "circuitpython"
    if circuitpython:
        import circuitpython as cp

        del sys.modules["circuitpython"]
        cp.install(state, mode)
    os.umount("/")
    os.mount(flash_fs.Flash(flash), "/", readonly=circuitpython)
    os.chdir("/")
    sys.path[:] = ["", "/", ".frozen", "/lib"] if circuitpython else ["", ".frozen", "/lib"]
    sys.argv[:] = []
    sandbox.close()
    if circuitpython:
        return lambda main_globals: cp.supervise()
    return lambda main_globals: startup.run(mode, main_globals)


_start = _boot(*sys.argv[1:])
del _boot, os, sys, __file__
__import__("gc").collect()  # booting's garbage, scattered over the heap, goes first
_start(globals())  # board code runs in the REPL's globals, as on firmware
del _start
