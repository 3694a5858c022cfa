"""Installing libraries on the board: mip indexes (a folder, a loopback HTTP server),
package.json files, single files and package folders, then imported by board code."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import Dict, Iterator

import pytest

from belay_hook import compiler, libraries
from belay_hook.board.link import Link
from belay_hook.cli import main
from belay_hook.libraries import LibraryError, collect, install_packages, rewrite_url

GREET = "import shout\n\ndef hello(name):\n    return shout.loud('hello ' + name)\n"
SHOUT = "def loud(text):\n    return text.upper() + '!'\n"


def make_index(root: Path, packages: Dict[str, Dict[str, str]], deps=None) -> Path:
    """A mip index of source packages: package/py/<name>/latest.json and file/<h[:2]>/<h>."""
    deps = deps or {}
    for name, files in packages.items():
        hashes = []
        for dest, text in files.items():
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            stored = root / "file" / digest[:2] / digest
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_text(text)
            hashes.append([dest, digest])
        meta = {"hashes": hashes, "deps": [[d, "latest"] for d in deps.get(name, [])],
                "version": "1.0"}  # fmt: skip
        folder = root / "package" / "py" / name
        folder.mkdir(parents=True, exist_ok=True)
        for version in ("latest", "1.0"):
            (folder / f"{version}.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return make_index(tmp_path / "index", {"greet": {"greet.py": GREET},
                                           "shout": {"shout.py": SHOUT}},
                      deps={"greet": ["shout"]})  # fmt: skip


@pytest.fixture
def http_index(index: Path) -> Iterator[str]:
    """The index served over HTTP on the loopback interface."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(index))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def board_run(link: Link, code: str) -> str:
    return link.exec(code).decode().strip()


class TestCollect:
    """What would go to the board, worked out without one."""

    def test_package_and_its_dependency_from_a_folder_index(self, index: Path) -> None:
        files = collect(["greet"], index=str(index))
        assert {d: f.data.decode() for d, f in files.items()} == {
            "greet.py": GREET,
            "shout.py": SHOUT,
        }

    def test_versions_and_http_index_agree(self, index: Path, http_index: str) -> None:
        local = collect(["greet@1.0"], index=str(index))
        served = collect(["greet"], index=http_index)
        assert {d: f.data for d, f in local.items()} == {d: f.data for d, f in served.items()}

    def test_unknown_package_names_the_index(self, index: Path) -> None:
        with pytest.raises(LibraryError, match=r"nosuch@latest.*not in the index"):
            collect(["nosuch"], index=str(index))

    def test_tampered_file_fails_its_hash(self, tmp_path: Path) -> None:
        index = make_index(tmp_path, {"odd": {"odd.py": "ODD = 'tamper test'\n"}})
        meta = json.loads((index / "package/py/odd/latest.json").read_text())
        digest = meta["hashes"][0][1]
        (index / "file" / digest[:2] / digest).write_text("import evil\n")
        with pytest.raises(LibraryError, match=rf"odd.py.*does not match its hash {digest}"):
            collect(["odd"], index=str(index))

    def test_destination_leaving_the_target_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "evil.py").write_text("x = 1\n")
        (tmp_path / "package.json").write_text(json.dumps({"urls": [["../boot.py", "evil.py"]]}))
        with pytest.raises(LibraryError, match=r"bad destination '\.\./boot\.py'"):
            collect([str(tmp_path / "package.json")])

    def test_package_json_with_relative_urls_and_a_local_dep(self, tmp_path: Path) -> None:
        (tmp_path / "dep.py").write_text(SHOUT)
        pkg = tmp_path / "pkg"
        (pkg / "src").mkdir(parents=True)
        (pkg / "src" / "core.py").write_text("V = 1\n")
        (pkg / "package.json").write_text(
            json.dumps(
                {"urls": [["mylib/__init__.py", "src/core.py"]], "deps": [["../dep.py", ""]]}
            )
        )
        files = collect(["./pkg"], base=tmp_path)
        assert sorted(files) == ["dep.py", "mylib/__init__.py"]
        assert files["mylib/__init__.py"].data == b"V = 1\n"

    def test_missing_file_of_a_package_names_both(self, tmp_path: Path) -> None:
        (tmp_path / "package.json").write_text(json.dumps({"urls": [["a.py", "gone.py"]]}))
        with pytest.raises(LibraryError, match=r"package\.json: a\.py: .*gone\.py: no such file"):
            collect([str(tmp_path / "package.json")])

    def test_index_package_missing_a_url_is_not_taken_for_a_missing_build(
        self, tmp_path: Path, http_index: str, index: Path
    ) -> None:
        folder = index / "package" / "6" / "broken"
        folder.mkdir(parents=True)
        (folder / "latest.json").write_text(json.dumps({"urls": [["b.py", "nothere.py"]]}))
        fmt = compiler.BoardFormat(6, 3)
        with pytest.raises(LibraryError, match=r"broken@latest: b\.py: .*nothere\.py: not found"):
            collect(["broken"], index=http_index, fmt=fmt)

    def test_package_folder_keeps_its_name(self, tmp_path: Path) -> None:
        (tmp_path / "sensors" / "drivers").mkdir(parents=True)
        (tmp_path / "sensors" / "__init__.py").write_text("")
        (tmp_path / "sensors" / "drivers" / "bme.py").write_text("T = 21\n")
        assert sorted(collect([str(tmp_path / "sensors")])) == [
            "sensors/__init__.py",
            "sensors/drivers/bme.py",
        ]

    def test_missing_path_and_plain_folder_are_named(self, tmp_path: Path) -> None:
        with pytest.raises(LibraryError, match=r"nothere\.py: no such file"):
            collect([str(tmp_path / "nothere.py")])
        (tmp_path / "notes").mkdir()
        with pytest.raises(LibraryError, match=r"notes: not a library"):
            collect([str(tmp_path / "notes")])

    def test_github_and_gitlab_shorthands(self) -> None:
        assert rewrite_url("github:org/repo/lib/x.py", "v2") == (
            "https://raw.githubusercontent.com/org/repo/v2/lib/x.py"
        )
        assert rewrite_url("gitlab:org/repo/x.py") == "https://gitlab.com/org/repo/-/raw/HEAD/x.py"
        assert rewrite_url("https://example.org/x.py") == "https://example.org/x.py"


class TestOnTheBoard:
    def test_installed_compiled_and_importable(self, link: Link, index: Path) -> None:
        report = install_packages(["greet"], link, index=str(index))
        assert sorted(report.uploaded) == ["/lib/greet.mpy", "/lib/shout.mpy"]
        listing = board_run(link, "import os\nprint(sorted(os.listdir('/lib')))")
        assert listing == "['greet.mpy', 'shout.mpy']"
        assert board_run(link, "import greet\nprint(greet.hello('board'))") == "HELLO BOARD!"

    def test_index_mpy_builds_are_used_as_they_are(self, link: Link, tmp_path: Path) -> None:
        fmt = compiler.BoardFormat.from_mpy(
            int(board_run(link, "import sys\nprint(sys.implementation._mpy)"))
        )
        built = collect(
            ["shout"],
            index=str(make_index(tmp_path / "src", {"shout": {"shout.py": SHOUT}})),
            fmt=fmt,
        )
        mpy = built["shout.mpy"].data
        digest = hashlib.sha256(mpy).hexdigest()[:8]
        index = tmp_path / "mpy"
        (index / "file" / digest[:2]).mkdir(parents=True)
        (index / "file" / digest[:2] / digest).write_bytes(mpy)
        (index / "package" / str(fmt.version) / "shout").mkdir(parents=True)
        meta = {"hashes": [["shout.mpy", digest]], "version": "2.0"}
        (index / "package" / str(fmt.version) / "shout" / "latest.json").write_text(
            json.dumps(meta)
        )
        assert install_packages(["shout"], link, index=str(index)).uploaded == ["/lib/shout.mpy"]
        assert board_run(link, "import shout\nprint(shout.loud('mpy'))") == "MPY!"
        size = board_run(link, "import os\nprint(os.stat('/lib/shout.mpy')[6])")
        assert int(size) == len(mpy)

    def test_unchanged_files_are_not_sent_again(self, link: Link, http_index: str) -> None:
        first = install_packages(["greet"], link, index=http_index)
        again = install_packages(["greet"], link, index=http_index)
        assert len(first.uploaded) == 2 and again.uploaded == []
        assert sorted(again.skipped) == ["/lib/greet.mpy", "/lib/shout.mpy"]

    def test_no_mpy_sends_source_to_another_target(self, link: Link, index: Path) -> None:
        install_packages(["shout"], link, index=str(index), mpy=False, target="/extra")
        code = "import sys\nsys.path.append('/extra')\nimport shout\nprint(shout.loud('a'))"
        assert board_run(link, "import os\nprint(os.listdir('/extra'))") == "['shout.py']"
        assert board_run(link, code) == "A!"

    def test_marked_module_uses_the_library(self, emulator, modules, http_index: str) -> None:
        from belay_hook.importhook import install

        install_packages(["greet"], emulator.port, index=http_index)
        modules.write(
            "uses_greet",
            """
            #@mcu
            import greet

            #@mcu
            def greeting(name):
                return greet.hello(name)
            """,
        )
        with install(emulator.port):
            import uses_greet

            assert uses_greet.greeting("hook") == "HELLO HOOK!"


def test_install_while_the_hook_holds_the_board(micropython: str, modules, index: Path) -> None:
    from belay_hook.importhook import install

    modules.write("early", "#@mcu\ndef ping():\n    return 'pong'\n")
    modules.write("late", "#@mcu\nimport greet\n\n#@mcu\ndef hi():\n    return greet.hello('x')\n")
    with install("emulator"):
        import early

        assert early.ping() == "pong"
        report = install_packages(["greet"], "emulator", index=str(index))
        assert sorted(report.uploaded) == ["/lib/greet.mpy", "/lib/shout.mpy"]
        import late

        assert late.hi() == "HELLO X!"
        assert early.ping() == "pong"  # the agent came back with every bundle


def test_cli_installs_pyproject_dependencies(
    micropython: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    project = tmp_path / "project"
    (project / "vendor").mkdir(parents=True)
    (project / "vendor" / "util.py").write_text("def twice(x):\n    return 2 * x\n")
    (project / "pyproject.toml").write_text(
        '[tool.belay_hook]\ndependencies = ["vendor/util.py"]\n'
    )
    nested = project / "app"
    nested.mkdir()
    (nested / "pyproject.toml").write_text('[project]\nname = "app"\n')  # hides nothing
    monkeypatch.chdir(nested)
    flash = tmp_path / "flash"
    assert main(["install", "--port", "emulator", "--flash", str(flash)]) == 0
    assert "installed /lib/util.mpy" in capsys.readouterr().out
    assert (flash / "lib" / "util.mpy").read_bytes()[:1] == b"M"


def test_cli_error_names_the_package(micropython: str, index: Path, capsys) -> None:
    code = main(["install", "nosuch", "--index", str(index), "--port", "emulator"])
    assert code == 1
    assert "nosuch@latest: not in the index" in capsys.readouterr().err


def test_pyproject_dependencies_must_be_strings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.belay_hook]\ndependencies = [1]\n")
    with pytest.raises(LibraryError, match=r"pyproject.toml: .*list of strings"):
        libraries.pyproject_dependencies(tmp_path)
