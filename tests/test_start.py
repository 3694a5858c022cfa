"""Start-up: the agent kept on the board's flash, uploads that cannot poison it, small heaps."""

from __future__ import annotations

import ast
import hashlib
import io
import sys
from pathlib import Path
from typing import Iterator

import pytest

import belay_hook
from belay_hook import bundle
from belay_hook.board.link import Link
from belay_hook.emulator import Emulator
from belay_hook.rpc import agent, ops, upload
from belay_hook.rpc.connection import connect
from belay_hook.rpc.session import Session

TEXT = "".join(f"{i:05d} belay_hook start-up test line\n" for i in range(220))  # ~8 KB
BIG = f"""
#@mcu
TEXT = {TEXT!r}

#@mcu
def text_digest():
    import hashlib, binascii
    return len(TEXT), binascii.hexlify(hashlib.sha256(TEXT.encode()).digest()).decode()
"""
BIG_DIGEST = (len(TEXT), hashlib.sha256(TEXT.encode()).hexdigest())
SMALL = """
#@mcu
def mem():
    import gc
    gc.collect()
    return gc.mem_alloc()
"""


@pytest.fixture
def flash(tmp_path: Path) -> Path:
    folder = tmp_path / "flash"
    folder.mkdir()
    return folder


@pytest.fixture
def board(micropython: str, flash: Path) -> Iterator[Emulator]:
    """A board whose flash outlives it: a reset is a new Emulator on the same folder."""
    with Emulator(flash_dir=flash) as emu:
        yield emu


def stored(flash: Path, first: str) -> list:
    return sorted((flash / ".belay_hook").glob(f"{first}*"))


def assert_flash_whole(flash: Path) -> None:
    """No file under a final name holds other content than its name says."""
    for path in stored(flash, "a") + stored(flash, "b"):
        digest = path.stem.rpartition("_")[2]
        assert hashlib.sha256(path.read_bytes()).hexdigest()[:12] == digest, path.name


def sent_by(monkeypatch: pytest.MonkeyPatch) -> list:
    """Counts bytes the raw REPL side of every Link sends from now on."""
    counted = [0]
    original = Link._send

    def send(self: Link, data: bytes) -> None:
        counted[0] += len(data)
        original(self, data)

    monkeypatch.setattr(Link, "_send", send)
    return counted


# ------------------------------------------------------------- the agent on flash


def test_agent_is_kept_on_flash_and_not_sent_again(board, flash, monkeypatch) -> None:
    session = connect(board.port)
    assert session.started_from == "uploaded"
    session.close()
    (agent_file,) = stored(flash, "a")
    assert agent_file.suffix == ".mpy"
    assert agent_file.read_bytes()[:1] == b"M"

    counted = sent_by(monkeypatch)
    session = connect(board.port)
    assert session.started_from == "known"
    assert session.info[0] == "micropython"
    session.close()
    assert counted[0] < len(agent_file.read_bytes()) / 10  # a loader, not the agent

    # Another host (no note of the file): the full loader finds it all the same.
    monkeypatch.setenv("BELAY_HOOK_CACHE", str(flash.parent / "other_cache"))
    session = connect(board.port)
    assert session.started_from == "flash"
    session.close()
    assert stored(flash, "a") == [agent_file]


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_damaged_agent_file_is_replaced_never_loaded(board, flash, damage) -> None:
    connect(board.port).close()
    (agent_file,) = stored(flash, "a")
    good = agent_file.read_bytes()
    if damage == "truncated":
        agent_file.write_bytes(good[: len(good) // 2])
    else:  # same size, other content: a valid .mpy header, garbage code
        agent_file.write_bytes(good[:4] + bytes(len(good) - 4))
    session = connect(board.port)
    try:
        assert session.started_from == "uploaded"
        assert session.info[0] == "micropython"
    finally:
        session.close()
    assert agent_file.read_bytes() == good
    assert_flash_whole(flash)


def test_read_only_flash_runs_the_agent_from_ram(micropython, modules) -> None:
    modules.write("ro_mod", "#@mcu\ndef add(a, b):\n    return a + b\n")
    with belay_hook.install("emulator", flavour="circuitpython") as hook:
        import ro_mod

        assert ro_mod.add(2, 3) == 5
        assert hook.session.started_from == "ram"


def test_agent_heap_on_a_64k_board(micropython, flash, modules) -> None:
    modules.write("heap_probe", SMALL)
    probe = "import gc\ngc.collect()\nprint(gc.mem_alloc())"
    with Emulator(flash_dir=flash, heap="64k") as emu:
        with belay_hook.install(emu.port):  # agent and bundle go to the flash
            import heap_probe  # noqa: F401
        sys.modules.pop("heap_probe", None)  # uninstall may have dropped it
        (module_file,) = stored(flash, "b")
        with Link(emu.port) as link:
            link.enter_raw_repl(soft_reset=True)
            before = int(link.exec(probe))
            link.exec(f"import sys\nsys.path.append('/.belay_hook')\nimport {module_file.stem}")
            module_alone = int(link.exec(probe)) - before
            link.enter_raw_repl(soft_reset=True)
        with belay_hook.install(emu.port) as hook:
            import heap_probe

            after = heap_probe.mem()
            assert hook.session.started_from == "known"
    # The agent's budget on a small board (docs/PERFORMANCE.md, Start-up); compiled
    # from source it held 59 KB.
    assert 0 < after - before - module_alone <= 12 * 1024


def test_builtins_are_asked_once_per_firmware() -> None:
    asked = []
    info = ("micropython", (9, 9, 9), 2822, "testboard", "/.belay_hook", None)
    first = agent.builtins_of(info, lambda: asked.append(1) or ["print", "len"])
    again = agent.builtins_of(info, lambda: pytest.fail("asked again"))
    assert first == again == {"print", "len"} and asked == [1]
    other = ("micropython", (9, 9, 10), 2822, "testboard", "/.belay_hook", None)
    assert agent.builtins_of(other, lambda: ["print"]) == {"print"}


# ---------------------------------------------------------- interrupted uploads


class Stop:
    """An interruption of the kind named, done to the board of `emu` over `link`."""

    def __init__(self, kind: str, emu: Emulator):
        self.kind, self.emu = kind, emu
        self.done = False

    def __call__(self, link: Link) -> None:
        self.done = True
        if self.kind == "ctrl-c":
            raise KeyboardInterrupt
        if self.kind == "unplug":
            link.close()
        else:  # reset: the board dies mid-upload; its flash stays
            self.emu.close()


def restarted(stop: Stop, flash: Path) -> Emulator:
    """The board after the interruption: the same one, or (after a reset) a new one."""
    return Emulator(flash_dir=flash).start() if stop.kind == "reset" else stop.emu


KINDS = ["ctrl-c", "unplug", "reset"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("at", ["first chunk", "middle", "before the check"])
def test_interrupted_agent_upload_leaves_nothing_loadable(
    micropython, flash, monkeypatch, kind, at
) -> None:
    emu = Emulator(flash_dir=flash).start()
    stop = Stop(kind, emu)
    writes = [0]
    original = Link.write

    def write(self: Link, data: bytes) -> None:
        writes[0] += 1
        end = data == b"0000"
        if not stop.done and (
            (at == "first chunk" and writes[0] == 1)
            or (at == "middle" and writes[0] == 6)
            or (at == "before the check" and end)
        ):
            if at != "before the check":
                original(self, data[: len(data) // 2])  # half a chunk on the wire
            stop(self)
        original(self, data)

    monkeypatch.setattr(Link, "write", write)
    with pytest.raises((KeyboardInterrupt, OSError)):
        connect(emu.port).close()
    assert stop.done
    monkeypatch.setattr(Link, "write", original)
    assert stored(flash, "a") == []  # nothing under a final name
    emu = restarted(stop, flash)
    try:
        session = connect(emu.port)
        assert session.started_from == "uploaded"
        session.close()
    finally:
        emu.close()
    assert len(stored(flash, "a")) == 1
    assert_flash_whole(flash)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("at", ["first chunk", "second chunk", "before the check"])
def test_interrupted_bundle_upload_then_import_again(
    micropython, flash, modules, monkeypatch, kind, at
) -> None:
    modules.write("big_mod", BIG)
    emu = Emulator(flash_dir=flash).start()
    connect(emu.port).close()  # the agent is on the board; the bundle is not
    stop = Stop(kind, emu)
    chunks = [0]
    original = Session._request

    def request(self: Session, op: bytes, value, **kw):
        chunks[0] += op == ops.OP_PUT
        if not stop.done and (
            (at == "first chunk" and op == ops.OP_PUT and chunks[0] == 1)
            or (at == "second chunk" and op == ops.OP_PUT and chunks[0] == 2)
            or (at == "before the check" and op == ops.OP_COMMIT)
        ):
            stop(self.link)
        return original(self, op, value, **kw)

    monkeypatch.setattr(Session, "_request", request)
    with (
        pytest.raises((KeyboardInterrupt, OSError)),
        belay_hook.install(emu.port, reconnect_attempts=0),
    ):
        import big_mod  # noqa: F401
    assert stop.done
    monkeypatch.setattr(Session, "_request", original)
    sys.modules.pop("big_mod", None)
    assert stored(flash, "b") == []  # nothing under a final name
    emu = restarted(stop, flash)
    try:
        with belay_hook.install(emu.port) as hook:
            import big_mod

            assert big_mod.text_digest() == BIG_DIGEST
            assert hook.session.uploaded_bytes > 0
    finally:
        emu.close()
    assert_flash_whole(flash)


def test_foreign_bundle_file_is_replaced(board, flash, modules) -> None:
    modules.write("big_mod", BIG)
    with belay_hook.install(board.port):
        import big_mod  # noqa: F401
    sys.modules.pop("big_mod", None)  # uninstall may have dropped it
    (bundle_file,) = stored(flash, "b")
    good = bundle_file.read_bytes()
    bundle_file.write_bytes(good.replace(b"start-up", b"START-UP"))  # same size
    with belay_hook.install(board.port) as hook:
        import big_mod

        assert big_mod.text_digest() == BIG_DIGEST
        assert hook.session.uploaded_bytes == len(good)
    assert bundle_file.read_bytes() == good


def test_any_file_written_through_the_raw_repl_arrives_whole(link, emulator, monkeypatch) -> None:
    data = bytes(range(256)) * 5 + b"\x03\x10\x10\x03\x10\x30\x10\xde"  # escape's edges
    chunks = []
    original = Link.write
    monkeypatch.setattr(Link, "write", lambda self, b: chunks.append(b) or original(self, b))
    path = upload.write_via_repl(link, "/lib", "blob.bin", data)
    # Nothing a REPL acts on goes out: bytes an interrupt leaves unread are inert there.
    assert not set(b"".join(chunks)) & set(b"\x01\x02\x03\x04\r\n")
    assert path == "/lib/blob.bin"
    assert (emulator.flash_dir / "lib" / "blob.bin").read_bytes() == data
    assert link.exec("print(1)") == b"1\n"  # back at the raw REPL prompt
    stored_as = upload.write_via_repl(link, "/lib", "blob_*.bin", b"named by content")
    assert stored_as == f"/lib/blob_{upload.digests(b'named by content')[0]}.bin"


def test_read_only_filesystem_refuses_with_the_board_error(micropython) -> None:
    with Emulator(flavour="circuitpython") as emu, Link(emu.port) as link:
        link.enter_raw_repl()
        with pytest.raises(OSError) as refused:
            upload.write_via_repl(link, "/lib", "x.bin", b"data")
        assert refused.value.errno == 30


# ------------------------------------------------------------------ progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_long_uploads_show_progress_on_a_terminal_only(board, monkeypatch) -> None:
    monkeypatch.setattr(upload, "_SHOW_AFTER", 0.0)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    connect(board.port).close()  # the agent goes up
    shown = terminal.getvalue()
    assert "uploading a" in shown and "100% of" in shown and shown.endswith("\r\x1b[K")

    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    with Emulator() as other:  # asked to be quiet
        connect(other.port, progress=False).close()
    bar = upload.Progress("uploading x", 10, show=False)
    bar.update(5)
    bar.end()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    bar = upload.Progress("uploading x", 10)
    bar.update(5)
    bar.end()
    assert quiet.getvalue() == "" and sys.stderr.getvalue() == ""


# ---------------------------------------------------------------- warm builds


def test_warm_build_does_not_parse_the_board_source(monkeypatch) -> None:
    plain = bundle.split_cached("#@mcu\ndef f():\n    return 1\n", "/tmp/warm_plain.py")
    native = bundle.split_cached(
        "#@mcu\n@micropython.native\ndef f():\n    return 1\n", "/tmp/warm_native.py"
    )
    parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: pytest.fail("parsed again"))
    assert bundle.build(plain, bundle.BoardFormat(6, 3)).is_mpy
    monkeypatch.setattr(ast, "parse", parse)
    with pytest.raises(SyntaxError, match="native"):  # the decorator is still found
        bundle.build(native, bundle.BoardFormat(6, 3))


def test_agent_kept_as_source_where_no_compiler_fits(board, flash, monkeypatch) -> None:
    from belay_hook import compiler

    monkeypatch.setattr(compiler, "compiler_for", lambda fmt, native=False: None)
    for started in ("uploaded", "flash"):
        session = connect(board.port)
        assert session.started_from == started
        session.close()
    (agent_file,) = stored(flash, "a")
    assert agent_file.suffix == ".py"
    assert_flash_whole(flash)
