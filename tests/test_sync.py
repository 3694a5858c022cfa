"""`belay_hook.sync` and `belay-hook sync`, on the emulator's real MicroPython VM.

The emulator's flash folder is the board's ``/``: what the board holds is checked there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from belay_hook.board.link import Link
from belay_hook.cli import main
from belay_hook.emulator import Emulator
from belay_hook.sync import CHUNK, SyncError, sync

ROOT = Path(__file__).resolve().parent.parent
ALL_BYTES = bytes(range(256)) * 5  # the raw REPL's control bytes too, over several chunks

TREE = {
    "main.py": "print('main')\n",
    "boot.py": "# boot\n",
    "data.bin": ALL_BYTES,
    "pkg/__init__.py": "NAME = 'pkg'\n",
    "pkg/util.py": "def double(x):\n    return 2 * x\n",
    "pkg/sub/deep.py": "from pkg.util import double\n\nVALUE = double(21)\n",
    "pkg/sub/notes.txt": "ünïcödé\n",
    "empty/.keep": "",
}


def write_tree(folder: Path, files: Dict[str, object]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content), encoding="utf-8")
    return folder


def board_files(emulator: Emulator, under: str = "") -> Dict[str, bytes]:
    """Every file in the emulated board's flash (under a folder), by board path."""
    top = emulator.flash_dir / under.lstrip("/")
    return {
        "/" + str(p.relative_to(emulator.flash_dir)): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src", TREE)


def test_nested_tree_is_copied_and_importable(link: Link, emulator: Emulator, src: Path) -> None:
    report = sync(link, src, "/lib", progress=False)
    expected = {f"/lib/{name}": (src / name).read_bytes() for name in TREE}
    assert board_files(emulator) == expected
    assert sorted(report.uploaded) == sorted(expected)
    assert report.skipped == [] and report.deleted == []
    assert report.created == ["/lib", "/lib/empty", "/lib/pkg", "/lib/pkg/sub"]
    assert report.bytes_uploaded == sum(len(v) for v in expected.values())
    assert link.exec("import pkg.sub.deep as d; print(d.VALUE)") == b"42\n"  # /lib is on sys.path
    with pytest.raises(NameError):  # the helper is gone from the board's RAM again
        link.exec("_bh_ls")


def test_resync_uploads_only_changes(link: Link, emulator: Emulator, src: Path) -> None:
    sync(link, src, "/", progress=False)
    again = sync(link, src, "/", progress=False)
    assert again.uploaded == [] and again.created == [] and again.bytes_uploaded == 0
    assert len(again.skipped) == len(TREE)

    (src / "pkg/util.py").write_text("def double(x):\n    return x + x\n")  # same size
    (src / "new.txt").write_text("new\n")
    changed = sync(link, src, "/", progress=False)
    assert sorted(changed.uploaded) == ["/new.txt", "/pkg/util.py"]
    assert len(changed.skipped) == len(TREE) - 1
    assert board_files(emulator)["/pkg/util.py"] == b"def double(x):\n    return x + x\n"


def test_without_hashlib_files_are_compared_by_reading(link: Link, src: Path) -> None:
    link.exec("import sys\nsys.modules['hashlib'] = None")  # as on a board built without it
    sync(link, src, "/", progress=False)
    (src / "data.bin").write_bytes(ALL_BYTES[:-1] + b"!")  # the last chunk differs
    report = sync(link, src, "/", progress=False)
    assert report.uploaded == ["/data.bin"] and len(report.skipped) == len(TREE) - 1
    assert link.exec("print(open('/data.bin', 'rb').read()[-2:])") == b"b'\\xfe!'\n"


def test_the_helper_leaves_no_names_behind(link: Link, src: Path) -> None:
    sync(link, src, "/", progress=False)
    with pytest.raises(SyncError):
        sync(link, src, "/main.py", progress=False)  # a file: fails after the helper is set up
    left = link.exec("print(sorted(n for n in globals() if n.startswith('_bh_')))")
    assert left == b"[]\n"


def test_delete_removes_extras_only_under_dst(
    link: Link, emulator: Emulator, src: Path, tmp_path: Path
) -> None:
    write_tree(
        emulator.flash_dir, {"keep.txt": "outside dst", "lib/old.py": "x", "lib/gone/a/b": ""}
    )
    kept = sync(link, src, "/lib", progress=False)
    assert kept.deleted == [] and "/lib/old.py" in board_files(emulator)
    report = sync(link, src, "/lib", delete=True, progress=False)
    assert report.deleted == ["/lib/gone/a/b", "/lib/gone/a", "/lib/gone", "/lib/old.py"]
    assert report.uploaded == []
    assert set(board_files(emulator)) == {"/keep.txt"} | {f"/lib/{n}" for n in TREE}
    assert not (emulator.flash_dir / "lib/gone").exists()


def test_delete_at_the_root_keeps_the_bundle_cache(link: Link, emulator: Emulator, src) -> None:
    write_tree(emulator.flash_dir, {".belay_hook/b1234_abcd.mpy": "M", "stray.txt": "x"})
    report = sync(link, src, "/", delete=True, progress=False)
    assert report.deleted == ["/stray.txt"]
    assert (emulator.flash_dir / ".belay_hook/b1234_abcd.mpy").exists()


def test_folder_and_file_swapping_places(link: Link, emulator: Emulator, tmp_path: Path) -> None:
    write_tree(emulator.flash_dir, {"app/conf": "a file", "app/data/x.txt": "x"})
    src = write_tree(tmp_path / "src", {"conf/settings.py": "A = 1\n", "data": "now a file\n"})
    with pytest.raises(SyncError, match="/app/data is a folder where .* use --delete"):
        sync(link, src, "/app", progress=False)
    report = sync(link, src, "/app", delete=True, progress=False)
    assert board_files(emulator) == {
        "/app/conf/settings.py": b"A = 1\n",
        "/app/data": b"now a file\n",
    }
    assert "/app/conf" in report.created and "/app/conf" in report.deleted


def test_destination_that_is_a_board_file(link: Link, emulator: Emulator, src: Path) -> None:
    write_tree(emulator.flash_dir, {"lib": "a file"})
    with pytest.raises(SyncError, match="board path /lib is a file, not a folder"):
        sync(link, src, "/lib", progress=False)


def test_mpy_files_import_on_the_board(link: Link, emulator: Emulator, src: Path) -> None:
    sync(link, src, "/lib", progress=False)  # first as source: the .py files must go
    report = sync(link, src, "/lib", mpy=True, progress=False)
    files = board_files(emulator, "/lib")
    assert "/lib/pkg/util.mpy" in files and "/lib/pkg/util.py" not in files  # .py would shadow
    assert "/lib/pkg/__init__.mpy" in files and "/lib/pkg/sub/deep.mpy" in files
    assert "/lib/main.py" in files and "/lib/boot.py" in files  # run by name: stay source
    assert files["/lib/pkg/util.mpy"][:2] == b"M\x06"
    assert sorted(report.deleted) == ["/lib/pkg/__init__.py", "/lib/pkg/sub/deep.py",
                                      "/lib/pkg/util.py"]  # fmt: skip
    code = "import pkg.sub.deep as d, pkg.util as u; print(d.VALUE, u.__file__)"
    assert link.exec(code) == b"42 /lib/pkg/util.mpy\n"
    assert sync(link, src, "/lib", mpy=True, progress=False).uploaded == []


def test_mpy_compile_error_names_the_file(link: Link, tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", {"bad.py": "def f(:\n"})
    with pytest.raises(SyncError, match="bad.py: mpy-cross: .*SyntaxError"):
        sync(link, src, "/", mpy=True, progress=False)


def test_dry_run_changes_nothing(link: Link, emulator: Emulator, src: Path) -> None:
    write_tree(emulator.flash_dir, {"extra.txt": "x"})
    before = board_files(emulator)
    report = sync(link, src, "/", delete=True, mpy=True, dry_run=True, progress=False)
    assert board_files(emulator) == before
    assert report.dry_run and report.deleted == ["/extra.txt"]
    assert "/pkg/util.mpy" in report.uploaded and "/pkg" in report.created
    assert "dry run" in str(report)


def test_symlink_out_of_src_is_refused(link: Link, emulator: Emulator, tmp_path: Path) -> None:
    secret = write_tree(tmp_path / "secret", {"key.txt": "secret"})
    src = write_tree(tmp_path / "src", {"a.py": "A = 1\n"})
    (src / "inner").symlink_to(src / "a.py")  # inside: copied as a file
    (src / "leak").symlink_to(secret / "key.txt")
    with pytest.raises(SyncError, match=r"leak: symlink points outside"):
        sync(link, src, "/", progress=False)
    (src / "leak").unlink()
    (src / "leakdir").symlink_to(secret)
    with pytest.raises(SyncError, match=r"leakdir: symlink points outside"):
        sync(link, src, "/", progress=False)
    (src / "leakdir").unlink()
    (src / "loop").symlink_to(src)
    with pytest.raises(SyncError, match=r"loop: symlink loop"):
        sync(link, src, "/", progress=False)
    assert board_files(emulator) == {}  # refused before anything was written
    (src / "loop").unlink()
    sync(link, src, "/", progress=False)
    assert board_files(emulator) == {"/a.py": b"A = 1\n", "/inner": b"A = 1\n"}


@pytest.mark.parametrize("dst", ["/lib/../..", "/..", "lib", "/lib/./x"])
def test_destination_must_be_a_plain_absolute_path(dst: str, src: Path) -> None:
    with pytest.raises(SyncError, match="destination"):
        sync("no board is opened", src, dst)


def test_names_that_cannot_stay_in_their_folder(src: Path) -> None:
    (src / "back\\slash.py").write_text("")
    with pytest.raises(SyncError, match="cannot be copied"):
        sync("no board is opened", src, "/")


def test_board_paths_are_checked_against_dst() -> None:
    from belay_hook.sync_plan import checked

    assert checked("/lib", "/lib/a/b.py") == "/lib/a/b.py"
    for path in ("/lib", "/libx/a", "/lib/../boot.py", "/lib//a", "/lib/./a", "/other"):
        with pytest.raises(SyncError, match="not inside the destination"):
            checked("/lib", path)


def test_bad_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SyncError, match=f"{tmp_path / 'nope'}: no such folder"):
        sync("no board is opened", tmp_path / "nope")
    (tmp_path / "file.py").write_text("")
    with pytest.raises(SyncError, match="file.py: is a file, not a folder"):
        sync("no board is opened", tmp_path / "file.py")
    src = write_tree(tmp_path / "src", {"ok.py": "", "locked.py": ""})
    (src / "dangling").symlink_to(tmp_path / "missing")
    with pytest.raises(SyncError, match="dangling: broken symlink"):
        sync("no board is opened", src)
    (src / "dangling").unlink()
    os.mkfifo(src / "pipe")
    with pytest.raises(SyncError, match="pipe: neither a regular file nor a folder"):
        sync("no board is opened", src)
    (src / "pipe").unlink()
    real_read = Path.read_bytes

    def read_bytes(path: Path) -> bytes:  # chmod 000 does not stop root, who runs CI
        if path.name == "locked.py":
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(SyncError, match="locked.py: cannot read: Permission denied"):
        sync("no board is opened", src)


def test_progress_bar_on_stderr(link: Link, tmp_path: Path, capsys) -> None:
    src = write_tree(tmp_path / "src", {"big.bin": os.urandom(3 * CHUNK + 10), "small.txt": "s"})
    sync(link, src, "/", progress=True)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2  # not a terminal: a line per file
    assert err[-1].startswith("[########################] 100% 3.0 KiB/3.0 KiB /small.txt")


def test_cli_sync_keeps_the_emulator_flash(tmp_path: Path, src: Path, capsys, micropython) -> None:
    flash = tmp_path / "flash"
    common = ["--dst", "/lib", "--port", "emulator", "--flash", str(flash)]
    assert main(["sync", str(src), *common, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload /lib/pkg/util.py" in out and "would mkdir /lib/pkg" in out
    assert not flash.exists() or not any(flash.iterdir())
    assert main(["sync", str(src), *common]) == 0
    out = capsys.readouterr().out
    assert "upload /lib/main.py" in out and out.rstrip().endswith("0 deleted, 4 folders created")
    assert (flash / "lib/pkg/sub/deep.py").read_text() == TREE["pkg/sub/deep.py"]
    assert main(["sync", str(src), *common, "--delete"]) == 0
    assert f"0 uploaded (0 B), {len(TREE)} unchanged" in capsys.readouterr().out
    assert main(["exec", "import pkg.sub.deep as d; print(d.VALUE)", *common[2:]]) == 0
    assert capsys.readouterr().out == "42\n"


def test_cli_sync_bad_source(tmp_path: Path, capsys) -> None:
    assert main(["sync", str(tmp_path / "nope"), "--port", "/dev/null"]) == 1
    assert capsys.readouterr().err == f"belay-hook sync: {tmp_path / 'nope'}: no such folder\n"


def test_example_syncs_its_library_then_uses_it(micropython: str) -> None:
    run = [sys.executable, "-m", "belay_hook", "run", "examples/06_sync/main.py",
           "--port", "emulator", "HI"]  # fmt: skip
    proc = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "host: lib/ -> /lib: 1 uploaded" in proc.stdout
    assert "device: sending .... .." in proc.stdout
    assert "host: sent 'HI' in 6 flashes" in proc.stdout
    assert proc.stderr.count("Pin(25) -> 1") == 6


BOARD_READER = """
#@mcu
def read(path):
    with open(path) as f:
        return f.read()

#@mcu
def twice(x):
    return 2 * x
"""


@pytest.mark.parametrize("by", ["emulator", "device path"])
def test_sync_under_the_hook_goes_through_its_session(
    by: str, micropython: str, modules, tmp_path: Path
) -> None:
    import belay_hook

    modules.write("reader", BOARD_READER)
    with belay_hook.install("emulator") as hook:
        import reader

        assert reader.twice(21) == 42  # the agent runs and holds the port
        board = hook.session.emulator
        port = "emulator" if by == "emulator" else board.port
        src = write_tree(tmp_path / "data", {"greeting.txt": "hello", "n/deep.txt": "deep"})
        report = sync(port, src, "/data", progress=False)
        assert report.uploaded == ["/data/greeting.txt", "/data/n/deep.txt"]
        assert (board.flash_dir / "data/greeting.txt").read_text() == "hello"  # the same board
        assert reader.read("/data/n/deep.txt") == "deep"  # board code sees what was synced
        assert reader.twice(4) == 8
        again = sync(port, src, "/data", progress=False)  # the session lends its link again
        assert again.skipped == ["/data/greeting.txt", "/data/n/deep.txt"] and not again.uploaded
        assert reader.read("/data/greeting.txt") == "hello"
    fresh = sync("emulator", src, "/data", progress=False)  # no session now: a board of its own
    assert len(fresh.uploaded) == 2


def test_emulator_means_the_board_that_belay_hook_run_started(
    micropython: str, modules, tmp_path: Path
) -> None:
    import belay_hook
    from belay_hook.rpc.connection import device_for

    modules.write("reader", BOARD_READER)
    src = write_tree(tmp_path / "data", {"greeting.txt": "hi"})
    # what `belay-hook run --port emulator` does: start one, install the hook on its device
    with device_for("emulator") as device, belay_hook.install(device):
        import reader

        assert reader.twice(1) == 2
        assert sync("emulator", src, "/", progress=False).uploaded == ["/greeting.txt"]
        assert reader.read("/greeting.txt") == "hi"


# ------------------------------------------------------- what sync leaves alone

BOARD_OWN = {
    "lib/vendor/driver.py": "DRIVER = 1\n",
    "boot.py": "# the board's own boot\n",
    "main.py": "print('the board main')\n",
    "webrepl_cfg.py": "PASS = 'secret'\n",
    "old.txt": "stale\n",
}


def test_cli_delete_keeps_protected_paths_unless_asked(
    tmp_path: Path, capsys, micropython: str
) -> None:
    flash = write_tree(tmp_path / "flash", BOARD_OWN)
    src = write_tree(tmp_path / "src", {"app.py": "print('app')\n"})
    common = ["--port", "emulator", "--flash", str(flash), "--delete"]
    assert main(["sync", str(src), *common, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "would delete /old.txt" in out and "would upload /app.py" in out
    assert "keep /lib (protected; --delete-protected removes it)" in out
    assert not [line for line in out if "delete /lib" in line or "delete /boot" in line]
    summary = "1 deleted, 0 folders created, 4 protected kept (dry run: nothing was changed)"
    assert out[-1].endswith(summary)

    assert main(["sync", str(src), *common]) == 0
    capsys.readouterr()
    left = sorted(p.relative_to(flash).as_posix() for p in flash.rglob("*") if p.is_file())
    assert left == ["app.py", "boot.py", "lib/vendor/driver.py", "main.py", "webrepl_cfg.py"]

    assert main(["sync", str(src), *common, "--delete-protected", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    wanted = ["/lib/vendor/driver.py", "/lib/vendor", "/boot.py", "/lib", "/main.py",
              "/webrepl_cfg.py"]  # fmt: skip
    assert [line for line in out if line.startswith("would delete")] == [
        f"would delete {p}" for p in wanted
    ]


def test_sync_into_a_protected_folder_mirrors_it(link: Link, emulator: Emulator, tmp_path) -> None:
    write_tree(emulator.flash_dir, BOARD_OWN)
    src = write_tree(tmp_path / "src", {"mine.py": "X = 1\n"})
    report = sync(link, src, "/lib", delete=True, progress=False)
    assert report.deleted == ["/lib/vendor/driver.py", "/lib/vendor"] and not report.kept
    report = sync(link, src, "/", delete=True, keep=["/lib", "/main.py"], progress=False)
    assert report.kept == ["/lib", "/main.py"]
    assert sorted(board_files(emulator)) == ["/lib/mine.py", "/main.py", "/mine.py"]


def test_excluded_paths_are_neither_copied_nor_deleted(
    link: Link, emulator: Emulator, tmp_path: Path
) -> None:
    write_tree(emulator.flash_dir, {"secrets.json": "board's own", "notes.md": "board notes"})
    src = write_tree(tmp_path / "src", {
        "app.py": "A = 1\n", "README.md": "# readme\n", "secrets.json": "host's",
        "docs/a.txt": "a", "docs/b.py": "B = 1\n", "other/a.txt": "a",
        "tests/test_app.py": "", "pkg/tests/x.py": "",
    })  # fmt: skip
    exclude = ["*.md", "secrets.json", "docs/*.txt", "tests"]
    report = sync(link, src, "/", delete=True, exclude=exclude, progress=False)
    assert sorted(board_files(emulator)) == [
        "/app.py",
        "/docs/b.py",
        "/notes.md",
        "/other/a.txt",
        "/secrets.json",
    ]
    assert board_files(emulator)["/secrets.json"] == b"board's own"
    assert report.deleted == [] and "/tests" not in report.created
    again = sync(link, src, "/", exclude="*.md", progress=False)  # one pattern, as a string
    assert again.uploaded == [
        "/docs/a.txt",
        "/pkg/tests/x.py",
        "/secrets.json",
        "/tests/test_app.py",
    ]


def test_kept_paths_must_be_board_paths(src: Path) -> None:
    with pytest.raises(SyncError, match="kept path 'lib': give an absolute board path"):
        sync("no board is opened", src, "/", delete=True, keep=["lib"])


def test_interrupted_upload_leaves_the_old_file(
    link: Link, emulator: Emulator, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle of a file: the board keeps the old file under its name, never a
    truncated one; the next sync puts the new one in place."""
    from belay_hook import sync_board

    sync(link, src, "/", progress=False)
    new = bytes(reversed(ALL_BYTES)) * 2
    (src / "data.bin").write_bytes(new)
    real = sync_board.Helper._literal
    pieces = []

    def interrupted(self: sync_board.Helper, chunk: bytes) -> str:
        pieces.append(chunk)
        if len(pieces) == 3:
            raise KeyboardInterrupt
        return real(self, chunk)

    monkeypatch.setattr(sync_board.Helper, "_literal", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sync(link, src, "/", progress=False)
    assert (emulator.flash_dir / "data.bin").read_bytes() == ALL_BYTES
    monkeypatch.setattr(sync_board.Helper, "_literal", real)
    report = sync(link, src, "/", progress=False)
    assert report.uploaded == ["/data.bin"]
    assert (emulator.flash_dir / "data.bin").read_bytes() == new
