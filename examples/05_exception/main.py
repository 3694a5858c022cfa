"""Exceptions raised on the board arrive on the host as themselves.

    belay-hook run examples/05_exception/main.py --port emulator

The type stays (ValueError, KeyError, OSError with its errno, ...), and the
traceback points at this file's lines, as if the board code ran here.
"""

import traceback


#@mcu
def read_sensor(channel):
    if channel not in (0, 1, 2):
        raise ValueError(f"no sensor on channel {channel}")
    return 20 + channel


#@mcu
def open_log():
    return open("/no/such/log.txt")


for channel in (1, 7):
    try:
        print(f"channel {channel}: {read_sensor(channel)}")
    except ValueError as exc:
        print(f"channel {channel}: {exc!r}")
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"  raised on the board at {frame.filename}:{frame.lineno}: {frame.line}")

try:
    open_log()
except OSError as exc:
    print(f"open_log: OSError errno {exc.errno} ({exc.strerror})")
