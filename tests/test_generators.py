"""Board generators behave as CPython generators do, end to end on the emulated board.

Each case runs the same generator function twice: on the board through the hook,
and on the host as plain Python (the oracle); both must tell the same story.
"""

from __future__ import annotations

import gc
import inspect

import pytest

import belay_hook
from belay_hook.rpc import ops

GENS = """
#@mcu
LOG = []

#@mcu
def echo():
    got = None
    while got != "stop":
        got = yield "Device: " + str(got)
        LOG.append(got)
    return "echo done"

#@mcu
def catcher():
    n = 0
    while True:
        try:
            yield n
        except ValueError as e:
            n += 100
            LOG.append("caught " + str(e))
        except KeyError:
            return "returned on KeyError"

#@mcu
def closer(stubborn):
    try:
        yield 1
        yield 2
    except GeneratorExit:
        LOG.append("GeneratorExit")
        if stubborn:
            yield "I will not stop"
        raise

#@mcu
def inner():
    got = yield "inner first"
    try:
        yield "inner got " + str(got)
    except ValueError as e:
        yield "inner caught " + str(e)
    return "inner result"

#@mcu
def outer():
    result = yield from inner()
    yield "outer saw " + str(result)
    return ["outer", "result"]

#@mcu
def squares(n):
    try:
        for i in range(n):
            yield i * i
    finally:
        LOG.append("squares closed")

#@mcu
def log():
    return LOG

#@mcu
def converter():
    try:
        yield 1
    except ValueError as e:
        raise RuntimeError("converted " + str(e))

#@mcu
def total(numbers):
    return sum(numbers)
"""


@pytest.fixture
def gens(hook, modules):
    modules.write("gens", GENS)
    import gens

    return gens


@pytest.fixture
def local(modules):
    """The same functions run as plain host Python: the oracle."""
    namespace: dict = {}
    exec(GENS, namespace)  # noqa: S102 - the test's own source
    return namespace


def story(gen, steps):
    """Drive ``gen`` through ``steps`` and record what each step gave or raised."""
    out = []
    for method, arg in steps:
        try:
            if method == "next":
                out.append(("yield", next(gen)))
            elif method == "send":
                out.append(("yield", gen.send(arg)))
            elif method == "throw":
                out.append(("yield", gen.throw(arg)))
            else:
                out.append(("closed", gen.close()))
        except StopIteration as stop:
            out.append(("return", stop.value))
        except Exception as exc:  # noqa: BLE001 - the story records it
            out.append((type(exc).__name__, str(exc)))
    return out


def same_story(board_fn, host_fn, steps, args=()):
    board = story(board_fn(*args), steps)
    host = story(host_fn(*args), steps)
    assert board == host
    return board


def test_what_the_host_gets_is_a_generator(gens) -> None:
    assert inspect.isgenerator(gens.echo())


def test_send_reaches_the_board(gens, local) -> None:
    told = same_story(
        gens.echo,
        local["echo"],
        [("next", None), ("send", "bar"), ("send", 3), ("send", "stop"), ("next", None)],
    )
    assert told[1] == ("yield", "Device: bar")
    assert told[3] == ("return", "echo done")
    assert gens.log() == ["bar", 3, "stop"]


def test_send_to_a_fresh_generator_refuses_like_cpython(gens, local) -> None:
    told = same_story(gens.echo, local["echo"], [("send", "early"), ("next", None)])
    assert told[0][0] == "TypeError"


def test_throw_is_seen_at_the_board_yield(gens, local) -> None:
    told = same_story(
        gens.catcher,
        local["catcher"],
        [
            ("next", None),
            ("throw", ValueError("one")),
            ("throw", ValueError("two")),
            ("throw", KeyError("k")),
            ("next", None),
        ],
    )
    assert told[1:4] == [("yield", 100), ("yield", 200), ("return", "returned on KeyError")]
    assert gens.log() == ["caught one", "caught two"]


def test_throw_not_caught_comes_back_as_the_same_exception(gens) -> None:
    class Unknown(Exception):
        pass

    g = gens.squares(3)
    next(g)
    error = Unknown("host only")
    error.__cause__ = root = OSError("root cause")
    with pytest.raises(Unknown) as info:
        g.throw(error)
    assert info.value is error and error.__cause__ is root
    with pytest.raises(StopIteration):
        next(g)  # the board generator finished, as in CPython
    assert gens.log() == ["squares closed"]


def test_a_thrown_exception_turned_into_another(gens, local) -> None:
    told = same_story(
        gens.converter, local["converter"], [("next", None), ("throw", ValueError("v"))]
    )
    assert told[1] == ("RuntimeError", "converted v")


def test_close_reaches_the_board_yield(gens, local) -> None:
    told = same_story(gens.closer, local["closer"], [("next", None), ("close", None)], (False,))
    assert told[1] == ("closed", None)
    assert gens.log() == ["GeneratorExit"]


def test_a_generator_that_yields_on_close_is_a_runtime_error(gens, local) -> None:
    told = same_story(gens.closer, local["closer"], [("next", None), ("close", None)], (True,))
    assert told[1][0] == "RuntimeError"


def test_yield_from_a_board_generator_gets_its_return_value(gens) -> None:
    def host_side():
        result = yield from gens.echo()
        yield "host got " + result

    g = host_side()
    assert next(g) == "Device: None"
    assert g.send("stop") == "host got echo done"  # send passes through yield from


def test_board_generator_using_yield_from(gens, local) -> None:
    told = same_story(
        gens.outer,
        local["outer"],
        [
            ("next", None),
            ("send", 7),
            ("throw", ValueError("deep")),
            ("next", None),
            ("next", None),
        ],
    )
    assert told == [
        ("yield", "inner first"),
        ("yield", "inner got 7"),
        ("yield", "inner caught deep"),
        ("yield", "outer saw inner result"),
        ("return", ["outer", "result"]),
    ]


def test_generators_dropped_early_free_the_board_object(gens, hook) -> None:
    g = gens.squares(1000)
    assert next(g) == 0
    del g
    gc.collect()
    gens.log()  # any request takes the release along
    assert gens.log() == ["squares closed"]  # closed on the board as it was freed
    unstarted = gens.squares(5)
    ref = unstarted.gi_frame.f_locals["proxy"]._bh_ref
    del unstarted
    gc.collect()
    gens.log()
    with pytest.raises(belay_hook.StaleProxyError, match="gone"):
        hook.session.ref_op(ref, ops.PROXY_SEND, None)


def test_a_board_generator_passed_back_is_the_board_generator(gens, modules) -> None:
    g = gens.squares(5)
    assert next(g) == 0
    assert gens.total(g) == 1 + 4 + 9 + 16  # the board resumes its own generator
    with pytest.raises(StopIteration):
        next(g)
