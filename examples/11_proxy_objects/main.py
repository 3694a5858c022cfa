"""Board values that cannot be copied to the host come back as proxies.

    belay-hook run examples/11_proxy_objects/main.py --port emulator

A proxy forwards attributes, items, calls, iteration, len and comparisons to
the board object, can be passed back to board functions, and frees the board
object when the host drops it.
"""

#@mcu
class Sensor:
    def __init__(self, name):
        self.name = name
        self.readings = []

    def record(self, value):
        self.readings.append(value)


#@mcu
def registry():
    return set()


#@mcu
def make_sensor(name):
    return Sensor(name)


#@mcu
def average(sensor):
    return sum(sensor.readings) / len(sensor.readings)


seen = registry()  # a board set: sets do not cross, so this is a proxy
seen.add("left")
seen.add("right")
print(f"board set: {seen!r}, len {len(seen)}, 'left' in it: {'left' in seen}")

sensor = make_sensor("kitchen")  # an instance of a board class, as a proxy
for value in (20.5, 21.0, 22.5):
    sensor.record(value)
print(f"{sensor.name}: readings {list(sensor.readings)}, average {average(sensor):.2f}")
