"""A board object lives as long as the host holds anything bound to it, whatever the
chain of temporaries that reached it (``gc.collect()`` between the steps)."""

from __future__ import annotations

import gc

import pytest

SHAPES = """
#@mcu setup
def setup():
    global Node, Bag

    class Node:
        def __init__(self, depth):
            self.depth = depth
            self.value = "node %d" % depth

        def child(self):
            return Node(self.depth + 1)

        def describe(self, suffix):
            return self.value + suffix

    class Bag:
        def __init__(self, n):
            self.items = [i * 10 for i in range(n)]

        def __iter__(self):
            return iter(self.items)

#@mcu
class Counter:
    def __init__(self, start):
        self.n = start

    def inc(self):
        self.n += 1
        return self.n

#@mcu
def make(depth=0):
    return Node(depth)

#@mcu
def make_bag(n):
    return Bag(n)

#@mcu
def make_gen():
    got = yield "ready"
    yield "got " + str(got)
"""


@pytest.fixture
def shapes(hook, modules):
    modules.write("shapes", SHAPES)
    import shapes

    return shapes


def test_chains_of_temporaries_in_one_expression(shapes) -> None:
    assert shapes.make().child().child().value == "node 2"
    assert shapes.make(5).child().describe("!") == "node 6!"
    assert list(iter(shapes.make_bag(3))) == [0, 10, 20]
    assert [x for x in shapes.make_bag(2)] == [0, 10]
    assert shapes.Counter(4).inc() == 5


def test_an_iterator_outlives_its_temporary_iterable(shapes) -> None:
    it = iter(shapes.make_bag(3))
    gc.collect()
    assert next(it) == 0
    gc.collect()
    assert list(it) == [10, 20]


def test_a_bound_method_keeps_its_board_object(shapes) -> None:
    describe = shapes.make(1).describe
    child = shapes.make(7).child
    inc = shapes.Counter(10).inc
    gc.collect()
    shapes.make()  # another request: any release would have gone out with it
    assert describe("?") == "node 1?"
    assert child().value == "node 8"
    assert inc() == 11 and inc() == 12


def test_a_generator_method_keeps_its_generator(shapes) -> None:
    send = shapes.make_gen().send
    gc.collect()
    shapes.make()
    assert send(None) == "ready"
    gc.collect()
    assert send("bar") == "got bar"
