"""Packaging entry point: the package list is found, not written out (metadata: setup.cfg).

setup.cfg alone cannot say "every belay_hook subpackage, plus the top-level mcu/
folder installed as belay_hook.mcu": its ``find:`` returns one tree only. Here both
trees are found, so a new subpackage on either side ships without an edit.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=find_namespace_packages(include=["belay_hook", "belay_hook.*"])
    + ["belay_hook." + name for name in find_namespace_packages(include=["mcu", "mcu.*"])],
)
