"""`belay_hook.strategies` used as the README shows it, in a user's own property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from belay_hook.strategies import GeneratedModule, check_split, modules


@settings(max_examples=15, deadline=None)
@given(modules())
def test_check_split_takes_a_drawn_module_as_it_takes_its_source(module: GeneratedModule) -> None:
    assert check_split(module).exports == check_split(module.source).exports == module.exports


def test_check_split_of_something_else_names_what_it_takes() -> None:
    with pytest.raises(TypeError, match=r"source text \(str\) or a drawn module, not bytes"):
        check_split(b"#@mcu\ndef f():\n    pass\n")  # type: ignore[arg-type]
