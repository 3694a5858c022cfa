"""Marker mistakes a user makes: each is an error at its file and line, never code
quietly running on the host instead of the board."""

from __future__ import annotations

import subprocess
import sys

import pytest

from belay_hook import MarkerError

TYPOS = ["#@MCU", "#@Mcu", "# @MCU", "#@ mcu", "# @ mcu", "#  @mcu"]


@pytest.mark.parametrize("marker", TYPOS)
def test_a_misspelt_marker_is_an_error_at_its_line(modules, hook, marker: str) -> None:
    modules.write("typo_led", f"X = 1\n{marker}\ndef on():\n    return 1\n")
    with pytest.raises(MarkerError, match=r"did you mean '#@mcu'") as info:
        import typo_led  # noqa: F401
    assert (info.value.filename, info.value.lineno) == (str(modules.path / "typo_led.py"), 2)
    assert "typo_led" not in sys.modules


def test_bundle_names_a_misspelt_marker(modules) -> None:
    path = modules.write("typo_cli", "#@MCU setup\ndef setup():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "belay_hook", "bundle", path],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{path}:1: MarkerError: unknown marker '#@MCU'")


def test_words_that_only_mention_mcu_are_no_markers(modules, hook) -> None:
    modules.write(
        "mentions",
        "# the @MCU side is below\n# email: dev@mcu.example\nX = '#@MCU'\n"
        "#@mcu\ndef on():\n    return 1\n",
    )
    import mentions

    assert mentions.on() == 1
