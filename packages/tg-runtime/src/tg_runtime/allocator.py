"""Device memory: an allocator that keeps freed blocks for reuse and counts bytes in use.

>>> from tg_runtime.allocator import Allocator
>>> class Host(Allocator):
...     def _alloc(self, nbytes):
...         return bytearray(nbytes)
...
...     def _free(self, opaque):
...         pass
>>> a = Host("HOST")
>>> x = a.alloc(64)
>>> a.free(x, 64)
>>> a.alloc(64) is x, a.in_use, a.cached_bytes
(True, 64, 0)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class Allocator:
    """Base allocator. A backend implements `_alloc`, `_free`, `_copyin`, `_copyout` (and `_offset` for views).

    Freed blocks are kept in an LRU cache keyed by size and handed out again for the same size; when the
    backend runs out of memory the cache is emptied and the allocation tried once more.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.in_use = 0
        self.peak = 0
        self._cache: OrderedDict[int, list[Any]] = OrderedDict()
        self.cached_bytes = 0

    # ---- public ----

    def alloc(self, nbytes: int) -> Any:
        """A block of at least `nbytes` bytes; MemoryError naming the size and what is in use if none can be had."""
        if nbytes < 0:
            raise ValueError(f"{self.device}: cannot allocate a negative size ({nbytes} bytes)")
        blocks = self._cache.get(nbytes)
        if blocks:
            opaque = blocks.pop()
            if not blocks:
                del self._cache[nbytes]
            self.cached_bytes -= nbytes
        else:
            try:
                opaque = self._alloc(nbytes)
            except MemoryError:
                self.free_cache()
                try:
                    opaque = self._alloc(nbytes)
                except MemoryError:
                    raise MemoryError(
                        f"{self.device}: out of memory allocating {nbytes} bytes "
                        f"({self.in_use} bytes in use by tg, peak {self.peak})"
                    ) from None
        self.in_use += nbytes
        self.peak = max(self.peak, self.in_use)
        return opaque

    def free(self, opaque: Any, nbytes: int) -> None:
        """Return a block; it is kept for reuse by a later alloc of the same size."""
        self.in_use -= nbytes
        self._cache.setdefault(nbytes, []).append(opaque)
        self._cache.move_to_end(nbytes)
        self.cached_bytes += nbytes

    def free_cache(self) -> None:
        """Give every cached block back to the device."""
        while self._cache:
            _, blocks = self._cache.popitem(last=False)
            for b in blocks:
                self._free(b)
        self.cached_bytes = 0

    def copyin(self, dest: Any, src: memoryview) -> None:
        self._copyin(dest, src)

    def copyout(self, dest: memoryview, src: Any) -> None:
        self._copyout(dest, src)

    def check_readable(self, opaque: Any) -> None:
        """Raise if the memory cannot be copied out now (a DISK file that shrank); a no-op elsewhere."""

    def offset(self, opaque: Any, offset: int, nbytes: int) -> Any:
        """A handle to `nbytes` bytes starting `offset` bytes into `opaque` (for sub-buffer views)."""
        return self._offset(opaque, offset, nbytes)

    # ---- backend ----

    def _alloc(self, nbytes: int) -> Any:
        raise NotImplementedError

    def _free(self, opaque: Any) -> None:
        raise NotImplementedError

    def _copyin(self, dest: Any, src: memoryview) -> None:
        raise NotImplementedError

    def _copyout(self, dest: memoryview, src: Any) -> None:
        raise NotImplementedError

    def _offset(self, opaque: Any, offset: int, nbytes: int) -> Any:
        raise NotImplementedError(f"{self.device} does not support sub-buffer views")
