"""Elementwise kernels: ALU ops, where, casts and comparisons on float32 and int32, run on CPU and PYTHON."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

import pytest
from helpers import (
    DEVICES,
    assert_close,
    bconst,
    c_idiv,
    c_mod,
    contig,
    f32,
    load,
    param,
    run,
    run_both,
    sink,
    store,
)

from tg_codegen import get_program
from tg_uop import DType, Ops, UOp, dtypes
from tg_uop.helpers import Context

N = 8
FA = [-3.5, -2.0, -0.75, 0.0, 0.5, 1.25, 2.0, 7.0]
FB = [2.0, -1.5, 0.25, 3.0, -4.0, 1.25, 0.5, -7.0]
IA = [-7, -3, -1, 0, 1, 5, 9, 100]
IB = [2, 4, -3, 1, -2, 5, 3, -7]


def binary_ast(op: Ops, in_dt: DType, out_dt: DType) -> UOp:
    s = contig((N,))
    a, b = load(param(1, in_dt, N), s), load(param(2, in_dt, N), s)
    return sink(store(param(0, out_dt, N), s, a.alu(op, b)))


FLOAT_BINARY: dict[Ops, Callable[[float, float], float]] = {
    Ops.ADD: operator.add,
    Ops.SUB: operator.sub,
    Ops.MUL: operator.mul,
    Ops.FDIV: operator.truediv,
    Ops.MAX: max,
}


@pytest.mark.parametrize("op", list(FLOAT_BINARY), ids=lambda o: o.name)
def test_float_binary(op: Ops) -> None:
    want = [f32(FLOAT_BINARY[op](a, b)) for a, b in zip(FA, FB)]
    res = run_both(binary_ast(op, dtypes.float, dtypes.float), {1: FA, 2: FB})
    for dev in DEVICES:
        # one correctly rounded float32 op: both devices give the exact float32 result
        assert res[dev][0] == want, dev
        assert res[dev][1] == FA and res[dev][2] == FB, f"{dev} changed an input"


INT_BINARY: dict[Ops, Callable[[int, int], int]] = {
    Ops.ADD: operator.add,
    Ops.SUB: operator.sub,
    Ops.MUL: operator.mul,
    Ops.IDIV: c_idiv,
    Ops.MOD: c_mod,
    Ops.MAX: max,
    Ops.AND: operator.and_,
    Ops.OR: operator.or_,
    Ops.XOR: operator.xor,
}


@pytest.mark.parametrize("op", list(INT_BINARY), ids=lambda o: o.name)
def test_int_binary(op: Ops) -> None:
    want = [INT_BINARY[op](a, b) for a, b in zip(IA, IB)]
    res = run_both(binary_ast(op, dtypes.int32, dtypes.int32), {1: IA, 2: IB})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


def test_int_division_truncates_toward_zero() -> None:
    # C semantics on both devices: -7 // 2 is -3 (not -4), -7 % 2 is -1 (not 1)
    res = run_both(binary_ast(Ops.IDIV, dtypes.int32, dtypes.int32), {1: IA, 2: IB})
    assert res["CPU"][0][0] == res["PYTHON"][0][0] == -3
    res = run_both(binary_ast(Ops.MOD, dtypes.int32, dtypes.int32), {1: IA, 2: IB})
    assert res["CPU"][0][0] == res["PYTHON"][0][0] == -1


def test_int_shifts() -> None:
    a, b = [1, 3, 255, 1024, 7, 0, 12345, 2], [0, 1, 4, 3, 2, 5, 6, 29]
    for op, fn in ((Ops.SHL, operator.lshift), (Ops.SHR, operator.rshift)):
        res = run_both(binary_ast(op, dtypes.int32, dtypes.int32), {1: a, 2: b})
        want = [fn(x, y) for x, y in zip(a, b)]
        assert res["CPU"][0] == res["PYTHON"][0] == want, op


def test_int32_wraps_on_overflow() -> None:
    a, b = [2**31 - 1, -(2**31), 65536, 3] + [0] * 4, [1, -1, 65536, 5] + [0] * 4
    res = run_both(binary_ast(Ops.ADD, dtypes.int32, dtypes.int32), {1: a, 2: b})
    want = [((x + y + 2**31) % 2**32) - 2**31 for x, y in zip(a, b)]
    assert res["CPU"][0] == res["PYTHON"][0] == want
    assert want[0] == -(2**31)


@pytest.mark.parametrize("op,fn", [(Ops.CMPLT, operator.lt), (Ops.CMPNE, operator.ne), (Ops.CMPEQ, operator.eq)])
@pytest.mark.parametrize("dt", [dtypes.float32, dtypes.int32], ids=str)
def test_comparisons_to_bool(op: Ops, fn: Callable[[Any, Any], bool], dt: DType) -> None:
    a, b = (
        (FA, [1.25 if i % 3 == 0 else x for i, x in enumerate(FB)]) if dt.is_float else (IA, [5, 4, -1, 1, 0, 5, 9, 0])
    )
    want = [fn(x, y) for x, y in zip(a, b)]
    assert any(want) and not all(want)
    res = run_both(binary_ast(op, dt, dtypes.bool), {1: a, 2: b})
    for dev in DEVICES:
        assert res[dev][0] == want, dev


@pytest.mark.parametrize("dt", [dtypes.float32, dtypes.int32], ids=str)
def test_where_selects(dt: DType) -> None:
    s = contig((N,))
    a, b = load(param(1, dt, N), s), load(param(2, dt, N), s)
    # minimum written as where(a < b, a, b), and a clamp at 0 with a broadcast constant
    ast = sink(
        store(param(0, dt, N), s, (a < b).where(a, b)),
        store(param(3, dt, N), s, (a < bconst(dt, 0, (N,))).where(bconst(dt, 0, (N,)), a)),
    )
    xa, xb = (FA, FB) if dt.is_float else (IA, IB)
    res = run_both(ast, {1: xa, 2: xb})
    for dev in DEVICES:
        assert res[dev][0] == [min(x, y) for x, y in zip(xa, xb)], dev
        assert res[dev][3] == [max(x, 0) for x in xa], dev


def test_where_on_bool_input_buffer() -> None:
    s = contig((N,))
    c = load(param(1, dtypes.bool, N), s)
    x = load(param(2, dtypes.float, N), s)
    ast = sink(store(param(0, dtypes.float, N), s, c.where(x, -x)))
    cond = [True, False, False, True, True, False, True, False]
    res = run_both(ast, {1: cond, 2: FA})
    want = [x if k else -x for k, x in zip(cond, FA)]
    assert res["CPU"][0] == res["PYTHON"][0] == want


def cast_ast(src_dt: DType, dst_dt: DType) -> UOp:
    s = contig((N,))
    return sink(store(param(0, dst_dt, N), s, load(param(1, src_dt, N), s).cast(dst_dt)))


def test_cast_float_to_int_truncates() -> None:
    xs = [-3.75, -2.5, -0.5, 0.0, 0.99, 1.5, 2.5, 1e6]
    res = run_both(cast_ast(dtypes.float, dtypes.int32), {1: xs})
    want = [math.trunc(x) for x in xs]
    assert res["CPU"][0] == res["PYTHON"][0] == want


def test_cast_int_to_float_rounds_to_float32() -> None:
    xs = [-7, 0, 1, 2**24 + 1, 2**30 + 3, -(2**31), 123456789, 5]
    res = run_both(cast_ast(dtypes.int32, dtypes.float), {1: xs})
    want = [f32(float(x)) for x in xs]
    assert want[3] != float(xs[3])  # the value really is rounded
    assert res["CPU"][0] == res["PYTHON"][0] == want


def test_cast_to_and_from_bool() -> None:
    xs = [0.0, -0.0, 0.5, -2.0, 0.0, 3.0, 1e-30, 0.0]
    res = run_both(cast_ast(dtypes.float, dtypes.bool), {1: xs})
    assert res["CPU"][0] == res["PYTHON"][0] == [x != 0 for x in xs]
    flags = [True, False, True, True, False, False, True, False]
    res = run_both(cast_ast(dtypes.bool, dtypes.int32), {1: flags})
    assert res["CPU"][0] == res["PYTHON"][0] == [int(f) for f in flags]


def test_comparison_cast_chain() -> None:
    # (a < b) as 1.0/0.0 times a, plus (a != 0) as int
    s = contig((N,))
    a, b = load(param(1, dtypes.float, N), s), load(param(2, dtypes.float, N), s)
    ast = sink(
        store(param(0, dtypes.float, N), s, (a < b).cast(dtypes.float) * a),
        store(param(3, dtypes.int32, N), s, a.ne(bconst(dtypes.float, 0.0, (N,))).cast(dtypes.int32)),
    )
    res = run_both(ast, {1: FA, 2: FB})
    for dev in DEVICES:
        assert res[dev][0] == [x if x < y else 0.0 for x, y in zip(FA, FB)], dev
        assert res[dev][3] == [int(x != 0) for x in FA], dev


UNARY = {
    Ops.NEG: (lambda x: -x, [-2.0, -0.5, 0.0, 1.0, 3.0, 4.5, 100.0, -1e-3]),
    Ops.SQRT: (math.sqrt, [0.0, 0.25, 1.0, 2.0, 3.0, 10.0, 1e4, 0.5]),
    Ops.EXP2: (lambda x: 2.0**x, [-3.0, -0.5, 0.0, 0.5, 1.0, 3.3, 10.0, -10.0]),
    Ops.LOG2: (math.log2, [0.125, 0.5, 1.0, 2.0, 3.0, 10.0, 1000.0, 1.5]),
    Ops.SIN: (math.sin, [-3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.14159, 6.0]),
    Ops.TRUNC: (math.trunc, [-2.5, -0.5, 0.0, 0.7, 1.0, 2.5, 7.9, -7.9]),
    Ops.RECIP: (lambda x: 1.0 / x, [-4.0, -0.5, 0.25, 1.0, 3.0, 7.0, 10.0, 0.1]),
}


@pytest.mark.parametrize("op", list(UNARY), ids=lambda o: o.name)
def test_float_unary(op: Ops) -> None:
    fn, xs = UNARY[op]
    s = contig((N,))
    ast = sink(store(param(0, dtypes.float, N), s, load(param(1, dtypes.float, N), s).alu(op)))
    xs = [f32(x) for x in xs]
    res = run_both(ast, {1: xs})
    want = [float(fn(x)) for x in xs]
    for dev in DEVICES:
        assert_close(res[dev][0], want, rel=2e-6, what=dev)
    assert_close(res["CPU"][0], res["PYTHON"][0], rel=2e-6, what="CPU vs PYTHON")


def test_float32_rounding_matches_between_devices() -> None:
    # values that are not exact in binary: every step is rounded to float32 on both devices
    xs = [0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e-3, 12345.678, 0.7]
    ys = [0.2, 0.7, 1e-8, 1 / 7, 3.3, 1e3, 0.001, 0.1]
    xs, ys = [f32(x) for x in xs], [f32(y) for y in ys]
    res = run_both(binary_ast(Ops.ADD, dtypes.float, dtypes.float), {1: xs, 2: ys})
    want = [f32(x + y) for x, y in zip(xs, ys)]
    assert res["CPU"][0] == res["PYTHON"][0] == want
    assert want[0] != xs[0] + ys[0]  # float64 would give another answer


@pytest.mark.parametrize("value", [math.inf, -math.inf, -0.0, 0.1, 3.4e38, 1e-40, 1 / 3, 16777217.0])
def test_special_float_constants(value: float) -> None:
    s = contig((4,))
    ast = sink(store(param(0, dtypes.float, 4), s, bconst(dtypes.float, value, (4,))))
    res = run_both(ast, {})
    want = f32(value)
    for dev in DEVICES:
        assert res[dev][0] == [want] * 4, dev
        assert all(math.copysign(1.0, v) == math.copysign(1.0, want) for v in res[dev][0]), dev


def test_nan_constant() -> None:
    s = contig((4,))
    ast = sink(store(param(0, dtypes.float, 4), s, bconst(dtypes.float, math.nan, (4,))))
    for dev in DEVICES:
        assert all(math.isnan(v) for v in run(ast, dev, {})[0]), dev


def test_int32_min_constant() -> None:
    s = contig((4,))
    ast = sink(store(param(0, dtypes.int32, 4), s, bconst(dtypes.int32, -(2**31), (4,))))
    res = run_both(ast, {})
    assert res["CPU"][0] == res["PYTHON"][0] == [-(2**31)] * 4


def test_longer_chain_mixed_ops() -> None:
    s = contig((N,))
    a, b, c = (load(param(i, dtypes.float, N), s) for i in (1, 2, 3))
    two = bconst(dtypes.float, 2.0, (N,))
    expr = (a * b + c).maximum(-c) * two - a / two
    ast = sink(store(param(0, dtypes.float, N), s, expr))
    cs = [1.0, -1.0, 2.5, 0.0, 3.0, -2.0, 0.5, 4.0]
    res = run_both(ast, {1: FA, 2: FB, 3: cs})
    want = [max(x * y + z, -z) * 2.0 - x / 2.0 for x, y, z in zip(FA, FB, cs)]
    for dev in DEVICES:
        assert_close(res[dev][0], want, what=dev)


def test_symbolic_variable_parameter() -> None:
    n = UOp.variable("n", 0, 100)
    s = contig((N,))
    x = load(param(1, dtypes.float, N), s)
    ast = sink(store(param(0, dtypes.float, N), s, x * n.cast(dtypes.float) + bconst(dtypes.float, 1.0, (N,))))
    for dev in DEVICES:
        for k in (0, 3, 7):
            out = run(ast, dev, {1: FA}, vals=(k,))[0]
            assert out == [x * k + 1.0 for x in FA], (dev, k)


# ---- the rendered C of contiguous kernels


def test_contiguous_kernel_indexes_with_gidx0_alone() -> None:
    s = contig((4, 8))
    a, b = load(param(1, dtypes.float, 32), s), load(param(2, dtypes.float, 32), s)
    ast = sink(store(param(0, dtypes.float, 32), s, a * b + bconst(dtypes.float, 1.0, (4, 8))))
    with Context(NOOPT=1):  # the plain loop nest (by default the loop runs in vector lanes, tested below)
        src = get_program(ast, "CPU").src
    assert src.count("for (") == 1
    assert "gidx1" not in src
    # every buffer access is exactly `dataK[gidx0]`
    accesses = re.findall(r"data(\d)\[([^\]]*)\]", src)
    assert sorted(k for k, _ in accesses) == ["0", "1", "2"]
    assert all(idx == "gidx0" for _, idx in accesses), accesses
    assert re.search(r"data0\[gidx0\] = ", src)


def test_64x64_contiguous_kernel_is_one_loop_named_e_4096() -> None:
    s = contig((64, 64))
    x = load(param(1, dtypes.float, 4096), s)
    ast = sink(store(param(0, dtypes.float, 4096), s, x * x))
    with Context(NOOPT=1):
        spec = get_program(ast, "CPU")
    assert spec.name == "E_4096"
    assert spec.src.count("for (") == 1
    assert "gidx0 < 4096" in spec.src
    assert re.search(r"\bvoid E_4096\(", spec.src)
    xs = [float((i * 37) % 101 - 50) / 4 for i in range(4096)]
    out = run(ast, "CPU", {1: xs})[0]
    assert out == [v * v for v in xs]
    assert get_program(ast, "PYTHON").name == "E_4096"


def test_int32_elementwise_on_2d_contiguous() -> None:
    s = contig((3, 4))
    a = load(param(1, dtypes.int32, 12), s)
    ast = sink(store(param(0, dtypes.int32, 12), s, a * a - a + bconst(dtypes.int32, 7, (3, 4))))
    xs = list(range(-6, 6))
    res = run_both(ast, {1: xs})
    want = [x * x - x + 7 for x in xs]
    assert res["CPU"][0] == res["PYTHON"][0] == want
    with Context(NOOPT=1):
        assert get_program(ast, "CPU").name == "E_12"
    assert get_program(ast, "CPU").name == "E_3_4"  # by default: 4 lanes


def test_contiguous_kernel_runs_in_vector_lanes_by_default() -> None:
    s = contig((64, 64))
    x = load(param(1, dtypes.float, 4096), s)
    ast = sink(store(param(0, dtypes.float, 4096), s, x * x + bconst(dtypes.float, 1.0, (64, 64))))
    spec = get_program(ast, "CPU")
    assert spec.name == "E_256_16" and "vfloat16" in spec.src
    # one vector load and one vector store per iteration, indexed by the loop variable
    assert spec.src.count("(*((vfloat16_u*)(data1+gidx0*16)))") == 1
    assert spec.src.count("(*((vfloat16_u*)(data0+gidx0*16))) = ") == 1
    data = [float(i % 13) - 6.0 for i in range(4096)]
    res = run_both(ast, {1: data})
    assert res["CPU"][0] == res["PYTHON"][0] == [v * v + 1.0 for v in data]
