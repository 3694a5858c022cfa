# The emulated board's flash filesystem: a host folder mounted as the board's `/`.
import os

_S_IFMT = 0xF000
_S_IFLNK = 0xA000
_EACCES = 13
_ENOTDIR = 20
_EROFS = 30


def Flash(root):
    # The flash folder as the board's `/`. Every path is normalised here (plain
    # VfsPosix(root) lets '/../etc' escape and its rename is broken given a root) and
    # must not pass a symlink (a board's flash has none; one may point off the folder).
    # The host access lives only in this closure, so board code cannot take it from
    # the mounted object (vfs.mount() lists it). Read-only (CircuitPython's drive while
    # USB has it), writes raise OSError 30.
    host = os.VfsPosix()
    host.chdir(root)
    root = host.getcwd().rstrip("/")  # symlinks resolved, to compare with below
    state = {"cwd": "/", "readonly": False}

    def board_path(path):
        if path[:1] != "/":
            path = state["cwd"] + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def host_path(path, writes=False):
        if writes and state["readonly"]:
            raise OSError(_EROFS)
        path = board_path(path)
        folder, name = path.rsplit("/", 1)
        try:
            host.chdir(root + folder)  # the kernel resolves any symlink on the way ...
            inside = host.getcwd() == root + folder  # ... and says where it led
        except OSError:
            inside = True  # no such folder: the operation itself fails as it should
        if not inside:
            raise OSError(_EACCES)
        if name:
            for entry in host.ilistdir(root + folder):
                if entry[0] == name and entry[1] & _S_IFMT == _S_IFLNK:
                    raise OSError(_EACCES)
        return root + path

    class FlashFS:
        def mount(self, readonly, mkfs):
            state["readonly"] = readonly

        def umount(self):
            pass

        def chdir(self, path):
            path = board_path(path)
            if not host.stat(host_path(path))[0] & 0x4000:
                raise OSError(_ENOTDIR)
            state["cwd"] = path

        def getcwd(self):
            return state["cwd"]

        def open(self, path, mode):
            return host.open(host_path(path, "r" not in mode or "+" in mode), mode)

        def ilistdir(self, path):
            return host.ilistdir(host_path(path))

        def stat(self, path):
            return host.stat(host_path(path))

        def statvfs(self, path):
            return host.statvfs(host_path(path))

        def mkdir(self, path):
            host.mkdir(host_path(path, True))

        def rmdir(self, path):
            host.rmdir(host_path(path, True))

        def remove(self, path):
            host.remove(host_path(path, True))

        def rename(self, old, new):
            host.rename(host_path(old, True), host_path(new, True))

    return FlashFS()
