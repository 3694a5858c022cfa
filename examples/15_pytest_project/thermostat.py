"""A thermostat: the board reads the sensor and switches the heater; the host sets targets."""

#@mcu
from machine import ADC, Pin

SENSOR_PIN = 26
HEATER_PIN = 15
HYSTERESIS = 0.5  # degrees either side of the target before the heater switches


#@mcu setup
def setup():
    global sensor, heater, target
    sensor = ADC(SENSOR_PIN)
    heater = Pin(HEATER_PIN, Pin.OUT, value=0)
    target = 20.0


#@mcu
def set_target(celsius):
    global target
    target = celsius


#@mcu
def get_target():
    return target


#@mcu
def temperature():
    # A TMP36 on a 3.3 V ADC: 0.5 V at 0 degrees C, 10 mV per degree.
    volts = sensor.read_u16() * 3.3 / 65535
    return (volts - 0.5) * 100


#@mcu
def regulate():
    t = temperature()
    was = heater.value()
    if t < target - HYSTERESIS:
        heater.value(1)
    elif t > target + HYSTERESIS:
        heater.value(0)
    if heater.value() != was:
        print("heater", "on" if heater.value() else "off", "at", round(t, 1))
    return heater.value()


def reading_for(celsius):
    """The ADC count the sensor gives at `celsius` (host side: tests drive the input with it)."""
    return round((celsius / 100 + 0.5) * 65535 / 3.3)


def hold(celsius, steps):
    """Host-side schedule: set the target, then regulate `steps` times; the heater states."""
    set_target(celsius)
    return [regulate() for _ in range(steps)]
