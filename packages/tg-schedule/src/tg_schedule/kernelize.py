"""Kernelize: cut a tensor graph into kernels.

The rule (see the package README for pictures): a node gets its own buffer only where it must:
- the values asked for (their base: a movement op on a result stays a view of its buffer);
- CONTIGUOUS, COPY (and a COPY's source, which must be a plain buffer), ASSIGN;
- the value under a movement op when it holds an unrealized reduction (an expand needs the whole result
  first) -- except reshapes that only add or drop size-1 dims, for which the kernel runs in the reduction's
  rank instead, and row broadcasts on loop devices (a row's reduction expanded back over its row and read
  along the rows: the reader's kernel runs it once per row, so softmax is one kernel);
- a reduction that the kernels of two or more realized nodes would compute (not one read twice in a kernel);
- an expensive elementwise value (RECOMPUTE_OPS ALU ops per element or more) that a kernel reads through an
  expand and would compute at least RECOMPUTE_REUSE times per element (the cost rule).
Everything else is inlined into the kernel of the node that reads it: elementwise ops fuse with each other,
into reductions, and after them; movement ops fold into the views of the loads.

>>> from tg_uop import UOp, Ops, dtypes
>>> c = UOp.const(dtypes.float, 2.0, (UOp(Ops.DEVICE, arg="CPU"),)).reshape((1,)).expand((4,))
>>> len(find_realizes([(c + c).reduce_axis(Ops.ADD, (0,))]))
1
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tg_codegen.heuristic import row_group_split
from tg_runtime.buffer import Buffer
from tg_runtime.device import Device
from tg_uop.dtype import DType, dtypes
from tg_uop.ops import GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.uop import UOp, toposort
from tg_uop.view import ShapeTracker


class FusionFailed(Exception):
    """A kernel could not fold its movement ops: the scheduler realizes these reductions and tries again."""

    def __init__(self, reduces: list[UOp]) -> None:
        super().__init__(f"{len(reduces)} reduction(s) must be realized first")
        self.reduces = reduces


def only_unit_dims(m: UOp) -> bool:
    """A RESHAPE that only inserts or removes size-1 dims (the sum(axis) without keepdim kind)."""
    if m.op is not Ops.RESHAPE:
        return False
    src = m.src[0].shape
    assert src is not None
    return [d for d in src if d != 1] == [d for d in m.arg if d != 1]


@dataclass
class RealizeContext:
    """What the realize passes know: the nodes that get a buffer (`want`), each node's distinct readers (in
    order), which nodes hold a reduction no kernel has realized yet (`pending`), and whether a pass added to
    `want` (`grew`)."""

    outs: list[UOp]
    want: set[UOp]
    users: defaultdict[UOp, dict[UOp, None]] = field(default_factory=lambda: defaultdict(dict))
    pending: dict[UOp, bool] = field(default_factory=dict)
    grew: bool = False

    def realize(self, n: UOp) -> None:
        if n not in self.want:
            self.want.add(n)
            self.grew = True


def _record_users(ctx: RealizeContext, n: UOp) -> None:
    for s in n.src:
        ctx.users[s][n] = None


def _realize_outputs(ctx: RealizeContext, sink: UOp) -> None:
    for o in sink.src:
        base = o.base
        if base.op is not Ops.BUFFER:
            # a broadcast constant has no buffer to be a view of: realize the whole value
            ctx.realize(o if base.op is Ops.CONST else base)


def _realize_copy(ctx: RealizeContext, n: UOp) -> None:
    ctx.realize(n)
    if buffer_of(n.src[0]) is None:
        ctx.realize(n.src[0])  # a copy reads a plain buffer


def _realize_custom(ctx: RealizeContext, n: UOp) -> None:
    ctx.realize(n)
    for s in n.src:  # a custom kernel reads its inputs as whole, contiguous buffers
        if buffer_of(s) is None:
            ctx.realize(s)


def _mark_pending(ctx: RealizeContext, n: UOp) -> None:
    if n in ctx.want or n.op in (Ops.BUFFER, Ops.CONST):
        ctx.pending[n] = False
    else:
        ctx.pending[n] = n.op is Ops.REDUCE_AXIS or any(ctx.pending[s] for s in n.src)


def _realize_under_movement(ctx: RealizeContext, m: UOp) -> None:
    src = m.src[0]
    if src.op in GroupOp.Movement or not ctx.pending[src] or _unit_reshapes_only(m, ctx.users, ctx.want):
        return
    if not row_broadcast(m, ctx.pending) or not _read_along_rows(ctx, m) or not loops_over_rows(m):
        ctx.realize(src)


def changed_axes(before: UOp, after: UOp) -> set[int]:
    """The axes along which two nodes' shapes differ (what an expand expanded, what a reduction reduced)."""
    assert before.shape is not None and after.shape is not None
    return {a for a, (s, d) in enumerate(zip(before.shape, after.shape, strict=True)) if s != d}


def row_broadcast(m: UOp, pending: dict[UOp, bool]) -> bool:
    """Whether `m` expands reductions back over the axes they reduced (`x.max(1, keepdim=True)` expanded to x's
    shape): each unrealized reduction under it, through elementwise ops only, reduces exactly the expanded axes
    of a value of m's shape, and those are its last axes longer than 1."""
    src = m.src[0]
    if m.op is not Ops.EXPAND or not all(isinstance(d, int) for d in (*m.arg, *(src.shape or ()))):
        return False  # symbolic shapes keep rule 4: the loop over a variable axis is not known to be a row
    axes = changed_axes(src, m)
    # the kernel's loops nest in axis order: with a kept axis inside the reduced ones, each row's reduction
    # would run again for every step of the loops around it (batch norm's statistics over (0, 2, 3))
    assert m.shape is not None
    if any(a > min(axes) and a not in axes and d != 1 for a, d in enumerate(m.shape)):
        return False
    stack, seen = [src], {src}
    while stack:
        n = stack.pop()
        if n.op is Ops.REDUCE_AXIS:
            if n.src[0].shape != m.shape or changed_axes(n, n.src[0]) != axes:
                return False
            continue
        if n.op not in GroupOp.Elementwise:
            return False
        for s in n.src:
            if pending.get(s, False) and s not in seen:
                seen.add(s)
                stack.append(s)
    return True


def _read_along_rows(ctx: RealizeContext, m: UOp) -> bool:
    """Whether every kernel reading the row broadcast `m` walks the rows it broadcasts over once each: its
    readers up to the realized nodes are elementwise ops of m's shape and reductions of that shape over the
    expanded axes (softmax's sum, layer norm's variance), never a movement op or another reduction, which would
    compute each row's reduction again for every element of another axis."""
    axes = changed_axes(m.src[0], m)
    stack, seen = [m], {m}
    while stack:
        n = stack.pop()
        for u in ctx.users.get(n, {}):
            if u in seen:  # a reader reached along several paths (softmax's exp: the sum and the divide)
                continue
            seen.add(u)
            if u.op is Ops.REDUCE_AXIS and u.src[0].shape == m.shape and changed_axes(u, u.src[0]) == axes:
                continue
            if (u.op not in GroupOp.Elementwise and u.op is not Ops.CONTIGUOUS) or u.shape != m.shape:
                return False
            if u not in ctx.want:
                stack.append(u)
    return True


def loops_over_rows(m: UOp) -> bool:
    """Whether the kernel storing the rows that `m` broadcasts a reduction over runs each row's reductions once
    per row. On a device without work-groups output axes are loops: always. On a work-group device, when the
    row is one axis that fits a work-group (tg_codegen.heuristic.row_group_split): its work-items share the
    row's reductions through local memory; otherwise every element would reduce its whole row again."""
    if m.device is None:
        return False
    if not Device[m.device].caps.has_workgroups:
        return True
    axes = changed_axes(m.src[0], m)
    assert m.shape is not None
    return len(axes) == 1 and row_group_split(m.shape[min(axes)]) is not None


# the passes only record in the context (each rule returns None): the graph itself does not change
pm_record_users = PatternMatcher([(UPat(name="n"), _record_users)])
pm_realize_roots = PatternMatcher(
    [
        (UPat(Ops.SINK, name="sink"), _realize_outputs),
        (UPat((Ops.CONTIGUOUS, Ops.ASSIGN), name="n"), lambda ctx, n: ctx.realize(n)),
        (UPat(Ops.COPY, name="n"), _realize_copy),
        (UPat(Ops.CUSTOM, name="n"), _realize_custom),
    ]
)
pm_mark_pending = PatternMatcher([(UPat(name="n"), _mark_pending)])
# a movement op cannot look into a kernel's reduction: the value under it (the reduction and the elementwise
# ops after it) is realized first, so that epilogue still fuses into the reduction's kernel. A reshape that
# only drops or adds size-1 dims is the exception: the kernel is built in the reduction's rank instead
# (build_ast), so `x.sum(1) * 2` stays one kernel.
pm_realize_under_movement = PatternMatcher([(UPat(GroupOp.Movement, name="m"), _realize_under_movement)])
# applied together, one walk each: a node's rules run after its sources', so a movement op reads the pending
# marks of this round (a value realized by it keeps its mark until the next round, as the rule wants)
pm_realize_start = pm_record_users + pm_realize_roots
pm_realize_round = pm_mark_pending + pm_realize_under_movement


def _realize_shared_reductions(ctx: RealizeContext) -> None:
    """A value holding a reduction that several kernels read would be reduced again in each of them: realize
    the reductions under it (what follows them is cheap to compute again)."""
    shared = _read_by_several_kernels(ctx.outs, ctx.want, ctx.pending)
    realized = frozenset(ctx.want)
    for r in toposort(list(shared), lambda u: u not in realized):
        if r.op is Ops.REDUCE_AXIS:
            ctx.realize(r)


# the cost rule (README, rule 5): a value of at least this many ALU ops per element is worth its own buffer when
# a kernel would compute each of its elements at least RECOMPUTE_REUSE times (through expands); below it,
# computing the value again costs about what storing and loading it would
RECOMPUTE_OPS = 16
RECOMPUTE_REUSE = 2


def _ops_at_least(value: UOp, want: set[UOp], limit: int) -> bool:
    """Whether the kernel computing `value` (up to realized nodes and buffers) runs at least `limit` ALU ops per
    element. Stops counting at `limit`, so the check costs at most `limit` steps past the movement ops."""
    stack, seen, count = [value], {value}, 0
    while stack:
        n = stack.pop()
        count += n.op in GroupOp.ALU
        if count >= limit:
            return True
        for s in n.src:
            if s not in seen and s not in want and s.op is not Ops.BUFFER:
                seen.add(s)
                stack.append(s)
    return False


def kernel_region(root: UOp, want: set[UOp]) -> list[UOp]:
    """The nodes the kernel of realize point `root` computes (up to realized nodes and buffers), sources first."""
    return toposort([root], lambda u: u is root or (u not in want and u.op is not Ops.BUFFER))


def _kernel_roots(ctx: RealizeContext) -> list[UOp]:
    return list(dict.fromkeys([*ctx.want, *(o.base for o in ctx.outs if o.base.op is not Ops.BUFFER)]))


def _expansion(m: UOp, users: dict[UOp, dict[UOp, None]]) -> int:
    """How many times a kernel reads each element of the value under the movement chain starting at `m`: the
    product of the chain's expands (the largest over its branches). Pads, shrinks and permutes read each element
    at most once."""
    best, stack = 1, [(m, 1)]
    while stack:
        n, factor = stack.pop()
        if n.op is Ops.EXPAND and isinstance(n.size, int) and isinstance(n.src[0].size, int):
            factor *= n.size // max(n.src[0].size, 1)
        best = max(best, factor)
        stack.extend((u, factor) for u in users.get(n, {}) if u.op in GroupOp.Movement)
    return best


def _realize_recomputed(ctx: RealizeContext) -> None:
    """Rule 5: an expensive elementwise value that a kernel reads through an expand, and so computes many times
    per element (a lazily initialised weight read by every output of a convolution), gets a buffer."""
    for root in _kernel_roots(ctx):
        if root.op is Ops.COPY:
            continue
        for m in kernel_region(root, ctx.want):
            v = m.src[0] if m.op in GroupOp.Movement and m not in ctx.want else None
            if v is None or v in ctx.want or v.op not in GroupOp.Elementwise or ctx.pending.get(v, False):
                continue
            if _expansion(m, ctx.users) >= RECOMPUTE_REUSE and _ops_at_least(v, ctx.want, RECOMPUTE_OPS):
                ctx.realize(v)


def find_realizes(outs: list[UOp], forced: frozenset[UOp] = frozenset()) -> dict[UOp, None]:
    """The nodes that get a buffer of their own, in dependency order (an ordered set). `forced` nodes too."""
    ctx = RealizeContext(outs, set(forced))
    sink = UOp.sink(*outs)
    graph_rewrite(sink, pm_realize_start, ctx)
    # each realized value can make another kernel read a shared reduction: repeat until nothing is added
    ctx.grew = True
    while ctx.grew:
        ctx.grew = False
        graph_rewrite(sink, pm_realize_round, ctx)
        if not ctx.grew:
            _realize_shared_reductions(ctx)
        if not ctx.grew:
            _realize_recomputed(ctx)
    return {n: None for n in toposort(outs) if n in ctx.want}


def _read_by_several_kernels(outs: list[UOp], want: set[UOp], pending: dict[UOp, bool]) -> set[UOp]:
    """Nodes holding an unrealized reduction that the kernels of two or more realize points would compute."""
    roots = [*want, *(o.base for o in outs if o.base.op is not Ops.BUFFER)]
    seen_by: dict[UOp, int] = {}
    for root in dict.fromkeys(roots):
        for n in toposort(root.src if root in want else [root], lambda u: u not in want and pending.get(u, False)):
            if n not in want and pending.get(n, False):
                seen_by[n] = seen_by.get(n, 0) + 1
    return {n for n, count in seen_by.items() if count > 1 and n.op not in GroupOp.Movement}


def _unit_reshapes_only(m: UOp, users: dict[UOp, dict[UOp, None]], want: set[UOp]) -> bool:
    """Whether the movement chains starting at `m` (m and the movement ops above it) only reshape size-1 dims."""
    stack = [m]
    while stack:
        n = stack.pop()
        if not only_unit_dims(n) or n in want:
            return False
        stack.extend(u for u in users.get(n, {}) if u.op in GroupOp.Movement)
    return True


def _reduces_behind_unit_reshapes(value: UOp, root: UOp, realized: dict[UOp, Any]) -> list[UOp]:
    """Unrealized reductions that `value` reads through reshapes of size-1 dims (see find_realizes)."""
    out: dict[UOp, None] = {}
    for n in toposort([value], lambda u: u is root or (u not in realized and u.op is not Ops.BUFFER)):
        if n.op is Ops.RESHAPE and only_unit_dims(n) and (n is root or n not in realized):
            inner = n.src[0]
            for r in toposort([inner], lambda u: u not in realized and u.op is not Ops.BUFFER):
                if r.op is Ops.REDUCE_AXIS and r not in realized:
                    out[r] = None
    return list(out)


def buffer_of(u: UOp) -> Any:
    """The buffer a node reads as a whole (BUFFER, or a RESHAPE of one), else None."""
    if u.op is Ops.BUFFER:
        return u.arg
    if u.op is Ops.RESHAPE and u.src[0].op is Ops.BUFFER:
        return u.src[0].arg
    return None


# ---- building one kernel AST ----


@dataclass
class KernelContext:
    """Parameters of the kernel being built: buffer objects in parameter order (outputs first)."""

    bufs: list[Buffer] = field(default_factory=list)
    old_reads: set[int] = field(default_factory=set)  # ids of buffers read as they were before this schedule
    new_reads: set[int] = field(default_factory=set)  # ids of buffers read as written by this schedule

    def param(self, buf: Buffer, dtype: DType) -> UOp:
        if not any(b is buf for b in self.bufs):
            self.bufs.append(buf)
        return UOp(Ops.DEFINE_GLOBAL, dtype.ptr(buf.size), (), next(i for i, b in enumerate(self.bufs) if b is buf))


def _view(shape: tuple[int, ...]) -> UOp:
    return UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape(shape))


def _fold_load(m: UOp, g: UOp, v: UOp, ld: UOp) -> UOp:
    return UOp(Ops.LOAD, ld.dtype, (g, UOp(Ops.VIEW, dtypes.void, (), v.arg.apply(m.op, m.arg))))


def _fold_const(m: UOp, v: UOp, c: UOp) -> UOp:
    return UOp(Ops.CONST, c.dtype, (UOp(Ops.VIEW, dtypes.void, (), v.arg.apply(m.op, m.arg)),), c.arg)


def _push_through(m: UOp, x: UOp) -> UOp:
    """A movement op over an elementwise op moves onto each source. Padding an op that does not map 0 to 0
    (exp, division, comparisons, ...) also masks the result, so the padded area still reads 0."""
    moved = x.replace(src=tuple(UOp(m.op, s.dtype, (s,), m.arg) for s in x.src))
    if m.op is not Ops.PAD or x.op in GroupOp.SafeToPad:
        return moved
    assert x.shape is not None and m.shape is not None
    padded = ShapeTracker.from_shape(x.shape).pad(m.arg)
    valid = UOp(Ops.CONST, dtypes.bool, (UOp(Ops.VIEW, dtypes.void, (), padded),), True)
    zero = UOp.const(x.dtype, 0, (_view(m.shape),))
    return valid.alu(Ops.WHERE, moved, zero)


def _broadcast_row(m: UOp, r: UOp) -> UOp | None:
    """A reduction expanded back over the axes it reduced (find_realizes' row broadcast) is read as it is, once
    per row: kernel ASTs broadcast size-1 dims. `where(true, r, r)` over a view of the expanded shape keeps the
    value varying along those axes, so a reduction over them still loops (a sum adds the row's value n times)."""
    assert r.shape is not None
    if any(s != d and a not in r.arg[1] for a, (s, d) in enumerate(zip(r.shape, m.arg, strict=True))):
        return None
    full = UOp(Ops.CONST, dtypes.bool, (_view(tuple(m.arg)),), True)
    return full.alu(Ops.WHERE, r, r)


# movement ops sink to the leaves, where they become the loads' views
pm_push_views = PatternMatcher(
    [
        (
            UPat(
                GroupOp.Movement,
                src=(UPat(Ops.LOAD, src=(UPat.var("g"), UPat(Ops.VIEW, name="v")), name="ld"),),
                name="m",
            ),
            _fold_load,
        ),
        (
            UPat(GroupOp.Movement, src=(UPat(Ops.CONST, src=(UPat(Ops.VIEW, name="v"),), name="c"),), name="m"),
            _fold_const,
        ),
        (UPat(GroupOp.Movement, src=(UPat(GroupOp.Elementwise, name="x"),), name="m"), _push_through),
        (UPat(Ops.EXPAND, src=(UPat(Ops.REDUCE_AXIS, name="r"),), name="m"), _broadcast_row),
        # reshapes compose, and a reshape to the shape it already has is nothing
        (
            UPat(Ops.RESHAPE, src=(UPat(Ops.RESHAPE, name="inner"),), name="outer"),
            lambda outer, inner: inner.src[0].reshape(outer.arg),
        ),
        (UPat(Ops.RESHAPE, name="m"), lambda m: m.src[0] if m.src[0].shape == tuple(m.arg) else None),
    ]
)


class BuiltKernel(NamedTuple):
    """A kernel AST, its buffers in parameter order (outputs first), and the ids of the buffers it reads as they
    were before the schedule (BUFFER leaves) and as written by it."""

    ast: UOp
    bufs: list[Buffer]
    old_reads: set[int]
    new_reads: set[int]


def build_ast(
    root: UOp,
    value: UOp,
    out_view: ShapeTracker,
    out_buf: Buffer,
    realized: dict[UOp, tuple[Buffer, ShapeTracker]],
) -> BuiltKernel:
    """The kernel AST computing `value` into `out_buf` through `out_view`, its buffers in parameter order,
    and the ids of the buffers it reads as they were before the schedule (BUFFER leaves) and as written by it.

    `realized` maps every node already computed by this schedule to its buffer and the view it is read
    through; those, and BUFFER nodes, become LOADs. `root` is the node this kernel realizes.
    """
    ctx = KernelContext()
    out_param = ctx.param(out_buf, value.dtype)
    # reductions read through size-1 reshapes: the kernel runs in their rank, the store reshapes back
    soft = _reduces_behind_unit_reshapes(value, root, realized)
    if soft:
        rank_shape = soft[0].shape
        assert rank_shape is not None and value.shape is not None
        same = all(r.shape == rank_shape for r in soft)
        if not same or [d for d in value.shape if d != 1] != [d for d in rank_shape if d != 1]:
            raise FusionFailed(soft)
        if value.shape != rank_shape:
            value = UOp(Ops.RESHAPE, value.dtype, (value,), tuple(rank_shape))
            out_view = out_view.reshape(tuple(rank_shape))
    leaves: dict[UOp, UOp] = {}
    for n in toposort([value], lambda u: u is root or (u not in realized and u.op is not Ops.BUFFER)):
        if n is not root and n.op is Ops.BUFFER:
            ctx.old_reads.add(id(n.arg))
            leaves[n] = UOp(Ops.LOAD, n.dtype, (ctx.param(n.arg, n.dtype), _view((n.arg.size,))))
        elif n is not root and n in realized:
            buf, st = realized[n]
            ctx.new_reads.add(id(buf))
            leaves[n] = UOp(Ops.LOAD, n.dtype, (ctx.param(buf, n.dtype), UOp(Ops.VIEW, dtypes.void, (), st)))
        elif n.op is Ops.CONST:
            leaves[n] = UOp(Ops.CONST, n.dtype, (_view(()),), n.arg)
    body = graph_rewrite(value.substitute(leaves), pm_push_views)
    leftover = [u.op for u in toposort([body]) if u.op in GroupOp.Movement]
    if leftover:
        if soft:
            raise FusionFailed(soft)
        raise AssertionError(f"kernelize: movement ops {leftover} could not be folded into views")
    store = UOp(Ops.STORE, dtypes.void, (out_param, UOp(Ops.VIEW, dtypes.void, (), out_view), body))
    return BuiltKernel(UOp.sink(store), ctx.bufs, ctx.old_reads, ctx.new_reads)
