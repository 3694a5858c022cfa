"""Edited code runs: a module reloaded or imported again never leaves old code on the board."""

from __future__ import annotations

import importlib
import threading


def test_reloaded_module_is_what_other_board_code_imports(modules, hook) -> None:
    modules.write("scaling", "#@mcu\ndef scale(x):\n    return 2 * x\n")
    modules.write(
        "reader",
        "#@mcu\nfrom scaling import scale\n\n#@mcu\ndef reading():\n    return scale(21)\n",
    )
    import reader
    import scaling

    assert (reader.reading(), scaling.scale(1)) == (42, 2)
    modules.write("scaling", "#@mcu\ndef scale(x):\n    return 10 * x\n")
    importlib.reload(scaling)
    importlib.reload(reader)  # as in CPython: its `from scaling import` is taken again
    assert (reader.reading(), scaling.scale(1)) == (210, 10)


def test_edited_file_runs_its_new_code_when_imported_again(modules, micropython) -> None:
    from belay_hook.importhook import install

    modules.write("tune", "#@mcu\ndef note():\n    return 'A'\n")
    for expected in ("A", "B"):
        with install("emulator"):
            import tune

            assert tune.note() == expected
        modules.write("tune", "#@mcu\ndef note():\n    return 'B'\n")


def test_one_module_imported_from_two_threads_at_once(modules, hook) -> None:
    modules.write("counter", "#@mcu\nloads = [0]\n\n#@mcu setup\ndef setup():\n"
                  "    loads[0] += 1\n\n#@mcu\ndef count():\n    return loads[0]\n")  # fmt: skip
    start = threading.Barrier(2)
    seen = []

    def importer() -> None:
        start.wait()
        import counter

        seen.append(counter.count())

    threads = [threading.Thread(target=importer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1]  # one import, its setup ran once
