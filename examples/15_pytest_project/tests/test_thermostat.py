"""The thermostat driver, on the emulator by default (`pytest --board PORT`: a real board)."""

import pytest


def test_heats_when_cold(board, capsys):
    import thermostat

    board.emulator.set_input(thermostat.SENSOR_PIN, thermostat.reading_for(15.0))
    assert thermostat.regulate() == 1
    assert board.emulator.pins[thermostat.HEATER_PIN] == 1
    assert capsys.readouterr().out == "heater on at 15.0\n"  # the board's print()


def test_stops_heating_once_warm(board):
    import thermostat

    board.emulator.set_input(thermostat.SENSOR_PIN, thermostat.reading_for(15.0))
    thermostat.regulate()
    board.emulator.set_input(thermostat.SENSOR_PIN, thermostat.reading_for(25.0))
    assert thermostat.regulate() == 0
    assert board.emulator.pin_history(thermostat.HEATER_PIN) == [0, 1, 0]


@pytest.mark.parametrize(("celsius", "heater"), [(19.6, 0), (20.4, 0), (19.4, 1)])
def test_hysteresis_keeps_the_heater_as_it_was(board, celsius, heater):
    import thermostat

    board.emulator.set_input(thermostat.SENSOR_PIN, thermostat.reading_for(celsius))
    assert thermostat.regulate() == heater


def test_each_test_starts_from_a_fresh_board(board):
    import thermostat

    assert thermostat.get_target() == 20.0  # setup ran again; no test before us leaks
    assert board.emulator.pin_history(thermostat.HEATER_PIN) == [0]
    thermostat.set_target(30.0)


def test_host_schedule_runs_against_the_board(board):
    import thermostat

    board.emulator.set_input(thermostat.SENSOR_PIN, thermostat.reading_for(21.0))
    assert thermostat.hold(25.0, 2) == [1, 1]
    assert thermostat.get_target() == 25.0


@pytest.mark.hardware
def test_sensor_reads_a_room_temperature(board):
    import thermostat

    assert 5.0 < thermostat.temperature() < 40.0
