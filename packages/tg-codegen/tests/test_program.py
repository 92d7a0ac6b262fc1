"""get_program and ProgramSpec: kernel names, parameter roles, estimates, axis analysis and lowering errors."""

from __future__ import annotations

import re

import pytest
from helpers import DEVICES, bconst, contig, launch, load, param, run_both, sink, store, view

from tg_codegen import (
    Estimates,
    KernelAxes,
    LoweringError,
    ProgramSpec,
    get_program,
    kernel_axes,
    kernel_name,
    merge_dims,
)
from tg_codegen.program import renderer_for
from tg_runtime import Device
from tg_runtime.backends.python import deserialize_program
from tg_uop import Ops, UOp, dtypes
from tg_uop.helpers import Context

# ---- kernel_name


@pytest.mark.parametrize(
    "axes,name",
    [
        (KernelAxes((4, 6), (4, 6), ()), "E_4_6"),
        (KernelAxes((4096,), (4096,), ()), "E_4096"),
        (KernelAxes((4, 6), (4, 1), (1,)), "r_4_6"),
        (KernelAxes((6, 4), (1, 4), (0,)), "r_4_6"),  # global dims first, then reduce dims
        (KernelAxes((2, 3, 5), (2, 1, 5), (1,)), "r_2_5_3"),
        (KernelAxes((24,), (1,), (0,)), "r_24"),
        (KernelAxes((2, 3, 4), (1, 3, 1), (0, 2)), "r_3_2_4"),
        (KernelAxes((), (), ()), "E_1"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_kernel_name(axes: KernelAxes, name: str) -> None:
    # an unoptimized kernel loops over its global axes, then its reduce axes
    loop_order = [axes.full_shape[i] for i in (*axes.global_axes, *axes.reduce_axes)]
    assert kernel_name(loop_order, bool(axes.reduce_axes)) == name


def test_kernel_axes_global_axes() -> None:
    ax = KernelAxes((2, 3, 4), (2, 1, 4), (1,))
    assert ax.global_axes == (0, 2)


def elementwise(shape: tuple[int, ...], in_st=None) -> UOp:
    n = 1
    for s in shape:
        n *= s
    st = in_st if in_st is not None else contig(shape)
    return sink(store(param(0, dtypes.float, n), contig(shape), load(param(1, dtypes.float, n), st) * 2.0))


@pytest.mark.parametrize("dev", DEVICES)
def test_names_from_get_program(dev: str) -> None:
    with Context(NOOPT=1):  # names of the plain loop nests
        assert get_program(elementwise((64, 64)), dev).name == "E_4096"
        assert get_program(elementwise((2, 3, 4)), dev).name == "E_24"
        # a transposed input cannot be walked as one flat loop: the axes stay
        assert get_program(elementwise((4, 6), contig((6, 4)).permute((1, 0))), dev).name == "E_4_6"
    # by default in 16 vector lanes, except on the interpreter
    assert get_program(elementwise((64, 64)), dev).name == ("E_4096" if dev == "PYTHON" else "E_256_16")
    x = load(param(1, dtypes.float, 24), contig((4, 6)))
    red = sink(store(param(0, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.ADD, (1,))))
    assert get_program(red, dev).name == "r_4_6"
    red0 = sink(store(param(0, dtypes.float, 6), contig((1, 6)), x.reduce_axis(Ops.ADD, (0,))))
    assert get_program(red0, dev).name == "r_6_4"


def test_c_function_carries_the_kernel_name() -> None:
    spec = get_program(elementwise((4, 6), contig((6, 4)).permute((1, 0))), "CPU")
    assert re.search(rf"\bvoid {spec.name}\(float\* restrict data0, const float\* restrict data1\)", spec.src)


# ---- ProgramSpec fields


def test_program_spec_fields_cpu_and_python() -> None:
    ast = elementwise((4, 6))
    for dev, lang in (("CPU", "C"), ("PYTHON", "PYTHON")):
        spec = get_program(ast, dev)
        assert isinstance(spec, ProgramSpec)
        assert spec.device == dev and spec.language == lang == Device[dev].caps.language
        assert spec.outs == (0,) and spec.ins == (1,) and spec.vars == ()
        assert len(spec.global_size) == 3 and all(isinstance(g, int) and g >= 1 for g in spec.global_size)
        assert spec.ast.op is Ops.SINK
        assert any(u.op is Ops.STORE for u in spec.uops)
        assert all(u.op not in (Ops.VIEW, Ops.REDUCE_AXIS, Ops.REDUCE) for u in spec.uops)


def test_python_source_is_the_serialized_loop_program() -> None:
    spec = get_program(elementwise((3, 5)), "PYTHON")
    insts = deserialize_program(spec.src)
    assert [op for op, *_ in insts] == [u.op for u in spec.uops]
    assert [dt for _, dt, *_ in insts] == [u.dtype for u in spec.uops]


def test_outs_ins_with_unused_and_inplace_params() -> None:
    # param 0 is read and written (in place), param 2 only read, param 1 only written
    s = contig((8,))
    a = load(param(0, dtypes.float, 8), s)
    b = load(param(2, dtypes.float, 8), s)
    ast = sink(store(param(0, dtypes.float, 8), s, a + b), store(param(1, dtypes.float, 8), s, a * b))
    for dev in DEVICES:
        spec = get_program(ast, dev)
        assert spec.outs == (0, 1)
        assert spec.ins == (2,)
        xa, xb = [float(i) for i in range(8)], [float(8 - i) for i in range(8)]
        res = launch(spec, ast, {0: xa, 2: xb})
        assert res[0] == [x + y for x, y in zip(xa, xb)], dev
        assert res[1] == [x * y for x, y in zip(xa, xb)], dev


def test_vars_listed_in_parameter_order() -> None:
    n, m = UOp.variable("n", 0, 9), UOp.variable("m", 1, 5)
    s = contig((4,))
    x = load(param(1, dtypes.float, 4), s)
    ast = sink(store(param(0, dtypes.float, 4), s, x * n.cast(dtypes.float) + m.cast(dtypes.float)))
    for dev in DEVICES:
        spec = get_program(ast, dev)
        assert {v.arg[0] for v in spec.vars} == {"n", "m"}
        assert all(v.op is Ops.DEFINE_VAR for v in spec.vars)
        order = [v.arg[0] for v in spec.vars]
        vals = {"n": 3, "m": 2}
        res = launch(spec, ast, {1: [1.0, 2.0, 3.0, 4.0]}, vals=tuple(vals[k] for k in order))
        assert res[0] == [x * 3 + 2 for x in (1.0, 2.0, 3.0, 4.0)], dev
    src = get_program(ast, "CPU").src
    sig = src[src.index("void ") : src.index("{")]
    assert sig.index("data1") < sig.index(f"const int {order[0]}") < sig.index(f"const int {order[1]}")


# ---- estimates


def test_estimates_elementwise() -> None:
    # a*b + c over 24 float32 elements: 2 float ops per element; 4 buffers of 24 * 4 bytes
    s = contig((4, 6))
    a, b, c = (load(param(i, dtypes.float, 24), s) for i in (1, 2, 3))
    ast = sink(store(param(0, dtypes.float, 24), s, a * b + c))
    for dev in DEVICES:
        assert get_program(ast, dev).estimates == Estimates(ops=2 * 24, mem=4 * 24 * 4)


def test_estimates_reduction_with_epilogue() -> None:
    # sum_j(x*y) per row then +1: (MUL + ADD) per input element and one ADD per output; bytes of x, y, out
    x = load(param(1, dtypes.float, 24), contig((4, 6)))
    y = load(param(2, dtypes.float, 24), contig((4, 6)))
    ast = sink(store(param(0, dtypes.float, 4), contig((4, 1)), (x * y).reduce_axis(Ops.ADD, (1,)) + 1.0))
    est = get_program(ast, "CPU").estimates
    assert est.ops == 2 * 24 + 4
    assert est.mem == (24 + 24 + 4) * 4


def test_estimates_count_itemsize() -> None:
    s = contig((10,))
    x = load(param(1, dtypes.int32, 10), s)
    ast = sink(store(param(0, dtypes.float64, 10), s, x.cast(dtypes.float64) * 0.5))
    est = get_program(ast, "CPU").estimates
    assert est.mem == 10 * 4 + 10 * 8
    assert est.ops == 10


# ---- kernel_axes and merge_dims


def test_kernel_axes_of_reduce_and_broadcast() -> None:
    x = load(param(1, dtypes.float, 24), contig((4, 6)))
    w = load(param(2, dtypes.float, 6), contig((1, 6)).expand((4, 6)))
    ast = sink(store(param(0, dtypes.float, 4), contig((4, 1)), (x * w).reduce_axis(Ops.ADD, (1,))))
    assert kernel_axes(ast) == KernelAxes((4, 6), (4, 1), (1,))


def test_kernel_axes_full_shape_from_inputs() -> None:
    # the output is (1, 6) and broadcast along axis 0 by the sum over it: the input sets the full shape
    x = load(param(1, dtypes.float, 30), contig((5, 6)))
    ast = sink(store(param(0, dtypes.float, 6), contig((1, 6)), x.reduce_axis(Ops.MAX, (0,))))
    ax = kernel_axes(ast)
    assert ax.full_shape == (5, 6) and ax.output_shape == (1, 6) and ax.reduce_axes == (0,)
    assert ax.global_axes == (1,)


def test_merge_dims_merges_contiguous_axes() -> None:
    merged = merge_dims(elementwise((2, 3, 4)))
    assert kernel_axes(merged) == KernelAxes((24,), (24,), ())
    views = [u for u in merged.toposort() if u.op is Ops.VIEW]
    assert views and all(v.arg.shape == (24,) for v in views)


def test_merge_dims_keeps_reduce_and_global_apart() -> None:
    x = load(param(1, dtypes.float, 120), contig((2, 3, 4, 5)))
    ast = sink(store(param(0, dtypes.float, 6), contig((2, 3, 1, 1)), x.reduce_axis(Ops.ADD, (2, 3))))
    merged = merge_dims(ast)
    assert kernel_axes(merged) == KernelAxes((6, 20), (6, 1), (1,))
    (red,) = [u for u in merged.toposort() if u.op is Ops.REDUCE_AXIS]
    assert red.arg == (Ops.ADD, (1,))


def test_merge_dims_leaves_permuted_axes() -> None:
    ast = elementwise((4, 6), contig((6, 4)).permute((1, 0)))
    assert kernel_axes(merge_dims(ast)).full_shape == (4, 6)


def test_merge_dims_partial() -> None:
    # an input laid out as (4, 2, 3) and read as (2, 3, 4): strides (3, 1, 6); axes 0 and 1 form one block
    st = contig((4, 2, 3)).permute((1, 2, 0))
    assert st.views[-1].strides == (3, 1, 6)
    ast = elementwise((2, 3, 4), st)
    assert kernel_axes(merge_dims(ast)).full_shape == (6, 4)
    with Context(NOOPT=1):
        assert get_program(ast, "CPU").name == "E_6_4"
    data = [float(i) for i in range(24)]
    want = [2.0 * data[k * 6 + i * 3 + j] for i in range(2) for j in range(3) for k in range(4)]
    res = run_both(ast, {1: data})
    assert res["CPU"][0] == res["PYTHON"][0] == want


# ---- lowering errors


def test_lowering_errors() -> None:
    g0, g1 = param(0, dtypes.float, 24), param(1, dtypes.float, 24)
    x = load(g1, contig((4, 6)))
    bad = {
        "not a SINK": store(g0, contig((4, 6)), x),
        "empty SINK": UOp.sink(),
        "SINK of a LOAD": UOp.sink(x),
        "outputs of two shapes": sink(
            store(g0, contig((4, 6)), x), store(param(2, dtypes.float, 24), contig((6, 4)), load(g1, contig((6, 4))))
        ),
        "views of two ranks": sink(store(g0, contig((4, 6)), x + load(g1, contig((24,))))),
        "view that does not fit": sink(store(g0, contig((4, 6)), x + load(g1, contig((4, 5))))),
        "reduce axis out of range": sink(store(g0, contig((4, 1)), x.reduce_axis(Ops.ADD, (2,)))),
        "STORE without a VIEW": UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, x))),
        "LOAD without a VIEW": sink(store(g0, contig((4, 6)), UOp(Ops.LOAD, dtypes.float, (g1,)))),
        "value wider than its store view": sink(store(g0, contig((4, 1)), x)),
        "reduced value stored through a wider view": sink(store(g0, contig((4, 6)), x.reduce_axis(Ops.ADD, (1,)))),
        "a SINK as a value": UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, view(contig((4, 6))), UOp.sink()))),
    }
    for what, ast in bad.items():
        for dev in DEVICES:
            with pytest.raises(LoweringError):
                get_program(ast, dev)
        with pytest.raises(LoweringError):
            kernel_axes(ast)
        assert issubclass(LoweringError, ValueError), what


def test_lowering_error_messages_name_the_shapes() -> None:
    g0, g1 = param(0, dtypes.float, 24), param(1, dtypes.float, 24)
    x = load(g1, contig((4, 6)))
    with pytest.raises(LoweringError, match=r"\(4, 5\)"):
        get_program(sink(store(g0, contig((4, 6)), x + load(g1, contig((4, 5))))), "CPU")
    with pytest.raises(LoweringError, match=r"\(24,\)"):
        get_program(sink(store(g0, contig((4, 6)), x + load(g1, contig((24,))))), "CPU")


def test_no_renderer_for_unknown_language() -> None:
    with pytest.raises(NotImplementedError, match="no renderer"):
        renderer_for("NOT-A-LANGUAGE")


def test_bconst_only_kernel() -> None:
    ast = sink(store(param(0, dtypes.int32, 6), contig((2, 3)), bconst(dtypes.int32, 7, (2, 3))))
    for dev in DEVICES:
        spec = get_program(ast, dev)
        assert spec.ins == () and spec.outs == (0,)
        assert launch(spec, ast, {})[0] == [7] * 6
