"""Exception classes of the board's own arrive as host classes that ``except`` can name."""

from __future__ import annotations

import traceback

import pytest

import belay_hook

SENSORS = """\
#@mcu
class SensorError(Exception):
    pass


#@mcu
class TooHot(SensorError):
    pass


#@mcu both
class Calibration(RuntimeError):
    pass


#@mcu
def read(channel):
    if channel == 9:
        raise TooHot("channel 9 too hot", 91)
    if channel < 0:
        raise SensorError("negative channel")
    if channel == 5:
        raise Calibration("not calibrated")
    return 20


#@mcu
def parse(text):
    class ParseError(ValueError):
        pass

    raise ParseError("cannot parse " + text)


#@mcu
def wrapped():
    class Quiet(SensorError):
        pass

    raise Quiet()


def host_check(channel):
    if channel > 100:
        raise SensorError("raised on the host")
    return read(channel)
"""


@pytest.fixture
def sensors(hook, modules):
    modules.write("sensors_exc", SENSORS)
    import sensors_exc

    return sensors_exc


def test_marked_exception_is_caught_by_name_with_args_and_board_frames(sensors) -> None:
    with pytest.raises(sensors.SensorError) as caught:
        sensors.read(-1)
    assert type(caught.value) is sensors.SensorError
    assert caught.value.args == ("negative channel",)
    frame = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert (frame.lineno, frame.line) == (21, 'raise SensorError("negative channel")')


def test_subclass_arrives_as_the_host_subclass(sensors) -> None:
    try:
        sensors.read(9)
    except sensors.SensorError as exc:  # what a user writes
        caught = exc
    assert type(caught) is sensors.TooHot
    assert caught.args == ("channel 9 too hot", 91)
    assert issubclass(sensors.TooHot, sensors.SensorError)


def test_host_code_raises_and_catches_the_same_class(sensors) -> None:
    with pytest.raises(sensors.SensorError, match="raised on the host"):
        sensors.host_check(101)
    assert sensors.host_check(1) == 20


def test_both_marked_exception_arrives_as_the_host_class(sensors) -> None:
    with pytest.raises(sensors.Calibration) as caught:
        sensors.read(5)
    assert type(caught.value) is sensors.Calibration and str(caught.value) == "not calibrated"


def test_unmarked_class_derived_from_a_builtin_is_that_builtin_on_the_host(sensors) -> None:
    with pytest.raises(ValueError) as caught:
        sensors.parse("x")
    exc = caught.value
    assert type(exc).__name__ == "ParseError" and str(exc) == "cannot parse x"
    assert isinstance(exc, belay_hook.McuError) and exc.type_name == "ParseError"
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    assert frame.line == 'raise ParseError("cannot parse " + text)'
    with pytest.raises(ValueError) as again:  # one host class per board class
        sensors.parse("y")
    assert type(again.value) is type(exc)


def test_unmarked_subclass_of_a_marked_class_is_caught_by_the_marked_name(sensors) -> None:
    with pytest.raises(sensors.SensorError) as caught:
        sensors.wrapped()
    assert type(caught.value).__name__ == "Quiet"
    assert isinstance(caught.value, belay_hook.McuError)


def test_same_class_name_in_two_modules_arrives_as_the_calling_modules_class(hook, modules) -> None:
    body = '#@mcu\nclass Fault(Exception):\n    pass\n\n#@mcu\ndef fail():\n    raise Fault("{}")\n'
    modules.write("pump_a", body.format("a"))
    modules.write("pump_b", body.format("b"))
    import pump_a
    import pump_b

    assert pump_a.Fault is not pump_b.Fault
    for module, text in ((pump_a, "a"), (pump_b, "b")):
        with pytest.raises(module.Fault, match=text) as caught:
            module.fail()
        assert type(caught.value) is module.Fault


def test_classes_are_forgotten_with_the_hook(micropython, modules) -> None:
    modules.write("gone", "#@mcu\nclass Gone(Exception):\n    pass\n")
    with belay_hook.install("emulator"):
        import gone  # noqa: F401
    exc = belay_hook.errors.board_exception("Gone Exception", ("x",))
    assert type(exc).__name__ == "Gone" and isinstance(exc, belay_hook.McuError)
