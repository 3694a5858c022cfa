# The emulated board's flash filesystem: a host folder mounted as the board's `/`.
import os


class Flash:
    """The flash folder as the board's `/`: paths are resolved here, so `..` stops at `/`.

    Plain VfsPosix(root) lets '/../etc' escape the root (and its rename is broken when
    given a root), so every path is normalised first and handed to a root-less VfsPosix.
    Mounted read-only (CircuitPython's drive while USB has it), writes raise OSError 30.
    """

    def __init__(self, root):
        self._root = root.rstrip("/")
        self._host = os.VfsPosix()
        self._cwd = "/"
        self._readonly = False

    def _path(self, path):
        if path[:1] != "/":
            path = self._cwd + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def _host_path(self, path):
        return self._root + self._path(path)

    def _writable_path(self, path):
        if self._readonly:
            raise OSError(30)  # EROFS
        return self._host_path(path)

    def mount(self, readonly, mkfs):
        self._readonly = readonly

    def umount(self):
        pass

    def chdir(self, path):
        path = self._path(path)
        if not self._host.stat(self._root + path)[0] & 0x4000:
            raise OSError(20)  # ENOTDIR
        self._cwd = path

    def getcwd(self):
        return self._cwd

    def open(self, path, mode):
        writes = "r" not in mode or "+" in mode
        return self._host.open((self._writable_path if writes else self._host_path)(path), mode)

    def ilistdir(self, path):
        return self._host.ilistdir(self._host_path(path))

    def stat(self, path):
        return self._host.stat(self._host_path(path))

    def statvfs(self, path):
        return self._host.statvfs(self._host_path(path))

    def mkdir(self, path):
        self._host.mkdir(self._writable_path(path))

    def rmdir(self, path):
        self._host.rmdir(self._writable_path(path))

    def remove(self, path):
        self._host.remove(self._writable_path(path))

    def rename(self, old, new):
        self._host.rename(self._writable_path(old), self._writable_path(new))
