"""CUSTOM nodes (a user's kernel AST in a tensor graph): one kernel item holding the AST as written, its inputs
realized into whole buffers first, never fused; the spec refuses a kernel reading parameters it is not given."""

from __future__ import annotations

import pytest

from tg_runtime import Buffer
from tg_schedule.run import realize
from tg_schedule.schedule import create_schedule
from tg_uop import CustomKernel, Ops, ShapeTracker, UOp, dtypes
from tg_uop.spec import SpecError, verify


def _double(n: int, reads: int = 1) -> UOp:
    st = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((n,)))
    ld = UOp(Ops.LOAD, dtypes.float, (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(n), (), reads), st))
    return UOp.sink(UOp(Ops.STORE, dtypes.void, (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(n), (), 0), st, ld + ld)))


def test_custom_node_is_one_kernel_after_its_inputs() -> None:
    buf = Buffer("CPU", 4, dtypes.float).copyin(memoryview(bytearray(b"\x00\x00\x80\x3f" * 4)))
    a = UOp(Ops.BUFFER, dtypes.float, (), buf)
    moved = a.reshape((2, 2)).permute((1, 0)).reshape((4,))  # not a whole buffer: realized first
    custom = UOp(Ops.CUSTOM, dtypes.float, (moved,), CustomKernel(_double(4), (4,)))
    sched, _ = create_schedule([custom * custom])
    assert [si.ast is _double(4) for si in sched] == [False, True, False]  # input, the AST as written, the epilogue
    out = realize([custom * custom])[custom * custom]
    assert out.base.arg.as_memoryview().cast("f").tolist() == [4.0] * 4


def test_spec_refuses_a_custom_kernel_reading_a_missing_parameter() -> None:
    a = UOp(Ops.BUFFER, dtypes.float, (), Buffer("CPU", 4, dtypes.float))
    with pytest.raises(SpecError, match="parameters it is not given"):
        verify(UOp(Ops.CUSTOM, dtypes.float, (a,), CustomKernel(_double(4, reads=2), (4,))), "tensor")
