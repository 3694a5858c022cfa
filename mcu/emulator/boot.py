# Boots the emulated board: the unix VM runs this (`micropython -i boot.py FLASH STATE`,
# from this folder) before its REPL, so that what follows sees a board, not the host.
# Its modules are imported by relative name, which is all a board traceback shows of them.
import os
import sys


def _boot(flash, state):
    # Both modules sit in the VM's working folder; they must be imported, and the state
    # files opened, while the host's / is still mounted. Found through "" rather than
    # the script's folder, a board traceback names them without the host path.
    sys.path[0] = ""
    import flash as flash_fs
    import machine

    del sys.modules["flash"]  # a board has no such module; the mount keeps what it needs
    machine._attach(state)
    os.umount("/")
    os.mount(flash_fs.Flash(flash), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.argv[:] = []


_boot(sys.argv[1], sys.argv[2])
del _boot, os, sys, __file__
