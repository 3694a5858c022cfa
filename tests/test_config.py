"""Where settings and caches are found: pyproject.toml lookup and the platform cache folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from belay_hook import cache
from belay_hook.board import ports
from belay_hook.errors import BelayHookError


class TestCacheFolder:
    @pytest.fixture(autouse=True)
    def _no_override(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.delenv("BELAY_HOOK_CACHE")
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def test_linux_uses_xdg_cache_home(self, monkeypatch, tmp_path: Path) -> None:
        monkeypatch.setattr(sys, "platform", "linux")
        assert cache.cache_dir() == tmp_path / "home" / ".cache" / "belay_hook"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache.cache_dir() == tmp_path / "xdg" / "belay_hook"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid per the spec
        assert cache.cache_dir() == tmp_path / "home" / ".cache" / "belay_hook"

    def test_macos_uses_library_caches(self, monkeypatch, tmp_path: Path) -> None:
        monkeypatch.setattr(sys, "platform", "darwin")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # not a macOS setting
        assert cache.cache_dir() == tmp_path / "home" / "Library" / "Caches" / "belay_hook"

    def test_windows_uses_local_app_data(self, monkeypatch, tmp_path: Path) -> None:
        monkeypatch.setattr(sys, "platform", "win32")
        monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
        assert cache.cache_dir() == tmp_path / "Local" / "belay_hook" / "Cache"
        monkeypatch.delenv("LOCALAPPDATA")
        assert cache.cache_dir() == tmp_path / "home" / "AppData" / "Local" / "belay_hook" / "Cache"

    def test_override_wins_everywhere(self, monkeypatch, tmp_path: Path) -> None:
        monkeypatch.setenv("BELAY_HOOK_CACHE", str(tmp_path / "mine"))
        for platform in ("linux", "darwin", "win32"):
            monkeypatch.setattr(sys, "platform", platform)
            assert cache.cache_dir() == tmp_path / "mine"

    def test_entries_land_in_the_platform_folder(self, monkeypatch, tmp_path: Path) -> None:
        monkeypatch.setattr(sys, "platform", "darwin")
        cache.put("entry", b"data")
        assert (tmp_path / "home/Library/Caches/belay_hook/entry").read_bytes() == b"data"
        assert cache.get("entry") == b"data"


class TestPyprojectLookup:
    def test_nested_file_without_our_table_hides_nothing(self, tmp_path: Path) -> None:
        (tmp_path / "pyproject.toml").write_text('[tool.belay_hook]\nport = "a1"\n')
        sub = tmp_path / "packages" / "app"
        sub.mkdir(parents=True)
        (sub / "pyproject.toml").write_text('[project]\nname = "app"\n[tool.ruff]\n')
        assert ports.pyproject_setting("port", sub) == "a1"
        assert ports.pyproject_config(sub) == ({"port": "a1"}, tmp_path / "pyproject.toml")
        assert ports.resolve(start=sub) == "/dev/ttyACM1"

    def test_nearest_table_wins_whole(self, tmp_path: Path) -> None:
        (tmp_path / "pyproject.toml").write_text('[tool.belay_hook]\nport = "a1"\n')
        sub = tmp_path / "app"
        sub.mkdir()
        (sub / "pyproject.toml").write_text('[tool.belay_hook]\ndependencies = ["x"]\n')
        assert ports.pyproject_setting("dependencies", sub) == ["x"]
        assert ports.pyproject_setting("port", sub) is None  # no merging across projects

    def test_broken_file_is_named(self, tmp_path: Path) -> None:
        (tmp_path / "pyproject.toml").write_text("[tool.belay_hook\nport = 1\n")
        with pytest.raises(BelayHookError, match=r"pyproject.toml: cannot read"):
            ports.pyproject_setting("port", tmp_path)
