"""lower + linearize: the loop graph and the order of the loop program (where loops, accumulators and values go)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest
from helpers import bconst, contig, get_program, load, loop_program_checks, param, run_both, sink, store

from tg_codegen import linearize, lower, merge_dims
from tg_uop import AxisType, GroupOp, Ops, UOp, dtypes
from tg_uop.helpers import Context

ALLOWED = {
    Ops.DEFINE_GLOBAL,
    Ops.DEFINE_VAR,
    Ops.CONST,
    Ops.RANGE,
    Ops.ENDRANGE,
    Ops.SPECIAL,
    Ops.DEFINE_ACC,
    Ops.ASSIGN,
    Ops.INDEX,
    Ops.LOAD,
    Ops.STORE,
    Ops.CAST,
    Ops.BITCAST,
} | set(GroupOp.ALU)


def program(ast: UOp) -> list[UOp]:
    return linearize(lower(merge_dims(ast)))


def open_loops(uops: Sequence[UOp]) -> list[tuple[UOp, ...]]:
    """The RANGEs open at each position of a loop program (a RANGE counts as open at itself)."""
    out, stack = [], []
    for u in uops:
        if u.op is Ops.RANGE:
            stack.append(u)
        out.append(tuple(stack))
        if u.op is Ops.ENDRANGE:
            assert stack.pop() is u.src[0]
    return out


def range_deps(uops: Sequence[UOp]) -> dict[UOp, frozenset[UOp]]:
    """The loops each node's value depends on; an accumulator stands for the loops open where it is defined."""
    loops = open_loops(uops)
    deps: dict[UOp, frozenset[UOp]] = {}
    for i, u in enumerate(uops):
        if u.op is Ops.DEFINE_ACC:
            deps[u] = frozenset(loops[i])
        else:
            d = frozenset().union(*(deps[s] for s in u.src))
            deps[u] = d | {u} if u.op is Ops.RANGE else d
    return deps


# ---- ASTs used by several tests


def ast_elementwise() -> UOp:
    s = contig((4, 6))
    a = load(param(1, dtypes.float, 24), s)
    return sink(store(param(0, dtypes.float, 24), s, a * a + 1.0))


def ast_row_dot() -> UOp:
    # out[i] = sum_j x[i, j] * y[i]: y[i] does not depend on j and must be loaded before the j loop
    x = load(param(1, dtypes.float, 24), contig((4, 6)))
    y = load(param(2, dtypes.float, 4), contig((4, 1)).expand((4, 6)))
    return sink(store(param(0, dtypes.float, 4), contig((4, 1)), (x * y).reduce_axis(Ops.ADD, (1,))))


def ast_nested() -> UOp:
    x = load(param(1, dtypes.float, 24), contig((4, 6)))
    m = x.reduce_axis(Ops.MAX, (1,))
    return sink(store(param(0, dtypes.float, 4), contig((4, 1)), (x - m).reduce_axis(Ops.ADD, (1,))))


def ast_two_outputs() -> UOp:
    x = load(param(2, dtypes.float, 24), contig((4, 6)))
    return sink(
        store(param(0, dtypes.float, 4), contig((4, 1)), x.reduce_axis(Ops.ADD, (1,))),
        store(param(1, dtypes.float, 4), contig((4, 1)), (x * x).reduce_axis(Ops.ADD, (1,))),
    )


def ast_full_reduce() -> UOp:
    x = load(param(1, dtypes.float, 24), contig((4, 6)).permute((1, 0)))
    return sink(store(param(0, dtypes.float, 1), contig((1, 1)), x.reduce_axis(Ops.MAX, (0, 1))))


def ast_padded_3d() -> UOp:
    x = load(param(1, dtypes.float, 24), contig((2, 3, 4)).pad(((0, 0), (1, 0), (0, 1))))
    return sink(store(param(0, dtypes.float, 10), contig((2, 1, 5)), x.reduce_axis(Ops.ADD, (1,))))


def ast_reduce_in_reduce() -> UOp:
    # sum_j(sum_k x[b, j, k] * y[b, j]): the inner reduction needs the outer one's range
    x = load(param(1, dtypes.float, 24), contig((2, 3, 4)))
    y = load(param(2, dtypes.float, 6), contig((2, 3, 1)))
    inner = x.reduce_axis(Ops.ADD, (2,)) * y
    return sink(store(param(0, dtypes.float, 2), contig((2, 1, 1)), inner.reduce_axis(Ops.ADD, (1,))))


def ast_with_var() -> UOp:
    n = UOp.variable("n", 1, 8)
    s = contig((3, 5))
    x = load(param(1, dtypes.float, 15), s)
    return sink(store(param(0, dtypes.float, 15), s, x * (n.cast(dtypes.float) * 2.0)))


ASTS = {
    "elementwise": ast_elementwise,
    "row_dot": ast_row_dot,
    "nested": ast_nested,
    "two_outputs": ast_two_outputs,
    "full_reduce": ast_full_reduce,
    "padded_3d": ast_padded_3d,
    "with_var": ast_with_var,
    "reduce_in_reduce": ast_reduce_in_reduce,
}


@pytest.mark.parametrize("name", list(ASTS))
def test_program_is_well_formed(name: str) -> None:
    uops = program(ASTS[name]())
    loop_program_checks(uops)  # every source before its use, loops closed innermost first
    assert {u.op for u in uops} <= ALLOWED, {u.op for u in uops} - ALLOWED
    assert len(set(uops)) == len(uops), "a node is emitted twice"
    assert uops == program(ASTS[name]()), "linearize is not deterministic"


def values_in_loops(name: str) -> Iterator[tuple[int, UOp, tuple[UOp, ...], frozenset[UOp]]]:
    """Each value of ASTS[name]'s program (not a loop's own RANGE or ENDRANGE): its position, the loops open
    around it and the loops it depends on."""
    uops = program(ASTS[name]())
    loops, deps = open_loops(uops), range_deps(uops)
    for i, u in enumerate(uops):
        if u.op not in (Ops.RANGE, Ops.ENDRANGE):
            yield i, u, loops[i], deps[u]


@pytest.mark.parametrize("name", list(ASTS))
def test_every_value_is_inside_the_loops_it_needs(name: str) -> None:
    for i, u, around, needs in values_in_loops(name):
        assert needs <= set(around), f"{u.op} at {i} is outside a loop it depends on"


@pytest.mark.parametrize("name", list(ASTS))
def test_nothing_sits_in_a_reduce_loop_it_does_not_need(name: str) -> None:
    for i, u, around, needs in values_in_loops(name):
        # the innermost loop around a value must be one it needs: otherwise it could be computed before it
        if around and around[-1].arg.kind is AxisType.REDUCE:
            assert around[-1] in needs, f"{u.op} at {i} is inside a reduce loop it does not depend on"


@pytest.mark.parametrize("name", ["row_dot", "nested", "two_outputs", "full_reduce", "padded_3d", "reduce_in_reduce"])
def test_accumulators_live_outside_their_loops(name: str) -> None:
    uops = program(ASTS[name]())
    loops = open_loops(uops)
    pos = {u: i for i, u in enumerate(uops)}
    accs = [u for u in uops if u.op is Ops.DEFINE_ACC]
    assert accs
    for acc in accs:
        (assign,) = [u for u in uops if u.op is Ops.ASSIGN and u.src[0] is acc]
        inner = [r for r in loops[pos[assign]] if r not in loops[pos[acc]]]
        assert inner and all(r.arg.kind is AxisType.REDUCE for r in inner), "the update is not inside a reduce loop"
        # the accumulator is defined just outside the loops it accumulates over
        assert loops[pos[acc]] == loops[pos[assign]][: len(loops[pos[acc]])]
        (end,) = [i for i, u in enumerate(uops) if u.op is Ops.ENDRANGE and u.src[0] is inner[0]]
        assert pos[acc] < pos[inner[0]] < pos[assign] < end
        # the update reads the accumulator; everything else reads it after its loop closed
        update = assign.src[1]
        assert acc in update.src and update.op in GroupOp.ALU
        for i, u in enumerate(uops):
            if acc in u.src and u not in (assign, update):
                assert i > end, f"{u.op} reads an accumulator inside its loop"


def test_row_dot_hoists_the_row_value_before_the_reduce_loop() -> None:
    uops = program(ast_row_dot())
    loops = open_loops(uops)
    (red_range,) = [u for u in uops if u.op is Ops.RANGE and u.arg.kind is AxisType.REDUCE]
    (y_load,) = [u for u in uops if u.op is Ops.LOAD and u.src[0].src[0].arg == 2]
    (x_load,) = [u for u in uops if u.op is Ops.LOAD and u.src[0].src[0].arg == 1]
    assert uops.index(y_load) < uops.index(red_range) < uops.index(x_load)
    assert red_range not in loops[uops.index(y_load)]
    assert [r.arg.kind for r in loops[uops.index(y_load)]] == [AxisType.GLOBAL]
    src = get_program(ast_row_dot(), "CPU").src
    assert src.index("data2[gidx0]") < src.index("for (int ridx0")
    # the row offset gidx0*6 is index math of the global loop only: computed before the reduce loop too
    (row_off,) = [u for u in uops if u.op is Ops.MUL and u.dtype == dtypes.index]
    assert uops.index(row_off) < uops.index(red_range)


def test_loop_invariant_values_are_hoisted_out_of_every_loop() -> None:
    uops = program(ast_with_var())
    loops = open_loops(uops)
    (scale,) = [u for u in uops if u.op is Ops.MUL and u.dtype == dtypes.float and Ops.CAST in {s.op for s in u.src}]
    assert loops[uops.index(scale)] == ()
    first_range = next(i for i, u in enumerate(uops) if u.op is Ops.RANGE)
    assert uops.index(scale) < first_range
    src = get_program(ast_with_var(), "CPU").src
    assert src.index("(float)(n)") < src.index("for (")


def test_nested_reduce_finishes_inner_loop_first() -> None:
    uops = program(ast_nested())
    ranges = [u for u in uops if u.op is Ops.RANGE and u.arg.kind is AxisType.REDUCE]
    assert len(ranges) == 2
    ends = {u.src[0]: i for i, u in enumerate(uops) if u.op is Ops.ENDRANGE}
    first, second = sorted(ranges, key=uops.index)
    # the max loop closes before the sum loop opens: two sibling loops, not nested
    assert ends[first] < uops.index(second)
    (max_acc,) = [u for u in uops if u.op is Ops.DEFINE_ACC and u.src[0].arg == float("-inf")]
    readers = [i for i, u in enumerate(uops) if max_acc in u.src and u.op is not Ops.ASSIGN and u.op is not Ops.MAX]
    assert readers and all(uops.index(second) < i < ends[second] for i in readers)


def test_reduce_inside_reduce_loop_has_its_own_accumulator() -> None:
    uops = program(ast_reduce_in_reduce())
    loops = open_loops(uops)
    accs = [u for u in uops if u.op is Ops.DEFINE_ACC]
    assert len(accs) == 2 and accs[0] is not accs[1]
    outer_acc, inner_acc = accs
    outer_rng = [r for r in loops[uops.index(inner_acc)] if r.arg.kind is AxisType.REDUCE]
    # the inner accumulator is reset inside the outer reduce loop, the outer one outside it
    assert len(outer_rng) == 1 and outer_rng[0] not in loops[uops.index(outer_acc)]
    (outer_assign,) = [u for u in uops if u.op is Ops.ASSIGN and u.src[0] is outer_acc]
    assert inner_acc in outer_assign.src[1].toposort()
    (st,) = [u for u in uops if u.op is Ops.STORE]
    assert st.src[1] is outer_acc


def test_two_sibling_reductions_over_one_axis_share_one_loop() -> None:
    # sum(x) and sum(x*x) read neither each other: one pass over x, an accumulator each (issue 12: batch norm's
    # statistics and backward sums read their inputs once; they had a loop each before)
    uops = program(ast_two_outputs())
    reds = [u for u in uops if u.op is Ops.RANGE and u.arg.kind is AxisType.REDUCE]
    assert len(reds) == 1
    assert len([u for u in uops if u.op is Ops.DEFINE_ACC]) == 2
    globals_ = [u for u in uops if u.op is Ops.RANGE and u.arg.kind is AxisType.GLOBAL]
    assert len(globals_) == 1
    loops = open_loops(uops)
    stores = [i for i, u in enumerate(uops) if u.op is Ops.STORE]
    assert len(stores) == 2 and all(loops[i] == (globals_[0],) for i in stores)


def test_full_reduce_accumulator_is_at_top_level() -> None:
    uops = program(ast_full_reduce())
    loops = open_loops(uops)
    (acc,) = [u for u in uops if u.op is Ops.DEFINE_ACC]
    assert loops[uops.index(acc)] == ()
    assert not [u for u in uops if u.op is Ops.RANGE and u.arg.kind is AxisType.GLOBAL]
    (st,) = [i for i, u in enumerate(uops) if u.op is Ops.STORE]
    assert loops[st] == ()


def test_global_loops_nest_outer_axis_first() -> None:
    s = contig((3, 4, 5))
    x = load(param(1, dtypes.float, 60), contig((5, 4, 3)).permute((2, 1, 0)))
    uops = program(sink(store(param(0, dtypes.float, 60), s, x + 1.0)))
    ranges = [u for u in uops if u.op is Ops.RANGE]
    assert [r.arg.axis for r in ranges] == [0, 1, 2]
    assert [r.src[0].arg for r in ranges] == [3, 4, 5]
    (st,) = [i for i, u in enumerate(uops) if u.op is Ops.STORE]
    assert open_loops(uops)[st] == tuple(ranges)


def test_accumulator_starts_at_the_identity() -> None:
    for op, dt, ident in (
        (Ops.ADD, dtypes.float, 0.0),
        (Ops.MAX, dtypes.float, float("-inf")),
        (Ops.MUL, dtypes.int32, 1),
    ):
        x = load(param(1, dt, 24), contig((4, 6)))
        uops = program(sink(store(param(0, dt, 4), contig((4, 1)), x.reduce_axis(op, (1,)))))
        (acc,) = [u for u in uops if u.op is Ops.DEFINE_ACC]
        assert acc.src[0].op is Ops.CONST and acc.src[0].arg == ident and acc.dtype == dt
    x = load(param(1, dtypes.int32, 24), contig((4, 6)))
    uops = program(sink(store(param(0, dtypes.int32, 4), contig((4, 1)), x.reduce_axis(Ops.MAX, (1,)))))
    (acc,) = [u for u in uops if u.op is Ops.DEFINE_ACC]
    assert acc.src[0].arg == -(2**31)


# ---- lower: the loop graph before ordering


def test_lower_makes_ranges_indexes_and_reduces() -> None:
    g = lower(ast_row_dot())
    assert g.op is Ops.SINK and all(s.op is Ops.STORE for s in g.src)
    nodes = g.toposort()
    assert not [u for u in nodes if u.op in (Ops.VIEW, Ops.REDUCE_AXIS)]
    ranges = [u for u in nodes if u.op is Ops.RANGE]
    assert {(r.arg.axis, r.arg.kind) for r in ranges} == {(0, AxisType.GLOBAL), (1, AxisType.REDUCE)}
    (red,) = [u for u in nodes if u.op is Ops.REDUCE]
    assert red.arg is Ops.ADD and all(s.op is Ops.RANGE and s.arg.kind is AxisType.REDUCE for s in red.src[1:])
    for ld in (u for u in nodes if u.op is Ops.LOAD):
        assert ld.src[0].op is Ops.INDEX and ld.src[0].src[0].op is Ops.DEFINE_GLOBAL
    (st,) = g.src
    assert st.src[0].op is Ops.INDEX and st.src[0].src[0].arg == 0


def test_lower_masked_load_has_a_validity_source() -> None:
    x = load(param(1, dtypes.float, 12), contig((3, 4)).pad(((1, 0), (0, 0))))
    g = lower(sink(store(param(0, dtypes.float, 16), contig((4, 4)), x)))
    idx = [u for u in g.toposort() if u.op is Ops.INDEX and u.src[0].arg == 1]
    assert len(idx) == 1 and len(idx[0].src) == 3 and idx[0].src[2].dtype == dtypes.bool
    out_idx = [u for u in g.toposort() if u.op is Ops.INDEX and u.src[0].arg == 0]
    assert len(out_idx[0].src) == 2  # the contiguous store needs no guard


def test_lower_index_math_is_simplified() -> None:
    with Context(NOOPT=1):  # without the vector lanes the heuristics add
        src = get_program(ast_elementwise(), "CPU").src
    # (4, 6) contiguous merges into one loop, and the index is the loop variable itself
    assert re.findall(r"data\d\[([^\]]*)\]", src) == ["gidx0", "gidx0"]


def test_broadcast_constant_folds_to_a_plain_constant() -> None:
    s = contig((2, 3))
    ast = sink(
        store(param(0, dtypes.float, 6), s, load(param(1, dtypes.float, 6), s) * bconst(dtypes.float, 3.0, (2, 3)))
    )
    uops = program(ast)
    consts = [u for u in uops if u.op is Ops.CONST and u.dtype == dtypes.float]
    assert [c.arg for c in consts] == [3.0] and consts[0].src == ()
    res = run_both(ast, {1: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    assert res["CPU"][0] == res["PYTHON"][0] == [3.0, 6.0, 9.0, 12.0, 15.0, 18.0]
