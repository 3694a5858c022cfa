"""The wire protocol is named once: the agent's const() table agrees with rpc/ops.py."""

from __future__ import annotations

import ast
import re

from belay_hook import mcu_files
from belay_hook.rpc import codec, ops


def agent_consts() -> dict:
    """Every ``_NAME = const(value)`` in mcu/agent.py, as NAME -> value."""
    tree = ast.parse(mcu_files.path("agent.py").read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "const"
        ):
            found[node.targets[0].id.lstrip("_")] = ast.literal_eval(node.value.args[0])
    return found


def test_agent_declares_every_protocol_name_alike() -> None:
    board = agent_consts()
    host = ops.table()
    host.update({n: getattr(codec, n) for n in ("FIX", "FIX_COUNT", "FIX2", "FIX2_COUNT")})
    for name in ("ESCAPED",):  # a bytes table, spelled out in the agent's unescape loop
        host.pop(name, None)
    assert board == host


def test_no_code_means_two_things() -> None:
    for prefix in ("OP_", "KIND_", "PROXY_"):
        values = [v for k, v in ops.table().items() if k.startswith(prefix)]
        assert len(values) == len(set(values)), prefix


def test_agent_uses_names_not_numbers_for_ops() -> None:
    """No op, kind or proxy operation is compared or sent as a bare number or letter."""
    source = mcu_files.path("agent.py").read_text(encoding="utf-8")
    assert not re.search(r"\bop == \d", source)
    assert not re.search(r"_send\(b?\"", source)
    assert not re.search(r"_send\(\d", source)


def test_agent_unescapes_what_the_host_escapes() -> None:
    source = mcu_files.path("agent.py").read_text(encoding="utf-8")
    listed = re.search(r'for e in b"([^"]*)":', source).group(1)
    undone = ast.literal_eval(f'b"{listed}"') + bytes((ops.ESCAPE,))
    assert sorted(undone) == sorted(ops.ESCAPED)
