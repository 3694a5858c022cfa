"""Runs the MicroPython VM behind Linux Landlock: the OS-level half of the emulator's sandbox.

The bridge runs ``python jail.py FLASH STATE VMFOLDER -- micropython ARGS...`` (this file
by path, so that starting a VM imports no more than it needs). It loads the VM (the
``micropython_run`` extension of the emulator extra), then restricts itself and every
process it could start: nothing may be executed; files are readable only under the VM
folder (the emulator's own board modules), readable and writable only under FLASH and
STATE; signals and ptrace reach only its own processes; and (seccomp, x86_64) it can
open no Unix-domain socket, which Landlock does not cover: a socket file such as
docker.sock would be a way out. Then it runs the VM in this process.

Landlock needs no privileges (Linux 5.13 or newer with it enabled). Without it the VM
runs unrestricted and board code meets only the Python layer of the sandbox
(mcu/emulator/sandbox.py); `available` says which. Where the kernel refuses all the same
(a container's seccomp policy, say), the VM runs and STATE/jail-error says why.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import List

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # same on every Linux arch
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE, _MAKE_DIR, _MAKE_REG = 1 << 4, 1 << 5, 1 << 7, 1 << 8
_EVERY_V1_RIGHT = (1 << 13) - 1  # ABI 1: execute, read, write, remove, make any file kind
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2 and 3
_SCOPE_SIGNAL = 1 << 1  # ABI 6
_READ = _READ_FILE | _READ_DIR
_READ_WRITE = _READ | _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_DIR | _MAKE_REG


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]  # fmt: skip


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]  # fmt: skip


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where there is none."""
    libc = _libc()
    if libc is None:
        return 0
    return max(0, libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION))


def available() -> bool:
    """Whether VMs started here run behind Landlock."""
    return abi_version() > 0


def wraps(micropython: str) -> bool:
    """Whether a VM at path `micropython` can run jailed: Landlock is there and it is the
    emulator extra's VM (a script of this very Python around ``micropython_run``)."""
    beside = os.path.join(os.path.dirname(sys.executable), "micropython")
    if not (available() and os.path.realpath(micropython) == os.path.realpath(beside)):
        return False
    from importlib.util import find_spec

    return find_spec("micropython_run") is not None


def restrict(read: List[str], read_write: List[str]) -> bool:
    """Restrict this process and its future children to `read` and `read_write` folders,
    with nothing executable; False (nothing done) without Landlock."""
    abi = abi_version()
    if abi <= 0:
        return False
    libc = _libc()
    extra = (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    # Fields an older kernel does not know are zero, which it accepts.
    attr = _RulesetAttr(_EVERY_V1_RIGHT | extra, 0, _SCOPE_SIGNAL if abi >= 6 else 0)
    size = ctypes.c_size_t(ctypes.sizeof(attr))
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for folders, access in ((read, _READ), (read_write, _READ_WRITE | extra)):
            for folder in folders:
                fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
                try:
                    rule = _PathBeneath(access, fd)
                    if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule {folder} failed")
                finally:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.syscall(_RESTRICT_SELF, ruleset, 0):
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return True


def forbid_unix_sockets() -> bool:
    """Make ``socket(AF_UNIX, ...)`` fail with EACCES in this process and its children
    (a seccomp filter, x86_64 Linux only); False (nothing done) elsewhere."""
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        return False
    ld, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    allow, deny, kill = 0x7FFF0000, 0x00050000 | 13, 0x80000000  # EACCES
    program = [  # (code, jump if true, jump if false, k)
        (ld, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, kill),  # another ABI: kill
        (ld, 0, 0, 0), (0x35, 0, 1, 0x40000000), (ret, 0, 0, deny),  # JGE: x32 calls
        (jeq, 0, 3, 41),  # socket()
        (ld, 0, 0, 16), (jeq, 0, 1, 1), (ret, 0, 0, deny),  # its family is AF_UNIX
        (ret, 0, 0, allow),
    ]  # fmt: skip
    filters = (_SockFilter * len(program))(*program)
    fprog = _SockFprog(len(program), filters)
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.prctl(
        _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0
    ):
        raise OSError(ctypes.get_errno(), "seccomp filter failed")
    return True


def main(argv: List[str]) -> int:
    """FLASH STATE VMFOLDER -- micropython ARGS: run the VM restricted (module docstring)."""
    flash, state, vm_folder, dash, *vm_argv = argv
    if dash != "--":
        raise SystemExit("usage: jail.py FLASH STATE VMFOLDER -- micropython ARGS...")
    from micropython_run import run_main  # loaded before its library files go out of reach

    try:
        if restrict([vm_folder], [flash, state]):
            forbid_unix_sockets()
    except OSError as exc:  # e.g. a container's seccomp policy: the Python layer still
        with open(os.path.join(state, "jail-error"), "w") as note:  # holds; say why
            note.write(f"{exc}\n")
    return run_main(vm_argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
