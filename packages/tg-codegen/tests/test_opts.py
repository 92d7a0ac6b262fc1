"""Opts applied explicitly (`get_program(ast, dev, opts=[...])`): every OptOps on hand-built kernels, checked
against the plain-Python reference on every device; illegal Opts; the canonical axis order; Kernel repr/name.

Inputs are small integers (stored as float32 or int32), so sums and products are exact in any order and the
results of optimized kernels must equal the reference exactly.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import (
    DEVICES,
    Arr,
    caps_of,
    contig,
    device_opts,
    load,
    matmul_ast,
    matmul_case,
    param,
    run_opts,
    sink,
    store,
)

from tg_codegen.kernel import AxisType, Kernel, KernelOptError, Opt, OptOps
from tg_runtime import Capabilities
from tg_uop import Ops, ShapeTracker, UOp, dtypes

U, R, L, T, S = OptOps.UPCAST, OptOps.UNROLL, OptOps.LOCAL, OptOps.THREAD, OptOps.SWAP


def ints(n: int, seed: int, lo: int = -3, hi: int = 3, as_float: bool = True) -> list[Any]:
    """n small integers from a fixed linear congruential sequence (no tg code involved)."""
    out, x = [], seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        v = lo + x % (hi - lo + 1)
        out.append(float(v) if as_float else v)
    return out


@dataclass
class Case:
    """A kernel AST, its inputs and the expected contents of its outputs."""

    ast: UOp
    inputs: dict[int, list[Any]]
    want: dict[int, list[Any]]


@dataclass
class OptsSpec:
    """Opts for every device, then THREAD opts (devices with threads) and LOCAL opts (devices with work-groups)."""

    opts: list[Opt]
    threaded: list[Opt] = field(default_factory=list)
    local: list[Opt] = field(default_factory=list)
    on_cl: bool = False  # compiling for CL is slow (PoCL): some cases run there with one of their Opts lists


def elementwise() -> Case:
    n = 64
    x, y = ints(n, 1), ints(n, 2)
    s = contig((n,))
    ast = sink(
        store(
            param(0, dtypes.float, n), s, load(param(1, dtypes.float, n), s) * load(param(2, dtypes.float, n), s) + 1.0
        )
    )
    return Case(ast, {1: x, 2: y}, {0: [a * b + 1.0 for a, b in zip(x, y)]})


def transposed() -> Case:
    # out = x + y^T: y is read transposed, so the two axes cannot merge
    x, y = ints(96, 3), ints(96, 4)
    ast = sink(
        store(
            param(0, dtypes.float, 96),
            contig((8, 12)),
            load(param(1, dtypes.float, 96), contig((8, 12)))
            - load(param(2, dtypes.float, 96), contig((12, 8)).permute((1, 0))),
        )
    )
    want = Arr.flat(x, (8, 12)).map(operator.sub, Arr.flat(y, (12, 8)).permute((1, 0))).tolist()
    return Case(ast, {1: x, 2: y}, {0: want})


def reduction(x: list[Any], shape: tuple[int, ...], axes: tuple[int, ...], op: Ops = Ops.ADD) -> Case:
    """`x` read as `shape` and reduced over `axes` (kept as size 1) into parameter 0."""
    dt = dtypes.float if isinstance(x[0], float) else dtypes.int32
    out_shape = tuple(1 if i in axes else s for i, s in enumerate(shape))
    red = load(param(1, dt, len(x)), contig(shape)).reduce_axis(op, axes)
    ast = sink(store(param(0, dt, math.prod(out_shape)), contig(out_shape), red))
    fn = {Ops.ADD: operator.add, Ops.MAX: max}[op]
    return Case(ast, {1: x}, {0: Arr.flat(x, shape).reduce(fn, axes).tolist()})


def reduce_one() -> Case:
    return reduction(ints(96, 5), (6, 16), (1,))


def reduce_max_int() -> Case:
    # every value negative: a max that starts from 0 instead of the dtype's minimum is caught
    return reduction(ints(40, 6, lo=-9, hi=-1, as_float=False), (5, 8), (1,), Ops.MAX)


def reduce_several() -> Case:
    # (4, 6, 8) summed over axes 0 and 2: the kernel's axes are (6 global, 4 reduce, 8 reduce)
    return reduction(ints(192, 7), (4, 6, 8), (0, 2))


def reduce_all() -> Case:
    return reduction(ints(64, 8), (8, 8), (0, 1))


def matmul() -> Case:
    m, n, k = 4, 8, 6
    a, b = ints(m * k, 9), ints(k * n, 10)
    ast, inputs, want = matmul_case(m, n, k, a, b)
    return Case(ast, inputs, {0: want})


def views() -> Case:
    # padded, flipped and shrunk inputs: masked loads, negative strides and offsets
    xa, xb, xc = ints(16, 11), ints(48, 12), ints(80, 13)
    st_a = contig((4, 4)).pad(((1, 1), (2, 2)))
    st_b = contig((6, 8)).flip((True, False))
    st_c = contig((8, 10)).shrink(((1, 7), (2, 10)))
    a, b, c = (load(param(i, dtypes.float, len(d)), st) for i, d, st in ((1, xa, st_a), (2, xb, st_b), (3, xc, st_c)))
    ast = sink(store(param(0, dtypes.float, 48), contig((6, 8)), a * b + c))
    ra = Arr.flat(xa, (4, 4)).pad(((1, 1), (2, 2)))
    rb = Arr.flat(xb, (6, 8)).flip((True, False))
    rc = Arr.flat(xc, (8, 10)).shrink(((1, 7), (2, 10)))
    return Case(ast, {1: xa, 2: xb, 3: xc}, {0: ra.map(lambda p, q, r: p * q + r, rb, rc).tolist()})


def two_outputs() -> Case:
    # a sum of products and a max over the same axis, stored to two parameters
    x, y = ints(48, 14), ints(48, 15)
    s = contig((6, 8))
    lx, ly = load(param(2, dtypes.float, 48), s), load(param(3, dtypes.float, 48), s)
    ast = sink(
        store(param(0, dtypes.float, 6), contig((6, 1)), (lx * ly).reduce_axis(Ops.ADD, (1,))),
        store(param(1, dtypes.float, 6), contig((6, 1)), lx.reduce_axis(Ops.MAX, (1,))),
    )
    ax, ay = Arr.flat(x, (6, 8)), Arr.flat(y, (6, 8))
    return Case(
        ast,
        {2: x, 3: y},
        {0: ax.map(operator.mul, ay).reduce(operator.add, (1,)).tolist(), 1: ax.reduce(max, (1,)).tolist()},
    )


CASES: dict[str, tuple[Callable[[], Case], list[OptsSpec]]] = {
    "elementwise": (
        elementwise,
        [
            OptsSpec([Opt(U, 0, 4)], [Opt(T, 0, 0)], [Opt(L, 0, 4)], on_cl=True),
            OptsSpec([Opt(U, 0, 8), Opt(U, 0, 2)], [Opt(T, 0, 0)]),
            OptsSpec([Opt(U, 0, 2), Opt(U, 0, 16)]),
        ],
    ),
    "transposed": (
        transposed,
        [
            OptsSpec([Opt(U, 1, 4), Opt(U, 0, 2)], [Opt(T, 0, 0)], [Opt(L, 1, 3), Opt(L, 0, 2)]),
            OptsSpec([Opt(S, 0, 1), Opt(U, 0, 3)], [Opt(T, 0, 0)]),
            OptsSpec([Opt(U, 0, 8), Opt(U, 1, 12)]),
        ],
    ),
    "reduce_one": (
        reduce_one,
        [
            OptsSpec([Opt(R, 1, 4)], [Opt(T, 0, 0)], [Opt(L, 0, 2)]),
            OptsSpec([Opt(U, 0, 3), Opt(R, 1, 2), Opt(R, 1, 2)]),
            OptsSpec([Opt(R, 1, 16), Opt(U, 0, 6)]),
        ],
    ),
    "reduce_max_int": (
        reduce_max_int,
        [
            OptsSpec([Opt(R, 1, 8)], [], [Opt(L, 0, 5)]),
            OptsSpec([Opt(U, 0, 5), Opt(R, 1, 4)]),
        ],
    ),
    "reduce_several": (
        reduce_several,
        [
            OptsSpec([Opt(R, 2, 4)], [Opt(T, 0, 0)], [Opt(L, 0, 3)], on_cl=True),
            OptsSpec([Opt(R, 1, 2), Opt(U, 0, 3)]),
            OptsSpec([Opt(R, 1, 4), Opt(R, 2, 8), Opt(U, 0, 2)]),
        ],
    ),
    "reduce_all": (
        reduce_all,
        [
            OptsSpec([Opt(R, 0, 16)]),
            OptsSpec([Opt(R, 0, 4), Opt(R, 0, 2)]),
        ],
    ),
    "matmul": (
        matmul,
        [
            OptsSpec(
                [Opt(U, 1, 4), Opt(U, 0, 2), Opt(R, 2, 3)], [Opt(T, 0, 0)], [Opt(L, 1, 2), Opt(L, 0, 2)], on_cl=True
            ),
            OptsSpec([Opt(S, 0, 1), Opt(U, 0, 4), Opt(R, 2, 2)], [Opt(T, 0, 0)]),
            OptsSpec([Opt(U, 1, 2), Opt(U, 1, 2), Opt(U, 0, 4), Opt(R, 2, 6)]),
        ],
    ),
    "views": (
        views,
        [
            OptsSpec([Opt(U, 1, 4)], [Opt(T, 0, 0)], [Opt(L, 0, 3)], on_cl=True),
            OptsSpec([Opt(U, 1, 8), Opt(U, 0, 3)]),
            OptsSpec([Opt(S, 0, 1), Opt(U, 0, 2)], [Opt(T, 0, 0)]),
        ],
    ),
    "two_outputs": (
        two_outputs,
        [
            OptsSpec([Opt(R, 1, 4), Opt(U, 0, 2)], [Opt(T, 0, 0)], [Opt(L, 0, 3)], on_cl=True),
            OptsSpec([Opt(U, 0, 6), Opt(R, 1, 8)]),
        ],
    ),
}

PARAMS = [
    pytest.param(name, i, dev, id=f"{name}-{i}-{dev}")
    for name, (_, specs) in CASES.items()
    for i, spec in enumerate(specs)
    for dev in DEVICES
    if dev != "CL" or spec.on_cl
]


@pytest.mark.parametrize("name,index,dev", PARAMS)
def test_opts_give_the_reference_result(name: str, index: int, dev: str) -> None:
    build, specs = CASES[name]
    case, spec = build(), specs[index]
    opts = device_opts(dev, spec.opts, spec.threaded, spec.local)
    program, out = run_opts(case.ast, dev, case.inputs, opts)
    for i, want in case.want.items():
        assert out[i] == want, f"{name} {opts} on {dev}: output {i}"
    for i, data in case.inputs.items():
        assert out[i] == data, f"{name} {opts} on {dev}: input {i} was written"
    # the program is named after the optimized kernel's axes
    k = Kernel(case.ast, caps_of(dev))
    for opt in opts:
        k.apply(opt)
    assert program.name == k.name


def test_every_optops_is_exercised() -> None:
    used = {o.op for _, specs in CASES.values() for s in specs for o in s.opts + s.threaded + s.local}
    # GROUP and PADTO have their own module (test_group_padto.py), PACK too (test_pack.py)
    assert used | {OptOps.GROUP, OptOps.PADTO, OptOps.PACK} == set(OptOps)


# ---- what each Opt does to the axes


def test_upcast_splits_an_axis_and_moves_the_piece_last() -> None:
    k = Kernel(transposed().ast)
    assert k.full_shape == (8, 12) and k.types == [AxisType.GLOBAL, AxisType.GLOBAL]
    k.apply(Opt(U, 0, 4))
    assert k.full_shape == (2, 12, 4)
    assert k.types == [AxisType.GLOBAL, AxisType.GLOBAL, AxisType.UPCAST]


def test_unroll_splits_a_reduce_axis() -> None:
    k = Kernel(reduce_one().ast)
    k.apply(Opt(R, 1, 4))
    assert k.full_shape == (6, 4, 4)
    assert k.types == [AxisType.GLOBAL, AxisType.REDUCE, AxisType.UNROLL]
    # UNROLL of a reduction over several axes: the unrolled axis gets a reduction of its own
    k = Kernel(reduce_several().ast)
    k.apply(Opt(R, 1, 2))
    reduces = [u.arg for u in k.ast.toposort() if u.op is Ops.REDUCE_AXIS]
    assert sorted(reduces, key=lambda a: a[1]) == [(Ops.ADD, (1, 2)), (Ops.ADD, (3,))]
    assert k.full_shape == (6, 2, 8, 2)


def test_swap_exchanges_two_global_axes() -> None:
    k = Kernel(matmul().ast)
    assert k.full_shape == (4, 8, 6)
    k.apply(Opt(S, 0, 1))
    assert k.full_shape == (8, 4, 6)
    assert k.name == "r_8_4_6"
    # the swapped kernel loops over n outside m
    src = run_opts(matmul().ast, "CPU", matmul().inputs, [Opt(S, 0, 1)])[0].src
    assert src.index("gidx0 < 8") < src.index("gidx1 < 4")


def test_local_and_thread_axes() -> None:
    caps = Capabilities(
        language="OpenCL", dtypes=frozenset(dtypes.all()), has_workgroups=True, extra={"max_work_group_size": 64}
    )
    k = Kernel(transposed().ast, caps)
    k.apply(Opt(L, 1, 4))
    assert k.full_shape == (8, 3, 4)
    assert k.types == [AxisType.GLOBAL, AxisType.GLOBAL, AxisType.LOCAL]
    threads = Capabilities(language="C", dtypes=frozenset(dtypes.all()), has_threads=True, threads=4)
    k = Kernel(transposed().ast, threads)
    k.apply(Opt(T, 0, 4))
    assert k.full_shape == (8, 12)
    assert k.types == [AxisType.THREAD, AxisType.GLOBAL]


# ---- canonical axis order

ALL_CAPS = Capabilities(
    language="C",
    dtypes=frozenset(dtypes.all()),
    has_workgroups=True,
    has_threads=True,
    threads=4,
    extra={"max_work_group_size": 256},
)
ORDER = [AxisType.THREAD, AxisType.GLOBAL, AxisType.LOCAL, AxisType.REDUCE, AxisType.UNROLL, AxisType.UPCAST]


def test_axes_are_kept_in_canonical_order() -> None:
    # applied in a scrambled order, every type ends up where it belongs: thread, global, local, reduce, unroll,
    # upcast (matmul (m, n, k) = (8, 16, 12))
    k = Kernel(matmul_ast(8, 16, 12), ALL_CAPS)
    k.apply(Opt(R, 2, 4))
    assert k.full_shape == (8, 16, 3, 4)
    k.apply(Opt(U, 1, 4))
    assert k.full_shape == (8, 4, 3, 4, 4)
    k.apply(Opt(L, 0, 2))
    assert k.full_shape == (4, 4, 2, 3, 4, 4)
    k.apply(Opt(T, 0, 4))
    assert k.full_shape == (4, 4, 2, 3, 4, 4)
    assert k.types == ORDER
    assert k.name == "r_4_4_2_3_4_4"
    # each Opt kept the order, whatever was applied before
    k2 = Kernel(matmul_ast(8, 16, 12), ALL_CAPS)
    for opt in [Opt(U, 0, 2), Opt(R, 2, 3), Opt(L, 1, 8), Opt(U, 0, 2), Opt(T, 0, 4)]:
        k2.apply(opt)
        assert [ORDER.index(t) for t in k2.types] == sorted(ORDER.index(t) for t in k2.types), k2


def test_upcasts_are_ordered_by_origin_not_by_when_they_were_made() -> None:
    a, b = Kernel(matmul().ast), Kernel(matmul().ast)
    a.apply(Opt(U, 0, 2))
    a.apply(Opt(U, 1, 4))
    b.apply(Opt(U, 1, 4))
    b.apply(Opt(U, 0, 2))
    # the upcast from axis 0 comes before the one from axis 1 either way: the same kernel
    assert a.full_shape == b.full_shape == (2, 2, 6, 2, 4)
    assert a.origin == b.origin == [(0, 0), (1, 0), (2,), (0, 1), (1, 1)]
    assert a.ast is b.ast
    # splitting the outer part of an upcast axis again: the new (outer) piece comes first, as in the index
    c = Kernel(matmul().ast)
    c.apply(Opt(U, 1, 2))
    c.apply(Opt(U, 1, 2))
    assert c.full_shape == (4, 2, 6, 2, 2)
    assert c.origin == [(0,), (1, 0, 0), (2,), (1, 0, 1), (1, 1)]


def test_origin_order_keeps_the_element_order() -> None:
    # (n // 4, 4) and then (n // 8, 2, 4): element j of axis n is at (j // 8, (j // 4) % 2, j % 4), as a plain
    # reshape of n would put it; the result must be the reference either way
    case = matmul()
    _, out = run_opts(case.ast, "CPU", case.inputs, [Opt(U, 1, 4), Opt(U, 1, 2)])
    assert out[0] == case.want[0]


# ---- illegal Opts


def _kernel(build: Callable[[], Case], caps: Capabilities | None, prefix: list[Opt]) -> Kernel:
    k = Kernel(build().ast, caps)
    for opt in prefix:
        k.apply(opt)
    return k


THREADS4 = Capabilities(language="C", dtypes=frozenset(dtypes.all()), has_threads=True, threads=4)
NO_THREADS = Capabilities(language="C", dtypes=frozenset(dtypes.all()))
GROUPS64 = Capabilities(
    language="OpenCL", dtypes=frozenset(dtypes.all()), has_workgroups=True, extra={"max_work_group_size": 64}
)
GROUPS16 = Capabilities(
    language="OpenCL", dtypes=frozenset(dtypes.all()), has_workgroups=True, extra={"max_work_group_size": 16}
)


def illegal_with(caps: Capabilities | None, *rows: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Cases of ILLEGAL on one device, each (what, AST builder, the Opt) or (what, AST builder, the legal Opts
    applied first, the Opt)."""
    return [(what, build, caps, *(rest if len(rest) == 2 else ([], *rest))) for what, build, *rest in rows]


ILLEGAL: list[tuple[str, Callable[[], Case], Capabilities | None, list[Opt], Opt]] = [
    *illegal_with(
        THREADS4,
        ("upcast an upcast axis", elementwise, [Opt(U, 0, 8)], Opt(U, 1, 2)),
        ("upcast an unroll axis", reduce_one, [Opt(R, 1, 8)], Opt(U, 2, 2)),
        ("axis past the end", transposed, Opt(U, 2, 2)),
        ("negative axis", transposed, Opt(U, -1, 2)),
        ("amount does not divide", elementwise, Opt(U, 0, 5)),
        ("amount 1", elementwise, Opt(U, 0, 1)),
        ("amount 0", elementwise, Opt(U, 0, 0)),
        ("upcast over 16", elementwise, Opt(U, 0, 32)),
        ("upcast a reduce axis", reduce_one, Opt(U, 1, 2)),
        ("unroll an unroll axis", reduce_one, [Opt(R, 1, 8)], Opt(R, 2, 2)),
        ("unroll a global axis", reduce_one, Opt(R, 0, 2)),
        ("unroll over 16", reduce_all, Opt(R, 0, 32)),
        ("unroll does not divide", reduce_one, Opt(R, 1, 3)),
        ("local without work-groups", transposed, Opt(L, 0, 2)),
        ("thread twice", transposed, [Opt(T, 0, 4)], Opt(T, 0, 4)),
        ("thread on a size-1 axis", reduce_max_int, [Opt(U, 0, 5)], Opt(T, 0, 4)),
        ("thread not on axis 0", transposed, Opt(T, 1, 4)),
        ("thread on a reduce axis", reduce_all, Opt(T, 0, 4)),
        ("swap with an upcast axis", transposed, [Opt(U, 1, 4)], Opt(S, 0, 2)),
        ("swap a thread axis", transposed, [Opt(T, 0, 4)], Opt(S, 0, 1)),
        ("swap an axis with itself", transposed, Opt(S, 0, 0)),
        ("swap with a reduce axis", reduce_one, Opt(S, 0, 1)),
        ("swap with an axis past the end", transposed, Opt(S, 0, 2)),
    ),
    *illegal_with(
        None,
        ("local with no capabilities", transposed, Opt(L, 0, 2)),
        ("thread with no capabilities", transposed, Opt(T, 0, 4)),
    ),
    *illegal_with(
        GROUPS64,
        ("local on an upcast axis", elementwise, [Opt(U, 0, 8)], Opt(L, 1, 2)),
        ("local on a reduce axis", reduce_one, Opt(L, 1, 2)),
        ("thread on a workgroup device", transposed, Opt(T, 0, 4)),
    ),
    *illegal_with(
        GROUPS16,
        ("locals together over the limit", elementwise, [Opt(L, 0, 8)], Opt(L, 0, 4)),
        ("local over the work-group limit", elementwise, Opt(L, 0, 32)),
    ),
    *illegal_with(
        NO_THREADS,
        ("thread without threads", transposed, Opt(T, 0, 4)),
    ),
]


@pytest.mark.parametrize("what,build,caps,prefix,opt", ILLEGAL, ids=[c[0] for c in ILLEGAL])
def test_illegal_opt_raises_and_changes_nothing(
    what: str, build: Callable[[], Case], caps: Capabilities | None, prefix: list[Opt], opt: Opt
) -> None:
    k = _kernel(build, caps, prefix)
    before = (k.ast, list(k.applied), k.full_shape, list(k.types), list(k.origin), k.name, repr(k))
    with pytest.raises(KernelOptError):
        k.apply(opt)
    assert (k.ast, k.applied, k.full_shape, k.types, k.origin, k.name, repr(k)) == before
    assert k.ast is before[0]


def test_illegal_opt_in_get_program_raises() -> None:
    with pytest.raises(KernelOptError):
        run_opts(elementwise().ast, "CPU", elementwise().inputs, [Opt(U, 0, 5)])
    with pytest.raises(KernelOptError, match="work-groups"):
        run_opts(elementwise().ast, "CPU", elementwise().inputs, [Opt(L, 0, 4)])


def test_kernel_still_usable_after_an_illegal_opt() -> None:
    case = matmul()
    k = Kernel(case.ast, caps_of("CPU"))
    with pytest.raises(KernelOptError):
        k.apply(Opt(U, 2, 2))
    k.apply(Opt(U, 1, 4))
    assert k.applied == [Opt(U, 1, 4)]
    _, out = run_opts(case.ast, "CPU", case.inputs, k.applied)
    assert out[0] == case.want[0]


def test_copy_is_independent() -> None:
    k = Kernel(matmul().ast, caps_of("CPU"))
    k.apply(Opt(U, 1, 2))
    c = k.copy()
    c.apply(Opt(U, 0, 2))
    c.apply(Opt(R, 2, 2))
    assert k.applied == [Opt(U, 1, 2)] and k.full_shape == (4, 4, 6, 2)
    assert len(k.types) == len(k.origin) == 4
    assert c.applied == [Opt(U, 1, 2), Opt(U, 0, 2), Opt(R, 2, 2)]


# ---- repr and name


def _expected_repr(k: Kernel) -> str:
    prefix = "r" if any(t in (AxisType.REDUCE, AxisType.UNROLL) for t in k.types) else "E"
    name = "_".join([prefix, *map(str, k.full_shape)]) if k.full_shape else prefix + "_1"
    axes = ", ".join(f"{s} {t.name.lower()}" for s, t in zip(k.full_shape, k.types))
    opts = ", ".join(f"{o.op.name}({o.axis}, {o.amt})" for o in k.applied)
    return f"<Kernel {name} axes=({axes}) opts=[{opts}]>"


def test_repr_and_name() -> None:
    k = Kernel(matmul().ast, ALL_CAPS)
    assert repr(k) == "<Kernel r_4_8_6 axes=(4 global, 8 global, 6 reduce) opts=[]>"
    for opt in [Opt(U, 1, 4), Opt(R, 2, 3), Opt(L, 0, 2), Opt(T, 0, 4)]:
        k.apply(opt)
        assert repr(k) == _expected_repr(k)
    assert k.name == "r_2_2_2_2_3_4"
    assert repr(k) == (
        "<Kernel r_2_2_2_2_3_4 axes=(2 thread, 2 global, 2 local, 2 reduce, 3 unroll, 4 upcast) "
        "opts=[UPCAST(1, 4), UNROLL(2, 3), LOCAL(0, 2), THREAD(0, 4)]>"
    )
    assert repr(Opt(S, 0, 1)) == "SWAP(0, 1)"


def test_names_of_elementwise_and_unrolled_kernels() -> None:
    k = Kernel(elementwise().ast)
    assert k.name == "E_64"
    k.apply(Opt(U, 0, 16))
    assert k.name == "E_4_16"
    # a reduction fully unrolled is still a reduction
    k = Kernel(reduce_all().ast)
    k.apply(Opt(R, 0, 16))
    k.apply(Opt(R, 0, 4))
    assert k.full_shape == (1, 4, 16) and k.name == "r_1_4_16"
    scalar = sink(
        store(param(0, dtypes.float, 1), ShapeTracker.from_shape(()), load(param(1, dtypes.float, 1), contig(())) * 2.0)
    )
    assert Kernel(scalar).name == "E_1" and Kernel(scalar).full_shape == ()


def test_program_name_is_the_kernel_name() -> None:
    case = views()
    for opts in ([], [Opt(U, 1, 4)], [Opt(S, 0, 1), Opt(U, 1, 2)]):
        program, _ = run_opts(case.ast, "PYTHON", case.inputs, opts)
        k = Kernel(case.ast)
        for o in opts:
            k.apply(o)
        assert program.name == k.name == "_".join(["E", *map(str, k.full_shape)])
        assert math.prod(k.full_shape) == 48
    src = run_opts(case.ast, "CPU", case.inputs, [Opt(U, 1, 4)])[0].src
    assert re.search(r"\bvoid E_6_2_4\(", src)
