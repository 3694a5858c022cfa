# Virtual `machine` module of the belay_hook emulator (runs on the MicroPython unix VM);
# its I2C and SPI buses are in buses.py, loaded on first use: the VM's heap is the
# board's, and most programs use no bus.
#
# Output pin changes are appended to the emulator's `pins` file and input levels come
# from its `inputs` file, both in a state folder outside flash: boot.py has this module
# open them before flash is mounted as /, so board code cannot reach them by path, and
# only closures hold them, so it cannot take them from here either.
# Lines are "<pin> <value> <time_ns>" (pins) and "<pin> <value>" (inputs).
import sys
import time
import _thread
import micropython

_HARD_RESET = 99  # exit status the emulator's bridge reads as a hard reset
_ALIASES = {"LED": 25}  # as on a Raspberry Pi Pico
_emit = None  # writes a line to the pins file
_read_inputs = None  # what the host appended to the inputs file since last time
_load_buses = None  # buses.py's names, its log attached
_buses = None
_pending = b""
_levels = {}
_freq = 125_000_000


def _attach(state):
    global _emit, _read_inputs, _load_buses
    import os

    events = open(state + "/pins", "a")
    inputs = open(state + "/inputs", "rb")
    host = os.VfsPosix()  # for buses.py and its log, after flash is mounted as /
    folder = host.getcwd()

    def _emit(line):
        events.write(line)

    def _read_inputs():
        return inputs.read()

    def _load_buses():
        with host.open(folder + "/buses.py", "r") as source:
            code = compile(source.read(), "buses.py", "exec")
        names = {"__name__": "buses"}
        exec(code, names)
        names["attach"](host.open(state + "/buses", "a+b"))
        return names


def __getattr__(name):
    # I2C, SPI, SoftI2C and SoftSPI: buses.py, loaded on first use.
    global _buses
    if name not in ("I2C", "SPI", "SoftI2C", "SoftSPI"):
        raise AttributeError(name)
    if _buses is None:
        _buses = _load_buses()
    globals()[name] = _buses[name]
    return _buses[name]


_read_lock = _thread.allocate_lock()  # the irq watcher thread reads inputs too
_watched = {}  # pin id -> [Pin, last level] for pins with an irq handler


def _input(pin_id, default):
    # The host only ever appends, so read what is new since last time.
    global _pending
    with _read_lock:
        data = _read_inputs()
        if data:
            lines = (_pending + data).split(b"\n")
            _pending = lines.pop()
            for line in lines:
                key, value = line.split()
                _levels[key.decode()] = int(value)
        return _levels.get(str(pin_id), default)


def _watch_irqs():
    # Poll the input levels and schedule handlers on the edges they asked for,
    # so they run between bytecodes of the main program, as a soft pin IRQ does.
    while _watched:
        for pin_id in list(_watched):
            entry = _watched.get(pin_id)
            if entry is None:
                continue
            pin, last = entry
            level = pin.value()
            if level != last:
                entry[1] = level
                handler, trigger = pin._irq
                if trigger & (Pin.IRQ_RISING if level else Pin.IRQ_FALLING):
                    try:
                        micropython.schedule(handler, pin)
                    except RuntimeError:
                        pass  # queue full: the edge is lost, as on a busy board
        time.sleep_ms(2)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8
    # What the hardware keeps per pin, shared by every Pin object of it:
    # [mode, pull, level set, level last reported to the host].
    _pins = {}

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self._id = _ALIASES.get(id, id)
        self._pin = Pin._pins.get(self._id)
        if self._pin is None:
            self._pin = Pin._pins[self._id] = [Pin.IN, None, 0, None]
        self._irq = None
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        pin = self._pin
        if mode != -1:
            pin[0] = mode
        if pull != -1:
            pin[1] = pull
        if value is not None:
            pin[2] = 1 if value else 0
        self._report()

    def _report(self):
        pin = self._pin
        if pin[0] != Pin.IN and pin[3] != pin[2]:
            pin[3] = pin[2]
            _emit("%s %d %d\n" % (self._id, pin[2], time.time_ns()))
            if _buses is not None:
                _buses["chip_select"](self._id)

    def value(self, v=None):
        pin = self._pin
        if v is None:
            if pin[0] == Pin.IN:
                return _input(self._id, 1 if pin[1] == Pin.PULL_UP else 0)
            return pin[2]
        pin[2] = 1 if v else 0
        self._report()

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - self._pin[2])

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=False):
        # Edges of an input driven by Emulator.set_input call `handler(pin)`.
        self._irq = (handler, trigger)
        if handler is None:
            _watched.pop(self._id, None)
            return
        start = not _watched
        _watched[self._id] = [self, self.value()]
        if start:
            _thread.start_new_thread(_watch_irqs, ())

    def __repr__(self):
        return "Pin(%r)" % (self._id,)


class ADC:
    # read_u16() returns what the host set with Emulator.set_input(pin, value).
    def __init__(self, pin):
        self._id = pin._id if isinstance(pin, Pin) else pin

    def read_u16(self):
        return _input(self._id, 0) & 0xFFFF


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None, duty_ns=None, invert=False):
        self._pin = pin
        self._freq = 1000
        self._duty = 0
        self.init(freq=freq, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, *, freq=None, duty_u16=None, duty_ns=None, invert=False):
        if freq is not None:
            self._freq = freq
        if duty_u16 is not None:
            self._duty = duty_u16
        if duty_ns is not None:
            self.duty_ns(duty_ns)

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        self._duty = value

    def duty_ns(self, value=None):
        if value is None:
            return self._duty * 1_000_000_000 // (65535 * self._freq)
        self._duty = min(65535, value * self._freq * 65535 // 1_000_000_000)

    def deinit(self):
        self._duty = 0


class Timer:
    # Each init() starts a thread that sleeps and schedules the callback, so it runs
    # between bytecodes of the main program, as a soft timer IRQ does on a board.
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kwargs):
        self._generation = 0
        if kwargs:
            self.init(**kwargs)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None, tick_hz=1000):
        self.deinit()
        if freq > 0:
            period_ms = 1000 // freq
        else:
            period_ms = period * 1000 // tick_hz
        args = (self._generation, max(1, period_ms), mode == Timer.PERIODIC, callback)
        _thread.start_new_thread(self._run, args)

    def _run(self, generation, period_ms, periodic, callback):
        due = time.ticks_ms()
        while True:
            due = time.ticks_add(due, period_ms)
            time.sleep_ms(max(0, time.ticks_diff(due, time.ticks_ms())))
            if self._generation != generation:
                return
            if callback is not None:
                try:
                    micropython.schedule(callback, self)
                except RuntimeError:
                    pass  # schedule queue full: this tick is lost, as an overrun would be
            if not periodic:
                return

    def deinit(self):
        self._generation += 1


def unique_id():
    return b"\xbe\x1a\xe0\x00\x00\x00\x00\x01"


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def reset():
    sys.exit(_HARD_RESET)


def soft_reset():
    sys.exit()


def idle():
    time.sleep_ms(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    start = time.ticks_us()
    while pin.value() != pulse_level:
        if time.ticks_diff(time.ticks_us(), start) > timeout_us:
            return -2
    start = time.ticks_us()
    while pin.value() == pulse_level:
        if time.ticks_diff(time.ticks_us(), start) > timeout_us:
            return -1
    return time.ticks_diff(time.ticks_us(), start)
