"""`Buffer`: a typed array on a device, allocated on first use.

>>> import struct
>>> from tg_runtime import Buffer
>>> from tg_uop import dtypes
>>> b = Buffer("PYTHON", 3, dtypes.int32).copyin(memoryview(struct.pack("3i", 1, 2, 3)))
>>> b.as_memoryview().cast("i").tolist()
[1, 2, 3]
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

from tg_runtime.device import Device, canonicalize
from tg_uop.dtype import DType

# numbers Buffers in the order they are made: TinyJit tells the buffers a captured call made (its outputs) from
# the ones that existed before it (weights, state)
_serials = itertools.count()

# the largest buffer a 64-bit byte offset can address: bigger ones fail when they are made, not when used
MAX_BYTES = 2**63 - 1


def next_buffer_serial() -> int:
    """A number smaller than the `serial` of every Buffer made from now on."""
    return next(_serials)


class Buffer:
    """`size` elements of `dtype` on `device`. A view (`base`, `offset`) shares its base's memory.
    `serial` numbers buffers in the order they were made."""

    def __init__(self, device: str, size: int, dtype: DType, base: Buffer | None = None, offset: int = 0) -> None:
        if size < 0:
            raise ValueError(f"Buffer: size must be >= 0, got {size}")
        if size * dtype.itemsize > MAX_BYTES:
            raise MemoryError(
                f"Buffer: {size} x {dtype!r} is {size * dtype.itemsize} bytes, more than any device holds"
            )
        self.device, self.size, self.dtype = canonicalize(device), size, dtype
        self.base, self.offset = base, offset
        self.serial = next(_serials)
        if base is not None:
            if base.base is not None:
                raise ValueError("Buffer: a view must be made from a base buffer")
            if offset < 0 or offset + self.nbytes > base.nbytes:
                raise ValueError(
                    f"Buffer view of {self.nbytes} bytes at offset {offset} is outside its base of {base.nbytes} bytes"
                )
            if base.device != self.device:
                raise ValueError(f"Buffer view on {self.device} of a base on {base.device}")
        self._handle: Any = None

    def __repr__(self) -> str:
        state = "allocated" if self.is_allocated else "lazy"
        return f"<Buffer {self.device} {self.size} {self.dtype!r} {state}>"

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def is_allocated(self) -> bool:
        return self._handle is not None

    @property
    def allocator(self) -> Any:
        return Device[self.device].allocator

    def allocate(self) -> Buffer:
        """Get device memory now (it is otherwise taken on first copy or launch)."""
        if self._handle is None:
            if self.base is not None:
                self._handle = self.allocator.offset(self.base.allocate().handle, self.offset, self.nbytes)
            else:
                self._handle = self.allocator.alloc(self.nbytes)
                weakref.finalize(self, self.allocator.free, self._handle, self.nbytes)
        return self

    @property
    def handle(self) -> Any:
        """The backend's handle to the memory (allocating it if needed)."""
        return self.allocate()._handle

    def check_readable(self) -> None:
        """Raise now if copying the contents out would fail (a DISK file that shrank since it was mapped)."""
        self.allocator.check_readable(self.handle)

    def view(self, size: int, dtype: DType, offset: int) -> Buffer:
        """A buffer of `size` `dtype`s sharing this buffer's memory from byte `offset`."""
        return Buffer(self.device, size, dtype, base=self, offset=offset)

    def copyin(self, src: memoryview) -> Buffer:
        """Copy host bytes in; the source must be exactly `nbytes` long."""
        src = memoryview(src).cast("B")
        if src.nbytes != self.nbytes:
            raise ValueError(f"copyin: {src.nbytes} bytes given for a buffer of {self.nbytes} bytes")
        self.allocator.copyin(self.handle, src)
        return self

    def copyout(self, dest: memoryview) -> memoryview:
        """Copy the contents into a writable host buffer of exactly `nbytes` bytes."""
        dest = memoryview(dest).cast("B")
        if dest.nbytes != self.nbytes:
            raise ValueError(f"copyout: {dest.nbytes} bytes given for a buffer of {self.nbytes} bytes")
        Device[self.device].synchronize()
        self.allocator.copyout(dest, self.handle)
        return dest

    def as_memoryview(self) -> memoryview:
        """A fresh host copy of the contents."""
        return self.copyout(memoryview(bytearray(self.nbytes)))

    def copy_to(self, device: str) -> Buffer:
        """A new buffer on `device` holding the same contents."""
        out = Buffer(device, self.size, self.dtype)
        return out.copyin(self.as_memoryview())
