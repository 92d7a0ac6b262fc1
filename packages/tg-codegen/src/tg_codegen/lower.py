"""Lowering: a kernel AST (IR stage 2) becomes a loop graph over RANGEs (the unordered form of stage 3).

Each axis of the kernel's full shape gets a RANGE: global axes (kept in the output) and reduce axes
(size 1 in the output, larger in the inputs). Views on LOADs and STOREs turn into index and validity
expressions over those ranges, simplified symbolically; REDUCE_AXIS becomes REDUCE over its ranges.

>>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
>>> st = ShapeTracker.from_shape((16,))
>>> g0, g1 = UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(16), (), 0), UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(16), (), 1)
>>> v = UOp(Ops.VIEW, dtypes.void, (), st)
>>> ast = UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, v, UOp(Ops.LOAD, dtypes.float, (g1, v)) * 2.0)))
>>> kernel_axes(ast)
KernelAxes(full_shape=(16,), output_shape=(16,), reduce_axes=())
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

from tg_uop.dtype import DType, dtypes
from tg_uop.helpers import prod
from tg_uop.ops import AxisType, GroupOp, Ops, RangeArg
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite, substitute
from tg_uop.spec import SpecError, verify
from tg_uop.uop import UOp, toposort
from tg_uop.view import ShapeTracker, View


class LoweringError(ValueError):
    """A kernel AST that codegen cannot lower (malformed, or inconsistent shapes)."""


@dataclass(frozen=True)
class KernelAxes:
    """The loop structure of a kernel: every axis of `full_shape`, and which of them are reduced."""

    full_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    reduce_axes: tuple[int, ...]

    @property
    def global_axes(self) -> tuple[int, ...]:
        return tuple(i for i in range(len(self.full_shape)) if i not in self.reduce_axes)


def check_kernel_ast(ast: UOp) -> None:
    """Raise LoweringError naming the first node that breaks the kernel-AST form (tg_uop.spec's kernel rules)."""
    if ast.op is not Ops.SINK or not ast.src or any(s.op is not Ops.STORE for s in ast.src):
        raise LoweringError("a kernel AST is a SINK of STOREs")
    if any(u.op is Ops.SINK for u in toposort(list(ast.src))):
        raise LoweringError("a SINK cannot appear inside a kernel AST")
    try:
        verify(ast, "kernel")
    except SpecError as e:
        raise LoweringError(f"{e.rule} ({e.node.op.name} node)") from e


# asked for again and again of one AST while it is optimized (every `Kernel.full_shape`), and each time the AST
# would be checked against the kernel spec anew: ASTs are immutable, so the answer is kept
@functools.lru_cache(maxsize=4096)
def kernel_axes(ast: UOp) -> KernelAxes:
    """Derive the axes of a kernel AST from the shapes of its views."""
    check_kernel_ast(ast)
    out_shapes = {s.src[1].arg.shape for s in ast.src}
    if len(out_shapes) != 1:
        raise LoweringError(f"all outputs of one kernel must have one shape, got {sorted(out_shapes)}")
    output_shape = out_shapes.pop()
    shapes = [u.arg.shape for u in toposort([ast]) if u.op is Ops.VIEW]
    if any(len(s) != len(output_shape) for s in shapes):
        raise LoweringError(f"views of different ranks in one kernel: {sorted(set(shapes))}")
    full = list(output_shape)
    for s in shapes:
        for i, d in enumerate(s):
            if full[i] == 1 and d != 1:
                full[i] = d
            elif d not in (1, full[i]):
                raise LoweringError(f"view shape {s} does not fit kernel shape {tuple(full)}")
    reduce_axes = tuple(i for i, (o, f) in enumerate(zip(output_shape, full, strict=True)) if o == 1 and f != 1)
    return KernelAxes(tuple(full), tuple(output_shape), reduce_axes)


def view_axes(st: ShapeTracker) -> frozenset[int]:
    """The axes whose index changes the element a view reads or whether it is valid (not a broadcast).

    >>> sorted(view_axes(ShapeTracker.from_shape((4, 1, 8)).expand((4, 3, 8))))
    [0, 2]
    """
    rngs = [
        UOp(Ops.RANGE, dtypes.int64, (index_value(s, dtypes.int64),), RangeArg(i, AxisType.GLOBAL))
        for i, s in enumerate(st.shape)
    ]
    idx, valid = st.to_indexed_uops(rngs)
    return frozenset(u.arg.axis for u in toposort([idx, valid]) if u.op is Ops.RANGE)


@dataclass(frozen=True)
class PackPlan:
    """Where a packed input (PACK) is copied: inside the output loops before `level` (the first one the input
    does not vary along, so the copy is reused by all of its iterations), into a buffer over `dims` (the
    axes from `level` on that the input varies along, in axis order) of `size` elements."""

    level: int
    dims: tuple[int, ...]
    size: int


def pack_plan(full_shape: tuple[int, ...], kinds: list[AxisType], st: ShapeTracker) -> PackPlan | None:
    """The PackPlan of a load through view `st`, or None when every output loop changes what it reads (a copy
    would be used once).

    >>> pack_plan(
    ...     (32, 128, 1024, 16),
    ...     [AxisType.THREAD, AxisType.GLOBAL, AxisType.REDUCE, AxisType.VECTOR],
    ...     ShapeTracker.from_shape((32, 1, 1024, 16)),
    ... )
    PackPlan(level=1, dims=(2, 3), size=16384)
    """
    used = view_axes(st)
    for i, (size, kind) in enumerate(zip(full_shape, kinds, strict=True)):
        if kind not in (AxisType.THREAD, AxisType.GLOBAL):
            return None
        if size > 1 and i not in used:
            dims = tuple(j for j in range(i, len(full_shape)) if j in used)
            total = 1
            for j in dims:
                total *= full_shape[j]
            return PackPlan(i, dims, total)
    return None


@dataclass
class LowerContext:
    """The RANGE (or 0) standing for each axis while lowering one kernel."""

    axes: KernelAxes
    ranges: list[UOp] = field(default_factory=list)
    kinds: list[AxisType] = field(default_factory=list)
    packed: frozenset[int] = frozenset()  # input buffers read through a local copy (PACK)
    reduces: int = 0
    siblings: dict[tuple[int, ...], list[UOp]] = field(default_factory=dict)  # the last loops over these axes
    fresh: dict[tuple[UOp, tuple[UOp, ...]], UOp] = field(default_factory=dict)  # see _fresh_inner_loops
    # GROUP (tg_codegen.kernel): the flat work-item number within the group along the LOCAL axes and along the
    # GROUP axes, how many work-items each has, and how many local buffers were made so far
    local_flat: UOp | None = None
    group_flat: UOp | None = None
    local_count: int = 1
    group_count: int = 1
    buffers: int = 0
    index: DType = dtypes.index  # the integer type of this kernel's index arithmetic (see `lower`)

    def idxs(self, st: ShapeTracker) -> list[UOp]:
        zero = UOp.const(self.index, 0)
        return [zero if d == 1 else self.ranges[i] for i, d in enumerate(st.shape)]


def _index(ctx: LowerContext, g: UOp, st: ShapeTracker) -> UOp:
    idx, valid = st.to_indexed_uops(ctx.idxs(st))
    return UOp(Ops.INDEX, g.dtype, (g, idx) if valid.is_const(True) else (g, idx, valid))


def _lower_load(ctx: LowerContext, ld: UOp, g: UOp, v: UOp) -> UOp:
    if g.arg in ctx.packed:
        return _packed_load(ctx, ld, g, v.arg)
    return UOp(Ops.LOAD, ld.dtype, (_index(ctx, g, v.arg),))


def _packed_load(ctx: LowerContext, ld: UOp, g: UOp, st: ShapeTracker) -> UOp:
    # the copy: a local buffer declared inside the output loops the input varies along (each thread has its
    # own), filled by a loop nest of its own over the buffer's axes (plain loops, in axis order, so the inner
    # loop reads and writes contiguously), then a BARRIER that stands for the filled buffer. The load reads
    # the buffer with the kernel's ranges; its second source (the BARRIER) orders it after the copy.
    plan = pack_plan(ctx.axes.full_shape, ctx.kinds, st)
    if plan is None:
        raise LoweringError(f"input {g.arg} is packed but read anew in every output iteration")
    outer = tuple(ctx.ranges[i] for i in range(plan.level) if ctx.axes.full_shape[i] != 1)
    buf = UOp(Ops.DEFINE_LOCAL, ld.dtype.ptr(plan.size, local=True), outer, ctx.buffers)
    ctx.buffers += 1
    ctx.reduces += 1
    own = {ctx.ranges[j]: ctx.ranges[j].replace(arg=RangeArg(j, AxisType.REDUCE, ctx.reduces)) for j in plan.dims}

    def flat(rngs: list[UOp]) -> UOp:
        out = UOp.const(ctx.index, 0)
        for j, r in zip(plan.dims, rngs, strict=True):
            out = out * ctx.axes.full_shape[j] + r
        return out

    fill = UOp(
        Ops.STORE,
        dtypes.void,
        (
            UOp(Ops.INDEX, buf.dtype, (buf, flat(list(own.values())))),
            substitute(UOp(Ops.LOAD, ld.dtype, (_index(ctx, g, st),)), own),
        ),
    )
    filled = UOp(Ops.BARRIER, dtypes.void, (fill, *own.values()))
    read = UOp(Ops.INDEX, buf.dtype, (buf, flat([ctx.ranges[j] for j in plan.dims])))
    return UOp(Ops.LOAD, ld.dtype, (read, filled))


def _lower_store(ctx: LowerContext, g: UOp, v: UOp, val: UOp) -> UOp:
    idx = _index(ctx, g, v.arg)
    if ctx.group_flat is not None:
        # every work-item of a group holds the combined result: the first one stores it
        first = ctx.group_flat.eq(0)
        idx = idx.replace(src=(*idx.src[:2], idx.src[2] & first if len(idx.src) > 2 else first))
    return UOp(Ops.STORE, dtypes.void, (idx, val))


def _lower_const(ctx: LowerContext, c: UOp, v: UOp) -> UOp:
    plain = UOp.const(c.dtype, c.arg)
    _, valid = v.arg.to_indexed_uops(ctx.idxs(v.arg))
    if c.dtype == dtypes.bool and c.arg is True:
        return valid  # a mask (PADTO's valid iterations)
    return plain if valid.is_const(True) else valid.where(plain, UOp.const(c.dtype, 0))


def free_ranges(x: UOp) -> list[UOp]:
    """The RANGEs `x` depends on that no REDUCE inside it loops over, by axis."""
    deps: dict[UOp, frozenset[UOp]] = {}
    for n in toposort([x]):
        d: frozenset[UOp] = frozenset().union(*(deps[s] for s in n.src))
        if n.op is Ops.RANGE:
            d = d | {n}
        elif n.op is Ops.REDUCE:
            d = d - set(n.src[1:])
        deps[n] = d
    return sorted(deps[x], key=lambda u: u.arg)


def _lower_group_reduce(ctx: LowerContext, r: UOp) -> UOp:
    # the source is this work-item's partial result over its share of the reduction: each work-item writes
    # it to local memory, waits for the others (barrier), and combines the group's partials in a loop
    if ctx.group_flat is None:
        raise LoweringError("a REDUCE_AXIS over GROUP axes needs work-group lowering (gpu=True)")
    partial = r.src[0]
    copies = free_ranges(partial)
    if any(c.arg.kind not in (AxisType.UPCAST, AxisType.UNROLL) for c in copies):
        raise LoweringError("a grouped reduction cannot be inside a loop")
    # one slot per work-item and per upcast/unroll copy of the reduction (copies are expanded later)
    copy_flat, n_copies = UOp.const(ctx.index, 0), 1
    for c in copies:
        copy_flat, n_copies = copy_flat * c.src[0].arg + c, n_copies * c.src[0].arg
    assert ctx.local_flat is not None
    g = ctx.group_count
    base = (copy_flat * ctx.local_count + ctx.local_flat) * g
    buf = UOp(Ops.DEFINE_LOCAL, r.dtype.ptr(n_copies * ctx.local_count * g, local=True), (), ctx.buffers)
    ctx.buffers += 1
    write = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, buf.dtype, (buf, base + ctx.group_flat)), partial))
    barrier = UOp(Ops.BARRIER, dtypes.void, (write,))
    ctx.reduces += 1
    rng = UOp(Ops.RANGE, ctx.index, (UOp.const(ctx.index, g),), RangeArg(-1, AxisType.REDUCE, ctx.reduces))
    read = UOp(Ops.LOAD, r.dtype, (UOp(Ops.INDEX, buf.dtype, (buf, base + rng)), barrier))
    return UOp(Ops.REDUCE, r.dtype, (read, rng), r.arg[0])


def _own_range(ctx: LowerContext, a: int) -> UOp:
    """The loop a reduction runs over kernel axis `a`, numbered `ctx.reduces`.

    An output axis can be reduced too (a row's maximum read by every element of the row, all in one kernel):
    the reduction then gets a loop of its own over the whole axis, an unrolled one where the output axis was
    upcast, one in SIMD lanes where it was, whatever else the output axis became (a thread's share, a launch
    index)."""
    rng, kind = ctx.ranges[a], ctx.kinds[a]
    # a reduce axis keeps its kind (SIMD lanes of an unrolled reduce axis stay lanes)
    if kind in (AxisType.REDUCE, AxisType.UNROLL) or (kind is AxisType.VECTOR and a in ctx.axes.reduce_axes):
        return rng.replace(arg=replace(rng.arg, instance=ctx.reduces))
    # SIMD lanes along the row for the row's own loop too (one vector accumulator, lanes combined after it)
    own = {AxisType.UPCAST: AxisType.UNROLL, AxisType.VECTOR: AxisType.VECTOR}.get(kind, AxisType.REDUCE)
    size = UOp.const(ctx.index, ctx.axes.full_shape[a])
    return UOp(Ops.RANGE, ctx.index, (size,), RangeArg(a, own, ctx.reduces))


def _sibling_loops(ctx: LowerContext, src: UOp, reduced: tuple[int, ...]) -> tuple[list[UOp], UOp]:
    """The loops a reduction over axes `reduced` runs, and its body over them. Reductions over the same axes where
    neither reads the other (batch norm's backward sums of the gradient and of the gradient times the normalized
    input) share the loops: one pass over their common inputs, each with its own accumulator. A reduction that
    reads another over those axes (a variance reading its mean) gets loops of its own."""
    shared = ctx.siblings.get(reduced)
    if shared is not None:
        body = substitute(src, {ctx.ranges[a]: o for a, o in zip(reduced, shared, strict=True)})
        if not any(u.op is Ops.REDUCE and any(o in u.src[1:] for o in shared) for u in toposort([body])):
            return shared, body
    ctx.reduces += 1
    own = [_own_range(ctx, a) for a in reduced]
    ctx.siblings[reduced] = own
    return own, substitute(src, {ctx.ranges[a]: o for a, o in zip(reduced, own, strict=True)})


def _lower_reduce(ctx: LowerContext, r: UOp) -> UOp:
    op, axes = r.arg
    # a GROUP axis is a work-item index, not a loop: the group's partial results are combined in local memory
    if any(ctx.kinds[a] is AxisType.GROUP and ctx.axes.full_shape[a] != 1 for a in axes):
        return _lower_group_reduce(ctx, r)
    reduced = [a for a in axes if ctx.axes.full_shape[a] != 1]
    if not reduced:
        return r.src[0]
    # a row spread over the work-items of a group (LOCAL output axes reduced): each reduces its share, the
    # shares meet in local memory
    rows = [a for a in reduced if ctx.kinds[a] is AxisType.LOCAL]
    reduced = [a for a in reduced if a not in rows]
    own, body = _sibling_loops(ctx, r.src[0], tuple(reduced))
    part = UOp(Ops.REDUCE, r.dtype, (_fresh_inner_loops(ctx, body, r.src[0], tuple(own)), *own), op) if own else body
    return _combine_row_shares(ctx, part, rows, op) if rows else part


def _flat(dims: list[tuple[int, UOp]], index: DType) -> tuple[UOp, int]:
    """The flat index over (size, index) dimensions, first slowest, and how many values it takes."""
    flat, count = UOp.const(index, 0), 1
    for size, idx in dims:
        flat, count = flat * size + idx, count * size
    return flat, count


def _combine_row_shares(ctx: LowerContext, part: UOp, rows: list[int], op: Ops) -> UOp:
    """A reduction over LOCAL axes (a row kept by one work-group): each work-item writes its share `part` to
    local memory, waits for the others (barrier), and combines the row's shares in a loop, so every work-item
    of the row holds the row's result (no work-item stores for the others: each stores its own elements)."""
    if AxisType.GROUP in ctx.kinds:
        raise LoweringError("a reduction over a work-group's row and a GROUP reduction in one kernel")
    copies = free_ranges(part)
    if any(c.arg.kind not in (AxisType.UPCAST, AxisType.UNROLL) for c in copies):
        raise LoweringError("a reduction over a work-group's row cannot be inside a loop")
    # one slot per work-item, per other work-item index of the group and per upcast/unroll copy
    others = [i for i, k in enumerate(ctx.kinds) if k is AxisType.LOCAL and i not in rows]
    flat, count = _flat(
        [(ctx.axes.full_shape[a], ctx.ranges[a]) for a in others] + [(c.src[0].arg, c) for c in copies], ctx.index
    )
    row_flat, n = _flat([(ctx.axes.full_shape[a], ctx.ranges[a]) for a in rows], ctx.index)
    buf = UOp(Ops.DEFINE_LOCAL, part.dtype.ptr(count * n, local=True), (), ctx.buffers)
    ctx.buffers += 1
    write = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, buf.dtype, (buf, flat * n + row_flat)), part))
    barrier = UOp(Ops.BARRIER, dtypes.void, (write,))
    ctx.reduces += 1
    rng = UOp(Ops.RANGE, ctx.index, (UOp.const(ctx.index, n),), RangeArg(-1, AxisType.REDUCE, ctx.reduces))
    read = UOp(Ops.LOAD, part.dtype, (UOp(Ops.INDEX, buf.dtype, (buf, flat * n + rng)), barrier))
    return UOp(Ops.REDUCE, part.dtype, (read, rng), op)


def _fresh_inner_loops(ctx: LowerContext, body: UOp, before: UOp, own: tuple[UOp, ...]) -> UOp:
    """Inner reductions that reading this reduction's own loops copied (a row's sum read inside a reduction over
    the rows and again by the store) get loops of their own: one RANGE node is one loop of the program. Those of
    sibling reductions sharing the loops `own` share them too (`LowerContext.fresh`)."""
    old = set(toposort([before]))
    fresh: dict[UOp, UOp] = {}
    for n in toposort([body]):
        if n.op is Ops.REDUCE and n not in old:
            for rng in n.src[1:]:
                if rng not in fresh:
                    if (rng, own) not in ctx.fresh:
                        ctx.reduces += 1
                        ctx.fresh[(rng, own)] = rng.replace(arg=replace(rng.arg, instance=ctx.reduces))
                    fresh[rng] = ctx.fresh[(rng, own)]
    return substitute(body, fresh) if fresh else body


pm_lower = PatternMatcher(
    [
        (
            UPat(Ops.LOAD, src=(UPat(Ops.DEFINE_GLOBAL, name="g"), UPat(Ops.VIEW, name="v")), name="ld"),
            _lower_load,
        ),
        (
            UPat(Ops.STORE, src=(UPat(Ops.DEFINE_GLOBAL, name="g"), UPat(Ops.VIEW, name="v"), UPat.var("val"))),
            _lower_store,
        ),
        (UPat(Ops.CONST, src=(UPat(Ops.VIEW, name="v"),), name="c"), _lower_const),
        (UPat(Ops.REDUCE_AXIS, name="r"), _lower_reduce),
    ]
)


def lower(
    ast: UOp, kinds: list[AxisType] | None = None, gpu: bool = False, packed: frozenset[int] = frozenset()
) -> UOp:
    """The loop graph of a kernel AST: a SINK of STOREs through INDEXes over RANGEs.

    `kinds` gives each axis's kind; by default output axes are GLOBAL and reduced ones REDUCE. The kind is
    the RANGE's `arg.kind`: UPCAST and UNROLL ranges are expanded later, a VECTOR one vectorized.
    With `gpu`, global axes become work-group indices and local axes work-item indices (SPECIAL nodes).
    The inputs numbered in `packed` are read through a local copy (see `PackPlan`).

    The index arithmetic (RANGEs, launch indices, buffer indices) is int32 where the bounds of every index
    value are proven inside int32, else int64. The type is chosen before lowering, from the bounds of the kernel's
    sizes and views (`index_bounds_fit`: no constant or partial result of the unsimplified index arithmetic can
    leave int32), and the lowered graph's own bounds prove it (`index_fits`); only when that proof fails is the
    kernel lowered again in int64. A kernel whose indices do not fit int64 either raises LoweringError.

    >>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
    >>> v = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((2**32 + 5,)))
    >>> g = UOp(Ops.DEFINE_GLOBAL, dtypes.int64.ptr(1), (), 0)
    >>> one = UOp(Ops.CONST, dtypes.int64, (v,), 1)
    >>> s = UOp(Ops.REDUCE_AXIS, dtypes.int64, (one,), (Ops.ADD, (0,)))
    >>> st = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((1,)))
    >>> [u.dtype for u in lower(UOp.sink(UOp(Ops.STORE, dtypes.void, (g, st, s)))).toposort() if u.op is Ops.RANGE]
    [dtypes.int64]
    """
    kinds = kinds or default_kinds(kernel_axes(ast))
    if index_bounds_fit(ast, kinds, gpu, packed, dtypes.int32):
        narrow = lower_with_index(ast, dtypes.int32, kinds, gpu, packed)
        if index_fits(narrow, dtypes.int32):
            return narrow
    wide = lower_with_index(ast, dtypes.int64, kinds, gpu, packed)
    if not index_fits(wide, dtypes.int64):
        raise LoweringError("the kernel's index arithmetic does not fit 64-bit integers")
    if any(u.op is Ops.DEFINE_VAR for u in wide.toposort()):
        raise LoweringError("a kernel with symbolic sizes needs indices past 2^31-1: not supported")
    return wide


def index_fits(graph: UOp, dt: DType) -> bool:
    """Whether the index arithmetic of `graph` provably stays inside `dt`, and inside its own type (a node whose
    bounds are all of its type may wrap around: nothing better is known). The index arithmetic: loop bounds,
    buffer indices and their masks, and comparisons of loop or launch indices; integer math of the data (even
    of constants alone, such as `2 ** x`'s powers of 2) is left out: it wraps as C does.

    >>> r = UOp(Ops.RANGE, dtypes.int64, (UOp.const(dtypes.int64, 2**30),), RangeArg(0, AxisType.GLOBAL))
    >>> g = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 0)
    >>> at = lambda i: UOp(Ops.INDEX, g.dtype, (g, i))
    >>> index_fits(at(r * 4), dtypes.int64), index_fits(at(r * 4), dtypes.int32), index_fits(at(r * 2), dtypes.int32)
    (True, False, True)
    """
    pure: set[UOp] = set()
    loopy: set[UOp] = set()  # pure nodes that change with a loop or launch index (or a variable)
    roots: list[UOp] = []
    for u in graph.toposort():
        if u.op in (Ops.CONST, Ops.RANGE, Ops.SPECIAL, Ops.DEFINE_VAR) or (
            u.op in GroupOp.ALU and u.src and all(s in pure for s in u.src)
        ):
            pure.add(u)
            if u.op in (Ops.RANGE, Ops.SPECIAL, Ops.DEFINE_VAR) or any(s in loopy for s in u.src):
                loopy.add(u)
        if u.op is Ops.INDEX:
            roots.extend(u.src[1:])
        elif u.op in (Ops.RANGE, Ops.SPECIAL) or (u.op in GroupOp.Comparison and u in loopy):
            roots.append(u)
    for u in UOp.sink(*roots).toposort() if roots else []:
        if u not in pure or not u.dtype.is_int or u.dtype.count != 1:
            continue
        lo, hi, own = u.vmin, u.vmax, u.dtype
        if u.op is not Ops.CONST and lo == own.min and hi == own.max:  # what tg_uop gives when it may wrap
            return False
        if not dt.min <= lo or not hi <= dt.max:
            return False
    return True


Span = tuple[int, int]  # the smallest and largest value an integer can take


def _span(x: int | UOp) -> Span:
    """The bounds of a size, stride, offset or mask end: itself, or a symbolic one's (its Variables' bounds)."""
    return (x, x) if isinstance(x, int) else (int(x.vmin), int(x.vmax))


def _is_one(d: int | UOp) -> bool:
    return isinstance(d, int) and d == 1


def _within(dt: DType, *values: int) -> bool:
    return all(dt.min <= v <= dt.max for v in values)


def _view_span(v: View, idxs: list[Span], dt: DType) -> Span | None:
    """The bounds of view `v`'s buffer index for indices in `idxs`, or None when a constant or a partial sum of
    its index or mask arithmetic (in the order `View.to_indexed_uops` builds it) may leave `dt`."""
    lo, hi = _span(v.offset)
    if not _within(dt, lo, hi):
        return None
    for (ilo, ihi), st in zip(idxs, v.strides, strict=True):
        if isinstance(st, int) and st == 0:
            continue
        slo, shi = _span(st)
        terms = (ilo * slo, ilo * shi, ihi * slo, ihi * shi)
        lo, hi = lo + min(terms), hi + max(terms)
        if not _within(dt, slo, shi, *terms, lo, hi):
            return None
    for b, e in v.mask or ():
        if not _within(dt, *_span(b), *_span(e)):
            return None
    return lo, hi


def _tracker_fits(st: ShapeTracker, idxs: list[Span], dt: DType) -> bool:
    """Whether every constant and partial result of `st.to_indexed_uops` (before it simplifies) stays in `dt`:
    each view unravels the position the view after it computes, with `//` and `%` by its own sizes."""
    span = _view_span(st.views[-1], idxs, dt)
    for v in reversed(st.views[:-1]):
        if span is None:
            return False
        subs: list[Span] = []
        acc = 1
        for s in reversed(v.shape):
            if _is_one(s):
                subs.append((0, 0))
                continue
            top = _span(s)[1]
            if not _within(dt, acc, top):
                return False
            # (position // acc) % s: at most s - 1 away from 0, negative only where the position may be
            subs.append((-(top - 1) if span[0] < 0 else 0, top - 1))
            acc *= top
        span = _view_span(v, subs[::-1], dt)
    return span is not None


def index_bounds_fit(
    ast: UOp, kinds: list[AxisType], gpu: bool = False, packed: frozenset[int] = frozenset(), dt: DType = dtypes.int32
) -> bool:
    """Whether lowering `ast` (as `lower_with_index` would, with these arguments) builds index arithmetic that
    provably stays inside `dt` before any simplification: the loop and launch sizes, the views' strides, offsets,
    mask ends and every partial sum of their index expressions, the local buffers' sizes. Read off the kernel's
    sizes and views (a symbolic one by its Variables' bounds) without lowering it. Where it holds, the index
    arithmetic of `dt` computes exact values, so simplifying it keeps them and `index_fits` can prove the result.

    >>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
    >>> def copy(n):
    ...     v = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((n,)))
    ...     g0, g1 = (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(n), (), i) for i in range(2))
    ...     return UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, v, UOp(Ops.LOAD, dtypes.float, (g1, v)))))
    >>> index_bounds_fit(copy(2**31 - 1), [AxisType.GLOBAL]), index_bounds_fit(copy(2**31), [AxisType.GLOBAL])
    (True, False)
    """
    axes = kernel_axes(ast)
    sizes = [_span(s)[1] for s in axes.full_shape]
    if not _within(dt, *sizes):
        return False
    if gpu:
        # each launch dimension's size is the product of the axes it carries (`launch_indices`)
        for names in ((AxisType.GLOBAL,), (AxisType.LOCAL, AxisType.GROUP)):
            picked = [sizes[i] for i, k in enumerate(kinds) if k in names]
            if not _within(dt, *(prod(picked[a] for a in group) for group in launch_groups(len(picked)))):
                return False
        # local buffers of grouped reductions hold a slot per work-item of the group and per upcast copy
        kept = (AxisType.LOCAL, AxisType.GROUP, AxisType.UPCAST, AxisType.UNROLL)
        if not _within(dt, prod(s for s, k in zip(sizes, kinds, strict=True) if k in kept)):
            return False
    for u in ast.toposort():
        if u.op is Ops.VIEW:
            idxs = [(0, 0) if _is_one(d) else (0, sizes[i] - 1) for i, d in enumerate(u.arg.shape)]
            if not _tracker_fits(u.arg, idxs, dt):
                return False
        elif u.op is Ops.LOAD and u.src[0].op is Ops.DEFINE_GLOBAL and u.src[0].arg in packed:
            plan = pack_plan(axes.full_shape, kinds, u.src[1].arg)
            if plan is not None and not _within(dt, plan.size):
                return False
    return True


def default_kinds(axes: KernelAxes) -> list[AxisType]:
    """Each axis's kind when none is chosen: REDUCE where reduced, else GLOBAL."""
    return [AxisType.REDUCE if i in axes.reduce_axes else AxisType.GLOBAL for i in range(len(axes.full_shape))]


def lower_with_index(
    ast: UOp,
    index: DType,
    kinds: list[AxisType] | None = None,
    gpu: bool = False,
    packed: frozenset[int] = frozenset(),
) -> UOp:
    """`lower` with index arithmetic of type `index` (int32 or int64), unchecked: `lower` picks the type."""
    axes = kernel_axes(ast)
    kinds = kinds or [
        AxisType.REDUCE if i in axes.reduce_axes else AxisType.GLOBAL for i in range(len(axes.full_shape))
    ]
    ranges = [
        UOp(Ops.RANGE, index, (index_value(size, index),), RangeArg(i, kind))
        for i, (size, kind) in enumerate(zip(axes.full_shape, kinds, strict=True))
    ]
    ctx = LowerContext(axes, ranges, list(kinds), packed, index=index)
    if gpu:
        # GROUP axes are work-item indices too: each work-item reduces its share of a grouped reduction
        for names, prefix in (((AxisType.GLOBAL,), "gidx"), ((AxisType.LOCAL, AxisType.GROUP), "lidx")):
            picked = [i for i, k in enumerate(kinds) if k in names]
            sizes = [axes.full_shape[i] for i in picked]
            for i, idx in zip(picked, launch_indices(sizes, prefix, index), strict=True):
                ranges[i] = idx
        if AxisType.GROUP in kinds:
            for kind in (AxisType.LOCAL, AxisType.GROUP):
                flat, count = UOp.const(index, 0), 1
                for i, k in enumerate(kinds):
                    if k is kind:
                        flat, count = flat * axes.full_shape[i] + ranges[i], count * axes.full_shape[i]
                if kind is AxisType.LOCAL:
                    ctx.local_flat, ctx.local_count = flat, count
                else:
                    ctx.group_flat, ctx.group_count = flat, count
    elif AxisType.GROUP in kinds:
        raise LoweringError("GROUP axes need work-groups (gpu=True)")
    return graph_rewrite(ast, pm_lower, ctx=ctx)


def index_value(size: int | UOp, index: DType) -> UOp:
    """A size as index arithmetic of type `index`: a constant, or a symbolic size (over int32 variables) cast."""
    return size.cast(index) if isinstance(size, UOp) else UOp.const(index, size)


def launch_indices(sizes: list[int], prefix: str, index: DType = dtypes.index) -> list[UOp]:
    """Index expressions for axes of these sizes over at most three launch dimensions (SPECIAL nodes).

    The last axis is dimension 0 (the fastest-varying one on GPUs), the one before it dimension 1, and all
    earlier axes share dimension 2, unpacked with division and modulo.
    """
    if not sizes:
        return []
    out: dict[int, UOp] = {}
    for dim, group in zip((2, 1, 0), launch_groups(len(sizes)), strict=True):
        if not group:
            continue
        total = 1
        for a in group:
            total *= sizes[a]
        special = UOp(Ops.SPECIAL, index, (), (f"{prefix}{dim}", total))
        inner = total
        for a in group:
            inner //= sizes[a]
            out[a] = (special // inner) % sizes[a] if len(group) > 1 else special
    return [out[a] for a in range(len(sizes))]


def launch_groups(n: int) -> list[list[int]]:
    """Which of `n` axes each launch dimension carries, dimensions 2, 1, 0 (see `launch_indices`).

    >>> launch_groups(4), launch_groups(1)
    ([[0, 1], [2], [3]], [[], [], [0]])
    """
    if not n:
        return [[], [], []]
    return [list(range(max(n - 2, 0))), [n - 2] if n >= 2 else [], [n - 1]]


def varying_axes(ast: UOp, memo: dict[UOp, frozenset[int]] | None = None) -> dict[UOp, frozenset[int]]:
    """For every node, the axes along which its value may change (those where its views are not 1).

    `memo` holds what is known already (it is extended and returned): only new nodes are visited.
    """
    out: dict[UOp, frozenset[int]] = {} if memo is None else memo
    for u in toposort([ast], lambda n: n not in out):
        if u in out:
            continue
        if u.op is Ops.VIEW:
            out[u] = frozenset(i for i, s in enumerate(u.arg.shape) if not (isinstance(s, int) and s == 1))
        elif u.op is Ops.REDUCE_AXIS:
            out[u] = out[u.src[0]] - set(u.arg[1])
        else:
            out[u] = frozenset().union(*(out[s] for s in u.src))
    return out


def _mergeable(ast: UOp, axes: KernelAxes, i: int) -> dict[UOp, ShapeTracker] | None:
    """The views with axes i and i+1 merged, or None if some view or reduction cannot merge them."""
    for u in toposort([ast]):
        if u.op is Ops.REDUCE_AXIS and (i in u.arg[1]) != (i + 1 in u.arg[1]):
            return None  # one reduction would reduce half of the merged axis
    new_views: dict[UOp, ShapeTracker] = {}
    for u in toposort([ast]):
        if u.op is not Ops.VIEW:
            continue
        st: ShapeTracker = u.arg
        shape = st.shape
        merged = (*shape[:i], shape[i] * shape[i + 1], *shape[i + 2 :])
        full = axes.full_shape[i] * axes.full_shape[i + 1]
        if (shape[i] == 1) != (shape[i + 1] == 1) and shape[i] * shape[i + 1] != full:
            return None  # a broadcast dim next to a real one: the merged dim would mix them
        if _uneven(st.views[-1], i):
            return None
        new_st = st.reshape(merged)
        if len(new_st.views) > len(st.views):
            return None
        new_views[u] = new_st
    return new_views


def _uneven(v: View, i: int) -> bool:
    """Whether an unmasked view walks its buffer unevenly across axes i and i+1 (the outer stride is not the inner
    one times the inner size): no single view reads them as one axis, and trying (`ShapeTracker.reshape` stacks a
    view and simplifies the stacked index to find out) is the dearest part of merging axes."""
    (d0, d1), (s0, s1) = v.shape[i : i + 2], v.strides[i : i + 2]
    if v.mask is not None or not all(isinstance(x, int) for x in (d0, d1, s0, s1)):
        return False
    return d0 != 1 and d1 != 1 and s0 != s1 * d1


def _drop_unit_axes(ctx: dict[UOp, frozenset[int]], r: UOp) -> UOp | None:
    varying = varying_axes(r.src[0], ctx)[r.src[0]]
    kept = tuple(a for a in r.arg[1] if a in varying)
    if len(kept) == len(r.arg[1]):
        return None
    return r.replace(arg=(r.arg[0], kept)) if kept else r.src[0]


# reducing an axis along which the value has size 1 does nothing; dropping it keeps axis merging from misreading
# it. That is an axis of size 1 in the kernel, or one an inner reduction already reduced (x.sum(1).sum(1)):
# looping over it again would add the inner result full_shape[axis] times. The context: varying_axes' memo.
pm_drop_unit_reduce_axes = PatternMatcher([(UPat(Ops.REDUCE_AXIS, name="r"), _drop_unit_axes)])


@dataclass(frozen=True)
class MergeAxes:
    """Axes `axis` and `axis + 1` become one: the views' new ShapeTrackers, and reductions renumbered."""

    axis: int
    views: dict[UOp, ShapeTracker]

    def renumber(self, axes: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted({a if a <= self.axis else a - 1 for a in axes}))


# applied once per node (graph_rewrite's `once`): a merged view would otherwise be merged again
pm_merge_axes = PatternMatcher(
    [
        (UPat(Ops.VIEW, name="v"), lambda ctx, v: v.replace(arg=ctx.views[v])),
        (UPat(Ops.REDUCE_AXIS, name="r"), lambda ctx, r: r.replace(arg=(r.arg[0], ctx.renumber(r.arg[1])))),
    ]
)


def merge_dims(ast: UOp) -> UOp:
    """Merge neighbouring axes that every view walks as one (a contiguous (64, 64) kernel becomes (4096,)).

    Fewer axes mean fewer loops and simpler index math; reduce axes merge only with reduce axes.
    """
    axes = kernel_axes(ast)
    ast = graph_rewrite(ast, pm_drop_unit_reduce_axes, ctx={})
    for i in reversed(range(len(axes.full_shape) - 1)):
        new_views = _mergeable(ast, axes, i)
        if new_views is None:
            continue
        ast = graph_rewrite(ast, pm_merge_axes, ctx=MergeAxes(i, new_views), once=True)
        axes = kernel_axes(ast)
    return ast
