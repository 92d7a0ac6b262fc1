"""A stand-in for `pycuda.driver`, for testing the CUDA backend's glue where no GPU exists.

It has the parts of pycuda's driver API that the backend uses, with the same names and call shapes: `init`,
`Device` (count, compute_capability, get_attribute, retain_primary_context), `Context.pop/synchronize`,
`mem_alloc`, `memcpy_htod/dtoh` by address, `module_from_buffer`, `Function.prepare/prepared_call`
(arguments packed with `struct`, as pycuda does) and `Event`. Memory is host bytearrays at fake addresses,
so pointer arithmetic works; a "kernel" is a Python function registered by name, called once per launch
with the memory, grid, block and the unpacked arguments. Every memory or launch call checks that a context
is current, as the real driver needs.
"""

from __future__ import annotations

import struct
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

EVENT_MS = 2.5  # what every pair of fake events says elapsed


class Error(Exception):
    pass


class LogicError(Error):
    pass


class FakeMemoryError(Error):
    pass


class Memory:
    """Fake device memory: blocks at addresses 0x10000, 0x20000, ..., found again from any address inside."""

    def __init__(self) -> None:
        self.blocks: dict[int, bytearray] = {}
        self.next = 0x10000
        self.freed: list[int] = []

    def alloc(self, nbytes: int) -> int:
        addr = self.next
        self.next += 0x10000 * (1 + nbytes // 0x10000)
        self.blocks[addr] = bytearray(nbytes)
        return addr

    def find(self, ptr: int, nbytes: int) -> tuple[bytearray, int]:
        for base, block in self.blocks.items():
            if base <= ptr and ptr + nbytes <= base + len(block):
                return block, ptr - base
        raise LogicError(f"address 0x{ptr:x} (+{nbytes}) is not allocated memory")

    def read(self, ptr: int, fmt: str, count: int) -> list[Any]:
        size = struct.calcsize(f"<{count}{fmt}")
        block, off = self.find(ptr, size)
        return list(struct.unpack_from(f"<{count}{fmt}", block, off))

    def write(self, ptr: int, fmt: str, index: int, value: Any) -> None:
        size = struct.calcsize("<" + fmt)
        block, off = self.find(ptr + index * size, size)
        struct.pack_into("<" + fmt, block, off, value)


Kernel = Callable[[Memory, tuple[int, int, int], tuple[int, int, int], tuple[Any, ...]], None]


def make_driver(
    *,
    gpus: int = 1,
    init_error: str | None = None,
    kernels: dict[str, Kernel] | None = None,
    capability: tuple[int, int] = (8, 6),
) -> types.ModuleType:
    """A fake `pycuda.driver` module with `gpus` GPUs; `init_error` makes `init()` fail with that message."""
    drv = types.ModuleType("pycuda.driver")
    mem = Memory()
    stack: list[Any] = []
    launches: list[dict[str, Any]] = []
    kernels = dict(kernels or {})
    loaded: list[bytes] = []

    def current() -> None:
        if not stack:
            raise LogicError("no current context")

    def init() -> None:
        if init_error is not None:
            raise LogicError(init_error)

    class Context:
        def __init__(self, device: Any) -> None:
            self.device = device

        def push(self) -> None:
            stack.append(self)

        @staticmethod
        def pop() -> None:
            stack.pop()

        @staticmethod
        def synchronize() -> None:
            current()

    class device_attribute:  # noqa: N801  (pycuda's spelling)
        MAX_THREADS_PER_BLOCK = "MAX_THREADS_PER_BLOCK"
        MAX_BLOCK_DIM_X, MAX_BLOCK_DIM_Y, MAX_BLOCK_DIM_Z = "BX", "BY", "BZ"
        MAX_GRID_DIM_X, MAX_GRID_DIM_Y, MAX_GRID_DIM_Z = "GX", "GY", "GZ"
        MAX_SHARED_MEMORY_PER_BLOCK = "SHARED"

    attrs = {"MAX_THREADS_PER_BLOCK": 1024, "BX": 1024, "BY": 1024, "BZ": 64}
    attrs |= {"GX": 2**31 - 1, "GY": 65535, "GZ": 65535, "SHARED": 49152}

    class Device:
        def __init__(self, index: int) -> None:
            if not 0 <= index < gpus:
                raise LogicError(f"invalid device ordinal {index}")
            self.index = index

        @staticmethod
        def count() -> int:
            return gpus

        def name(self) -> str:
            return f"Fake GPU {self.index}"

        def compute_capability(self) -> tuple[int, int]:
            return capability

        def get_attribute(self, attr: str) -> int:
            return attrs[attr]

        def retain_primary_context(self) -> Context:
            return Context(self)

    class DeviceAllocation:
        def __init__(self, addr: int) -> None:
            self.addr = addr

        def __int__(self) -> int:
            return self.addr

        def free(self) -> None:
            current()
            del mem.blocks[self.addr]
            mem.freed.append(self.addr)

    def mem_alloc(nbytes: int) -> DeviceAllocation:
        current()
        if nbytes <= 0:
            raise LogicError("cuMemAlloc failed: invalid argument")
        if nbytes > 1 << 30:
            raise FakeMemoryError("cuMemAlloc failed: out of memory")
        return DeviceAllocation(mem.alloc(nbytes))

    def memcpy_htod(dest: int, src: memoryview) -> None:
        current()
        data = bytes(src)
        block, off = mem.find(int(dest), len(data))
        block[off : off + len(data)] = data

    def memcpy_dtoh(dest: memoryview, src: int) -> None:
        current()
        block, off = mem.find(int(src), dest.nbytes)
        dest[:] = block[off : off + dest.nbytes]

    class Function:
        def __init__(self, name: str) -> None:
            self.name = name
            self.arg_format: str | None = None

        def prepare(self, arg_types: str) -> Function:
            self.arg_format = "".join(arg_types)
            return self

        def prepared_call(self, grid: tuple[int, ...], block: tuple[int, ...], *args: Any) -> None:
            current()
            assert self.arg_format is not None, "prepared_call before prepare"
            assert isinstance(grid, tuple) and isinstance(block, tuple), "pycuda wants tuples"
            packed = struct.pack(self.arg_format, *args)  # as pycuda packs them (native sizes and alignment)
            unpacked = struct.unpack(self.arg_format, packed)
            g, b = (*grid, 1, 1)[:3], (*block, 1, 1)[:3]
            launches.append({"name": self.name, "grid": grid, "block": block, "format": self.arg_format})
            kernels[self.name](mem, g, b, unpacked)

    class Module:
        def get_function(self, name: str) -> Function:
            if name not in kernels:
                raise LogicError(f"cuModuleGetFunction failed: named symbol not found ({name})")
            return Function(name)

    def module_from_buffer(ptx: bytes) -> Module:
        current()
        if not ptx.endswith(b"\0"):
            raise LogicError("PTX must be NUL-terminated")
        loaded.append(ptx)
        return Module()

    class Event:
        def __init__(self) -> None:
            self.recorded = False

        def record(self) -> None:
            current()
            self.recorded = True

        def synchronize(self) -> None:
            assert self.recorded

        def time_till(self, other: Event) -> float:
            assert self.recorded and other.recorded
            return EVENT_MS

    for obj in (init, Context, Device, device_attribute, mem_alloc, memcpy_htod, memcpy_dtoh, module_from_buffer):
        setattr(drv, obj.__name__, obj)
    drv.Event, drv.Error, drv.LogicError, drv.MemoryError = Event, Error, LogicError, FakeMemoryError
    # what the tests inspect
    drv.fake_memory, drv.fake_stack, drv.fake_launches, drv.fake_loaded = mem, stack, launches, loaded
    return drv


def install(monkeypatch: pytest.MonkeyPatch, drv: types.ModuleType) -> None:
    """Make `import pycuda.driver` give `drv` for the rest of the test."""
    pkg = types.ModuleType("pycuda")
    pkg.__path__ = []
    pkg.driver = drv  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
