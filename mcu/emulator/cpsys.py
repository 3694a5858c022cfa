# `sys` of the emulated CircuitPython board: the VM's own sys, whose implementation
# and platform circuitpython.install() then replaces by CircuitPython's (the VM's sys
# is read-only, so board code gets this module as sys.modules["sys"] instead).
import sys as _sys

for _name in dir(_sys):
    if _name[:2] != "__":
        globals()[_name] = getattr(_sys, _name)
__name__ = "sys"
del _sys, _name
