"""Regressions found while building tg-tensor's elementwise ops."""

from __future__ import annotations

import struct

import pytest
from helpers import DEVICES, contig, cuda_caps, load, nvcc_or_skip, param, run, sink, store

from tg_codegen.kernel import Kernel
from tg_codegen.program import compile_kernel
from tg_uop import DType, Ops, dtypes

VALUES = [1.0, -2.0, 0.5, 0.0]
BITS = [struct.unpack("<i", struct.pack("<f", v))[0] for v in VALUES]


def test_bitcast_stored_directly_compiles_and_runs() -> None:
    # the C renderer stripped the parentheses of its `({...})` statement expression in `data0[i] = ...;`
    s = contig((4,))
    x = load(param(1, dtypes.float32, 4), s)
    ast = sink(store(param(0, dtypes.int32, 4), s, x.bitcast(dtypes.int32)))
    for dev in DEVICES:
        assert run(ast, dev, {1: VALUES})[0] == BITS, dev


def test_bitcast_used_twice_compiles_and_runs() -> None:
    # used twice, the bitcast gets a named variable: `int alu0 = ({...});` needs the parentheses too
    s = contig((4,))
    x = load(param(1, dtypes.float32, 4), s)
    b = x.bitcast(dtypes.int32)
    ast = sink(store(param(0, dtypes.int32, 4), s, b.alu(Ops.XOR, b)), store(param(2, dtypes.int32, 4), s, b))
    for dev in DEVICES:
        out = run(ast, dev, {1: VALUES})
        assert out[0] == [0, 0, 0, 0] and out[2] == BITS, dev


@pytest.mark.parametrize("src_dt, dst_dt", [(dtypes.float32, dtypes.int32), (dtypes.int16, dtypes.float16)])
def test_cuda_bitcast_of_an_expression_compiles(src_dt: DType, dst_dt: DType) -> None:
    # CUDA took the address of the bitcast's operand, which fails for an inline expression like (val0*val0)
    nvcc = nvcc_or_skip()
    s = contig((4,))
    x = load(param(1, src_dt, 4), s)
    ast = sink(store(param(0, dst_dt, 4), s, (x * x).bitcast(dst_dt)))
    spec = compile_kernel(Kernel(ast, cuda_caps()), "CUDA")
    nvcc.compile(spec.src)
