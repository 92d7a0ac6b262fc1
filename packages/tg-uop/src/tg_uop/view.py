"""Shape views: how a tensor's logical index maps onto a flat buffer, without copying.

A `View` is (shape, strides, offset, mask): element `idx` lives at `offset + sum(idx[i] * strides[i])` and
is real only where every `mask[i][0] <= idx[i] < mask[i][1]` (elsewhere it reads as 0: padding). A
`ShapeTracker` is a stack of views for the cases one view cannot express (a reshape of a permuted view):
the last view maps the logical index to a position in the previous view's shape, and so on down to the
buffer.

>>> st = ShapeTracker.from_shape((4, 6)).permute((1, 0)).reshape((3, 8))
>>> len(st.views), st.shape
(2, (3, 8))
>>> idx, valid = st.to_indexed_uops([UOp.variable("i", 0, 2), UOp.variable("j", 0, 7)])
>>> idx.render()
'(i*2+(j//4)+(j%4)*6)'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from tg_uop.dtype import dtypes
from tg_uop.helpers import prod, strides_for_shape
from tg_uop.ops import Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.symbolic import linear_terms
from tg_uop.uop import UOp, toposort

Mask = tuple[tuple[int, int], ...]
sint = int | UOp  # a dimension: an int, or a symbolic integer expression over Variables


# the symbolic rules merge like terms of sums: differences are written as sums first, so (s+1)-s is 1
pm_sub_as_sum = PatternMatcher(
    [
        (UPat(Ops.SUB, src=(UPat.var("a"), UPat.var("b"))), lambda a, b: a + b * -1),
        (UPat(Ops.NEG, src=(UPat.var("a"),)), lambda a: a * -1),
    ]
)


def canonical_dim(x: sint) -> sint:
    """A symbolic dim simplified (differences too), an int where it is one.

    >>> s = UOp.variable("s", 0, 9)
    >>> canonical_dim((s + 1) - s)
    1
    """
    if not isinstance(x, UOp):
        return x
    y = (
        graph_rewrite(x, pm_sub_as_sum).simplify()
        if any(u.op in (Ops.SUB, Ops.NEG) for u in x.toposort())
        else x.simplify()
    )
    return int(y.arg) if y.op is Ops.CONST else y


def sym_equal(a: sint, b: sint) -> bool:
    """Whether two dims are provably equal (ints compare; expressions when their difference simplifies to 0)."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a is b:
        return True
    diff: UOp = a + b * -1 if isinstance(b, UOp) else a + -b  # type: ignore[assignment]
    return canonical_dim(diff) == 0


def _symbolic(*dims: Any) -> bool:
    return any(isinstance(d, UOp) for d in dims)


def _provably_le(a: sint, b: sint) -> bool:
    """a <= b for every value of the variables (False when it cannot be shown)."""
    if isinstance(a, int) and isinstance(b, int):
        return a <= b
    diff: UOp = b + a * -1 if isinstance(a, UOp) else b + -a  # type: ignore[assignment]
    d = canonical_dim(diff)
    return d >= 0 if isinstance(d, int) else bool(d.vmin >= 0)


def _smax(a: sint, b: sint) -> sint:
    if _provably_le(b, a):
        return a
    if _provably_le(a, b):
        return b
    return a.maximum(b) if isinstance(a, UOp) else b.maximum(a)  # type: ignore[union-attr]


def _smin(a: sint, b: sint) -> sint:
    if _provably_le(a, b):
        return a
    if _provably_le(b, a):
        return b
    neg: UOp = -a if isinstance(a, UOp) else -b  # type: ignore[assignment]
    return -(neg.maximum(-b if isinstance(a, UOp) else -a))


def _canonical_strides(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(0 if s == 1 else st for s, st in zip(shape, strides, strict=True))


@dataclass(frozen=True)
class View:
    """One affine map from a logical index to a buffer position, with an optional validity mask."""

    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int
    mask: Mask | None
    contiguous: bool

    @staticmethod
    @functools.cache
    def create(
        shape: tuple[int, ...], strides: tuple[int, ...] | None = None, offset: int = 0, mask: Mask | None = None
    ) -> View:
        """A canonical view: size-1 dims get stride 0, a mask covering everything is dropped, symbolic entries are
        simplified (to an int when they are one)."""
        if _symbolic(*shape, offset, *(strides or ()), *(x for m in mask or () for x in m)):
            # the declared int fields hold symbolic dims too (sint); the annotations name the common case
            shape, offset = tuple(canonical_dim(s) for s in shape), canonical_dim(offset)  # type: ignore[misc,assignment]
            strides = None if strides is None else tuple(canonical_dim(s) for s in strides)  # type: ignore[misc]
            mask = None if mask is None else tuple((canonical_dim(b), canonical_dim(e)) for b, e in mask)  # type: ignore[misc]
        strides = _canonical_strides(shape, strides) if strides is not None else strides_for_shape(shape)
        if mask is not None:
            if any(_provably_le(e, b) for b, e in mask):
                # nothing is valid: every element reads as padding
                return View(shape, (0,) * len(shape), 0, tuple((0, 0) for _ in shape), False)
            if all(sym_equal(b, 0) and sym_equal(e, s) for (b, e), s in zip(mask, shape, strict=True)):
                mask = None
        contiguous = offset == 0 and mask is None and strides == strides_for_shape(shape)
        return View(shape, strides, offset, mask, contiguous)

    @property
    def size(self) -> sint:
        size: sint = prod(self.shape)
        return size

    # ---- movement ----

    def permute(self, order: tuple[int, ...]) -> View:
        mask = tuple(self.mask[i] for i in order) if self.mask is not None else None
        return View.create(
            tuple(self.shape[i] for i in order), tuple(self.strides[i] for i in order), self.offset, mask
        )

    def expand(self, new_shape: tuple[int, ...]) -> View:
        same = [s == n or sym_equal(s, n) for s, n in zip(self.shape, new_shape, strict=True)]
        if any(not eq and s != 1 for eq, s in zip(same, self.shape, strict=True)):
            raise ValueError(f"expand: cannot expand {self.shape} to {new_shape}")
        mask = None
        if self.mask is not None:
            mask = tuple(
                m if eq else ((0, n) if m != (0, 0) else (0, 0))
                for m, eq, n in zip(self.mask, same, new_shape, strict=True)
            )
        strides = tuple(st if eq else 0 for st, eq in zip(self.strides, same, strict=True))
        return View.create(new_shape, strides, self.offset, mask)

    def shrink(self, arg: tuple[tuple[int, int], ...]) -> View:
        offset = self.offset + sum(b * st for (b, _), st in zip(arg, self.strides, strict=True))
        mask = None
        if self.mask is not None:
            mask = tuple((_smax(mb, b) - b, _smin(me, e) - b) for (mb, me), (b, e) in zip(self.mask, arg, strict=True))
        return View.create(tuple(e - b for b, e in arg), self.strides, offset, mask)

    def pad(self, arg: tuple[tuple[int, int], ...]) -> View:
        shape = tuple(s + b + a for s, (b, a) in zip(self.shape, arg, strict=True))
        old = self.mask if self.mask is not None else tuple((0, s) for s in self.shape)
        mask = tuple((mb + b, me + b) for (mb, me), (b, _) in zip(old, arg, strict=True))
        offset = self.offset - sum(b * st for (b, _), st in zip(arg, self.strides, strict=True))
        return View.create(shape, self.strides, offset, mask)

    def flip(self, axes: tuple[bool, ...]) -> View:
        offset = self.offset + sum((s - 1) * st for s, st, f in zip(self.shape, self.strides, axes, strict=True) if f)
        strides = tuple(-st if f else st for st, f in zip(self.strides, axes, strict=True))
        mask = None
        if self.mask is not None:
            mask = tuple(
                (s - e, s - b) if f else (b, e) for (b, e), s, f in zip(self.mask, self.shape, axes, strict=True)
            )
        return View.create(self.shape, strides, offset, mask)

    def reshape(self, new_shape: tuple[int, ...]) -> View | None:
        """This view reshaped, or None when one view cannot express it (the caller stacks a new view)."""
        if self.shape == new_shape:
            return self
        if self.contiguous:
            return View.create(new_shape)
        if self.mask is not None:
            return self._reshape_ones(new_shape)
        if _symbolic(*self.shape, *new_shape):
            return self._reshape_ones(new_shape)  # symbolic dims only move around size-1 dims in one view
        strides = _reshape_strides(self.shape, self.strides, new_shape)
        return None if strides is None else View.create(new_shape, strides, self.offset)

    def _reshape_ones(self, new_shape: tuple[int, ...]) -> View | None:
        # a (masked or symbolic) view survives a reshape that only inserts or removes size-1 dims
        own_mask = self.mask if self.mask is not None else tuple((0, s) for s in self.shape)
        old = [(s, st, m) for s, st, m in zip(self.shape, self.strides, own_mask, strict=True) if s != 1]
        if [s for s, _, _ in old] != [s for s in new_shape if s != 1]:
            return None
        if any(m == (0, 0) for s, _, m in zip(self.shape, self.strides, own_mask, strict=True) if s == 1):
            return View.create(new_shape, mask=tuple((0, 0) for _ in new_shape))
        it = iter(old)
        strides, mask = [], []
        for s in new_shape:
            if s == 1:
                strides.append(0)
                mask.append((0, 1))
            else:
                _, st, m = next(it)
                strides.append(st)
                mask.append(m)
        return View.create(new_shape, tuple(strides), self.offset, tuple(mask) if self.mask is not None else None)

    # ---- indexing ----

    def to_indexed_uops(self, idxs: list[UOp]) -> tuple[UOp, UOp]:
        """(buffer index, validity) of logical index `idxs`, not yet simplified."""
        # the index arithmetic has the type of the given indices (codegen picks int32 or int64 per kernel)
        dt = next((i.dtype for i in idxs if i.dtype.is_int), dtypes.index)
        idx: UOp = self.offset if isinstance(self.offset, UOp) else UOp.const(dt, self.offset)
        for i, st in zip(idxs, self.strides, strict=True):
            if st != 0:
                idx = idx + i * st
        conds: list[UOp] = []
        if self.mask is not None:
            for i, (b, e), s in zip(idxs, self.mask, self.shape, strict=True):
                if b != 0:
                    conds.append(i >= b)
                if e != s:
                    conds.append(i < e)
        valid = conds[0] if conds else UOp.const(dtypes.bool, True)
        for c in conds[1:]:
            valid = valid & c
        return idx, valid


def _reshape_strides(
    old_shape: tuple[int, ...], old_strides: tuple[int, ...], new_shape: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Strides for viewing an unmasked strided view as `new_shape`, or None if no strides exist.

    Walk both shapes, pairing runs of old dims with runs of new dims of equal product; a run of old dims can
    be split or merged only if it is itself laid out as one block (each stride = next stride * next size).
    """
    old = [(s, st) for s, st in zip(old_shape, old_strides, strict=True) if s != 1]
    new_dims = [i for i, s in enumerate(new_shape) if s != 1]
    strides = [0] * len(new_shape)
    oi = ni = 0
    while oi < len(old) and ni < len(new_dims):
        o_start, n_start = oi, ni
        o_prod, n_prod = old[oi][0], new_shape[new_dims[ni]]
        while o_prod != n_prod:
            if o_prod < n_prod:
                oi += 1
                if oi >= len(old):
                    return None
                o_prod *= old[oi][0]
            else:
                ni += 1
                if ni >= len(new_dims):
                    return None
                n_prod *= new_shape[new_dims[ni]]
        run = old[o_start : oi + 1]
        if any(run[k][1] != run[k + 1][1] * run[k + 1][0] for k in range(len(run) - 1)):
            return None
        acc = run[-1][1]
        for k in range(ni, n_start - 1, -1):
            strides[new_dims[k]] = acc
            acc *= new_shape[new_dims[k]]
        oi += 1
        ni += 1
    if oi != len(old) or ni != len(new_dims):
        return None
    return tuple(strides)


@dataclass(frozen=True)
class ShapeTracker:
    """A stack of views; `views[0]` touches the buffer, `views[-1]` is the logical shape."""

    views: tuple[View, ...]

    @staticmethod
    def from_shape(shape: tuple[int, ...]) -> ShapeTracker:
        return ShapeTracker((View.create(tuple(shape)),))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.views[-1].shape

    @property
    def size(self) -> sint:
        return self.views[-1].size

    @property
    def contiguous(self) -> bool:
        return len(self.views) == 1 and self.views[0].contiguous

    def _with_last(self, v: View) -> ShapeTracker:
        return ShapeTracker(_simplify_stack((*self.views[:-1], v)))

    def permute(self, order: tuple[int, ...]) -> ShapeTracker:
        return self._with_last(self.views[-1].permute(order))

    def expand(self, shape: tuple[int, ...]) -> ShapeTracker:
        return self._with_last(self.views[-1].expand(shape))

    def shrink(self, arg: tuple[tuple[int, int], ...]) -> ShapeTracker:
        return self._with_last(self.views[-1].shrink(arg))

    def pad(self, arg: tuple[tuple[int, int], ...]) -> ShapeTracker:
        return self._with_last(self.views[-1].pad(arg))

    def flip(self, axes: tuple[bool, ...]) -> ShapeTracker:
        return self._with_last(self.views[-1].flip(axes))

    def reshape(self, shape: tuple[int, ...]) -> ShapeTracker:
        if not sym_equal(prod(shape), self.size):
            raise ValueError(f"reshape: cannot reshape {self.shape} to {shape}")
        v = self.views[-1].reshape(tuple(shape))
        if v is not None:
            return self._with_last(v)
        return ShapeTracker(_simplify_stack((*self.views, View.create(tuple(shape)))))

    def apply(self, op: Any, arg: Any) -> ShapeTracker:
        """Apply a movement op by its Ops name (RESHAPE, PERMUTE, EXPAND, PAD, SHRINK, FLIP)."""
        return getattr(self, op.name.lower())(arg)  # type: ignore[no-any-return]

    def to_indexed_uops(self, idxs: list[UOp]) -> tuple[UOp, UOp]:
        """(buffer index, validity) for a logical index, simplified symbolically."""
        idx, valid = self.views[-1].to_indexed_uops(idxs)
        for v in reversed(self.views[:-1]):
            # unravel the position within v's shape into v's own index, then apply v
            sub: list[UOp] = []
            acc = 1
            for s in reversed(v.shape):
                sub.append((idx // acc) % s if s != 1 else UOp.const(idx.dtype, 0))
                acc *= s
            idx, v_valid = v.to_indexed_uops(list(reversed(sub)))
            valid = valid & v_valid
        return idx.simplify(), valid.simplify()

    def real_strides(self) -> tuple[int | None, ...]:
        """Strides of the logical dims when the stack is one view; None for dims a stack makes irregular."""
        if len(self.views) == 1:
            v = self.views[0]
            return tuple(
                None if v.mask is not None and v.mask[i] != (0, s) else st
                for i, (s, st) in enumerate(zip(v.shape, v.strides, strict=True))
            )
        return self._stack_strides()

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (trackers are immutable values; heuristics ask repeatedly)
    def _stack_strides(self) -> tuple[int | None, ...]:
        """Strides of a stack read off its index expression: a dim whose index variable enters the index only
        as `stride * i` and not the validity has that stride (0 when it does not enter at all: a broadcast)."""
        if _symbolic(*self.shape, *(d for v in self.views for d in v.shape)):
            return tuple(None for _ in self.shape)
        # 64-bit: strides and offsets past 2^31 must not wrap around in this analysis
        idxs = [
            UOp.variable(f"_i{k}", 0, s - 1, dtypes.int64) if s > 1 else UOp.const(dtypes.int64, 0)
            for k, s in enumerate(self.shape)
        ]
        idx, valid = self.to_indexed_uops(idxs)
        terms, _ = linear_terms(idx)
        linear = {node: coef for node, coef in terms if node.op is Ops.DEFINE_VAR}
        # variables that appear anywhere else (inside a div/mod term, in the validity) make their dim irregular
        tangled = {u for node, _ in terms if node.op is not Ops.DEFINE_VAR for u in toposort([node])}
        tangled |= set(toposort([valid]))
        return tuple(0 if v.op is not Ops.DEFINE_VAR else None if v in tangled else linear.get(v, 0) for v in idxs)


def _simplify_stack(views: tuple[View, ...]) -> tuple[View, ...]:
    """Drop or merge the top two views when one view says the same."""
    if len(views) < 2:
        return views
    if views[-2].contiguous:  # position in a contiguous view's shape is the buffer index
        return (*views[:-2], views[-1])
    merged = _merge(views[-2], views[-1])
    return views if merged is None else (*views[:-2], merged)


# views are values, and the same pairs meet again and again (every movement op on a stack tries its top two, the
# optimizer retries the same reshapes): each search builds and simplifies an index expression, so it is kept
@functools.lru_cache(maxsize=4096)
def _merge(below: View, top: View) -> View | None:
    """One view equal to `top` over `below`, found by simplifying the stacked index expression: it merges when
    the index comes out affine in the logical indices and validity is a box of bounds on them."""
    if _symbolic(*top.shape, *below.shape):
        return None  # the merge search needs concrete ranges
    if 0 in top.shape:
        return View.create(top.shape)  # nothing is ever read
    idxs = [  # 64-bit: sizes and strides past 2^31 must not wrap around here
        UOp.variable(f"_i{k}", 0, s - 1, dtypes.int64) if s > 1 else UOp.const(dtypes.int64, 0)
        for k, s in enumerate(top.shape)
    ]
    pos = {v: k for k, v in enumerate(idxs) if v.op is Ops.DEFINE_VAR}
    idx, valid = ShapeTracker((below, top)).to_indexed_uops(idxs)
    terms, offset = linear_terms(idx)
    strides = [0] * len(top.shape)
    for node, coef in terms:
        if node not in pos:
            return None
        strides[pos[node]] += coef
    bounds = [[0, s] for s in top.shape]
    clauses, stack = [], [valid]
    while stack:
        c = stack.pop()
        if c.op is Ops.AND:
            stack.extend(c.src)
        else:
            clauses.append(c)
    for c in clauses:
        if c.op is Ops.CONST and c.arg is True:
            continue
        if c.op is Ops.CMPLT and c.src[0] in pos and c.src[1].op is Ops.CONST:  # i < e
            k = pos[c.src[0]]
            bounds[k][1] = min(bounds[k][1], c.src[1].arg)
        elif (  # not (i < b), that is i >= b
            c.op is Ops.CMPNE
            and c.src[1].op is Ops.CONST
            and c.src[1].arg is True
            and c.src[0].op is Ops.CMPLT
            and c.src[0].src[0] in pos
            and c.src[0].src[1].op is Ops.CONST
        ):
            k = pos[c.src[0].src[0]]
            bounds[k][0] = max(bounds[k][0], c.src[0].src[1].arg)
        else:
            return None
    mask = tuple((b, e) for b, e in bounds)
    return View.create(top.shape, tuple(strides), offset, mask)
