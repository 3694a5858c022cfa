# Boots the emulated board: the unix VM runs this (`micropython -i boot.py FLASH STATE`,
# from this folder) before its REPL, so that what follows sees a board, not the host.
# Its modules are imported by relative name, which is all a board traceback shows of them.
# `... STATE circuitpython MODE` boots the CircuitPython flavour (circuitpython.py).
import os
import sys


def _boot(flash, state, flavour="micropython", mode=""):
    # Both modules sit in the VM's working folder; they must be imported, and the state
    # files opened, while the host's / is still mounted. Found through "" rather than
    # the script's folder, a board traceback names them without the host path.
    sys.path[0] = ""
    import flash as flash_fs
    import machine
    import sandbox

    del sys.modules["flash"], sys.modules["sandbox"]  # a board has neither
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
    return cp.supervise if circuitpython else None


_supervise = _boot(*sys.argv[1:])
if _supervise:
    _supervise()
del _boot, _supervise, os, sys, __file__
