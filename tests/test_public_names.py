"""Every public name of belay_hook means one thing, whatever has been imported since.

A submodule import sets the package attribute of its name, so a module named like a
public function (``belay_hook/connect.py``) would replace ``belay_hook.connect`` with
a module the moment anything imported it. This runs in a fresh interpreter: under
pytest every submodule is imported already, which would hide the swap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import importlib, json, pkgutil, sys
import belay_hook

names = [*belay_hook.__all__, "emulator", "strategies", "__version__"]

def look():
    found = {}
    for name in names:
        try:
            found[name] = getattr(belay_hook, name)
        except AttributeError:  # a subpackage is an attribute once imported
            found[name] = importlib.import_module("belay_hook." + name)
    return found

before = look()
imported = []
for info in pkgutil.walk_packages(belay_hook.__path__, "belay_hook."):
    if info.name.endswith(".__main__") or info.name.startswith("belay_hook.mcu"):
        continue  # __main__ runs the CLI; mcu/ is board code
    importlib.import_module(info.name)
    imported.append(info.name)
after = look()
print(json.dumps({
    "imported": imported,
    "changed": [n for n in names if after[n] is not before[n]],
    "kinds": {n: type(after[n]).__name__ for n in names},
    "connect_callable": [callable(before["connect"]), callable(after["connect"])],
}))
"""


def test_public_names_survive_importing_every_submodule() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert "belay_hook.rpc.session" in result["imported"]  # the walk reached the subpackages
    assert result["changed"] == []
    assert result["connect_callable"] == [True, True]
    kinds = result["kinds"]
    assert kinds["emulator"] == kinds["strategies"] == "module"
    assert kinds["__version__"] == "str"
    functions = ("connect", "install", "load", "split", "on_event", "timeout")
    assert all(kinds[n] == "function" for n in functions), kinds
    assert kinds["Split"] == kinds["MarkerError"] == "type"
