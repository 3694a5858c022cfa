# `supervisor` of the emulated CircuitPython board: the parts host tools touch.
import sys
import time


class _Runtime:
    serial_connected = True
    usb_connected = True
    autoreload = True


runtime = _Runtime()
_reloading = False


def reload():
    # At a REPL the VM exits and the emulator's bridge soft-reboots the board; from
    # code.py, circuitpython.supervise() sees the flag and has the bridge do so.
    global _reloading
    _reloading = True
    sys.exit()


def ticks_ms():
    return time.ticks_ms() & 0x1FFFFFFF  # CircuitPython's wraps at 2**29
