"""Max pooling on inputs large enough for the CPU heuristics' pooling forms (tg_codegen.heuristic.pool_window
and short_rows: rows of windows upcast, windows unrolled into SIMD lanes, the gradient's short rows upcast),
forward and gradient against torch, for the window shapes users write: stride, padding, dilation, ceil_mode,
1-D, 2-D and 3-D, return_indices. Random inputs have no ties, so torch's gradient (all to the first maximum)
and tg's (ties share it) agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_same, check, rand

from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import Kernel, OptOps
from tg_runtime import Device
from tg_tensor import Tensor

POOLS_2D = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 3, "padding": 1},
    {"kernel_size": (2, 3), "ceil_mode": True},
    {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 2, "stride": 1, "dilation": 2},
]


def _pool_forms(*outs: Tensor) -> set[OptOps]:
    """The Opts the heuristics give the scheduled kernels of `outs` (on the default device)."""
    ops: set[OptOps] = set()
    for si in outs[0].schedule(*outs[1:]):
        if si.kind == "kernel":
            k = Kernel(si.ast, Device[si.bufs[0].device].caps)
            hand_coded_optimizations(k)
            ops |= {o.op for o in k.applied}
    return ops


@pytest.mark.parametrize("kw", POOLS_2D, ids=str)
def test_large_max_pool2d(kw):
    check(lambda x: x.max_pool2d(**kw), lambda x: F.max_pool2d(x, **kw), (8, 16, 30, 32))


def test_large_max_pool_1d_3d():
    check(lambda x: x.max_pool1d(2), lambda x: F.max_pool1d(x, 2), (16, 16, 512))
    check(lambda x: x.max_pool1d(4, 4, 1), lambda x: F.max_pool1d(x, 4, 4, 1), (16, 16, 510))
    check(lambda x: x.max_pool3d(2), lambda x: F.max_pool3d(x, 2), (4, 8, 16, 16, 16))
    check(lambda x: x.max_pool3d((1, 2, 2)), lambda x: F.max_pool3d(x, (1, 2, 2)), (2, 8, 8, 32, 32))


def test_large_max_pool_return_indices_and_nan():
    x = rand(8, 16, 32, 32)
    got, idx = Tensor(x).max_pool2d(2, return_indices=True)
    want, widx = F.max_pool2d(torch.tensor(x), 2, return_indices=True)
    assert_same(got, want)
    np.testing.assert_array_equal(idx.numpy(), widx.numpy())
    x[1, 2, 5, 7] = np.nan
    got = Tensor(x).max_pool2d(2)
    assert_same(got, F.max_pool2d(torch.tensor(x), 2))  # NaN where the window holds one, as torch
    assert math.isnan(got.numpy()[1, 2, 2, 3]) and np.isnan(got.numpy()).sum() == 1


def test_the_main_jobs_pool_gets_the_pooling_forms():
    # the 2x2 pool of a 16-channel 28x28 activation: forward rows upcast with SIMD window lanes, gradient's
    # spread upcast in short rows (on the C and LLVM devices, whose heuristics these are)
    if Device.DEFAULT not in ("CPU", "LLVM"):
        pytest.skip("the pooling forms are the host devices' heuristics")
    x = Tensor(rand(32, 16, 28, 28), requires_grad=True)
    y = x.max_pool2d(2)
    assert {OptOps.UPCAST, OptOps.UNROLL} <= _pool_forms(y)
    y.sum().backward()
    assert x.grad is not None and OptOps.UPCAST in _pool_forms(x.grad)
