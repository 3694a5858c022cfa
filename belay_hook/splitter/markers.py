"""The ``#@mcu`` marker grammar: finding markers in source and reading what they say.

A marker is a comment of its own line, at column 0, directly above a
module-level statement (above its decorators, if any)::

    #@mcu                  the statement runs on the board
    #@mcu timeout=2        ... and calls to it give up after 2 s
    #@mcu setup            the function's body runs at board start-up
    #@mcu teardown         the function runs when the board is let go
    #@mcu thread           calling the function starts it in a board thread
    #@mcu both             the statement runs on the host and on the board

Markers are found with :mod:`tokenize`, so ``#@mcu`` inside a string or a
docstring is never a marker.
"""

from __future__ import annotations

import io
import math
import re
import tokenize
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple, Union

from belay_hook.errors import MarkerError

PREFIX = "#@mcu"
# Formatters (black, ruff format) rewrite "#@mcu" as "# @mcu": both are markers,
# so formatting a module never silently moves its code back to the host.
FORMATTED = "# @mcu"
NEEDLE = "@mcu"  # in every marker
# A comment that looks like a marker but is not one (#@MCU, #@ mcu): an error, or the
# code it stands over would quietly run on the host.
_NEAR_MISS = re.compile(r"#\s*@\s*mcu(?![\w@.-])", re.I)
_MAY_HOLD = re.compile(rb"@\s*mcu", re.I)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _positive_number(text: str) -> float:
    number = float(text)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(text)
    return number


# option -> (reader of its text, what it takes, for error messages).
OPTIONS: Dict[str, Tuple[Callable[[str], Any], str]] = {
    "timeout": (_positive_number, "a positive number of seconds, e.g. timeout=2.5"),
}

# kind -> the options it accepts. "" is the plain marker. A later kind or option
# is one line here (and in OPTIONS) plus its meaning in the splitter.
KINDS: Dict[str, frozenset] = {
    "": frozenset({"timeout"}),
    "setup": frozenset(),
    "teardown": frozenset(),
    "thread": frozenset(),
    "both": frozenset(),
}


@dataclass(frozen=True)
class Marker:
    """One ``#@mcu`` comment: where it stands and what it asks for."""

    line: int  # 1-based line of the comment
    kind: str = ""
    options: Dict[str, Any] = field(default_factory=dict)  # read: "2" is 2.0 for timeout


def may_hold_markers(source: Union[str, bytes]) -> bool:
    """The cheap test: False means ``source`` has no marker, nor anything like one."""
    data = source.encode("utf-8", "replace") if isinstance(source, str) else source
    return _MAY_HOLD.search(data) is not None


def find_markers(source: str, filename: str) -> List[Marker]:
    """Every marker in ``source``, in order; a malformed one raises MarkerError."""
    if not may_hold_markers(source):
        return []
    lines = source_lines(source)
    comments = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(newlines_only(lines)).readline):
            if tok.type == tokenize.COMMENT and (
                tok.string.startswith((PREFIX, FORMATTED)) or _NEAR_MISS.match(tok.string)
            ):
                comments.append(tok)
    except (tokenize.TokenError, SyntaxError):
        # Broken source: the parser reports it with a better message than
        # tokenize; the markers found so far are all there is to check.
        pass
    return [_read_marker(tok, lines, filename) for tok in comments]


def _read_marker(tok: tokenize.TokenInfo, lines: List[str], filename: str) -> Marker:
    lineno, col = tok.start
    text = lines[lineno - 1] if lineno <= len(lines) else tok.line

    def error(msg: str) -> MarkerError:
        return MarkerError(msg, filename, lineno, text, col + 1)

    if not tok.string.startswith((PREFIX, FORMATTED)):
        found = _NEAR_MISS.match(tok.string).group()  # type: ignore[union-attr]
        raise error(f"unknown marker {found!r}; did you mean '{PREFIX}'?")
    if text[:col].strip():
        raise error(
            f"{PREFIX} must stand on its own line directly above the statement it marks, "
            "not after code"
        )
    if col:
        raise error(
            f"{PREFIX} marks module-level statements only; this one is indented "
            "(inside a function, class or block)"
        )
    rest = tok.string[len(PREFIX if tok.string.startswith(PREFIX) else FORMATTED) :]
    if rest and not rest[0].isspace():
        raise error(f"unknown marker {tok.string.split()[0]!r}; did you mean '{PREFIX}'?")
    words = rest.split()
    kind = ""
    if words and "=" not in words[0]:
        kind = words.pop(0)
    if kind not in KINDS:
        known = ", ".join(repr(k) for k in KINDS if k)
        raise error(f"unknown marker kind {kind!r} after {PREFIX} (known kinds: {known})")
    options: Dict[str, Any] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key or not value:
            raise error(f"cannot read {word!r} in marker: options are written key=value")
        if key not in KINDS[kind]:
            allowed = ", ".join(sorted(KINDS[kind])) or "none"
            where = f"{PREFIX} {kind}" if kind else PREFIX
            raise error(f"unknown option {key!r} for '{where}' (allowed: {allowed})")
        if key in options:
            raise error(f"option {key!r} is given twice")
        read, wanted = OPTIONS[key]
        try:
            options[key] = read(value)
        except ValueError:
            raise error(f"bad value {value!r} for option {key!r}: it takes {wanted}") from None
    return Marker(lineno, kind, options)


def source_lines(source: str) -> List[str]:
    """Lines as Python counts them (``\\n``, ``\\r\\n`` or a lone ``\\r``), endings kept.

    Not ``str.splitlines``: it also breaks at form feeds and other characters
    that are not line ends to the compiler.
    """
    return _LINE.findall(source)


def newlines_only(lines: List[str]) -> str:
    """The lines joined with ``\\n`` ends: same lines, same columns.

    For tools that take other line ends badly: tokenize splits at ``\\n`` only,
    libcst fails on a file that mixes ``\\n`` and ``\\r\\n``; the compiler takes both.
    """
    return "".join(line.rstrip("\r\n") + "\n" for line in lines)


def line_ending(line: str) -> str:
    """The line's own ending, so a replaced line keeps CRLF where it had one."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""
