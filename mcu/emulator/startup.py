# Runs flash's boot.py and main.py as MicroPython firmware does after a reset: both
# after power-up, a hard reset or a soft reboot to the friendly REPL; boot.py only after
# a soft reboot in the raw REPL. Then the VM's REPL starts.
#
# Marks in the output tell the bridge (belay_hook/emulator/startup.py) where this
# starts, where the REPL's banner comes, or that a file asked for a soft reboot or a
# hard reset: sys.exit() in a file the VM's -i script runs cannot end the VM.
import io
import micropython
import sys
import time

_READY = "\x1b_belay:ready\x1b\\"
_REPL = "\x1b_belay:repl\x1b\\"
_RELOAD = "\x1b_belay:reload\x1b\\"
_RESET = "\x1b_belay:reset\x1b\\"
_HARD_RESET = 99  # machine.reset()
_OWN_FRAME = '  File "startup.py"'


def _exists(name):
    try:
        open(name).close()
        return True
    except OSError:
        return False


def _run_file(name, main_globals):
    # Ctrl-C interrupts board code only; elsewhere it is input for the REPL.
    try:
        micropython.kbd_intr(3)
        execfile(name, main_globals)
        micropython.kbd_intr(-1)
    except SystemExit as e:
        micropython.kbd_intr(-1)
        code = e.args[0] if e.args else 0
        sys.stdout.write(_RESET if code == _HARD_RESET else _RELOAD)
        while True:
            time.sleep(1)  # the bridge replaces this VM
    except BaseException as e:  # noqa: B036 (KeyboardInterrupt too, as firmware)
        micropython.kbd_intr(-1)
        trace = io.StringIO()
        sys.print_exception(e, trace)
        for line in trace.getvalue().split("\n")[:-1]:
            if not line.startswith(_OWN_FRAME):  # the board shows the file's frames only
                print(line)


def run(mode, main_globals):
    micropython.kbd_intr(-1)
    names = ("boot.py",) if mode == "raw" else ("boot.py", "main.py")
    names = [name for name in names if _exists(name)]
    sys.stdout.write(_READY)  # the bridge's boot is over: files written from now on wait
    for name in names:  # for the next reset
        _run_file(name, main_globals)
    sys.stdout.write(_REPL)
