"""Row normalizations on work-group devices: a row kept by one work-group (tg_codegen.heuristic's row groups),
its reductions combined through local memory by every work-item of the row (tg_codegen.lower).

On CL (PoCL here) against the plain-Python reference and the PYTHON device, with the default heuristics and with
random Opts; CUDA C of the same kernels is compiled by nvcc where it is installed.
"""

from __future__ import annotations

import math
import random

import pytest
from helpers import (
    DEVICES,
    apply_random_opts,
    assert_close,
    caps_of,
    cuda_caps,
    gpu_cl_caps,
    launch,
    nvcc_or_skip,
)
from test_vector_math import KINDS, _case, _want

from tg_codegen.heuristic import hand_coded_optimizations, row_group_split
from tg_codegen.kernel import AxisType, Kernel
from tg_codegen.program import compile_kernel, get_program

needs_cl = pytest.mark.skipif("CL" not in DEVICES, reason="no OpenCL device here")


def _inputs(shape: tuple[int, int], seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-6.0, 6.0) for _ in range(shape[0] * shape[1])]


@pytest.mark.parametrize("n", [1, 2, 3, 16, 17, 48, 100, 256, 4096, 4099, 50257])
def test_row_group_split(n: int) -> None:
    few = row_group_split(n, spread=False)
    split = row_group_split(n)
    assert (few is None) == (split is None)  # the same rows fit, whichever split is chosen
    if few is not None:
        assert few[0] * few[1] == n and few[0] <= split[0]
    if split is None:  # only rows with a large prime factor have no split
        assert n in (4099, 50257) or n > 256 * 256
        return
    items, per_item = split
    assert items * per_item == n and items <= 256 and per_item <= 256
    # near sqrt(n): no split of n into at most 256 work-items has a smaller largest part
    assert max(items, per_item) == min(max(w, n // w) for w in range(1, min(n, 256) + 1) if n % w == 0)


@needs_cl
@pytest.mark.parametrize("gpu", [False, True], ids=["pocl", "as-gpu"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(3, 48), (2, 100), (5, 8), (2, 3), (2, 1024)])
def test_row_kernel_on_cl_is_one_work_group_per_row(kind: str, shape: tuple[int, int], gpu: bool) -> None:
    # PoCL's own form (few work-items, contiguous pieces in SIMD lanes) and the GPU's (about sqrt(n) work-items
    # on neighbouring elements), both run on the CL device here
    ast = _case(kind, shape)
    k = Kernel(ast, gpu_cl_caps() if gpu else caps_of("CL"))
    hand_coded_optimizations(k)
    items, per_item = row_group_split(shape[1], spread=gpu) or (0, 0)
    assert math.prod(s for s, t in zip(k.full_shape, k.types) if t is AxisType.LOCAL) == items
    assert math.prod(s for s, t in zip(k.full_shape, k.types) if t is AxisType.UPCAST) == per_item
    spec = compile_kernel(k, "CL")
    if items > 1:
        assert "__local" in spec.src and "barrier(" in spec.src
    xs = _inputs(shape)
    got = launch(spec, ast, {1: xs})[0]
    assert_close(got, _want(kind, xs, shape), what=f"{kind} {shape} on CL")
    assert_close(got, launch(get_program(ast, "PYTHON"), ast, {1: xs})[0], what="CL vs PYTHON")


@needs_cl
@pytest.mark.parametrize("seed", range(12))
def test_row_kernels_on_cl_with_random_opts(seed: int) -> None:
    rng = random.Random(f"{seed}-cl-rows")
    kind = KINDS[seed % 3]
    shape = (rng.choice([1, 2, 3]), rng.choice([4, 8, 12, 16, 32, 48]))
    ast = _case(kind, shape)
    xs = _inputs(shape, seed)
    k = Kernel(ast, caps_of("CL"))
    if seed % 2:
        hand_coded_optimizations(k)
    else:
        apply_random_opts(rng, k, rng.randint(1, 4))
    got = launch(get_program(ast, "CL", opts=k.applied), ast, {1: xs})[0]
    assert_close(got, _want(kind, xs, shape), what=f"seed {seed} {kind} {shape} with {k.applied}")


@pytest.mark.parametrize("kind", KINDS)
def test_row_kernel_cuda_source_compiles(kind: str) -> None:
    nvcc = nvcc_or_skip()
    ast = _case(kind, (8, 4096))
    k = Kernel(ast, cuda_caps())
    hand_coded_optimizations(k)
    spec = compile_kernel(k, "CUDA")
    assert "__shared__" in spec.src and "__syncthreads()" in spec.src
    assert spec.local_size == (64, 1, 1)
    nvcc.compile(spec.src)
