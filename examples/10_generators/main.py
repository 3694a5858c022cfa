"""Board generators stream to the host: each value arrives as the board yields it.

    belay-hook run examples/10_generators/main.py --port emulator

The board runs only as fast as the host takes values, and stopping early
(break, close(), or dropping the generator) stops the board's generator too.
send() and throw() reach the board's yield, and what the board generator
returns is what `yield from` gives the host.
"""

import time

#@mcu
import time as board_time

#@mcu
from machine import ADC


#@mcu
def sample(channel, count, period_ms):
    adc = ADC(channel)
    for i in range(count):
        yield i, adc.read_u16()
        board_time.sleep_ms(period_ms)


#@mcu
def echo():
    total = 0
    while True:
        got = yield
        if got is None:
            return total
        print("Device:", got)
        total += len(got)


#@mcu
def countdown(n):
    while n > 0:
        yield n
        n -= 1


start = time.monotonic()
for i, reading in sample(26, 5, 50):
    print(f"{time.monotonic() - start:5.2f}s  sample {i}: {reading}")

print("countdown:", list(countdown(5)))

for n in countdown(1_000_000):  # stopping early stops the board too
    if n < 999_998:
        break
print("stopped early at", n)

talker = echo()
next(talker)  # run to the first yield
talker.send("foo")
talker.send("bar")


def relay():
    chars = yield from echo()  # what the board generator returns
    print("host: the board counted", chars, "characters")


host_side = relay()
next(host_side)
for word in ("hello", "world"):
    host_side.send(word)  # passes through yield from to the board
try:
    host_side.send(None)  # echo() returns, and so does relay()
except StopIteration:
    pass
