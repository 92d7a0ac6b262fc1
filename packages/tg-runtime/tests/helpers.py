"""Helpers shared by the tg-runtime tests (put on sys.path by conftest.py).

- plain-Python number helpers (float32 rounding through `struct`, C integer division) that the expected
  results are computed with, independently of tg;
- `buf` / `read`: a device Buffer from a Python list and back;
- `Prog`: a tiny builder of loop programs (IR stage 3) out of UOps, in program order, for the PYTHON device;
- `HostMem`: a bytearray allocator that counts its calls and can be given a memory limit.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest

from tg_runtime import Buffer, DeviceUnavailable
from tg_runtime.backends.python import PythonAllocator
from tg_uop import AxisType, DType, Ops, RangeArg, UOp, dtypes


def f32(x: float) -> float:
    """`x` rounded to the nearest float32 (round to nearest even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    """C remainder: takes the sign of the dividend."""
    return int(math.fmod(a, b))


T = TypeVar("T")


def available_or_skip(make: Callable[[], T], why: str) -> T:
    """`make()`; the test is skipped (saying `why`) where what it needs is not installed here."""
    try:
        return make()
    except DeviceUnavailable as e:
        pytest.skip(f"{why}: {e}")


def buf(device: str, dtype: DType, values: Sequence[Any]) -> Buffer:
    """A Buffer on `device` holding `values`."""
    assert dtype.fmt is not None
    return Buffer(device, len(values), dtype).copyin(memoryview(struct.pack(f"<{len(values)}{dtype.fmt}", *values)))


def read(b: Buffer) -> list[Any]:
    """The contents of a Buffer as Python numbers."""
    assert b.dtype.fmt is not None
    return list(struct.unpack(f"<{b.size}{b.dtype.fmt}", b.as_memoryview().tobytes()))


class Prog:
    """Builds a loop program in the order the instructions are added.

    UOps are hash-consed, so two instructions built from the same fields are one object: give each RANGE a
    distinct arg, and build a fresh node (different sources or arg) for every place a value is needed.
    """

    def __init__(self) -> None:
        self.uops: list[UOp] = []

    def add(self, op: Ops, dtype: DType = dtypes.void, src: Sequence[UOp] = (), arg: Any = None) -> UOp:
        u = UOp(op, dtype, tuple(src), arg)
        if not any(u is v for v in self.uops):
            self.uops.append(u)
        return u

    # shorthands
    def glob(self, i: int, dtype: DType, size: int) -> UOp:
        return self.add(Ops.DEFINE_GLOBAL, dtype.ptr(size), (), i)

    def const(self, dtype: DType, value: Any) -> UOp:
        u = UOp.const(dtype, value)
        return self.add(u.op, u.dtype, u.src, u.arg)

    def var(self, name: str, lo: int, hi: int) -> UOp:
        return self.add(Ops.DEFINE_VAR, dtypes.int32, (), (name, lo, hi))

    def range(self, end: UOp, axis: int) -> UOp:
        return self.add(Ops.RANGE, dtypes.int32, (end,), RangeArg(axis, AxisType.GLOBAL))

    def endrange(self, r: UOp) -> UOp:
        return self.add(Ops.ENDRANGE, dtypes.void, (r,))

    def index(self, g: UOp, i: UOp, gate: UOp | None = None) -> UOp:
        return self.add(Ops.INDEX, g.dtype, (g, i) if gate is None else (g, i, gate))

    def load(self, g: UOp, i: UOp, gate: UOp | None = None, alt: UOp | None = None) -> UOp:
        assert g.dtype.base is not None
        idx = self.index(g, i, gate)
        return self.add(Ops.LOAD, g.dtype.base, (idx,) if alt is None else (idx, alt))

    def store(self, g: UOp, i: UOp, value: UOp, gate: UOp | None = None) -> UOp:
        return self.add(Ops.STORE, dtypes.void, (self.index(g, i, gate), value))

    def alu(self, op: Ops, *srcs: UOp, dtype: DType | None = None) -> UOp:
        if dtype is None:
            dtype = dtypes.bool if op in (Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ) else srcs[-1].dtype
        return self.add(op, dtype, srcs)

    @classmethod
    def loop(cls, n: int, dtypes_: Sequence[DType], body: Callable[..., object]) -> Prog:
        """A program of one loop over `n` elements of buffers 0, 1, ... (one per dtype, `n` elements each):
        `body(p, r, *buffers)` adds the loop's steps."""
        p = cls()
        bufs = [p.glob(i, dt, n) for i, dt in enumerate(dtypes_)]
        r = p.range(p.const(dtypes.int32, n), 0)
        body(p, r, *bufs)
        p.endrange(r)
        return p


class HostMem(PythonAllocator):
    """The PYTHON device's memory (bytearrays), with call counters and an optional limit on the bytes held by the
    backend."""

    def __init__(self, device: str = "TESTMEM", limit: int | None = None) -> None:
        super().__init__(device)
        self.limit = limit
        self.held = 0  # bytes the backend has handed out and not had back
        self.alloc_calls = 0
        self.freed: list[Any] = []

    def _alloc(self, nbytes: int) -> memoryview:
        self.alloc_calls += 1
        if self.limit is not None and self.held + nbytes > self.limit:
            raise MemoryError("backend is full")
        self.held += nbytes
        return super()._alloc(nbytes)

    def _free(self, opaque: Any) -> None:
        self.held -= opaque.nbytes
        self.freed.append(opaque)
