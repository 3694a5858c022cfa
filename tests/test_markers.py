"""Marker mistakes are MarkerErrors at the right file and line; strings hold no markers."""

from __future__ import annotations

import pytest

import belay_hook
from belay_hook.markers import find_markers
from belay_hook.splitter import split

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
