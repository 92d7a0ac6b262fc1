"""A kernel being optimized: its AST, the type of each axis, and the transformations (`Opt`s) applied so far.

Every transformation is shape surgery on the AST: an axis is split in two (all views reshaped, reductions
renumbered) and the new piece gets a type that lowering and expansion act on:

| type    | what it becomes                                                                 |
|---------|---------------------------------------------------------------------------------|
| THREAD  | the outermost loop, its iterations spread over CPU threads (OpenMP)            |
| GLOBAL  | a loop (CPU) or a work-group index (GPU)                                        |
| LOCAL   | a work-item index within a work-group (GPU)                                     |
| REDUCE  | a reduction loop                                                                |
| UNROLL  | a reduce axis unrolled: one accumulator per value, combined after the loop     |
| UPCAST  | an output axis unrolled: each value computed and stored by the same thread     |

Axes are kept in that order (THREAD first, UPCAST last), so loops nest the same way in every kernel.

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
from dataclasses import dataclass
from enum import Enum

from tg_codegen.lower import kernel_axes, merge_dims
from tg_runtime.device import Capabilities
from tg_uop.helpers import prod
from tg_uop.ops import Ops
from tg_uop.uop import UOp, toposort


class AxisType(Enum):
    THREAD = "thread"
    GLOBAL = "global"
    LOCAL = "local"
    REDUCE = "reduce"
    UNROLL = "unroll"
    UPCAST = "upcast"


_ORDER = {t: i for i, t in enumerate(AxisType)}
REDUCING = frozenset({AxisType.REDUCE, AxisType.UNROLL})


class OptOps(Enum):
    SWAP = "swap"
    THREAD = "thread"
    LOCAL = "local"
    UPCAST = "upcast"
    UNROLL = "unroll"


@dataclass(frozen=True)
class Opt:
    """One transformation: `op` on axis `axis` (an index into the current axes) with amount `amt`."""

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
        self._canonicalize()

    def __repr__(self) -> str:
        axes = ", ".join(f"{s} {t.value}" for s, t in zip(self.full_shape, self.types, strict=True))
        return f"<Kernel {self.name} axes=({axes}) opts={self.applied}>"

    def copy(self) -> Kernel:
        out = copy.copy(self)
        out.types, out.applied, out.origin = list(self.types), list(self.applied), list(self.origin)
        return out

    @property
    def full_shape(self) -> tuple[int, ...]:
        return kernel_axes(self.ast).full_shape

    @property
    def name(self) -> str:
        """E_ (elementwise) or r_ (reduction), then the sizes of the axes in order."""
        prefix = "r" if any(t in REDUCING for t in self.types) else "E"
        return "_".join([prefix, *(str(s) for s in self.full_shape)]) if self.full_shape else prefix + "_1"

    # ---- applying transformations ----

    def apply(self, opt: Opt) -> None:
        """Apply one Opt, or raise KernelOptError (and change nothing) if it is not legal here."""
        shape, types, caps = self.full_shape, self.types, self.caps
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
            trial = self.copy()
            trial._split(opt.axis, opt.amt, AxisType.LOCAL)
            trial._canonicalize()
            sizes = [s for s, t in zip(trial.full_shape, trial.types, strict=True) if t is AxisType.LOCAL]
            limit = caps.extra.get("max_work_group_size", caps.extra.get("max_threads_per_block", 256))
            dims = _launch_dims(sizes)
            if prod(sizes) > limit or any(
                d > m for d, m in zip(dims, caps.max_local_size or (limit,) * 3, strict=False)
            ):
                raise KernelOptError(f"{opt}: work-groups of {dims} exceed the device's limits ({limit} in all)")
            self._split(opt.axis, opt.amt, AxisType.LOCAL)
        self.applied.append(opt)
        self._canonicalize()

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
        # REDUCE_AXIS over (..., u) becomes REDUCE_AXIS(REDUCE_AXIS(x, others), (u,)): the inner reduction is
        # computed once per value of u (one accumulator each, in one loop), the outer one combines them
        mapping: dict[UOp, UOp] = {}
        for n in toposort([self.ast]):
            if n.op is Ops.REDUCE_AXIS and u in n.arg[1] and len(n.arg[1]) > 1:
                op, axes = n.arg
                inner = UOp(Ops.REDUCE_AXIS, n.dtype, n.src, (op, tuple(a for a in axes if a != u)))
                mapping[n] = UOp(Ops.REDUCE_AXIS, n.dtype, (inner,), (op, (u,)))
        if mapping:
            self.ast = self.ast.substitute(mapping)

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


def _rewrite_axes(ast: UOp, view_fn: object, axes_fn: object) -> UOp:
    """Apply `view_fn` to every VIEW's ShapeTracker and `axes_fn` to every REDUCE_AXIS's axes."""
    memo: dict[UOp, UOp] = {}
    for n in toposort([ast]):
        src = tuple(memo[s] for s in n.src)
        if n.op is Ops.VIEW:
            memo[n] = UOp(Ops.VIEW, n.dtype, src, view_fn(n.arg))  # type: ignore[operator]
        elif n.op is Ops.REDUCE_AXIS:
            memo[n] = UOp(Ops.REDUCE_AXIS, n.dtype, src, (n.arg[0], axes_fn(n.arg[1])))  # type: ignore[operator]
        else:
            memo[n] = n if src == n.src else n.replace(src=src)
    return memo[ast]
