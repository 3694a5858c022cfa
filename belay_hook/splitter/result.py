"""What a split yields: host source, board source, and what the board part defines.

Kept apart from the splitter, which needs libcst (about 120 ms to import): a
warm-cache import rebuilds these from JSON and never loads libcst.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, NamedTuple, Tuple

# Every kind of export, the one list the others are taken from.
KINDS = (
    "function", "async_function", "class", "exception", "thread",  # bound to stand-ins
    "setup", "teardown", "both", "import", "assign",
)  # fmt: skip
# Kinds whose host name is bound to a stand-in from belay_hook.rpc.stubs: a stub that
# calls the board, or for an exception class a host class of the same shape.
STUB_KINDS = KINDS[:5]
# Kinds the board calls through a numbered handle (a thread starts by name; an
# exception class is never called there for the host).
HANDLE_KINDS = ("function", "async_function", "class", "teardown")


class Method(NamedTuple):
    """A public method of a board class, as a host proxy calls it."""

    params: str  # parameter list without self (or cls), annotations dropped
    binding: str = "method"  # method, classmethod or staticmethod
    is_async: bool = False


@dataclass(frozen=True)
class Export:
    """A name the marked code defines on the board."""

    name: str
    kind: str  # one of KINDS
    line: int  # first line of the statement (its first decorator, if any)
    signature: str | None = None  # parameter list, for callable kinds
    options: Mapping[str, Any] = field(default_factory=dict)  # the marker's, read
    methods: Mapping[str, Method] = field(default_factory=dict)  # classes only
    properties: Tuple[str, ...] = ()  # classes only: public @property names
    bases: Tuple[str, ...] = ()  # classes: the names of the bases that are plain names
    # classes only: literal class attributes the host may copy, name -> source text
    constants: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Split:
    """The result of ``split``: host source, board source and what the board defines."""

    filename: str
    source: str
    host_source: str
    mcu_source: str
    details: Mapping[str, Export] = field(default_factory=dict)
    # unmarked module names the board code needs, copied into the board part -> their line
    brought_in: Mapping[str, int] = field(default_factory=dict)
    # names the board code reads that neither side defines -> first line using them
    unresolved: Mapping[str, int] = field(default_factory=dict)
    # module an import brought in for the board code imports -> its line (the host imports it too)
    board_imports: Mapping[str, int] = field(default_factory=dict)

    @property
    def exports(self) -> Dict[str, str]:
        """Name -> kind of everything the board part defines."""
        return {name: e.kind for name, e in self.details.items()}

    @property
    def has_mcu(self) -> bool:
        return bool(self.mcu_source)

    def manifest(self) -> dict:
        """What the bundle carries besides code: exports with kinds, lines, signatures,
        options and class members; the names brought in and those left unresolved."""
        from belay_hook import __version__

        return {
            "tool": f"belay_hook {__version__}",
            "filename": self.filename,
            "source_sha256": hashlib.sha256(self.source.encode()).hexdigest(),
            "mcu_sha256": hashlib.sha256(self.mcu_source.encode()).hexdigest(),
            "exports": {name: _manifest_entry(e) for name, e in self.details.items()},
            "brought_in": dict(self.brought_in),
            "unresolved": dict(self.unresolved),
        }

    def to_json(self) -> dict:
        """Everything but the file name and source, which a cache entry is keyed by."""
        return {
            "host": self.host_source,
            "mcu": self.mcu_source,
            "details": {
                name: {
                    "kind": e.kind,
                    "line": e.line,
                    "signature": e.signature,
                    "options": dict(e.options),
                    "methods": {m: list(v) for m, v in e.methods.items()},
                    "properties": list(e.properties),
                    "bases": list(e.bases),
                    "constants": dict(e.constants),
                }
                for name, e in self.details.items()
            },
            "brought_in": dict(self.brought_in),
            "unresolved": dict(self.unresolved),
            "board_imports": dict(self.board_imports),
        }

    @classmethod
    def from_json(cls, data: dict, filename: str, source: str) -> Split:
        """The inverse of :meth:`to_json`; a malformed entry raises ValueError,
        KeyError, TypeError or AttributeError."""
        host, mcu = data["host"], data["mcu"]
        if not (isinstance(host, str) and isinstance(mcu, str)):
            raise TypeError("host and mcu sources must be text")
        details = {
            name: Export(
                name,
                _kind(e["kind"]),
                e["line"],
                e["signature"],
                dict(e["options"]),
                {m: Method(*v) for m, v in e["methods"].items()},
                tuple(e["properties"]),
                tuple(e["bases"]),
                dict(e["constants"]),
            )
            for name, e in data["details"].items()
        }
        return cls(
            filename,
            source,
            host,
            mcu,
            details,
            dict(data["brought_in"]),
            dict(data["unresolved"]),
            dict(data["board_imports"]),
        )


def _kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    return kind


def _manifest_entry(e: Export) -> dict:
    """Kind, line and signature always; options and class members only where there are
    any, so the common entry stays three keys long."""
    entry: Dict[str, Any] = {"kind": e.kind, "line": e.line, "signature": e.signature}
    if e.options:
        entry["options"] = dict(e.options)
    if e.kind == "class":
        entry["methods"] = {m: v._asdict() for m, v in e.methods.items()}
        entry["properties"] = list(e.properties)
        entry["constants"] = dict(e.constants)
    if e.kind == "exception":
        entry["bases"] = list(e.bases)
    return entry
