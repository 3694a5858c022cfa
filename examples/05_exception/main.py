"""Exceptions raised on the board arrive on the host as themselves.

    belay-hook run examples/05_exception/main.py --port emulator

The type stays (ValueError, KeyError, OSError with its errno, ...), and the
traceback points at this file's lines, as if the board code ran here. An exception
class marked for the board is a real exception class on the host too, caught by
name; a board class derived from a builtin one is caught as that builtin.
"""

import traceback


#@mcu
def read_sensor(channel):
    if channel not in (0, 1, 2):
        raise ValueError(f"no sensor on channel {channel}")
    return 20 + channel


#@mcu
class SensorError(Exception):
    """The sensor answered, but with nonsense."""


#@mcu
def read_humidity(channel):
    value = 140 if channel == 2 else 40
    if value > 100:
        raise SensorError("humidity out of range", channel, value)
    return value


#@mcu
def parse_reading(text):
    class ReadingError(ValueError):
        pass

    if not text.isdigit():
        raise ReadingError("not a number: " + text)
    return int(text)


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

for channel in (1, 2):
    try:
        print(f"humidity {channel}: {read_humidity(channel)}%")
    except SensorError as exc:
        print(f"humidity {channel}: SensorError{exc.args}")

try:
    parse_reading("4x2")
except ValueError as exc:
    print(f"parse_reading: caught as ValueError: {type(exc).__name__}: {exc}")
