"""Marker mistakes are MarkerErrors at the right file and line; strings hold no markers."""

from __future__ import annotations

import pytest

import belay_hook
from belay_hook.splitter.cut import Method, split
from belay_hook.splitter.markers import find_markers

FILENAME = "firmware.py"

# (source, line of the error, text of that line)
MISTAKES = {
    "unknown kind": ("x = 1\n#@mcu boot\ndef f(): pass\n", 2, "#@mcu boot"),
    "unknown option": ("#@mcu setup level=3\ndef setup(): pass\n", 1, "#@mcu setup level=3"),
    "option on plain marker": ("#@mcu level=3\ndef f(): pass\n", 1, "#@mcu level=3"),
    "option without value": ("#@mcu setup level=\ndef setup(): pass\n", 1, "#@mcu setup level="),
    "option without key": ("#@mcu setup =3\ndef setup(): pass\n", 1, "#@mcu setup =3"),
    "option without =": ("#@mcu setup level\ndef setup(): pass\n", 1, "#@mcu setup level"),
    "glued word": ("x = 1\n\n#@mcufoo\ndef f(): pass\n", 3, "#@mcufoo"),
    "glued punctuation": ("#@mcu:\ndef f(): pass\n", 1, "#@mcu:"),
    "blank line under it": ("#@mcu\n\ndef f(): pass\n", 1, "#@mcu"),
    "at end of file": ("x = 1\n#@mcu", 2, "#@mcu"),
    "last line": ("x = 1\n#@mcu\n", 2, "#@mcu"),
    "comment in between": ("#@mcu\n# why\ndef f(): pass\n", 1, "#@mcu"),
    "two markers": ("#@mcu\n#@mcu\ndef f(): pass\n", 1, "#@mcu"),
    "after code": ("x = 1\ny = 2  #@mcu\ndef f(): pass\n", 2, "y = 2  #@mcu"),
    "after a def line": ("def f():  #@mcu\n    pass\n", 1, "def f():  #@mcu"),
    "indented in a function": ("def g():\n    #@mcu\n    def f(): pass\n", 2, "    #@mcu"),
    "indented in a class": ("class C:\n    #@mcu\n    x = 1\n", 2, "    #@mcu"),
    "indented in an if": ("if True:\n\t#@mcu\n\tx = 1\n", 2, "\t#@mcu"),
    "column 0 in a body": ("def g():\n    y = 1\n#@mcu\n    x = 1\n", 3, "#@mcu"),
    "between decorators": ("@a\n#@mcu\n@b\ndef f(): pass\n", 2, "#@mcu"),
    "inside brackets": ("x = [\n#@mcu\n    1,\n]\n", 2, "#@mcu"),
    "setup on an assignment": ("#@mcu setup\nx = 1\n", 2, "x = 1"),
    "setup on an import": ("#@mcu setup\nimport machine\n", 2, "import machine"),
    "setup on a class": ("#@mcu setup\nclass setup: pass\n", 2, "class setup: pass"),
    "setup with a parameter": ("#@mcu setup\ndef setup(pin):\n    pass\n", 2, "def setup(pin):"),
    "setup with *args": ("#@mcu setup\ndef setup(*args): pass\n", 2, "def setup(*args): pass"),
    "setup with keyword-only": ("#@mcu setup\ndef setup(*, a): pass\n", 2, "def setup(*, a): pass"),
    "setup with **kwargs": ("#@mcu setup\ndef setup(**kw): pass\n", 2, "def setup(**kw): pass"),
    "async setup": ("#@mcu setup\nasync def setup(): pass\n", 2, "async def setup(): pass"),
    "decorated setup": ("#@mcu setup\n@timed\ndef setup(): pass\n", 2, "@timed"),
    "setup returns": ("#@mcu setup\ndef setup():\n    x = 1\n    return x\n", 4, "    return x"),
    "setup returns in a block": (
        "#@mcu setup\ndef setup():\n    if x:\n        return\n",
        4,
        "        return",
    ),
    "setup yields": ("#@mcu setup\ndef setup():\n    yield 1\n", 3, "    yield 1"),
    "teardown on an assignment": ("#@mcu teardown\nx = 1\n", 2, "x = 1"),
    "teardown on a class": ("#@mcu teardown\nclass T: pass\n", 2, "class T: pass"),
    "teardown with a parameter": (
        "#@mcu teardown\ndef stop(pin): pass\n",
        2,
        "def stop(pin): pass",
    ),
    "async teardown": ("#@mcu teardown\nasync def stop(): pass\n", 2, "async def stop(): pass"),
    "decorated teardown": ("#@mcu teardown\n@timed\ndef stop(): pass\n", 2, "@timed"),
    "thread on an assignment": ("#@mcu thread\nx = 1\n", 2, "x = 1"),
    "thread on a class": ("#@mcu thread\nclass T: pass\n", 2, "class T: pass"),
    "async thread": ("#@mcu thread\nasync def run(): pass\n", 2, "async def run(): pass"),
    "timeout on setup": ("#@mcu setup timeout=2\ndef setup(): pass\n", 1, "#@mcu setup timeout=2"),
    "timeout on teardown": (
        "#@mcu teardown timeout=2\ndef t(): pass\n",
        1,
        "#@mcu teardown timeout=2",
    ),
    "timeout on thread": ("#@mcu thread timeout=2\ndef run(): pass\n", 1, "#@mcu thread timeout=2"),
    "timeout on both": ("#@mcu both timeout=2\ndef f(): pass\n", 1, "#@mcu both timeout=2"),
    "timeout on an import": ("#@mcu timeout=2\nimport machine\n", 1, "#@mcu timeout=2"),
    "timeout on an assignment": ("x = 0\n#@mcu timeout=2\ny = 1\n", 2, "#@mcu timeout=2"),
    "timeout on a block": ("#@mcu timeout=2\nif x:\n    y = 1\n", 1, "#@mcu timeout=2"),
    "timeout not a number": ("#@mcu timeout=soon\ndef f(): pass\n", 1, "#@mcu timeout=soon"),
    "timeout zero": ("#@mcu timeout=0\ndef f(): pass\n", 1, "#@mcu timeout=0"),
    "timeout negative": ("#@mcu timeout=-1\ndef f(): pass\n", 1, "#@mcu timeout=-1"),
    "timeout nan": ("#@mcu timeout=nan\ndef f(): pass\n", 1, "#@mcu timeout=nan"),
    "timeout infinite": ("#@mcu timeout=inf\ndef f(): pass\n", 1, "#@mcu timeout=inf"),
    "timeout with unit": ("#@mcu timeout=2s\ndef f(): pass\n", 1, "#@mcu timeout=2s"),
    "timeout twice": ("#@mcu timeout=1 timeout=2\ndef f(): pass\n", 1, "#@mcu timeout=1 timeout=2"),
}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("case", list(MISTAKES))
def test_marker_mistake_is_reported_at_its_line(case: str, newline: str) -> None:
    source, line, text = MISTAKES[case]
    with pytest.raises(belay_hook.MarkerError) as caught:
        split(source.replace("\n", newline), FILENAME)
    err = caught.value
    assert isinstance(err, SyntaxError)
    assert (err.filename, err.lineno) == (FILENAME, line), err.msg
    assert err.text.rstrip("\r\n") == text


def test_marker_error_names_what_is_wrong() -> None:
    with pytest.raises(belay_hook.MarkerError, match="'boot'.*setup"):
        split("#@mcu boot\ndef f(): pass\n", FILENAME)
    with pytest.raises(belay_hook.MarkerError, match="did you mean '#@mcu'"):
        split("#@mcufoo\ndef f(): pass\n", FILENAME)
    with pytest.raises(belay_hook.MarkerError, match="key=value"):
        split("#@mcu setup level\ndef setup(): pass\n", FILENAME)


@pytest.mark.parametrize(
    "source, pattern",
    [
        ("#@mcu timeout=soon\ndef f(): pass\n", "bad value 'soon' for option 'timeout'.*positive"),
        ("#@mcu timeout=-1\ndef f(): pass\n", "bad value '-1' for option 'timeout'"),
        ("#@mcu setup timeout=2\ndef setup(): pass\n", "unknown option 'timeout'.*allowed: none"),
        ("#@mcu timeout=1 timeout=2\ndef f(): pass\n", "'timeout' is given twice"),
        ("#@mcu timeout=2\nx = 1\n", "'timeout' is for calls to a marked function or class"),
        (
            "#@mcu teardown\ndef t(a): pass\n",
            "'#@mcu teardown' function t\\(\\) takes no parameters",
        ),
        ("#@mcu thread\nasync def run(): pass\n", "'#@mcu thread' marks a def \\(not async\\)"),
    ],
)
def test_option_and_kind_errors_say_what_is_wrong(source: str, pattern: str) -> None:
    with pytest.raises(belay_hook.MarkerError, match=pattern):
        split(source, FILENAME)


def test_known_kinds_are_listed_for_an_unknown_one() -> None:
    with pytest.raises(belay_hook.MarkerError, match="'setup', 'teardown', 'thread', 'both'"):
        split("#@mcu boot\ndef f(): pass\n", FILENAME)


@pytest.mark.parametrize(
    "text, value", [("2", 2.0), ("0.5", 0.5), ("1e-3", 0.001), ("10", 10.0), ("1_000", 1000.0)]
)
def test_timeout_is_read_as_seconds(text: str, value: float) -> None:
    (marker,) = find_markers(f"#@mcu timeout={text}\ndef f(): pass\n", FILENAME)
    assert marker.options == {"timeout": value}
    assert isinstance(marker.options["timeout"], float)


STUB = "__import__('belay_hook.rpc.stubs').rpc.stubs.stub"


def test_timeout_goes_to_the_export_and_the_stub_line() -> None:
    source = (
        "#@mcu timeout=2\ndef f(a, b=1):\n    return a\n#@mcu timeout=0.5\nclass C:\n    pass\n"
    )
    result = split(source, FILENAME)
    assert result.details["f"].options == {"timeout": 2.0}
    assert result.details["C"].options == {"timeout": 0.5}
    host = result.host_source.splitlines()
    assert host[1] == f"f = {STUB}(__name__, 'f', 'function', 'a, b=1', {{'timeout': 2.0}})"
    assert host[4] == f"C = {STUB}(__name__, 'C', 'class', '', {{'timeout': 0.5}})"
    assert result.manifest()["exports"]["f"]["options"] == {"timeout": 2.0}


def test_stub_line_without_options_keeps_four_arguments() -> None:
    host = split("#@mcu\ndef f(a):\n    return a\n", FILENAME).host_source.splitlines()
    assert host[1] == f"f = {STUB}(__name__, 'f', 'function', 'a')"


def test_teardown_goes_to_the_board_as_written_and_leaves_no_stub() -> None:
    source = "x = 1\n#@mcu teardown\ndef stop():\n    led.off()\n    return\n"
    result = split(source, FILENAME)
    assert result.host_source == "x = 1\n#@mcu teardown\n\n\n\n"
    assert result.mcu_source == "\n\ndef stop():\n    led.off()\n    return\n"
    assert result.exports == {"stop": "teardown"}
    assert result.details["stop"].signature is None


def test_thread_goes_to_the_board_as_written_with_a_thread_stub() -> None:
    source = "#@mcu thread\n@timed\ndef blink(period, *, times=3):\n    pass\n"
    result = split(source, FILENAME)
    assert result.host_source.splitlines()[1] == (
        f"blink = {STUB}(__name__, 'blink', 'thread', 'period, *, times=3')"
    )
    assert result.mcu_source.splitlines()[1:] == source.splitlines()[1:]
    assert result.details["blink"].kind == "thread"
    assert result.details["blink"].signature == "period, *, times=3"


BOTH = """\
#@mcu both
import math
#@mcu both
SCALE, OFFSET = 2, 1  # shared
#@mcu both
@register
def helper(x: int) -> int:
    return x * SCALE
#@mcu both
class Point:
    pass
#@mcu both
if SCALE:\r
    LIMIT = 3\r
"""


def test_both_keeps_the_statement_on_both_sides() -> None:
    result = split(BOTH, FILENAME)
    assert result.host_source == BOTH
    board = result.mcu_source.splitlines()
    for n, line in enumerate(BOTH.splitlines(), 1):
        assert board[n - 1] == ("" if line.startswith("#@mcu") else line.rstrip("\r")), n
    assert result.exports == {
        "math": "both", "SCALE": "both", "OFFSET": "both", "helper": "both", "Point": "both"
    }  # fmt: skip
    assert result.details["helper"].line == 6


CLASS = """\
#@mcu
class Motor(Base):
    RATE = 5

    def __init__(self, pin, freq=1000):
        self.pin = pin

    def spin(self, speed: int, *, ramp=0) -> None:
        pass

    async def settle(self, ms=1):
        pass

    @staticmethod
    def make(a, b=2):
        pass

    @classmethod
    def default(cls, pin=25):
        pass

    @property
    def speed(self):
        return 1

    @speed.setter
    def speed(self, value):
        pass

    def _private(self):
        pass

    def __len__(self):
        return 0

    def spin(self, fast):  # the later def wins, as in Python
        pass
"""


def test_class_export_lists_public_methods_and_properties() -> None:
    export = split(CLASS, FILENAME).details["Motor"]
    assert export.signature == "pin, freq=1000"
    assert export.methods == {
        "spin": Method("fast", "method", False),
        "settle": Method("ms=1", "method", True),
        "make": Method("a, b=2", "staticmethod", False),
        "default": Method("pin=25", "classmethod", False),
        "__len__": Method("", "method", False),
    }
    assert export.properties == ("speed",)
    entry = split(CLASS, FILENAME).manifest()["exports"]["Motor"]
    assert entry["methods"]["make"] == {
        "params": "a, b=2",
        "binding": "staticmethod",
        "is_async": False,
    }
    assert entry["properties"] == ["speed"]


def test_nested_functions_in_setup_may_return() -> None:
    source = "#@mcu setup\ndef setup():\n    def helper():\n        return 1\n    x = helper()\n"
    assert split(source, FILENAME).exports == {"setup": "setup"}


STRINGS = [
    '"""Module docstring.\n#@mcu\ndef f(): pass\n"""\nx = 1\n',
    "def f():\n    '''Docstring.\n#@mcu\n    '''\n    return 1\n",
    "TEMPLATE = '''\n#@mcu setup\ndef setup(): pass\n'''\n",
    "s = '#@mcu'\nt = \"#@mcu setup\"\nu = f'{s} #@mcu'\n",
    "x = ('#@mcu',\n     '#@mcu')\n",
    "# #@mcu in a comment\n##@mcu\nx = 1  # see #@mcu\n",
    "b = b'''\r\n#@mcu\r\n'''\r\n",
]


@pytest.mark.parametrize("source", STRINGS)
def test_markers_in_strings_and_comments_are_not_markers(source: str) -> None:
    assert find_markers(source, FILENAME) == []
    result = split(source, FILENAME)
    assert (result.host_source, result.mcu_source, result.exports) == (source, "", {})


def test_real_marker_after_a_string_that_looks_like_one() -> None:
    source = 'DOC = """\n#@mcu\ndef fake(): pass\n"""\n\n#@mcu\ndef real(): pass\n'
    assert [m.line for m in find_markers(source, FILENAME)] == [6]
    assert split(source, FILENAME).exports == {"real": "function"}


# (source, line of the error): CPython's errors, in a module that has markers
SYNTAX_ERRORS = {
    "unclosed bracket": ("#@mcu\ndef f(): pass\nx = (1,\n", 3),
    "bad expression": ("#@mcu\ndef f(): pass\n\nx = 1 +\ny = 2\n", 4),
    "missing indent": ("#@mcu\ndef f():\nreturn 1\n", 3),
    "bad indent in host code": ("#@mcu\nx = 1\ndef g():\n    a = 1\n      b = 2\n", 5),
    "error in marked code": ("x = 1\n#@mcu\ndef f(:\n    pass\n", 3),
    "unclosed string": ("#@mcu\ndef f(): pass\ns = 'abc\n", 3),
}


@pytest.mark.parametrize("case", list(SYNTAX_ERRORS))
def test_python_syntax_error_is_a_syntax_error_at_its_line(case: str) -> None:
    source, line = SYNTAX_ERRORS[case]
    with pytest.raises(SyntaxError) as caught:
        split(source, FILENAME)
    assert not isinstance(caught.value, belay_hook.MarkerError)
    assert (caught.value.filename, caught.value.lineno) == (FILENAME, line)


def test_compile_time_error_in_host_code_surfaces_when_the_host_compiles() -> None:
    # The parser accepts 'return' outside a function; the compiler does not, and the
    # host part keeps it at its own line.
    source = "#@mcu\ndef f(): pass\n\nreturn 1\n"
    host = split(source, FILENAME).host_source
    with pytest.raises(SyntaxError) as caught:
        compile(host, FILENAME, "exec")
    assert caught.value.lineno == 4


def test_formatted_markers_still_mark() -> None:
    """black and ruff format turn '#@mcu' into '# @mcu'; the code must stay on the board."""
    from belay_hook.splitter.cut import split

    plain = split("#@mcu\ndef f():\n    return 1\n", "m.py")
    formatted = split("# @mcu\ndef f():\n    return 1\n", "m.py")
    assert formatted.exports == plain.exports == {"f": "function"}
    assert formatted.mcu_source == plain.mcu_source
    assert split("# @mcu setup\ndef s():\n    x = 1\n", "m.py").exports == {"s": "setup"}
    with pytest.raises(belay_hook.MarkerError):
        split("# @mcux\nx = 1\n", "m.py")
