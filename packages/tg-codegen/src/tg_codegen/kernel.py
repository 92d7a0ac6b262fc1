"""A kernel being optimized: its AST, the type of each axis, and the transformations (`Opt`s) applied so far.

Every transformation is shape surgery on the AST: an axis is split in two (all views reshaped, reductions
renumbered) and the new piece gets a type that lowering and expansion act on:

| type    | what it becomes                                                                 |
|---------|---------------------------------------------------------------------------------|
| THREAD  | the outermost loop, its iterations spread over CPU threads (OpenMP)            |
| GLOBAL  | a loop (CPU) or a work-group index (GPU)                                        |
| LOCAL   | a work-item index within a work-group (GPU)                                     |
| GROUP   | a reduce axis spread over the work-items of a work-group: each one reduces its  |
|         | share, the partial results meet in local memory and are combined (GPU)         |
| REDUCE  | a reduction loop                                                                |
| UNROLL  | a reduce axis unrolled: one accumulator per value, combined after the loop     |
| UPCAST  | an output axis unrolled: each value computed and stored by the same thread     |

Axes are kept in that order (THREAD first, UPCAST last), so loops nest the same way in every kernel.

PACK changes no axis: it marks an input to be read through a contiguous local copy (see tg_codegen.lower's
`PackPlan` for where the copy is made).

>>> from tg_uop import UOp, Ops, dtypes, ShapeTracker
>>> v = UOp(Ops.VIEW, dtypes.void, (), ShapeTracker.from_shape((8, 16)))
>>> g0, g1 = (UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(128), (), i) for i in range(2))
>>> k = Kernel(UOp.sink(UOp(Ops.STORE, dtypes.void, (g0, v, UOp(Ops.LOAD, dtypes.float, (g1, v)) * 2.0))))
>>> k.apply(Opt(OptOps.UPCAST, 0, 4))
>>> k
<Kernel E_32_4 axes=(32 global, 4 upcast) opts=[UPCAST(0, 4)]>
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from tg_codegen.linearize import reduce_identity
from tg_codegen.lower import kernel_axes, merge_dims, pack_plan, varying_axes
from tg_runtime.device import Capabilities
from tg_uop.dtype import dtypes
from tg_uop.helpers import prod
from tg_uop.ops import AxisType, Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.uop import UOp, toposort
from tg_uop.view import ShapeTracker

# languages of host devices, whose kernel is one loop nest on the CPU (PACK's buffer lives on a thread's stack)
HOST_LANGUAGES = frozenset({"C", "LLVM"})

_ORDER = {t: i for i, t in enumerate(AxisType)}
# a packed input's local buffer lives on the stack of each thread (2 MiB or more on Linux). A panel larger
# than L2 still pays: the inner loops read it in order, which the prefetchers follow (a 1 MiB panel of B,
# K=8192, ran at the same speed as a 128 KiB one)
PACK_MAX_BYTES = 1 << 20
REDUCING = frozenset({AxisType.GROUP, AxisType.REDUCE, AxisType.UNROLL})
WORK_ITEMS = frozenset({AxisType.LOCAL, AxisType.GROUP})  # the axes that make up a work-group


class OptOps(Enum):
    SWAP = "swap"
    THREAD = "thread"
    LOCAL = "local"
    UPCAST = "upcast"
    UNROLL = "unroll"
    GROUP = "group"
    PADTO = "padto"
    PACK = "pack"


@dataclass(frozen=True)
class Opt:
    """One transformation: `op` on axis `axis` (an index into the current axes) with amount `amt`.

    PACK is the exception: `axis` is the number of the input buffer (its DEFINE_GLOBAL) and `amt` is 0."""

    op: OptOps
    axis: int
    amt: int

    def __repr__(self) -> str:
        return f"{self.op.name}({self.axis}, {self.amt})"


class KernelOptError(ValueError):
    """An Opt that is not legal for this kernel (the kernel is left unchanged)."""


class Kernel:
    """Holds a kernel AST whose axes carry types; `apply(opt)` transforms it."""

    def __init__(self, ast: UOp, caps: Capabilities | None = None) -> None:
        self.ast = merge_dims(ast)
        axes = kernel_axes(self.ast)
        self.types = [
            AxisType.REDUCE if i in axes.reduce_axes else AxisType.GLOBAL for i in range(len(axes.full_shape))
        ]
        # where each axis came from (the original axis, then 0/1 for outer/inner of each split): axes of one
        # type stay in this order, whatever order the splits were made in
        self.origin: list[tuple[int, ...]] = [(i,) for i in range(len(self.types))]
        self.caps = caps
        self.applied: list[Opt] = []
        self.packed: frozenset[int] = frozenset()  # input buffers copied to a contiguous local buffer (PACK)
        self._canonicalize()

    def __repr__(self) -> str:
        axes = ", ".join(f"{s} {t.value}" for s, t in zip(self.full_shape, self.types, strict=True))
        return f"<Kernel {self.name} axes=({axes}) opts={self.applied}>"

    def copy(self) -> Kernel:
        out = copy.copy(self)
        out.types, out.applied, out.origin = list(self.types), list(self.applied), list(self.origin)
        out.packed = self.packed
        return out

    @property
    def full_shape(self) -> tuple[int, ...]:
        return kernel_axes(self.ast).full_shape

    @property
    def name(self) -> str:
        """The kernel's name (see `kernel_name`)."""
        return kernel_name(self.full_shape, any(t in REDUCING for t in self.types))

    # ---- applying transformations ----

    def apply(self, opt: Opt) -> None:
        """Apply one Opt, or raise KernelOptError (and change nothing) if it is not legal here."""
        trial = self.copy()
        trial._apply(opt)
        trial._check_limits(opt)
        self.__dict__.update(trial.__dict__)

    def _apply(self, opt: Opt) -> None:
        shape, types, caps = self.full_shape, self.types, self.caps
        if opt.op is OptOps.PACK:
            self._pack_input(opt)
            return
        if not 0 <= opt.axis < len(shape):
            raise KernelOptError(f"{opt}: no axis {opt.axis} in a kernel of {len(shape)} axes")
        size, kind = shape[opt.axis], types[opt.axis]
        if opt.op is OptOps.SWAP:
            # loop order: output axes `axis` and `amt` trade places (their later splits follow them)
            other = opt.amt
            if not 0 <= other < len(shape) or other == opt.axis or {kind, types[other]} != {AxisType.GLOBAL}:
                raise KernelOptError(f"{opt}: only two different global axes trade places")
            self.origin[opt.axis], self.origin[other] = self.origin[other], self.origin[opt.axis]
        elif opt.op is OptOps.THREAD:
            if caps is None or not caps.has_threads:
                raise KernelOptError(f"{opt}: the device has no threads")
            if opt.axis != 0 or kind is not AxisType.GLOBAL or AxisType.THREAD in types:
                raise KernelOptError(f"{opt}: only the first axis, a global one, can be spread over threads")
            if size < 2:
                raise KernelOptError(f"{opt}: an axis of {size} has nothing to share")
            self.types[0] = AxisType.THREAD
        elif opt.op is OptOps.PADTO:
            if kind not in (AxisType.GLOBAL, AxisType.REDUCE):
                raise KernelOptError(f"{opt}: only global and reduce axes are padded, not a {kind.value} one")
            if opt.amt < 2 or opt.amt > 256 or size % opt.amt == 0 or size <= opt.amt // 2:
                raise KernelOptError(
                    f"{opt}: padding an axis of {size} to a multiple of {opt.amt} is a no-op or more than doubles it"
                )
            if any(u.op in (Ops.IDIV, Ops.MOD) and u.src[1].op is not Ops.CONST for u in toposort([self.ast])):
                raise KernelOptError(f"{opt}: padded iterations could divide by zero")
            self._pad(opt.axis, -(-size // opt.amt) * opt.amt)
        elif opt.amt < 2 or size % opt.amt:
            raise KernelOptError(f"{opt}: {opt.amt} does not split an axis of {size}")
        elif opt.op is OptOps.UPCAST:
            if kind not in (AxisType.GLOBAL, AxisType.THREAD, AxisType.LOCAL) or opt.amt > 16:
                raise KernelOptError(f"{opt}: upcasts split an output axis by at most 16, not a {kind.value} one")
            self._split(opt.axis, opt.amt, AxisType.UPCAST)
        elif opt.op is OptOps.UNROLL:
            if kind is not AxisType.REDUCE or opt.amt > 16:
                raise KernelOptError(f"{opt}: unrolls split a reduce axis by at most 16")
            self._split(opt.axis, opt.amt, AxisType.UNROLL)
            self._separate_unrolled_reduce(opt.axis + 1)
        elif opt.op is OptOps.LOCAL:
            if caps is None or not caps.has_workgroups:
                raise KernelOptError(f"{opt}: the device has no work-groups")
            if kind is not AxisType.GLOBAL:
                raise KernelOptError(f"{opt}: work-groups split global axes, not a {kind.value} one")
            self._split(opt.axis, opt.amt, AxisType.LOCAL)
        elif opt.op is OptOps.GROUP:
            if caps is None or not caps.has_workgroups or caps.local_memory <= 0:
                raise KernelOptError(f"{opt}: the device has no work-groups with local memory")
            if kind is not AxisType.REDUCE:
                raise KernelOptError(f"{opt}: GROUP splits a reduce axis, not a {kind.value} one")
            self._split(opt.axis, opt.amt, AxisType.GROUP)
        self.applied.append(opt)
        self._canonicalize()
        if AxisType.GROUP in self.types:
            self._separate_group_reduces()
            self._check_groups(opt)

    def _pack_input(self, opt: Opt) -> None:
        # where the copy goes and whether it is reused is checked after every Opt (_check_packs)
        if self.caps is None or self.caps.language not in HOST_LANGUAGES:
            raise KernelOptError(f"{opt}: packing into a local buffer is done on the CPU (C, LLVM) only")
        written = {st.src[0].arg for st in self.ast.src}
        if opt.axis in self.packed | written or not self.loads_of(opt.axis):
            raise KernelOptError(f"{opt}: buffer {opt.axis} is not an input read here, or is packed already")
        self.packed = self.packed | {opt.axis}
        self.applied.append(opt)

    def loads_of(self, buf: int) -> list[UOp]:
        """The LOADs of input buffer `buf` (DEFINE_GLOBAL number)."""
        return [u for u in toposort([self.ast]) if u.op is Ops.LOAD and u.src[0].arg == buf]

    def _check_packs(self, opt: Opt) -> None:
        # checked after every Opt: a later SWAP or split may move the loop the buffer is filled in. The limit is
        # on all copies together: they live on the same thread's stack at once
        total = 0
        for buf in sorted(self.packed):
            for ld in self.loads_of(buf):
                plan = pack_plan(self.full_shape, self.types, ld.src[1].arg)
                if plan is None:
                    raise KernelOptError(f"{opt}: buffer {buf} is read anew in every output iteration: no reuse")
                total += plan.size * ld.dtype.itemsize
                if total > PACK_MAX_BYTES:
                    raise KernelOptError(f"{opt}: the packed copies need more than {PACK_MAX_BYTES} bytes")

    def _check_limits(self, opt: Opt) -> None:
        """Refuse a work-group larger than the device's, partial results that do not fit its local memory, or
        a packed input that is never reused or does not fit the pack limit."""
        self._check_packs(opt)
        caps = self.caps
        if caps is None or not caps.has_workgroups:
            return
        sizes = [s for s, t in zip(self.full_shape, self.types, strict=True) if t in WORK_ITEMS]
        limit = caps.extra.get("max_work_group_size", caps.extra.get("max_threads_per_block", 256))
        dims = _launch_dims(sizes)
        if prod(sizes) > limit or any(d > m for d, m in zip(dims, caps.max_local_size or (limit,) * 3, strict=False)):
            raise KernelOptError(f"{opt}: work-groups of {dims} exceed the device's limits ({limit} in all)")
        need = self.local_memory()
        if need > caps.local_memory:
            raise KernelOptError(f"{opt}: {need} bytes of local memory needed, the device has {caps.local_memory}")

    # ---- GROUP: reductions shared by the work-items of a work-group

    def grouped_reduces(self) -> list[UOp]:
        """The REDUCE_AXIS nodes that combine the partial results of a work-group (they reduce GROUP axes)."""
        group = {i for i, t in enumerate(self.types) if t is AxisType.GROUP}
        return [u for u in toposort([self.ast]) if u.op is Ops.REDUCE_AXIS and set(u.arg[1]) & group]

    def local_memory(self) -> int:
        """Bytes of local memory the partial results need: per grouped reduction, one value per work-item
        and per upcast/unroll copy of the reduction."""
        shape, types = self.full_shape, self.types
        work_items = prod([s for s, t in zip(shape, types, strict=True) if t in WORK_ITEMS])
        varying = varying_axes(self.ast)
        total = 0
        for r in self.grouped_reduces():
            copies = prod([shape[a] for a in varying[r] if types[a] in (AxisType.UPCAST, AxisType.UNROLL)])
            total += work_items * copies * r.dtype.itemsize
        return total

    def _separate_group_reduces(self) -> None:
        group = frozenset(i for i, t in enumerate(self.types) if t is AxisType.GROUP)
        unroll = frozenset(i for i, t in enumerate(self.types) if t is AxisType.UNROLL)
        self.ast = graph_rewrite(self.ast, pm_separate_group_reduces, ctx=GroupAxes(group, unroll))

    def _check_groups(self, opt: Opt) -> None:
        group = {i for i, t in enumerate(self.types) if t is AxisType.GROUP}
        loops = group | {i for i, t in enumerate(self.types) if t is AxisType.REDUCE}
        varying = varying_axes(self.ast)
        for r in self.grouped_reduces():
            if set(r.arg[1]) != group:
                raise KernelOptError(f"{opt}: every grouped reduction must reduce all GROUP axes")
            if varying[r] & loops:
                raise KernelOptError(f"{opt}: a grouped reduction inside another reduction's loop")
            if r.dtype.scalar().is_bool:
                raise KernelOptError(f"{opt}: bool reductions are not grouped")

    # ---- PADTO

    def _pad(self, axis: int, new: int) -> None:
        """Axis `axis` grows to `new`: views pad it (loads past the end read 0, stores there are dropped) and
        reductions over it see their identity in the padded iterations."""
        size = self.full_shape[axis]
        arg = tuple((0, new - size) if i == axis else (0, 0) for i in range(len(self.types)))

        def pad(st: ShapeTracker) -> ShapeTracker:
            return st.pad(arg) if st.shape[axis] == size else st

        self.ast = _rewrite_axes(self.ast, pad, lambda axes: axes)
        mask_st = ShapeTracker.from_shape(tuple(size if i == axis else 1 for i in range(len(self.types)))).pad(arg)
        valid = UOp.const(dtypes.bool, True, (UOp(Ops.VIEW, dtypes.void, (), mask_st),))
        self.ast = graph_rewrite(self.ast, pm_mask_padded_reduces, ctx=PaddedAxis(axis, valid), once=True)

    def _split(self, axis: int, amt: int, inner: AxisType) -> None:
        """Axis `axis` of size n becomes (n // amt, amt); the new inner axis gets type `inner`."""

        def reshape(shape: tuple[int, ...]) -> tuple[int, ...]:
            d = shape[axis]
            return (*shape[:axis], *((d // amt, amt) if d != 1 else (1, 1)), *shape[axis + 1 :])

        def renumber(axes: tuple[int, ...]) -> tuple[int, ...]:
            out = {a + (a > axis) for a in axes}
            return tuple(sorted(out | ({axis + 1} if axis in axes else set())))

        self.ast = _rewrite_axes(self.ast, lambda st: st.reshape(reshape(st.shape)), renumber)
        self.types.insert(axis + 1, inner)
        self.origin[axis : axis + 1] = [(*self.origin[axis], 0), (*self.origin[axis], 1)]

    def _separate_unrolled_reduce(self, u: int) -> None:
        self.ast = graph_rewrite(self.ast, pm_separate_unrolled_reduce, ctx=u)

    def _canonicalize(self) -> None:
        order = sorted(range(len(self.types)), key=lambda i: (_ORDER[self.types[i]], self.origin[i]))
        if order == list(range(len(order))):
            return
        where = {old: new for new, old in enumerate(order)}
        self.ast = _rewrite_axes(
            self.ast, lambda st: st.permute(tuple(order)), lambda axes: tuple(sorted(where[a] for a in axes))
        )
        self.types = [self.types[i] for i in order]
        self.origin = [self.origin[i] for i in order]


def _launch_dims(sizes: list[int]) -> tuple[int, int, int]:
    """Launch dimensions of axes of these sizes, the way tg_codegen.lower.launch_indices packs them."""
    dims = [1, 1, 1]
    if sizes:
        dims[0] = sizes[-1]
    if len(sizes) >= 2:
        dims[1] = sizes[-2]
    for s in sizes[:-2]:
        dims[2] *= s
    return (dims[0], dims[1], dims[2])


def kernel_name(shape: Sequence[int], reduces: bool) -> str:
    """E_ (elementwise) or r_ (reduction), then the sizes of the axes in loop order.

    >>> kernel_name((32, 16, 4), True), kernel_name((), False)
    ('r_32_16_4', 'E_1')
    """
    return (
        "_".join(["r" if reduces else "E", *(_size_name(s) for s in shape)])
        if shape
        else ("r" if reduces else "E") + "_1"
    )


def _size_name(size: int | UOp) -> str:
    # a symbolic size by its expression, with the characters a function name cannot hold dropped: (n*64) -> n64
    return str(size) if isinstance(size, int) else "".join(c for c in size.render() if c.isalnum() or c == "_")


# ---- the rewrites of the kernel AST that the transformations make


@dataclass(frozen=True)
class AxisMap:
    """How one transformation changes the axes: a new ShapeTracker for every view, new axes for reductions."""

    view: Callable[[ShapeTracker], ShapeTracker]
    axes: Callable[[tuple[int, ...]], tuple[int, ...]]


# applied once per node (graph_rewrite's `once`): a rewritten view would otherwise be rewritten again
pm_rewrite_axes = PatternMatcher(
    [
        (UPat(Ops.VIEW, name="v"), lambda ctx, v: v.replace(arg=ctx.view(v.arg))),
        (UPat(Ops.REDUCE_AXIS, name="r"), lambda ctx, r: r.replace(arg=(r.arg[0], ctx.axes(r.arg[1])))),
    ]
)


def _rewrite_axes(
    ast: UOp, view: Callable[[ShapeTracker], ShapeTracker], axes: Callable[[tuple[int, ...]], tuple[int, ...]]
) -> UOp:
    return graph_rewrite(ast, pm_rewrite_axes, ctx=AxisMap(view, axes), once=True)


@dataclass(frozen=True)
class GroupAxes:
    group: frozenset[int]
    unroll: frozenset[int]


def _split_group_axes(ctx: GroupAxes, r: UOp) -> UOp | None:
    op, axes = r.arg
    mine, others = tuple(a for a in axes if a in ctx.group), tuple(a for a in axes if a not in ctx.group)
    if not (mine and others):
        return None
    return UOp(Ops.REDUCE_AXIS, r.dtype, (UOp(Ops.REDUCE_AXIS, r.dtype, r.src, (op, others)),), (op, mine))


def _unroll_inside_group(ctx: GroupAxes, r: UOp, g: UOp) -> UOp | None:
    op, axes = r.arg
    if not (set(axes) <= ctx.unroll and g.arg[0] is op and set(g.arg[1]) <= ctx.group):
        return None
    return UOp(Ops.REDUCE_AXIS, r.dtype, (UOp(Ops.REDUCE_AXIS, r.dtype, g.src, (op, axes)),), g.arg)


# REDUCE_AXIS over (group axes + others) becomes REDUCE_AXIS(REDUCE_AXIS(x, others), group axes): each work-item
# reduces its share first. An unrolled reduction of grouped ones is turned inside out
# (REDUCE_u(REDUCE_g(y)) = REDUCE_g(REDUCE_u(y))) so the partial sums combine before they meet.
pm_separate_group_reduces = PatternMatcher(
    [
        (UPat(Ops.REDUCE_AXIS, name="r"), _split_group_axes),
        (UPat(Ops.REDUCE_AXIS, src=(UPat(Ops.REDUCE_AXIS, name="g"),), name="r"), _unroll_inside_group),
    ]
)


def _split_unrolled(ctx: int, r: UOp) -> UOp | None:
    op, axes = r.arg
    if ctx not in axes or len(axes) == 1:
        return None
    inner = UOp(Ops.REDUCE_AXIS, r.dtype, r.src, (op, tuple(a for a in axes if a != ctx)))
    return UOp(Ops.REDUCE_AXIS, r.dtype, (inner,), (op, (ctx,)))


# REDUCE_AXIS over (..., u) becomes REDUCE_AXIS(REDUCE_AXIS(x, others), (u,)) (the context is u): the inner
# reduction is computed once per value of u (one accumulator each, in one loop), the outer one combines them
pm_separate_unrolled_reduce = PatternMatcher([(UPat(Ops.REDUCE_AXIS, name="r"), _split_unrolled)])


@dataclass(frozen=True)
class PaddedAxis:
    axis: int
    valid: UOp  # true in the iterations of the axis before it was padded


# reductions over a padded axis see their identity in the padded iterations (once per node)
pm_mask_padded_reduces = PatternMatcher(
    [
        (
            UPat(Ops.REDUCE_AXIS, name="r"),
            lambda ctx, r: (
                r.replace(src=(ctx.valid.where(r.src[0], reduce_identity(r.arg[0], r.dtype)),))
                if ctx.axis in r.arg[1]
                else None
            ),
        )
    ]
)
