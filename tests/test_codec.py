"""The value codec: hypothesis round trips on the host, and through the real board's agent."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belay_hook.rpc import codec

# Strings the board can hold: any code point but lone surrogates (not UTF-8).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
    | st.binary(max_size=64)
    | st.binary(max_size=64).map(bytearray)
)
keys = st.none() | st.booleans() | st.integers() | texts | st.binary(max_size=16)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(keys, inner, max_size=5)
        | st.sets(keys, max_size=5)
    ),
    max_leaves=30,
)


def same(a: object, b: object) -> bool:
    """Equal, of the same types all the way down; NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    return a == b


def encoded(value: object) -> bytes:
    out: list = []
    codec.encode(value, out)
    return b"".join(out)


@given(values)
def test_host_round_trip(value: object) -> None:
    data = encoded(value)
    back, end = codec.decode(data)
    assert end == len(data)
    assert same(back, value)


@given(st.binary(max_size=200))
def test_garbage_never_crashes_the_decoder(data: bytes) -> None:
    try:
        codec.decode(data)
    except codec.DecodeError:
        pass


def test_what_cannot_cross_is_named() -> None:
    with pytest.raises(TypeError, match=r"value\[1\]: frozenset cannot cross"):
        codec.encode([1, frozenset({2})], [])
    with pytest.raises(TypeError, match="surrogates"):
        codec.encode("\ud800", [])


@pytest.fixture(scope="module")
def echo_board(micropython, tmp_path_factory):
    """One board for the whole module: hypothesis makes many calls."""
    import sys

    import belay_hook

    folder = tmp_path_factory.mktemp("codec")
    (folder / "codec_echo.py").write_text("#@mcu\ndef echo(x):\n    return x\n")
    sys.path.insert(0, str(folder))
    with belay_hook.install("emulator"):
        import codec_echo

        yield codec_echo
    sys.path.remove(str(folder))
    sys.modules.pop("codec_echo", None)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values)
def test_board_round_trip(echo_board, value: object) -> None:
    assert same(echo_board.echo(value), value)


def test_all_bytes_and_all_code_points_cross_the_board(echo_board) -> None:
    every_byte = bytes(range(256)) * 4
    assert echo_board.echo(every_byte) == every_byte
    text = "".join(chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000)
    for start in range(0, len(text), 4096):  # in slices: all of it is more than the heap
        assert echo_board.echo(text[start : start + 4096]) == text[start : start + 4096]
