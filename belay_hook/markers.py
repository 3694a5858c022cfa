"""The ``#@mcu`` marker grammar: finding markers in source and reading what they say.

A marker is a comment of its own line, at column 0, directly above a
module-level statement (above its decorators, if any)::

    #@mcu                  the statement runs on the board
    #@mcu setup            the function's body runs at board start-up
    #@mcu KIND key=value   room for more kinds and options (see KINDS)

Markers are found with :mod:`tokenize`, so ``#@mcu`` inside a string or a
docstring is never a marker.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, List

from belay_hook.errors import MarkerError

PREFIX = "#@mcu"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")

# kind -> the options it accepts. "" is the plain marker. A later kind or option
# is one line here plus its meaning in the splitter.
KINDS: Dict[str, frozenset] = {
    "": frozenset(),
    "setup": frozenset(),
}


@dataclass(frozen=True)
class Marker:
    """One ``#@mcu`` comment: where it stands and what it asks for."""

    line: int  # 1-based line of the comment
    kind: str = ""
    options: Dict[str, str] = field(default_factory=dict)


def find_markers(source: str, filename: str) -> List[Marker]:
    """Every marker in ``source``, in order; a malformed one raises MarkerError."""
    if PREFIX not in source:
        return []
    lines = source_lines(source)
    comments = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(newlines_only(lines)).readline):
            if tok.type == tokenize.COMMENT and tok.string.startswith(PREFIX):
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
    rest = tok.string[len(PREFIX) :]
    if rest and not rest[0].isspace():
        raise error(f"unknown marker {tok.string.split()[0]!r}; did you mean '{PREFIX}'?")
    words = rest.split()
    kind = ""
    if words and "=" not in words[0]:
        kind = words.pop(0)
    if kind not in KINDS:
        known = ", ".join(repr(k) for k in KINDS if k)
        raise error(f"unknown marker kind {kind!r} after {PREFIX} (known kinds: {known})")
    options: Dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key or not value:
            raise error(f"cannot read {word!r} in marker: options are written key=value")
        if key not in KINDS[kind]:
            allowed = ", ".join(sorted(KINDS[kind])) or "none"
            where = f"{PREFIX} {kind}" if kind else PREFIX
            raise error(f"unknown option {key!r} for '{where}' (allowed: {allowed})")
        options[key] = value
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
