"""Host functions passed to board code can be called back by the board.

    belay-hook run examples/13_callbacks/main.py --port emulator

Calls nest both ways (the board calls the host, which calls the board again),
and exceptions travel back in both directions.
"""

#@mcu
def scan(channels, on_reading):
    results = []
    for ch in channels:
        results.append(on_reading(ch, ch * 100))
    return results


#@mcu
def scale(value, factor):
    return value * factor


def on_reading(channel, raw):
    # runs on the host, called from the board, and calls the board again
    value = scale(raw, 0.5)
    print(f"host: channel {channel} read {raw}, scaled on the board to {value}")
    return value


print("results:", scan([1, 2, 3], on_reading))


def picky(channel, raw):
    if channel == 2:
        raise ValueError(f"host rejects channel {channel}")
    return raw


try:
    scan([1, 2], picky)
except ValueError as exc:
    print(f"the host's ValueError went through the board and back: {exc}")
