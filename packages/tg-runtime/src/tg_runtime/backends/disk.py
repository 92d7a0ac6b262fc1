"""DISK: buffers backed by a file, memory-mapped, so a large file (a safetensors checkpoint) is read lazily.

A device is one file: `Device["DISK:/path/to/file"]`. Plain `DISK` names no file and is unavailable, which
`Device.available()` reports. The path must name an existing regular file (missing: `FileNotFoundError`
naming the path; a directory or other special file: `OSError`). A relative path is taken from the working
directory when the device is first used; the file opened then is the one every buffer of the device reads,
even if the path is later renamed or replaced.

Memory:

- The whole file is mapped with `mmap` and shared: writes go to the file. It is mapped read-only when the
  file is not writable: when this process may not write it, and also when it has no write permission bit at
  all (`chmod a-w`), so a file a user marked read-only is never written, not even by root.
- `Buffer("DISK:/path", size, dtype)` covers the file from byte 0; `buf.view(size, dtype, offset)` covers a
  slice, which is how a loader addresses each tensor. Nothing is read until bytes are copied out, and then
  only those bytes; the handle's `mv` is a zero-copy memoryview of its bytes.
- Every allocation, view and copy is checked against the file's size *at that moment* (`fstat`): bytes past
  the end give a `ValueError` naming the offset, the size asked and the file size. Zero-length buffers are
  fine anywhere up to and including the end (an empty file can only hold zero-length buffers).
- A file that changes size after it was mapped is mapped again at the next allocation: new buffers see the
  new size, older ones keep their extent. If it shrank, touching a mapped page past the new end would kill
  the process with SIGBUS, so copies re-check the size first and raise instead. What no check can catch is a
  file truncated *during* a copy, or while a caller holds a handle's `mv`: do not truncate a file tg reads.
- Blocks are windows into the one mapping: there is nothing to give back or to cache, so `free` only updates
  `in_use`. Writes reach the disk when the kernel writes the pages back.

A DISK buffer reaches another device by being copied out (`Buffer.copy_to("CPU")`, or `copyout` into the
other device's host memory). DISK runs no programs: it has no compiler (`Compiled.build` raises
`DeviceUnavailable`), its program factory raises, and its capabilities name no language.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import weakref
from typing import Any

from tg_runtime.allocator import Allocator
from tg_runtime.device import Capabilities, Compiled, DeviceUnavailable, Program
from tg_uop.dtype import dtypes


class DiskFile:
    """An opened file and its current mapping (remade when the file's size changes)."""

    def __init__(self, device: str, path: str) -> None:
        self.device, self.path = device, path
        # stat before open: opening a FIFO would block, and the errors read better
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"{device}: no such file", path) from None
        _check_regular(device, path, st.st_mode)
        self.writable = bool(st.st_mode & 0o222) and os.access(path, os.W_OK)
        try:
            fd = os.open(path, os.O_RDWR if self.writable else os.O_RDONLY)
        except OSError as e:
            if not self.writable or e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            self.writable, fd = False, os.open(path, os.O_RDONLY)  # e.g. a read-only file system
        self.fd = fd
        weakref.finalize(self, os.close, fd)
        _check_regular(device, path, os.fstat(fd).st_mode)  # the path may have been swapped since the stat
        self.mapping: mmap.mmap | None = None
        self.mapped_size = -1

    def size(self) -> int:
        """The file's size now."""
        return os.fstat(self.fd).st_size

    def current_mapping(self) -> tuple[mmap.mmap | None, int]:
        """A mapping of the whole file as it is now (None for an empty file, which mmap refuses) and its size."""
        size = self.size()
        if size != self.mapped_size:
            # the old mapping stays alive as long as handles into it do
            access = mmap.ACCESS_WRITE if self.writable else mmap.ACCESS_READ
            self.mapping = mmap.mmap(self.fd, size, access=access) if size else None
            self.mapped_size = size
        return self.mapping, size

    def check(self, offset: int, nbytes: int, size: int | None = None) -> None:
        """ValueError unless bytes [offset, offset + nbytes) lie inside the file."""
        if size is None:
            size = self.size()
        if offset < 0 or nbytes < 0 or offset + nbytes > size:
            raise ValueError(f"{self.device}: {nbytes} bytes at offset {offset} are outside the file ({size} bytes)")


def _check_regular(device: str, path: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"{device} needs a regular file, not a directory", path)
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"{device} needs a regular file", path)


class DiskMemory:
    """`nbytes` bytes at byte `offset` of a file's mapping."""

    __slots__ = ("file", "mapping", "offset", "nbytes")

    def __init__(self, file: DiskFile, mapping: mmap.mmap | None, offset: int, nbytes: int) -> None:
        self.file, self.mapping, self.offset, self.nbytes = file, mapping, offset, nbytes

    def __repr__(self) -> str:
        return f"<DiskMemory {self.file.path} [{self.offset}:{self.offset + self.nbytes}]>"

    @property
    def mv(self) -> memoryview:
        """The bytes without a copy (read-only when the file is). Reading it after the file shrank is SIGBUS."""
        if self.nbytes == 0 or self.mapping is None:
            return memoryview(bytearray())
        return memoryview(self.mapping)[self.offset : self.offset + self.nbytes]


class DiskAllocator(Allocator):
    """Windows into a file's mapping: nothing is copied at alloc, nothing cached at free."""

    def __init__(self, device: str, file: DiskFile) -> None:
        super().__init__(device)
        self.file = file

    def free(self, opaque: Any, nbytes: int) -> None:
        self.in_use -= nbytes  # a window holds nothing of its own: there is no block to keep for reuse

    def _alloc(self, nbytes: int) -> DiskMemory:
        mapping, size = self.file.current_mapping()
        self.file.check(0, nbytes, size)
        return DiskMemory(self.file, mapping, 0, nbytes)

    def _free(self, opaque: Any) -> None:
        pass

    def _offset(self, opaque: DiskMemory, offset: int, nbytes: int) -> DiskMemory:
        if offset < 0 or nbytes < 0 or offset + nbytes > opaque.nbytes:
            raise ValueError(
                f"{self.device}: a view of {nbytes} bytes at offset {offset} is outside its base "
                f"({opaque.nbytes} bytes)"
            )
        self.file.check(opaque.offset + offset, nbytes)
        return DiskMemory(self.file, opaque.mapping, opaque.offset + offset, nbytes)

    def check_readable(self, opaque: DiskMemory) -> None:
        self.file.check(opaque.offset, opaque.nbytes)

    def _copyout(self, dest: memoryview, src: DiskMemory) -> None:
        self.file.check(src.offset, src.nbytes)  # a file that shrank since: raise rather than SIGBUS
        dest[:] = src.mv

    def _copyin(self, dest: DiskMemory, src: memoryview) -> None:
        if not self.file.writable:
            raise PermissionError(
                errno.EACCES, f"{self.device}: the file is read-only, cannot write {src.nbytes} bytes", self.file.path
            )
        self.file.check(dest.offset, dest.nbytes)
        dest.mv[:] = src


def _no_program(name: str, binary: bytes) -> Program:
    raise DeviceUnavailable(f"DISK cannot run programs (asked for {name!r})")


def create_device(name: str) -> Compiled:
    path = name.partition(":")[2]
    if not path:
        raise DeviceUnavailable("DISK needs a file: DISK:/path/to/file")
    caps = Capabilities(language="", dtypes=frozenset(dtypes.all()), extra={"path": path})
    return Compiled(name, DiskAllocator(name, DiskFile(name, path)), None, _no_program, caps)
