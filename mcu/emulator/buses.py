# I2C and SPI buses of the emulated board, with the virtual devices the host put on them
# (Emulator.add_i2c_device / add_spi_device, belay_hook/emulator/devices.py).
#
# Each device is a register map: registers at addresses, each holding bytes (one for a
# byte-wide register, two for a word...), read and written from a pointer that moves on
# by one per byte: from a register's start through its bytes into the next register's. The state folder's `buses` file is a log that the host
# and the board both append to, one line each: "host add i2c BUS ADDR", "host add spi
# BUS CS READ_BIT", "host def <i2c|spi> BUS ID ADDRESS HEX" (the register at ADDRESS
# holds these bytes now) and "board set <i2c|spi> BUS ID ADDRESS HEX" (bytes written
# from ADDRESS on), where ID is the I2C address or the SPI chip-select pin. Replaying it in order gives every device's
# registers, on the board as on the host, across resets: devices are not on the MCU.
_EIO = 5  # what an RP2040 raises when no device answers
_append = None  # adds a line to the log
_read_new = None  # the log's lines since last time
_pending = b""
_devices = {}  # (kind, bus, id) -> [registers dict, pointer, read bit, phase]


def attach(log):
    # `log`: the open log file (machine.py loads this module on first use, with it);
    # only closures keep it.
    global _append, _read_new
    log.seek(0)

    def _append(line):
        log.write(line.encode())
        log.flush()

    def _read_new():
        return log.read()


def _refresh():
    global _pending
    data = _read_new()
    if not data:
        return
    lines = (_pending + data).split(b"\n")
    _pending = lines.pop()
    for line in lines:
        words = line.decode().split()
        key = (words[2], int(words[3]), words[4])
        if words[1] == "add":
            _devices[key] = [{}, 0, int(words[5]) if words[2] == "spi" else 0, None]
        elif key in _devices:
            registers, address, data = _devices[key][0], int(words[5]), bytes.fromhex(words[6])
            if words[1] == "def":
                registers[address] = data
            else:
                _store(registers, address, data)


def _locate(registers, address):
    # (register, offset) holding the byte at `address`, None if none does.
    if address in registers:
        return address, 0
    below = [start for start in registers if start < address]
    start = max(below) if below else None
    if start is not None and address < start + len(registers[start]):
        return start, address - start
    return None


def _store(registers, address, data):
    # Bytes written from the start of a register overwrite its value from there on.
    found = _locate(registers, address)
    if found is None:
        registers[address] = data
    else:
        start, offset = found
        value = registers[start]
        registers[start] = value[:offset] + data + value[offset + len(data) :]


def _device(kind, bus, id):
    _refresh()
    return _devices.get((kind, bus, str(id)))


def _read(device, count):
    registers, address = device[0], device[1]
    device[1] = address + count
    out = b""
    while len(out) < count:
        found = _locate(registers, address)
        if found is None:
            out += b"\x00"  # nothing set there
            address += 1
        else:
            start, offset = found
            out += registers[start][offset : offset + count - len(out)]
            address = start + len(registers[start])
    return out


def _write(kind, bus, id, device, address, data):
    if data:
        _store(device[0], address, data)
        _append("board set %s %d %s %d %s\n" % (kind, bus, id, address, data.hex()))
    device[1] = address + len(data)


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self._bus = id

    def _answering(self, addr):
        device = _device("i2c", self._bus, addr)
        if device is None:
            raise OSError(_EIO)
        return device

    def scan(self):
        _refresh()
        return sorted(int(id) for kind, bus, id in _devices if kind == "i2c" and bus == self._bus)

    def writeto(self, addr, buf, stop=True):
        device = self._answering(addr)
        if buf:  # the first byte sets the register pointer, the rest are written
            _write("i2c", self._bus, addr, device, buf[0], bytes(buf[1:]))
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        return self.writeto(addr, b"".join(bytes(part) for part in vector), stop)

    def readfrom(self, addr, nbytes, stop=True):
        return _read(self._answering(addr), nbytes)

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self.readfrom(addr, len(buf))

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        _write("i2c", self._bus, addr, self._answering(addr), memaddr, bytes(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        device = self._answering(addr)
        device[1] = memaddr
        return _read(device, nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        buf[:] = self.readfrom_mem(addr, memaddr, len(buf))


class SPI:
    # A device takes part while its chip-select pin is low: the first byte is the
    # register address, with its read bit set to read; then bytes are read or written.
    # Without a selected device MISO stays low: reads return zeros.
    def __init__(self, id=0, *args, **kwargs):
        self._bus = id

    def init(self, *args, **kwargs):
        pass

    def deinit(self):
        pass

    def _exchange(self, out):
        _refresh()
        for (kind, bus, cs), device in _devices.items():
            if kind == "spi" and bus == self._bus and _selected(cs):
                return bytes(self._byte(cs, device, byte) for byte in out)
        return bytes(len(out))

    def _byte(self, cs, device, byte):
        if device[3] is None:  # the command byte
            device[3] = "read" if byte & device[2] else "write"
            device[1] = byte & ~device[2]
            return 0
        if device[3] == "read":
            return _read(device, 1)[0]
        _write("spi", self._bus, cs, device, device[1], bytes([byte]))
        return 0

    def write(self, buf):
        self._exchange(bytes(buf))

    def read(self, nbytes, write=0):
        return self._exchange(bytes([write]) * nbytes)

    def readinto(self, buf, write=0):
        buf[:] = self.read(len(buf), write)

    def write_readinto(self, write_buf, read_buf):
        read_buf[:] = self._exchange(bytes(write_buf))


class SoftI2C(I2C):
    # Bit-banged buses are bus -1 to the host.
    def __init__(self, scl=None, sda=None, *, freq=400000, timeout=50000):
        self._bus = -1


class SoftSPI(SPI):
    def __init__(self, *args, **kwargs):
        self._bus = -1


def _selected(cs):
    from machine import Pin

    pin = Pin._pins.get(int(cs) if cs.isdigit() else cs)  # [mode, pull, level, ...]
    return pin is not None and pin[0] != Pin.IN and pin[2] == 0


def chip_select(pin_id):
    # machine.Pin calls this when an output changes level: a chip select that does
    # starts or ends a transfer.
    for (kind, bus, cs), device in _devices.items():
        if kind == "spi" and cs == str(pin_id):
            device[3] = None
