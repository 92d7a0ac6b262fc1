"""Kernels over symbolic sizes: one program per AST, the Variables passed at launch (loop bounds, launch sizes,
index arithmetic), on every device; random Opts on such kernels stay legal and right; CUDA C compiles with nvcc.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import DEVICES, apply_random_opts, cuda_caps, load, nvcc_or_skip, pack, param, sink, store

from tg_codegen import get_program
from tg_codegen.compile import compile_kernel
from tg_codegen.kernel import Kernel
from tg_runtime import Buffer, Device
from tg_runtime.counters import COUNTERS, Counts
from tg_uop import Ops, ShapeTracker, UOp, Variable, dtypes, sym_infer

MAX = 12
n = Variable("n", 1, MAX)


def sym_ast() -> UOp:
    """out[i, j] = sum_k a[i, k] * 2 + 1 over an (n, 8) input (rows of 8; n rows), and a second kernel shape:
    out has n rows, read through a symbolic stride."""
    a_st = ShapeTracker.from_shape((n, 8))
    a = load(param(1, dtypes.float32, MAX * 8), a_st)
    red = UOp(Ops.REDUCE_AXIS, dtypes.float32, (a * UOp.const(dtypes.float32, 2.0),), (Ops.ADD, (1,)))
    val = red + UOp.const(dtypes.float32, 1.0)
    return sink(store(param(0, dtypes.float32, MAX), ShapeTracker.from_shape((n, 1)), val))


def elementwise_ast() -> UOp:
    """out[i] = a[n - 1 - i] * i-th element: a flipped read of a symbolic-length vector (offset over n)."""
    st = ShapeTracker.from_shape((n,)).flip((True,))
    val = load(param(1, dtypes.float32, MAX), st) * load(param(1, dtypes.float32, MAX), ShapeTracker.from_shape((n,)))
    return sink(store(param(0, dtypes.float32, MAX), ShapeTracker.from_shape((n,)), val))


def run_at(spec: Any, inputs: dict[int, list[float]], size: int, value: int, prg: Any = None) -> list[float]:
    bufs = [Buffer(spec.device, size, dtypes.float32).copyin(pack(dtypes.float32, [-7.0] * size))]
    bufs += [Buffer(spec.device, len(v), dtypes.float32).copyin(pack(dtypes.float32, v)) for v in inputs.values()]
    prg = prg or Device[spec.device].build(spec.name, spec.src)
    names = {v.arg[0]: value for v in spec.vars}
    gs = tuple(int(sym_infer(s, names)) for s in spec.global_size)
    prg(*[b.handle for b in bufs], global_size=gs, local_size=spec.local_size, vals=(value,) * len(spec.vars))
    return bufs[0].as_memoryview().cast("f").tolist()


def reduce_ref(a: list[float], k: int) -> list[float]:
    return [sum(a[i * 8 + j] * 2 for j in range(8)) + 1 for i in range(k)]


def flip_ref(a: list[float], k: int) -> list[float]:
    return [a[k - 1 - i] * a[i] for i in range(k)]


CASES = [(sym_ast, MAX * 8, reduce_ref), (elementwise_ast, MAX, flip_ref)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_one_program_for_every_value(device: str, case: int) -> None:
    build, in_size, ref = CASES[case]
    ast = build()
    spec = get_program(ast, device)
    assert [v.arg[0] for v in spec.vars] == ["n"]
    assert "n" in spec.name  # the symbolic size names the kernel
    a = [float((i * 7) % 11) for i in range(in_size)]
    prg = Device[device].build(spec.name, spec.src)
    before = COUNTERS.snapshot()
    for k in (1, 5, 9, MAX):
        out = run_at(spec, {1: a}, MAX, k, prg)
        assert out[:k] == ref(a, k), (device, k)
        assert out[k:] == [-7.0] * (MAX - k)  # nothing past the bound value is written
    assert COUNTERS.since(before) == Counts(compiles=0, launches=4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(6))
def test_random_opts_on_symbolic_kernels(device: str, seed: int) -> None:
    """Opts drawn as BEAM draws them: those on a symbolic axis are refused (KernelOptError) or give the right
    values for every bound value."""
    rng = random.Random(seed)
    build, in_size, ref = CASES[seed % len(CASES)]
    ast = build()
    k = apply_random_opts(rng, Kernel(ast, Device[device].caps), 3)
    spec = compile_kernel(k, device)
    a = [float((i * 5) % 13) for i in range(in_size)]
    for value in (2, 7, MAX):
        assert run_at(spec, {1: a}, MAX, value)[:value] == ref(a, value), (k.applied, value)


def test_cuda_source_compiles_with_nvcc() -> None:
    compiler = nvcc_or_skip()
    for build, _, _ in CASES:
        spec = compile_kernel(Kernel(build(), cuda_caps()), "CUDA")
        assert "const int n" in spec.src or "int n" in spec.src
        compiler.compile(spec.src)


def test_symbolic_launch_size_is_an_expression_of_the_variable() -> None:
    if "CL" not in DEVICES:
        pytest.skip("no OpenCL device here")
    spec = get_program(elementwise_ast(), "CL")
    sizes = [s for s in spec.global_size if isinstance(s, UOp)]
    assert sizes and all(int(sym_infer(s, {"n": 9})) >= 1 for s in sizes)
