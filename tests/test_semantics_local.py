"""Marked code behaves as if it ran locally: each user program here runs twice, through the
import hook on the emulated board and unmarked in this CPython (the oracle), and both
runs must give the same result."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import pytest
from conftest import outcome

PROGRAM = """
hits = 0

#@mcu
def bump(by=1):
    global hits
    hits += by
    return hits

#@mcu
class Shelf:
    def __init__(self, n):
        self.items = list(range(n))
        self.log = []

    def __getitem__(self, i):
        return self.items[i]

    def __setitem__(self, i, v):
        self.items[i] = v

    def __delitem__(self, i):
        del self.items[i]

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, kind, exc, tb):
        self.log.append("exit " + (kind.__name__ if kind else "clean"))
        return kind is not None and issubclass(kind, KeyError)

    def size(self):
        return len(self.items)

#@mcu
class Tray(Shelf):
    def __init__(self, n, label):
        super().__init__(n)
        self.label = label

    def describe(self):
        return "%s: %d" % (self.label, self.size())

#@mcu
class Reading:
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "Reading(%d)" % self.value

    def __eq__(self, other):
        return isinstance(other, Reading) and other.value == self.value

    def __hash__(self):
        return self.value

    def __lt__(self, other):
        return self.value < other.value

#@mcu
class Point:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return self.x == other.x

#@mcu
def shelves():
    return [Shelf(1), Tray(2, "t")], {"spare": Shelf(3)}

#@mcu
def trays():
    yield Tray(1, "first")

#@mcu
def shelf_class():
    return Shelf

#@mcu
def unique(values):
    return set(values)

#@mcu
def has(values, x):
    return x in values

#@mcu
anchor = object()

#@mcu
def get_anchor():
    return anchor

#@mcu
class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __add__(self, other):
        if not isinstance(other, Vec):
            return NotImplemented
        return Vec(self.x + other.x, self.y + other.y)

    def __mul__(self, k):
        return Vec(self.x * k, self.y * k)

    def __rmul__(self, k):
        return self * k

    def __neg__(self):
        return Vec(-self.x, -self.y)

    def __abs__(self):
        return (self.x**2 + self.y**2) ** 0.5

    def __index__(self):
        return self.x

    def __repr__(self):
        return "Vec(%d, %d)" % (self.x, self.y)

#@mcu
class Countdown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n

#@mcu
class Probe:
    def __init__(self):
        self._type, self._ref, self._owner, self._board = "temp", 2.5, "me", "pico"

    def _op(self):
        return "op"

"""


@pytest.fixture
def both(as_local) -> Callable[[Callable[[Any], Any]], Any]:
    """``both(program)``: program's result through the hook, checked against the same
    program on the same source run locally."""
    return as_local("semantic", PROGRAM)


def test_a_global_counter_starts_from_its_module_value(both) -> None:
    # 'global hits; hits += by' read the module's hits = 0: a NameError on the board.
    assert both(lambda m: [m.bump(), m.bump(2), m.bump()]) == [1, 3, 4]


def test_sets_cross_both_ways(both) -> None:
    def program(m: Any) -> Any:
        found = m.unique([3, 1, 3])
        return found, type(found).__name__, found == {1, 3}, m.has({4, 5}, 4), m.unique(set())

    assert both(program) == ({1, 3}, "set", True, True, set())


def test_slices_of_a_board_object(both) -> None:
    def program(m: Any) -> Any:
        shelf = m.Shelf(6)
        seen = [shelf[1:3], shelf[::2], shelf[-2:], shelf[:]]
        shelf[1:3] = ["a"]
        del shelf[:1]
        return seen, shelf.items

    assert both(program) == ([[1, 2], [0, 2, 4], [4, 5], [0, 1, 2, 3, 4, 5]], ["a", 3, 4, 5])


def test_with_statement_on_a_board_object(both) -> None:
    def program(m: Any) -> Any:
        shelf = m.Shelf(2)
        with shelf as inside:
            same = inside is shelf and isinstance(inside, m.Shelf)
        with shelf:
            raise KeyError("swallowed by __exit__")
        try:
            with m.Shelf(1) as other:
                raise ValueError("passes through")
        except ValueError as exc:
            passed = exc.args
        return same, shelf.log, other.log, passed

    assert both(program) == (
        True,
        ["enter", "exit clean", "enter", "exit KeyError"],
        ["enter", "exit ValueError"],
        ("passes through",),
    )


def test_a_subclass_of_a_marked_class_is_an_instance_of_it(both) -> None:
    def program(m: Any) -> Any:
        tray = m.Tray(3, "tray")
        return isinstance(tray, m.Shelf), tray.describe(), tray.size(), tray[0:2]

    assert both(program) == (True, "tray: 3", 3, [0, 1])


def test_repr_hash_and_order_of_board_objects_are_their_classes_own(both) -> None:
    def program(m: Any) -> Any:
        readings = [m.Reading(3), m.Reading(1), m.Reading(3)]
        names = {m.Reading(1): "one"}
        return (
            repr(readings),
            f"{m.Reading(2)!r}",
            len(set(readings)),
            names[m.Reading(1)],
            repr(max(readings)),
            repr(min(readings)),
            repr(sorted(readings)),
        )

    assert both(program) == (
        "[Reading(3), Reading(1), Reading(3)]",
        "Reading(2)",
        2,
        "one",
        "Reading(3)",
        "Reading(1)",
        "[Reading(1), Reading(3), Reading(3)]",
    )


def test_one_board_object_returned_twice_is_one_key(both) -> None:
    def program(m: Any) -> Any:
        first, again = m.get_anchor(), m.get_anchor()
        return first == again, len({first, again}), {first: "found"}[again]

    assert both(program) == (True, 1, "found")


def test_operators_and_iterator_protocol_of_a_marked_class(both) -> None:
    def program(m: Any) -> Any:
        v = m.Vec(3, 4)
        w = v + m.Vec(1, 1)
        w += m.Vec(1, 0)
        count = m.Countdown(3)
        first = next(count)
        return (
            [repr(x) for x in (w, v * 2, 2 * v, -v)],
            abs(v),
            "abc"[m.Vec(1, 0)],
            first,
            list(count),
            outcome(lambda m: v + 1, m),
        )

    assert both(program) == (
        ["Vec(5, 5)", "Vec(6, 8)", "Vec(6, 8)", "Vec(-3, -4)"],
        5.0,
        "b",
        2,
        [1, 0],
        ("TypeError", ("unsupported operand type(s) for +: 'Vec' and 'int'",)),
    )


def test_private_names_are_the_objects_own(both) -> None:
    """Names the host's proxies once used for themselves (_type, _ref ...) hid the board
    object's attributes of those names."""

    def program(m: Any) -> Any:
        probe = m.Probe()
        return probe._type, probe._ref, probe._owner, probe._board, probe._op()

    assert both(program) == ("temp", 2.5, "me", "pico", "op")


class Marker:
    """A host object: it cannot cross to the board."""


def test_comparing_a_board_object_with_a_host_object(both) -> None:
    """A host object cannot go to the board: == is Python's answer (False), not a
    TypeError about crossing; < is Python's TypeError."""

    def program(m: Any) -> Any:
        shelf, marker = m.Shelf(1), Marker()
        return shelf == marker, shelf != marker, marker in [shelf, marker], shelf == len

    assert both(program) == (False, True, True, False)
    assert both(lambda m: m.Shelf(1) < Marker()) == (
        "'<' not supported between instances of 'Shelf' and 'Marker'",
    )


def test_a_class_with_eq_and_no_hash_is_unhashable(both) -> None:
    assert both(lambda m: hash(m.Point(1))) == ("unhashable type: 'Point'",)


def test_objects_of_marked_classes_are_theirs_wherever_they_come_from(both) -> None:
    def program(m: Any) -> Any:
        (shelf, tray), spare = m.shelves()
        found = [shelf, tray, spare["spare"], next(m.trays()), m.shelf_class()(2)]
        found.append(m.Shelf(1).__enter__())  # a method's result, from the board's __enter__
        return [type(x).__name__ for x in found if isinstance(x, m.Shelf)], tray.describe()

    assert both(program) == (["Shelf", "Tray", "Shelf", "Tray", "Shelf", "Shelf"], "t: 2")


def test_class_data_set_on_the_host_is_refused_not_lost(hook, modules) -> None:
    """Locally `Shelf.capacity = 3` is seen by every instance; the board's instances
    would never see the host's, so it raises, naming what to do. Methods may still be
    replaced on the host (a mock)."""
    modules.write("semantic", PROGRAM)
    semantic = importlib.import_module("semantic")
    with pytest.raises(AttributeError, match="Shelf.capacity = ... on the host would not"):
        semantic.Shelf.capacity = 3
    semantic.Shelf.size = lambda self: 99
    assert semantic.Shelf(2).size() == 99


def test_copying_a_board_object_is_refused_not_a_fresh_one(hook, modules) -> None:
    """copy.copy() of a host instance called the board constructor afresh: a Shelf(3)
    copied into a Shelf() with nothing in it."""
    import copy
    import pickle

    modules.write("semantic", PROGRAM)
    semantic = importlib.import_module("semantic")
    shelf = semantic.Shelf(3)
    for copier in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="board Shelf object cannot be copied"):
            copier(shelf)
    with pytest.raises(TypeError, match="board object object cannot be copied"):
        copy.copy(semantic.get_anchor())
    assert shelf.size() == 3
