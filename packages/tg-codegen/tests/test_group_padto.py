"""GROUP (a reduction shared by the work-items of a work-group, partial results combined through local memory) and
PADTO (an axis padded to a multiple of a tile): legality, results on the CL device against the PYTHON device,
CUDA source compiled by nvcc, PADTO on the C device, the GPU heuristic's two-stage reductions, BEAM's candidates.

PoCL (the CL device here) says it is a CPU, so its heuristics never group: the tests apply GROUP explicitly, and
check the heuristic with GPU capabilities.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from helpers import (
    DEVICES,
    assert_close,
    bconst,
    caps_of,
    contig,
    cuda_caps,
    get_program,
    gpu_cl_caps,
    launch,
    load,
    loop_program_checks,
    matmul_ast,
    nvcc_or_skip,
    param,
    run_opts,
    sink,
    store,
)

from tg_codegen.heuristic import hand_coded_optimizations
from tg_codegen.kernel import AxisType, Kernel, KernelOptError, Opt, OptOps
from tg_codegen.program import compile_kernel
from tg_codegen.search import candidate_opts
from tg_runtime import Capabilities, CompileError
from tg_uop import DType, Ops, UOp, dtypes
from tg_uop.helpers import Context

needs_cl = pytest.mark.skipif("CL" not in DEVICES, reason="no OpenCL device here")

OPENCL_GPU = Capabilities(
    language="OpenCL",
    dtypes=frozenset(dtypes.all()),
    local_memory=32 * 1024,
    max_local_size=(1024, 1024, 64),
    has_workgroups=True,
    extra={"max_work_group_size": 256, "device_type": "gpu"},
)


def reduce_ast(
    shape: tuple[int, int], axis: int, op: Ops = Ops.ADD, dt: DType = dtypes.float32, pre: Any = None
) -> UOp:
    """out = reduce(op, x) over `axis` of a contiguous 2-d input (`pre` maps the loaded value first)."""
    n = math.prod(shape)
    x = load(param(1, dt, n), contig(shape))
    body = pre(x) if pre is not None else x
    out_shape = tuple(1 if i == axis else s for i, s in enumerate(shape))
    return sink(store(param(0, dt, math.prod(out_shape)), contig(out_shape), body.reduce_axis(op, (axis,))))


def values(n: int, dt: DType = dtypes.float32, negative: bool = False) -> list[Any]:
    vals = [(i * 7919) % 23 - (30 if negative else 11) for i in range(n)]
    return [float(v) for v in vals] if dt.is_float else vals


def reference(ast: UOp, inputs: dict[int, list[Any]]) -> dict[int, list[Any]]:
    return launch(get_program(ast, "PYTHON", opts=[]), ast, inputs)


def kernel(ast: UOp, caps: Capabilities, *opts: Opt) -> Kernel:
    k = Kernel(ast, caps)
    for o in opts:
        k.apply(o)
    return k


# ---------------------------------------------------------------- legality


def test_group_needs_work_groups_and_local_memory() -> None:
    ast = reduce_ast((4, 64), 1)
    for dev in ("CPU", "PYTHON"):
        with pytest.raises(KernelOptError, match="work-groups"):
            kernel(ast, caps_of(dev), Opt(OptOps.GROUP, 1, 16))
    no_local = dataclasses.replace(OPENCL_GPU, local_memory=0)
    with pytest.raises(KernelOptError, match="local memory"):
        kernel(ast, no_local, Opt(OptOps.GROUP, 1, 16))


def test_group_legality() -> None:
    ast = reduce_ast((4, 64), 1)
    k = Kernel(ast, OPENCL_GPU)
    before = (k.ast, list(k.types), list(k.applied))
    for bad, why in [
        (Opt(OptOps.GROUP, 0, 2), "reduce axis"),  # a global axis
        (Opt(OptOps.GROUP, 1, 48), "does not split"),
        (Opt(OptOps.GROUP, 1, 1), "does not split"),
        (Opt(OptOps.GROUP, 2, 4), "no axis"),
    ]:
        with pytest.raises(KernelOptError, match=why):
            k.apply(bad)
        assert (k.ast, k.types, k.applied) == before  # nothing changed
    k.apply(Opt(OptOps.GROUP, 1, 16))
    assert k.types == [AxisType.GLOBAL, AxisType.GROUP, AxisType.REDUCE] and k.full_shape == (4, 16, 4)
    assert k.name == "r_4_16_4" and k.local_memory() == 16 * 4
    # a group axis is not split again by other opts
    for bad in (Opt(OptOps.UNROLL, 1, 2), Opt(OptOps.UPCAST, 1, 2), Opt(OptOps.LOCAL, 1, 2)):
        with pytest.raises(KernelOptError):
            k.apply(bad)


def test_group_respects_the_device_limits() -> None:
    ast = reduce_ast((4, 1024), 1)
    small = dataclasses.replace(OPENCL_GPU, extra={**OPENCL_GPU.extra, "max_work_group_size": 64})
    with pytest.raises(KernelOptError, match="exceed"):
        kernel(ast, small, Opt(OptOps.GROUP, 1, 128))
    k = kernel(ast, small, Opt(OptOps.GROUP, 1, 32))
    with pytest.raises(KernelOptError, match="exceed"):
        k.apply(Opt(OptOps.LOCAL, 0, 4))  # 4 x 32 work-items
    tiny = dataclasses.replace(OPENCL_GPU, local_memory=64)
    kernel(ast, tiny, Opt(OptOps.GROUP, 1, 16))  # 16 floats: fits
    with pytest.raises(KernelOptError, match="local memory"):
        kernel(ast, tiny, Opt(OptOps.GROUP, 1, 32))
    with pytest.raises(KernelOptError, match="local memory"):  # two upcast copies of the partial sums
        kernel(ast, tiny, Opt(OptOps.GROUP, 1, 16), Opt(OptOps.UPCAST, 0, 2))


def nested_ast(r: int = 4, a: int = 16, b: int = 8) -> tuple[UOp, dict[int, list[Any]]]:
    """out[i] = sum_j x[i, j] * max_k y[i, j, k]: a reduction inside another one's loop."""
    x = load(param(1, dtypes.float, r * a), contig((r, a, 1)))
    y = load(param(2, dtypes.float, r * a * b), contig((r, a, b)))
    inner = y.reduce_axis(Ops.MAX, (2,))
    ast = sink(store(param(0, dtypes.float, r), contig((r, 1, 1)), (x * inner).reduce_axis(Ops.ADD, (1,))))
    return ast, {1: values(r * a), 2: values(r * a * b)}


def test_group_refuses_a_reduction_inside_another_loop() -> None:
    ast, _ = nested_ast()
    k = Kernel(ast, OPENCL_GPU)
    assert k.types == [AxisType.GLOBAL, AxisType.REDUCE, AxisType.REDUCE]
    with pytest.raises(KernelOptError, match="inside another"):
        k.apply(Opt(OptOps.GROUP, 2, 4))  # the inner max runs once per iteration of the outer sum
    k.apply(Opt(OptOps.GROUP, 1, 4))  # the outer sum can be shared


def test_padto_legality() -> None:
    ast = reduce_ast((30, 30), 1)
    k = Kernel(ast, caps_of("CPU"))
    before = (k.ast, list(k.types))
    for bad, why in [
        (Opt(OptOps.PADTO, 0, 15), "no-op"),  # 30 is a multiple of 15 already
        (Opt(OptOps.PADTO, 0, 64), "more than doubles"),
        (Opt(OptOps.PADTO, 0, 1), "no-op"),
    ]:
        with pytest.raises(KernelOptError, match=why):
            k.apply(bad)
        assert (k.ast, k.types) == before
    k.apply(Opt(OptOps.PADTO, 0, 8))
    assert k.full_shape == (32, 30)
    k.apply(Opt(OptOps.UPCAST, 0, 8))  # legal now: 32 = 4 x 8
    with pytest.raises(KernelOptError, match="only global and reduce"):
        k.apply(Opt(OptOps.PADTO, 2, 3))  # the upcast axis (4 global, 30 reduce, 8 upcast)
    # a divisor read from memory would be 0 in the padded iterations
    x = load(param(1, dtypes.int32, 30), contig((30,)))
    div = sink(store(param(0, dtypes.int32, 30), contig((30,)), bconst(dtypes.int32, 7, (30,)).alu(Ops.IDIV, x)))
    with pytest.raises(KernelOptError, match="divide by zero"):
        Kernel(div, caps_of("CPU")).apply(Opt(OptOps.PADTO, 0, 32))


# ---------------------------------------------------------------- GROUP on the CL device


GROUP_CASES: dict[str, tuple[UOp, list[Opt], dict[int, list[Any]]]] = {}


def _case(name: str, ast: UOp, opts: list[Opt], inputs: dict[int, list[Any]]) -> None:
    GROUP_CASES[name] = (ast, opts, inputs)


_case("full_sum", reduce_ast((1, 4096), 1), [Opt(OptOps.GROUP, 1, 64)], {1: values(4096)})
_case(
    "row_sums_unroll",
    reduce_ast((8, 1024), 1),
    [Opt(OptOps.GROUP, 1, 16), Opt(OptOps.UNROLL, 2, 4)],
    {1: values(8192)},
)
_case(
    "unroll_then_group",
    reduce_ast((8, 1024), 1),
    [Opt(OptOps.UNROLL, 1, 4), Opt(OptOps.GROUP, 1, 32)],
    {1: values(8192)},
)
_case(
    "row_max_negative", reduce_ast((6, 512), 1, Ops.MAX), [Opt(OptOps.GROUP, 1, 32)], {1: values(3072, negative=True)}
)
_case(
    "column_sums_local_upcast",
    reduce_ast((256, 16), 0),
    [Opt(OptOps.GROUP, 1, 16), Opt(OptOps.LOCAL, 0, 4), Opt(OptOps.UPCAST, 0, 2)],  # axes (16 global, 256 reduce)
    {1: values(4096)},
)
_case("int_sum", reduce_ast((3, 768), 1, dt=dtypes.int32), [Opt(OptOps.GROUP, 1, 256)], {1: values(2304, dtypes.int32)})
_case(
    "max_of_squares",
    reduce_ast((4, 256), 1, Ops.MAX, pre=lambda x: -(x * x)),
    [Opt(OptOps.GROUP, 1, 8), Opt(OptOps.UPCAST, 0, 4)],
    {1: values(1024)},
)


def _two_reductions() -> tuple[UOp, dict[int, list[Any]]]:
    # sum(x) and max(x*x) of each row, in one kernel: two grouped reductions, two local buffers
    x = load(param(2, dtypes.float, 4 * 512), contig((4, 512)))
    ast = sink(
        store(param(0, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.ADD, (1,))),
        store(param(1, dtypes.float, 4), contig((4, 1)), (x * x).reduce_axis(Ops.MAX, (1,))),
    )
    return ast, {2: values(2048)}


_two, _two_inputs = _two_reductions()
_case("two_reductions", _two, [Opt(OptOps.GROUP, 1, 32), Opt(OptOps.UNROLL, 2, 2)], _two_inputs)
_nested, _nested_inputs = nested_ast()
_case("outer_of_nested", _nested, [Opt(OptOps.GROUP, 1, 4)], _nested_inputs)
_case(
    "padded_then_grouped",
    reduce_ast((5, 300), 1, Ops.MAX),
    [Opt(OptOps.PADTO, 1, 16), Opt(OptOps.GROUP, 1, 16)],
    {1: values(1500, negative=True)},
)


@needs_cl
@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_group_on_cl_matches_python(name: str) -> None:
    ast, opts, inputs = GROUP_CASES[name]
    spec, out = run_opts(ast, "CL", inputs, opts)
    want = reference(ast, inputs)
    outs = sorted({u.src[0].arg for u in ast.src})
    for i in outs:
        assert_close(out[i], want[i], what=f"{name} output {i}")
    for i, data in inputs.items():
        assert out[i] == data, f"{name}: input {i} was written"
    # the shape of a grouped kernel: local buffers, a barrier, one work-item storing each result
    assert "__local " in spec.src and "barrier(CLK_LOCAL_MEM_FENCE);" in spec.src
    assert spec.local_size is not None and math.prod(spec.local_size) > 1
    assert spec.src.count("__local ") == len(outs)


@needs_cl
def test_group_rendered_opencl() -> None:
    ast, opts, inputs = GROUP_CASES["full_sum"]
    spec = compile_kernel(kernel(ast, caps_of("CL"), *opts), "CL")
    assert spec.local_size == (64, 1, 1) and spec.global_size == (1, 1, 1)
    src = spec.src
    assert "__local float temp0[64];" in src
    assert "temp0[lidx0] = acc0;" in src
    assert src.index("temp0[lidx0] = acc0;") < src.index("barrier(CLK_LOCAL_MEM_FENCE);") < src.index("acc1")
    assert "if (lidx0==0) data0[0] = acc1;" in src


def test_group_program_passes_the_spec_check() -> None:
    ast, opts, _ = GROUP_CASES["two_reductions"]
    with Context(SPEC=1):
        spec = compile_kernel(kernel(ast, OPENCL_GPU, *opts), "CL")
    loop_program_checks(spec.uops)
    assert [u.op for u in spec.uops].count(Ops.DEFINE_LOCAL) == 2
    assert spec.outs == (0, 1) and spec.ins == (2,)


# ---------------------------------------------------------------- CUDA (nvcc)


def test_group_cuda_source_compiles() -> None:
    from tg_runtime.backends.cuda import ptx_kernels

    nvcc = nvcc_or_skip()
    units, names = [], []
    for i, (name, (ast, opts, _)) in enumerate(GROUP_CASES.items()):
        spec = compile_kernel(kernel(ast, cuda_caps(), *opts), "CUDA")
        assert "__shared__ " in spec.src and "__syncthreads();" in spec.src, name
        assert "threadIdx.x" in spec.src and "__local" not in spec.src, name
        loop_program_checks(spec.uops)
        names.append(f"{spec.name}_{i}")
        units.append(spec.src.replace(f"void {spec.name}(", f"void {names[-1]}("))
    try:
        entries = ptx_kernels(nvcc.compile("\n".join(units)))
    except CompileError as e:
        raise AssertionError(f"nvcc refused the grouped kernels: {e}") from e
    assert set(names) <= set(entries)


# ---------------------------------------------------------------- PADTO


PAD_CASES: dict[str, tuple[UOp, list[Opt], dict[int, list[Any]]]] = {
    # a max of negative numbers: the padded iterations must not add a 0
    "reduce_axis": (reduce_ast((6, 30), 1, Ops.MAX), [Opt(OptOps.PADTO, 1, 16), Opt(OptOps.UNROLL, 1, 8)], {}),
    # a padded output axis, upcast by 8: the stores past the end are dropped
    "output_axis": (reduce_ast((30, 12), 1), [Opt(OptOps.PADTO, 0, 8), Opt(OptOps.UPCAST, 0, 8)], {}),
    "both": (
        reduce_ast((30, 30), 1, pre=lambda x: x * x + bconst(dtypes.float, 1.0, (30, 30))),
        [Opt(OptOps.PADTO, 0, 16), Opt(OptOps.PADTO, 1, 32), Opt(OptOps.UPCAST, 0, 4), Opt(OptOps.UNROLL, 1, 4)],
        {},
    ),
    "int_elementwise": (
        sink(
            store(
                param(0, dtypes.int32, 210),
                contig((7, 30)),
                load(param(1, dtypes.int32, 210), contig((7, 30))) * bconst(dtypes.int32, 3, (7, 30)),
            )
        ),
        [Opt(OptOps.PADTO, 0, 16), Opt(OptOps.UPCAST, 0, 16)],  # one merged axis of 210
        {},
    ),
}


@pytest.mark.parametrize("device", [d for d in DEVICES if d != "PYTHON"])
@pytest.mark.parametrize("name", list(PAD_CASES))
def test_padto_matches_python(name: str, device: str) -> None:
    ast, opts, _ = PAD_CASES[name]
    dt = next(u.dtype.base for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL and u.arg == 1)
    n = next(u.dtype.size for u in ast.toposort() if u.op is Ops.DEFINE_GLOBAL and u.arg == 1)
    inputs = {1: values(n, dt, negative=True)}
    spec, out = run_opts(ast, device, inputs, opts)
    want = reference(ast, inputs)
    assert out[0] == want[0], f"{name} on {device} with {opts}"
    assert out[1] == inputs[1]
    k = Kernel(ast, caps_of(device))
    for o in opts:
        k.apply(o)
    assert spec.name == k.name and k.full_shape != Kernel(ast, caps_of(device)).full_shape


# ---------------------------------------------------------------- heuristics and BEAM


def sum_ast(n: int) -> UOp:
    return reduce_ast((1, n), 1)


@pytest.mark.parametrize("caps", [cuda_caps(), OPENCL_GPU], ids=["CUDA", "OpenCL-GPU"])
def test_gpu_heuristic_groups_long_reductions(caps: Capabilities) -> None:
    # a full sum of 1M elements: one output, a work-group of 256 shares it
    k = Kernel(sum_ast(1 << 20), caps)
    hand_coded_optimizations(k)
    assert Opt(OptOps.GROUP, 1, 256) in k.applied
    # a row-softmax's sums: 64 rows of 4096
    k = Kernel(reduce_ast((64, 4096), 1), caps)
    hand_coded_optimizations(k)
    assert [o.op for o in k.applied][0] is OptOps.GROUP
    assert 16 <= math.prod(s for s, t in zip(k.full_shape, k.types) if t is AxisType.GROUP) <= 256
    # short reductions and many outputs stay one work-item per output
    for ast in (reduce_ast((64, 64), 1), reduce_ast((1 << 16, 256), 1), matmul_ast(64, 64, 1024)):
        k = Kernel(ast, caps)
        hand_coded_optimizations(k)
        assert OptOps.GROUP not in [o.op for o in k.applied]


def test_cpu_and_pocl_heuristics_do_not_group() -> None:
    cpu_like = dataclasses.replace(OPENCL_GPU, extra={"device_type": "cpu"})
    for caps in (caps_of("CPU"), cpu_like):
        k = Kernel(sum_ast(1 << 20), caps)
        hand_coded_optimizations(k)
        assert OptOps.GROUP not in [o.op for o in k.applied]


@needs_cl
def test_heuristic_group_runs_on_cl() -> None:
    ast = reduce_ast((4, 4096), 1)
    inputs = {1: values(4 * 4096)}
    k = Kernel(ast, gpu_cl_caps())
    hand_coded_optimizations(k)
    assert OptOps.GROUP in [o.op for o in k.applied]
    spec = compile_kernel(k, "CL")
    assert_close(launch(spec, ast, inputs)[0], reference(ast, inputs)[0])


def test_beam_candidates_include_group_and_padto() -> None:
    k = Kernel(reduce_ast((30, 1024), 1), OPENCL_GPU)
    legal = []
    for opt in candidate_opts(k):
        trial = k.copy()
        try:
            trial.apply(opt)
        except KernelOptError:
            continue
        legal.append(opt)
    assert Opt(OptOps.GROUP, 1, 16) in legal and Opt(OptOps.PADTO, 0, 32) in legal
    cpu = Kernel(reduce_ast((30, 1024), 1), caps_of("CPU"))
    cands = list(candidate_opts(cpu))
    assert any(o.op is OptOps.GROUP for o in cands)  # offered, refused when applied
    with pytest.raises(KernelOptError):
        cpu.apply(next(o for o in cands if o.op is OptOps.GROUP))
