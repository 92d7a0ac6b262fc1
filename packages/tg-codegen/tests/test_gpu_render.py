"""GPU rendering: kernels optimized for GPU capabilities (work-groups from LOCAL axes) rendered as CUDA C and
compiled by nvcc to PTX (no GPU needed), and rendered as OpenCL C and run on the CL device with work-groups.

CUDA capabilities are written by hand (`cuda_caps`): `compile_kernel` reads only them. To keep nvcc's start-up
cost to one run, every CUDA kernel of this module is compiled in one translation unit (each renamed to be
unique); when that fails, each test compiles its own kernel alone, so the failure names the kernel at fault.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import (
    DEVICES,
    apply_random_opts,
    bconst,
    contig,
    cuda_caps,
    gpu_cl_caps,
    launch,
    load,
    loop_program_checks,
    matmul_ast,
    matmul_ref,
    nvcc_or_skip,
    param,
    sink,
    store,
)
from test_opts_fuzz import build_case

from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import AxisType, Kernel, OptOps
from tg_codegen.program import ProgramSpec, compile_kernel
from tg_runtime import Capabilities, CompileError
from tg_uop import Ops, UOp, dtypes


@dataclass
class GpuCase:
    ast: UOp
    inputs: dict[int, list[Any]]
    want: dict[int, list[Any]]
    vals: tuple[int, ...] = ()


def _matmul() -> GpuCase:
    m, n, k = 32, 32, 8
    a = [float((i * 5) % 7 - 3) for i in range(m * k)]
    b = [float((i * 3) % 5 - 2) for i in range(k * n)]
    return GpuCase(matmul_ast(m, n, k), {1: a, 2: b}, {0: matmul_ref(a, b, m, n, k)})


def _elementwise() -> GpuCase:
    # (16, 24) with a transposed input: two global axes, work-groups from both
    xs = [float(i % 11 - 5) for i in range(384)]
    ys = [float(i % 7 - 3) for i in range(384)]
    x = load(param(1, dtypes.float, 384), contig((16, 24)))
    y = load(param(2, dtypes.float, 384), contig((24, 16)).permute((1, 0)))
    ast = sink(store(param(0, dtypes.float, 384), contig((16, 24)), x * y + x))
    want = [xs[r * 24 + c] * ys[c * 16 + r] + xs[r * 24 + c] for r in range(16) for c in range(24)]
    return GpuCase(ast, {1: xs, 2: ys}, {0: want})


def _reduction() -> GpuCase:
    xs = [float(i % 9 - 4) for i in range(256)]
    ast = sink(
        store(
            param(0, dtypes.float, 8),
            contig((8, 1)),
            load(param(1, dtypes.float, 256), contig((8, 32))).reduce_axis(Ops.ADD, (1,)),
        )
    )
    return GpuCase(ast, {1: xs}, {0: [sum(xs[r * 32 : r * 32 + 32]) for r in range(8)]})


def _float16() -> GpuCase:
    # half data: products and sums of small integers are exact in float16; one half and one float output
    xs = [float(i % 5 - 2) for i in range(256)]
    ys = [float(i % 3 - 1) for i in range(256)]
    s = contig((16, 16))
    x, y = load(param(2, dtypes.float16, 256), s), load(param(3, dtypes.float16, 256), s)
    ast = sink(
        store(param(0, dtypes.float16, 16), contig((16, 1)), (x * y + x).reduce_axis(Ops.ADD, (1,))),
        store(param(1, dtypes.float32, 16), contig((16, 1)), x.cast(dtypes.float32).reduce_axis(Ops.ADD, (1,))),
    )
    rows = [range(r * 16, r * 16 + 16) for r in range(16)]
    want = {0: [sum(xs[i] * ys[i] + xs[i] for i in rr) for rr in rows], 1: [sum(xs[i] for i in rr) for rr in rows]}
    return GpuCase(ast, {2: xs, 3: ys}, want)


def _int64() -> GpuCase:
    big = 1 << 40  # beyond int32: a kernel that narrowed to int would lose it
    xs = [big + i * 3 for i in range(128)]
    ys = [i % 7 - 3 for i in range(128)]
    x, y = load(param(2, dtypes.int64, 128), contig((8, 16))), load(param(3, dtypes.int64, 128), contig((8, 16)))
    ast = sink(
        store(param(0, dtypes.int64, 8), contig((8, 1)), (x * y).reduce_axis(Ops.MAX, (1,))),
        store(param(1, dtypes.int64, 8), contig((8, 1)), (x + y).reduce_axis(Ops.ADD, (1,))),
    )
    rows = [range(r * 16, r * 16 + 16) for r in range(8)]
    want = {0: [max(xs[i] * ys[i] for i in rr) for rr in rows], 1: [sum(xs[i] + ys[i] for i in rr) for rr in rows]}
    return GpuCase(ast, {2: xs, 3: ys}, want)


def _bool() -> GpuCase:
    n = 256
    bs = [(i * 7) % 3 == 0 for i in range(n)]
    xs = [float(i % 9 - 4) for i in range(n)]
    s = contig((n,))
    b, x = load(param(2, dtypes.bool, n), s), load(param(3, dtypes.float, n), s)
    ast = sink(
        store(param(0, dtypes.bool, n), s, b.ne(x < bconst(dtypes.float, 0.0, (n,)))),
        store(param(1, dtypes.float, n), s, b.where(x, -x)),
    )
    want = {0: [p != (q < 0) for p, q in zip(bs, xs)], 1: [q if p else -q for p, q in zip(bs, xs)]}
    return GpuCase(ast, {2: bs, 3: xs}, want)


def _variable() -> GpuCase:
    xs = [float(i % 5) for i in range(512)]
    nv = UOp.variable("n", 0, 100)
    s = contig((512,))
    ast = sink(
        store(param(0, dtypes.float, 512), s, load(param(1, dtypes.float, 512), s) * nv.cast(dtypes.float) + 1.0)
    )
    return GpuCase(ast, {1: xs}, {0: [v * 7 + 1.0 for v in xs]}, vals=(7,))


CASES: dict[str, Callable[[], GpuCase]] = {
    "matmul": _matmul,
    "elementwise": _elementwise,
    "reduction": _reduction,
    "float16": _float16,
    "int64": _int64,
    "bool": _bool,
    "variable": _variable,
}
FUZZ_SEEDS = range(8)


def optimized(name: str, caps: Capabilities) -> tuple[Kernel, GpuCase | None]:
    """The kernel of a case optimized for `caps`: heuristics for the named cases, random Opts for fuzz ASTs."""
    if name.startswith("fuzz"):
        seed = int(name[4:])
        ast = build_case(seed)[0]
        rng = random.Random(f"gpu-{seed}")
        return apply_random_opts(rng, Kernel(ast, caps), rng.randint(2, 5)), None
    case = CASES[name]()
    k = Kernel(case.ast, caps)
    hand_coded_optimizations(k)
    return k, case


def launch_dims(sizes: list[int]) -> tuple[int, int, int]:
    """The launch of axes of these sizes: the last is dimension 0, the one before it 1, the rest share 2."""
    if not sizes:
        return (1, 1, 1)
    return (sizes[-1], sizes[-2] if len(sizes) > 1 else 1, math.prod(sizes[:-2]))


def check_launch(k: Kernel, spec: ProgramSpec) -> None:
    glob = [s for s, t in zip(k.full_shape, k.types) if t is AxisType.GLOBAL]
    # GROUP axes are work-items too (a reduction shared by the group)
    local = [s for s, t in zip(k.full_shape, k.types) if t in (AxisType.LOCAL, AxisType.GROUP)]
    assert spec.global_size == launch_dims(glob), (k, spec.global_size)
    assert spec.local_size == launch_dims(local), (k, spec.local_size)
    # the launch covers every output element once: work-items times upcast lanes
    upcast = math.prod(s for s, t in zip(k.full_shape, k.types) if t is AxisType.UPCAST)
    reduce = math.prod(s for s, t in zip(k.full_shape, k.types) if t in (AxisType.REDUCE, AxisType.UNROLL))
    total = math.prod(spec.global_size) * math.prod(spec.local_size) * upcast * reduce
    assert total == math.prod(k.full_shape)


# ---- CUDA

CUDA_NAMES = [*CASES, *(f"fuzz{s}" for s in FUZZ_SEEDS)]


@pytest.fixture(scope="module")
def nvcc() -> Any:
    return nvcc_or_skip()


@pytest.fixture(scope="module")
def cuda_batch(nvcc: Any) -> tuple[dict[str, tuple[Kernel, ProgramSpec]], dict[str, tuple[str, ...]] | None]:
    from tg_runtime.backends.cuda import ptx_kernels

    rendered: dict[str, tuple[Kernel, ProgramSpec]] = {}
    units = []
    for i, name in enumerate(CUDA_NAMES):
        k, _ = optimized(name, cuda_caps())
        spec = compile_kernel(k, "CUDA")
        rendered[name] = (k, spec)
        assert spec.src.count(f"void {spec.name}(") == 1
        units.append(spec.src.replace(f"void {spec.name}(", f"void {spec.name}_{i}("))
    try:
        entries = ptx_kernels(nvcc.compile("\n".join(units)))
    except CompileError:
        entries = None  # each test compiles its kernel alone
    return rendered, entries


@pytest.mark.parametrize("name", CUDA_NAMES)
def test_cuda_source_compiles_to_ptx(name: str, nvcc: Any, cuda_batch: Any) -> None:
    from tg_runtime.backends.cuda import arg_format, ptx_kernels

    rendered, entries = cuda_batch
    k, spec = rendered[name]
    entry = f"{spec.name}_{CUDA_NAMES.index(name)}"
    if entries is None:
        entries, entry = ptx_kernels(nvcc.compile(spec.src)), spec.name
    assert entry in entries, f".entry {entry} missing from the PTX"
    # tg passes the buffers (64-bit pointers) and then the int32 variables
    n_bufs = len({u.arg for u in spec.uops if u.op is Ops.DEFINE_GLOBAL})
    assert arg_format(entry, entries[entry]) == "P" * n_bufs + "i" * len(spec.vars)
    assert spec.language == "CUDA" and spec.src.startswith(("#include", 'extern "C" __global__ void'))
    # global axes are blocks, local axes threads: no loop over an output axis is left
    assert "for (int gidx" not in spec.src
    work_items = (AxisType.LOCAL, AxisType.GROUP)
    assert ("threadIdx" in spec.src) == any(t in work_items and s > 1 for s, t in zip(k.full_shape, k.types))
    check_launch(k, spec)
    loop_program_checks(spec.uops)


def test_cuda_heuristic_kernels_use_work_groups(cuda_batch: Any) -> None:
    rendered, _ = cuda_batch
    for name in CASES:
        k, spec = rendered[name]
        assert any(o.op is OptOps.LOCAL for o in k.applied), name
        assert 1 < math.prod(spec.local_size) <= 256, name
    k, _ = rendered["matmul"]
    assert [o.op for o in k.applied].count(OptOps.UPCAST) == 2


def test_cuda_bool_and_half_types(cuda_batch: Any) -> None:
    rendered, _ = cuda_batch
    src = rendered["bool"][1].src
    assert "bool* __restrict__ data0" in src and "const bool* __restrict__ data2" in src
    src = rendered["float16"][1].src
    assert src.startswith("#include <cuda_fp16.h>") and "half* __restrict__ data0" in src
    src = rendered["int64"][1].src
    assert "long long* __restrict__ data0" in src
    src = rendered["variable"][1].src
    assert "const int n" in src


# ---- OpenCL, with the work-groups a GPU would get

needs_cl = pytest.mark.skipif("CL" not in DEVICES, reason="no OpenCL device here")


@needs_cl
@pytest.mark.parametrize("name", list(CASES))
def test_opencl_gpu_kernels_run(name: str) -> None:
    caps = gpu_cl_caps()
    case = CASES[name]()
    missing = {u.dtype.base for u in case.ast.toposort() if u.op is Ops.DEFINE_GLOBAL} - caps.dtypes
    if missing:
        pytest.skip(f"the CL device here has no {sorted(map(str, missing))}")
    k, _ = optimized(name, caps)
    assert any(o.op is OptOps.LOCAL for o in k.applied)
    spec = compile_kernel(k, "CL")
    check_launch(k, spec)
    out = launch(spec, case.ast, case.inputs, vals=case.vals)
    for i, want in case.want.items():
        assert out[i] == want, f"{name}: output {i}"
    for i, data in case.inputs.items():
        assert out[i] == data, f"{name}: input {i} was written"
    if name == "bool":
        # OpenCL kernels cannot take bool pointers: bool buffers are passed as bytes
        assert "__global uchar* restrict data0" in spec.src
        assert "__global const uchar* restrict data2" in spec.src
        assert "bool*" not in spec.src
