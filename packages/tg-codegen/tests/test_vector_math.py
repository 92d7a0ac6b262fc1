"""Math on whole SIMD vectors in the C and LLVM renderers (tg_codegen.renderer.cmath) and the row kernels that use it.

- exp2 on 4, 8 and 16 float32 lanes: error in ulps against numpy's exp2 in float64 over random, dense and special
  inputs (the bound the renderer's docstring states), on CPU and on LLVM, which renders the same function and
  gives the same bits;
- normalizations over a row (softmax, log-softmax, layer norm shapes) whose row reductions run in SIMD lanes, with
  random Opts drawn from BEAM's candidates: CPU and PYTHON against a plain-Python reference, LLVM equal to CPU
  bit for bit (the sums' fused multiply-adds included).
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from helpers import (
    DEVICES,
    apply_random_opts,
    assert_close,
    caps_of,
    contig,
    get_program,
    launch,
    load,
    param,
    sink,
    store,
)

from tg_codegen.kernel import Kernel, Opt, OptOps
from tg_uop import Ops, UOp, dtypes

SPECIALS = [math.inf, -math.inf, math.nan, 0.0, -0.0, 128.0, 127.99999, 127.5, 127.49999, -126.0, -126.5, -127.0]
SPECIALS += [-149.0, -149.5, -149.99, -150.0, -150.01, -151.0, -160.0, 1e-30, -1e-30, 1e30, -1e30]


def _exp2_inputs(n: int) -> np.ndarray:
    rng = np.random.default_rng(12)
    parts = [
        np.array(SPECIALS),
        np.arange(-152, 130, dtype=np.float64),
        rng.uniform(-155.0, 132.0, n),
        rng.uniform(-1.0, 1.0, n),
        rng.uniform(-0.5, 0.5, n) + rng.integers(-150, 128, n),  # around the integers, where f is near +-0.5
        rng.uniform(-150.0, -125.0, n),  # subnormal and smallest normal results
    ]
    x = np.concatenate(parts).astype(np.float32)
    return np.concatenate([x, np.zeros(-len(x) % 16, np.float32)])


def _ulp_errors(got: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(largest error in ulps of the float32 result over normal results, largest error over subnormal ones in
    units of the smallest subnormal), after checking inf, nan and overflow exactly."""
    with np.errstate(over="ignore"):
        ref = np.exp2(x.astype(np.float64))
    fmax, tiny = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
    nan = np.isnan(x)
    assert np.array_equal(np.isnan(got), nan)
    over = ref > fmax
    assert np.all((got[over] == np.inf) | (got[over] == fmax)), x[over][got[over] != np.inf]
    normal, sub = ~nan & ~over & (ref >= tiny), ~nan & (ref < tiny)
    ulp = np.spacing(ref[normal].astype(np.float32)).astype(np.float64)
    err = np.abs(got[normal].astype(np.float64) - ref[normal]) / ulp
    sub_err = np.abs(got[sub].astype(np.float64) - ref[sub]) / 2.0**-149
    return float(err.max()), float(sub_err.max())


HOST = [d for d in ("CPU", "LLVM") if d in DEVICES]


def _exp2_on(device: str, x: np.ndarray, lanes: int) -> np.ndarray:
    n = len(x)
    x_in = load(param(1, dtypes.float, n), contig((n,)))
    ast = sink(store(param(0, dtypes.float, n), contig((n,)), x_in.alu(Ops.EXP2)))
    spec = get_program(ast, device, opts=[Opt(OptOps.UPCAST, 0, lanes)])
    # the vector function, not exp2f lane by lane
    assert "exp2f" not in spec.src and (device != "CPU" or f"tg_exp2_vfloat{lanes}(" in spec.src)
    return np.array(launch(spec, ast, {1: x.tolist()})[0], dtype=np.float32)


@pytest.mark.parametrize("device", HOST)
@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_vector_exp2_ulp_error(lanes: int, device: str) -> None:
    x = _exp2_inputs(20000)
    got = _exp2_on(device, x, lanes)
    err, sub_err = _ulp_errors(got, x)
    print(f"exp2 on {lanes} lanes on {device}: {err:.3f} ulp, subnormal results {sub_err:.3f} steps")
    assert err <= 1.5, err
    assert sub_err <= 1.0, sub_err
    assert np.all(got[x == 0] == 1.0) and got[x == -np.inf].tolist() == [0.0]
    assert got[x == np.inf].tolist() == [np.inf] and np.all(got[x >= 128.0] == np.inf)
    assert np.all(got[x <= -151.0] == 0.0) and np.all(got[x == -149.0] == 2.0**-149)


@pytest.mark.skipif("LLVM" not in DEVICES, reason="llvmlite is not installed")
@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_vector_exp2_llvm_is_the_c_function(lanes: int) -> None:
    # the same function rendered in LLVM IR: the same bits as the C kernel's on every input, nan lanes included
    x = _exp2_inputs(20000)
    llvm, cpu = _exp2_on("LLVM", x, lanes), _exp2_on("CPU", x, lanes)
    assert np.array_equal(llvm.view(np.uint32), cpu.view(np.uint32)), x[llvm.view(np.uint32) != cpu.view(np.uint32)]


def _rows(shape: tuple[int, int]) -> tuple[UOp, UOp]:
    n = shape[0] * shape[1]
    return load(param(1, dtypes.float, n), contig(shape)), param(0, dtypes.float, n)


def _softmax_ast(shape: tuple[int, int], log: bool) -> UOp:
    x, out = _rows(shape)
    d = x - x.reduce_axis(Ops.MAX, (1,))
    s = d.alu(Ops.EXP2).reduce_axis(Ops.ADD, (1,))
    return sink(store(out, contig(shape), d - s.alu(Ops.LOG2) if log else d.alu(Ops.EXP2) / s))


def _layernorm_ast(shape: tuple[int, int]) -> UOp:
    x, out = _rows(shape)
    inv = 1.0 / shape[1]
    d = x - x.reduce_axis(Ops.ADD, (1,)) * inv
    var = (d * d).reduce_axis(Ops.ADD, (1,)) * inv
    return sink(store(out, contig(shape), d * (var + 1e-5).alu(Ops.SQRT).alu(Ops.RECIP)))


def _want(kind: str, xs: list[float], shape: tuple[int, int]) -> list[float]:
    out: list[float] = []
    for r in range(shape[0]):
        row = xs[r * shape[1] : (r + 1) * shape[1]]
        if kind == "layernorm":
            mean = sum(row) / len(row)
            var = sum((v - mean) ** 2 for v in row) / len(row)
            out += [(v - mean) / math.sqrt(var + 1e-5) for v in row]
            continue
        d = [v - max(row) for v in row]
        s = sum(2.0**v for v in d)
        out += [v - math.log2(s) for v in d] if kind == "log_softmax" else [2.0**v / s for v in d]
    return out


def _case(kind: str, shape: tuple[int, int]) -> UOp:
    return _layernorm_ast(shape) if kind == "layernorm" else _softmax_ast(shape, kind == "log_softmax")


KINDS = ["softmax", "log_softmax", "layernorm"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lanes", [4, 16])
def test_row_reductions_in_simd_lanes(kind: str, lanes: int) -> None:
    # the row axis in SIMD lanes: the max and sum loops over the row keep vector accumulators whose lanes are
    # combined after the loop (no scalar reduction, no exp2f lane by lane)
    shape = (3, 48)
    xs = [float((i * 37) % 23) / 3 - 4.0 for i in range(shape[0] * shape[1])]
    ast = _case(kind, shape)
    spec = get_program(ast, "CPU", opts=[Opt(OptOps.UPCAST, 1, lanes)])
    assert f"acc1 = ((vfloat{lanes})" in spec.src.replace("\n", " ") or f"vfloat{lanes} acc1" in spec.src
    if kind != "layernorm":
        assert "exp2f(" not in spec.src and f"tg_exp2_vfloat{lanes}(" in spec.src
    got = launch(spec, ast, {1: xs})[0]
    assert_close(got, _want(kind, xs, shape), what=f"{kind} CPU")
    if kind != "layernorm" and "LLVM" in DEVICES:  # a kernel with fused multiply-adds: LLVM fuses the same ones
        llvm = get_program(ast, "LLVM", opts=[Opt(OptOps.UPCAST, 1, lanes)])
        assert "exp2f" not in llvm.src and " contract " in llvm.src
        assert launch(llvm, ast, {1: xs})[0] == got


@pytest.mark.parametrize("seed", range(36))
def test_row_kernels_with_random_opts(seed: int) -> None:
    rng = random.Random(f"{seed}-rows")
    kind = KINDS[seed % 3]
    shape = (rng.choice([1, 2, 3, 5]), rng.choice([2, 4, 8, 16, 24, 32, 48, 64]))
    xs = [rng.uniform(-6.0, 6.0) for _ in range(shape[0] * shape[1])]
    ast = _case(kind, shape)
    want = _want(kind, xs, shape)
    results: dict[str, Any] = {}
    for dev in ("CPU", "PYTHON"):
        k = apply_random_opts(rng, Kernel(ast, caps_of(dev)), rng.randint(1, 4))
        results[dev] = launch(get_program(ast, dev, opts=k.applied), ast, {1: xs})[0]
        assert_close(results[dev], want, what=f"seed {seed} {kind} {shape} on {dev} with {k.applied}")
        # the same Opts on LLVM: the C kernel's bits, exp2 and the sums of its results fused as in C (layer norm
        # is left out: GCC and LLVM contract its vector sums of squares differently, by one ulp)
        if dev == "CPU" and "LLVM" in DEVICES and kind != "layernorm":
            llvm = launch(get_program(ast, "LLVM", opts=k.applied), ast, {1: xs})[0]
            assert llvm == results["CPU"], f"seed {seed} {kind} {shape}: LLVM vs CPU with {k.applied}"
    assert_close(results["CPU"], results["PYTHON"], what=f"seed {seed}: CPU vs PYTHON")
