"""`belay-hook devices` and USB selectors in ports.resolve, with fake pyserial port lists."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from serial.tools import list_ports

from belay_hook.board import ports
from belay_hook.cli import main
from belay_hook.errors import LinkError


def port(device: str, vid=None, pid=None, serial_number=None, description="n/a", **more):
    """What pyserial's ListPortInfo offers, as far as belay_hook reads it."""
    return SimpleNamespace(
        device=device, vid=vid, pid=pid, serial_number=serial_number, description=description,
        manufacturer=more.get("manufacturer"), product=more.get("product"),
    )  # fmt: skip


PICO = port("/dev/ttyACM0", 0x2E8A, 0x0005, "E660583883", "Board CDC", manufacturer="MicroPython")
PICO2 = port("/dev/ttyACM1", 0x2E8A, 0x0005, "E6605838AB", "Board CDC")
PYBOARD = port("/dev/ttyACM2", 0x1234, 0x5678, "3254335D3037", "Pyboard Virtual Comm Port",
               product="Board in FS mode")  # fmt: skip
UART = port("/dev/ttyUSB0", 0x10C4, 0xEA60, "0001", "CP2102 USB to UART Bridge Controller")
LEGACY = port("/dev/ttyS0")


@pytest.fixture
def attached(monkeypatch: pytest.MonkeyPatch):
    """Set the ports pyserial reports: ``attached(PICO, UART)``."""
    monkeypatch.delenv("BELAY_HOOK_PORT", raising=False)

    def set_ports(*found: SimpleNamespace) -> None:
        monkeypatch.setattr(list_ports, "comports", lambda: list(found))

    return set_ports


def test_listing_marks_boards(attached, capsys: pytest.CaptureFixture) -> None:
    attached(UART, PYBOARD, PICO, LEGACY)
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["DEVICE", "VID:PID", "SERIAL", "DESCRIPTION"]
    assert [line.split()[:4] for line in lines[1:5]] == [  # sorted by device, boards starred
        ["*", "/dev/ttyACM0", "2e8a:0005", "E660583883"],
        ["*", "/dev/ttyACM2", "1234:5678", "3254335D3037"],  # unknown vendor, "Board in FS mode"
        ["/dev/ttyS0", "-", "-", "-"],
        ["/dev/ttyUSB0", "10c4:ea60", "0001", "CP2102"],  # a USB-serial chip: could be anything
    ]
    assert lines[1].endswith("Board CDC")
    assert "--port usb:2e8a:0005:E660583883" in lines[-1]


def test_json_listing(attached, capsys: pytest.CaptureFixture) -> None:
    attached(PICO, UART)
    assert main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["device"] for d in data] == ["/dev/ttyACM0", "/dev/ttyUSB0"]
    pico, uart = data
    assert pico["usb_id"] == "2e8a:0005" and pico["vid"] == 0x2E8A and pico["pid"] == 5
    assert pico["serial_number"] == "E660583883" and pico["manufacturer"] == "MicroPython"
    assert pico["board"] is True and pico["vendor"] == "Raspberry Pi"
    assert pico["selector"] == "usb:2e8a:0005:E660583883"
    assert uart["board"] is False and uart["vendor"] is None


def test_no_ports(attached, capsys: pytest.CaptureFixture) -> None:
    attached()
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.startswith("No serial ports found")
    assert main(["devices", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    "selector, device",
    [
        ("usb:2e8a:0005:E660583883", "/dev/ttyACM0"),
        ("usb:2E8A:0005:e660583883", "/dev/ttyACM0"),  # IDs and serials ignore case
        ("usb:0x10c4:0xea60", "/dev/ttyUSB0"),
        ("usb:1234", "/dev/ttyACM2"),
        ("serial:E6605838AB", "/dev/ttyACM1"),
        ("/dev/ttyACM1", "/dev/ttyACM1"),  # paths, URLs and the emulator pass through
        ("socket://localhost:2217", "socket://localhost:2217"),
        ("emulator", "emulator"),
    ],
)
def test_selector_picks_one_port(attached, selector: str, device: str) -> None:
    attached(PICO, PICO2, PYBOARD, UART)
    assert ports.resolve(selector) == device


def test_selector_from_environment(attached, monkeypatch: pytest.MonkeyPatch) -> None:
    attached(PICO, UART)
    monkeypatch.setenv("BELAY_HOOK_PORT", "serial:0001")
    assert ports.resolve() == "/dev/ttyUSB0"


def _error(selector: str) -> str:
    with pytest.raises(LinkError) as info:
        ports.resolve(selector)
    return str(info.value)


def test_several_matches_list_them(attached) -> None:
    attached(PICO, PICO2, UART)
    message = _error("usb:2e8a:0005")
    assert message.startswith("usb:2e8a:0005: 2 ports match, add the serial number")
    assert "/dev/ttyACM0, 2e8a:0005, serial E660583883 (Board CDC)" in message
    assert "/dev/ttyACM1, 2e8a:0005, serial E6605838AB (Board CDC)" in message
    assert "ttyUSB0" not in message


def test_no_match_lists_what_is_attached(attached) -> None:
    attached(PICO, UART)
    message = _error("usb:2e8a:000a")
    assert "no attached port matches" in message
    assert "/dev/ttyACM0, 2e8a:0005, serial E660583883 (Board CDC)" in message
    assert "/dev/ttyUSB0, 10c4:ea60, serial 0001 (CP2102 USB to UART Bridge Controller)" in message
    attached()
    assert "no serial ports at all" in _error("serial:E660583883")


@pytest.mark.parametrize("selector", ["usb:", "usb:pico", "usb:12345", "serial:"])
def test_malformed_selector(attached, selector: str) -> None:
    attached(PICO)
    assert "bad selector" in _error(selector)


def test_auto_detection_uses_description_hints(attached, tmp_path) -> None:
    attached(UART, PYBOARD)
    assert ports.resolve(start=tmp_path) == "/dev/ttyACM2"
    attached(PICO, PYBOARD)
    with pytest.raises(LinkError, match="several boards.*ttyACM0.*ttyACM2"):
        ports.resolve(start=tmp_path)


def test_cli_reports_a_selector_error(attached, capsys: pytest.CaptureFixture) -> None:
    attached(UART)
    assert main(["exec", "print(1)", "--port", "usb:2e8a"]) == 1
    assert "belay-hook exec: usb:2e8a: no attached port matches" in capsys.readouterr().err


def test_usb_boards(attached) -> None:
    attached(PICO, UART, PYBOARD, LEGACY)
    assert [d.device for d in ports.usb_boards()] == ["/dev/ttyACM0", "/dev/ttyACM2"]


class TestMpremoteNames:
    """mpremote's port names work wherever a port is taken."""

    @pytest.mark.parametrize(
        "name, device",
        [
            ("a0", "/dev/ttyACM0"),
            ("a99", "/dev/ttyACM99"),
            ("u1", "/dev/ttyUSB1"),
            ("c3", "COM3"),
            ("port:/dev/serial/by-id/usb-pico", "/dev/serial/by-id/usb-pico"),
            ("port:a0", "a0"),  # port: takes the rest as it is, shortcut or not
            ("id:E6605838AB", "/dev/ttyACM1"),
            ("id:0001", "/dev/ttyUSB0"),
            ("a100", "a100"),  # no shortcut: a device name
        ],
    )
    def test_names(self, attached, name: str, device: str) -> None:
        attached(PICO, PICO2, UART)
        assert ports.resolve(name) == device

    def test_id_that_matches_nothing_lists_what_is_attached(self, attached) -> None:
        attached(PICO)
        message = _error("id:NOPE")
        assert message.startswith("id:NOPE: no attached port matches")
        assert "serial E660583883" in message
        assert "bad selector" in _error("id:") and "bad selector" in _error("port:")

    def test_auto_finds_the_one_board(self, attached, monkeypatch: pytest.MonkeyPatch) -> None:
        attached(UART, PICO)
        assert ports.resolve("auto") == "/dev/ttyACM0"
        monkeypatch.setenv("BELAY_HOOK_PORT", "auto")
        assert ports.resolve() == "/dev/ttyACM0"

    def test_shortcut_from_pyproject(self, attached, tmp_path) -> None:
        attached()
        (tmp_path / "pyproject.toml").write_text('[tool.belay_hook]\nport = "u2"\n')
        assert ports.resolve(start=tmp_path) == "/dev/ttyUSB2"

    def test_cli_names_the_shortcut_device(self, attached, capsys: pytest.CaptureFixture) -> None:
        attached()
        assert main(["exec", "print(1)", "--port", "a97"]) == 1
        assert "/dev/ttyACM97: no such port" in capsys.readouterr().err
