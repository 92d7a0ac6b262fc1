"""The LLVM renderer and device: every dtype the C backend supports, math as accurate as C's (the same C library
functions), no fast-math (elementwise results equal the PYTHON device's bit for bit), vector lanes, threads,
PACK. Skipped where llvmlite is not installed; the random kernels of test_fuzz/test_opts_fuzz run on LLVM too."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest
from helpers import DEVICES, contig, launch, load, pack, param, params_of, sink, store

from tg_codegen import get_program
from tg_codegen.kernel import Opt, OptOps
from tg_codegen.renderer.llvmir import LLVMRenderer, lconst, ltype
from tg_runtime import Buffer, CompileError, Device
from tg_uop import AxisType, DType, Ops, RangeArg, ShapeTracker, UOp, dtypes

pytestmark = pytest.mark.skipif("LLVM" not in DEVICES, reason="llvmlite is not installed")

N = 64
FLOATS = (dtypes.float16, dtypes.float32, dtypes.float64)


def run(ast: UOp, device: str, inputs: dict[int, list[Any]]) -> dict[int, list[Any]]:
    """helpers.run, reading results with struct (memoryview.cast has no half format before Python 3.12)."""
    spec = get_program(ast, device)
    bufs = []
    for i, g in sorted(params_of(ast).items()):
        data = inputs.get(i, [0] * g.dtype.size)
        bufs.append(Buffer(device, g.dtype.size, g.dtype.base).copyin(pack(g.dtype.base, data)))
    Device[device].build(spec.name, spec.src)(*[b.handle for b in bufs], vals=())
    return {i: list(struct.unpack(f"<{b.size}{b.dtype.fmt}", b.as_memoryview())) for i, b in enumerate(bufs)}


def _bits(values: list[float], dt: DType) -> list[int]:
    fmt = {2: "e", 4: "f", 8: "d"}[dt.itemsize]
    return [int.from_bytes(struct.pack(fmt, v), "little") for v in values]


def _values(rng: random.Random, n: int, lo: float = -8.0, hi: float = 8.0) -> list[float]:
    return [rng.uniform(lo, hi) for _ in range(n)]


def _rounded(values: list[float], dt: DType) -> list[float]:
    fmt = {2: "e", 4: "f", 8: "d"}[dt.itemsize]
    return [struct.unpack(fmt, struct.pack(fmt, v))[0] for v in values]


@pytest.mark.parametrize("dt", FLOATS, ids=str)
def test_elementwise_is_bit_exact_against_python(dt: DType) -> None:
    # a*b+c, a/b, sqrt and a chain of them: each op rounds once, on LLVM as on the reference (no contraction)
    rng = random.Random(str(dt))
    s = contig((N,))
    a, b, c = (load(param(i, dt, N), s) for i in (5, 6, 7))
    exprs = [a * b + c, a / b - c, (a * a).alu(Ops.SQRT) * b, (a - b) * (a + b) / c, a.alu(Ops.MAX, b * c)]
    ast = sink(*(store(param(i, dt, N), s, e) for i, e in enumerate(exprs)))
    ins = {i: _rounded(_values(rng, N), dt) for i in (5, 6, 7)}
    res = {dev: run(ast, dev, ins) for dev in ("LLVM", "PYTHON")}
    for i in range(len(exprs)):
        assert _bits(res["LLVM"][i], dt) == _bits(res["PYTHON"][i], dt), f"{dt} expression {i}"


@pytest.mark.parametrize("op", [Ops.EXP2, Ops.LOG2, Ops.SIN], ids=lambda o: o.name)
@pytest.mark.parametrize("dt", FLOATS, ids=str)
def test_math_functions_are_those_of_c(op: Ops, dt: DType) -> None:
    # the C library's functions on both host devices: the same bits as CPU, close to the reference
    rng = random.Random(f"{op}{dt}")
    s = contig((N,))
    ast = sink(store(param(0, dt, N), s, load(param(1, dt, N), s).alu(op)))
    ins = {1: _rounded(_values(rng, N, 0.01 if op is Ops.LOG2 else -6.0, 6.0), dt)}
    res = {dev: run(ast, dev, ins)[0] for dev in ("LLVM", "CPU", "PYTHON")}
    if dt != dtypes.float16:  # C computes a half expression in double and rounds once at its end
        assert _bits(res["LLVM"], dt) == _bits(res["CPU"], dt)
    tol = {2: 1e-3, 4: 1e-6, 8: 1e-14}[dt.itemsize]
    for got, want in zip(res["LLVM"], res["PYTHON"], strict=True):
        assert math.isclose(got, want, rel_tol=tol, abs_tol=tol), (got, want)


CASTS = [dtypes.bool, dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.int32, dtypes.uint32, dtypes.int64]
CASTS += [dtypes.uint64, *FLOATS]


@pytest.mark.parametrize("dst", CASTS, ids=str)
@pytest.mark.parametrize(
    "src", [dtypes.float32, dtypes.float64, dtypes.int32, dtypes.uint8, dtypes.bool, dtypes.float16], ids=str
)
def test_casts_match_python(src: DType, dst: DType) -> None:
    s = contig((8,))
    ast = sink(store(param(0, dst, 8), s, load(param(1, src, 8), s).cast(dst)))
    data = {
        dtypes.float32: [-3.75, -1.0, -0.5, 0.0, 0.25, 1.5, 100.0, 250.9],
        dtypes.float16: [-3.75, -1.0, -0.5, 0.0, 0.25, 1.5, 100.0, 120.9],
        # float64 -> half: exact ties, and values one float32 rounding would push onto a tie
        dtypes.float64: [1.0 + 2**-11, 1.0 + 2**-11 + 2**-40, 1.0 + 3 * 2**-11, -(2.0**-20), 65520.0, 1e300, 0.1, -7.3],
        dtypes.int32: [-300, -1, 0, 1, 7, 255, 256, 70000],
        dtypes.uint8: [0, 1, 2, 127, 128, 200, 254, 255],
        dtypes.bool: [True, False, True, True, False, False, True, False],
    }[src]
    if src.is_float and not dst.is_float:  # a float out of the integer type's range is undefined in C
        data = [min(abs(x), 120.5) if dst.is_unsigned else max(min(x, 120.5), -120.5) for x in data]
    data = _rounded(data, src) if src.is_float else data
    res = {dev: run(ast, dev, {1: data})[0] for dev in ("LLVM", "PYTHON")}
    assert res["LLVM"] == res["PYTHON"]


def test_int64_and_unsigned_arithmetic() -> None:
    s = contig((8,))
    for dt in (dtypes.int64, dtypes.uint64, dtypes.uint32, dtypes.int8, dtypes.uint16):
        a, b = load(param(6, dt, 8), s), load(param(7, dt, 8), s)
        exprs = [a * b + a, a.alu(Ops.IDIV, b), a.alu(Ops.MOD, b), a.alu(Ops.MAX, b), a.alu(Ops.CMPLT, b)]
        exprs.append(a.alu(Ops.XOR, b).alu(Ops.OR, a))
        ast = sink(*(store(param(i, e.dtype, 8), s, e) for i, e in enumerate(exprs)))
        lo = 0 if dt.is_unsigned else -100
        ins = {6: [lo, 5, 100, 7, 2**7 - 1, 3, 9, 1], 7: [3, -2 if lo else 2, 7, 100, 5, 1, 9, 2]}
        if dt.itemsize >= 4:
            ins[6][4] = 2**31 - 1 if dt.itemsize == 4 else 2**40
        res = {dev: run(ast, dev, ins) for dev in ("LLVM", "PYTHON")}
        assert res["LLVM"] == res["PYTHON"], dt


def test_vector_lanes_threads_and_unrolls() -> None:
    # the heuristic's matmul: a register tile of vector lanes, a packed panel, threads
    n = 64
    a, b = param(1, dtypes.float, n * n), param(2, dtypes.float, n * n)
    va = ShapeTracker.from_shape((n, n, 1)).permute((0, 2, 1)).expand((n, n, n))
    vb = ShapeTracker.from_shape((1, n, n)).permute((0, 2, 1)).expand((n, n, n))
    prod = load(a, va) * load(b, vb)
    out = UOp(Ops.REDUCE_AXIS, dtypes.float, (prod,), (Ops.ADD, (2,)))
    ast = sink(store(param(0, dtypes.float, n * n), contig((n, n, 1)), out))
    spec = get_program(ast, "LLVM")
    threads = Device["LLVM"].caps.threads
    assert spec.src.startswith(f"; tg.threads = {threads}") == (threads > 1) and "<16 x float>" in spec.src
    rng = random.Random(0)
    ins = {1: [float(rng.randint(-4, 4)) for _ in range(n * n)], 2: [float(rng.randint(-4, 4)) for _ in range(n * n)]}
    want = [sum(ins[1][i * n + k] * ins[2][k * n + j] for k in range(n)) for i in range(n) for j in range(n)]
    assert launch(spec, ast, ins)[0] == want


def test_packed_input_on_llvm() -> None:
    n = 16
    a, b = param(1, dtypes.float, n * n), param(2, dtypes.float, n * n)
    va = ShapeTracker.from_shape((n, n, 1)).permute((0, 2, 1)).expand((n, n, n))
    vb = ShapeTracker.from_shape((1, n, n)).permute((0, 2, 1)).expand((n, n, n))
    out = UOp(Ops.REDUCE_AXIS, dtypes.float, (load(a, va) * load(b, vb),), (Ops.ADD, (2,)))
    ast = sink(store(param(0, dtypes.float, n * n), contig((n, n, 1)), out))
    opts = [Opt(OptOps.UPCAST, 1, 8), Opt(OptOps.SWAP, 0, 1), Opt(OptOps.PACK, 2, 0)]
    spec = get_program(ast, "LLVM", opts=opts)
    assert "alloca [" in spec.src
    ins = {1: [float(i % 7 - 3) for i in range(n * n)], 2: [float(i % 5 - 2) for i in range(n * n)]}
    assert launch(spec, ast, ins)[0] == launch(get_program(ast, "PYTHON"), ast, ins)[0]


def test_no_fast_math_in_elementwise_code() -> None:
    s = contig((1024,))
    a, b, c = (load(param(i, dtypes.float, 1024), s) for i in (1, 2, 3))
    src = get_program(sink(store(param(0, dtypes.float, 1024), s, a * b + c)), "LLVM").src
    assert "fmul" in src and not any(flag in src for flag in ("fast", "contract", "reassoc", "nnan", "ninf"))


def test_constants_and_types() -> None:
    assert lconst(-0.0, dtypes.float32) == "0x8000000000000000"
    assert lconst(math.inf, dtypes.float16) == "0xH7C00" and lconst(-1, dtypes.uint32) == "-1"
    assert lconst(0.1, dtypes.float32) == "0x3FB99999A0000000"  # float32's 0.1, exactly
    assert ltype(dtypes.bool.vec(4)) == "<4 x i1>"
    with pytest.raises(NotImplementedError, match="bfloat16"):
        ltype(dtypes.bfloat16)
    assert LLVMRenderer.language == Device["LLVM"].caps.language


def test_bad_ir_raises_compile_error() -> None:
    with pytest.raises(CompileError, match="LLVM compile failed"):
        Device["LLVM"].build("k", "define void @k() {\n  ret i32 0\n}\n")


def test_int64_index_math_renders_and_runs() -> None:
    # a loop program whose loop counter and index math are int64 (as where sizes pass 2**31), written by hand
    n = 12
    out, a = (UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(n), (), i) for i in range(2))
    rng = UOp(Ops.RANGE, dtypes.int64, (UOp.const(dtypes.int64, n),), RangeArg(0, AxisType.GLOBAL))
    flipped = UOp.const(dtypes.int64, n - 1) - rng
    val = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, a.dtype, (a, flipped)),))
    dest = UOp(Ops.INDEX, out.dtype, (out, rng))
    two = UOp.const(dtypes.float32, 2.0)
    uops = [out, a, rng.src[0], rng, flipped.src[0], flipped, flipped, val.src[0], val, two, val * two, dest]
    uops = list(dict.fromkeys(uops)) + [
        UOp(Ops.STORE, dtypes.void, (dest, val * two)),
        UOp(Ops.ENDRANGE, dtypes.void, (rng,)),
    ]
    src = LLVMRenderer().render("rev", uops)
    assert "icmp slt i64" in src and "getelementptr inbounds float, ptr %data1, i64" in src
    data = [float(i) for i in range(n)]
    bufs = [Buffer("LLVM", n, dtypes.float32), Buffer("LLVM", n, dtypes.float32).copyin(pack(dtypes.float32, data))]
    Device["LLVM"].build("rev", src)(*[b.handle for b in bufs])
    assert list(struct.unpack(f"<{n}f", bufs[0].as_memoryview())) == [2.0 * x for x in reversed(data)]
