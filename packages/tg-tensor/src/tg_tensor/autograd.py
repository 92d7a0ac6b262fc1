"""Reverse-mode autodiff over tensor-graph UOps: one gradient rule per op, written as patterns.

Each rule receives the gradient flowing into a node (`ctx`) and the node (`ret`), and returns one gradient
per source (None where a source gets no gradient). `compute_gradient` walks the graph backwards from the
root once, summing gradients of nodes used more than once.

A node may instead carry a custom gradient (`set_custom_gradient`): a function from the node's gradient to
the gradients of chosen inputs further down, so an operation built from many UOps (a convolution's window
view) gets the gradient its author wrote (transposed convolutions) instead of the rules' through its parts.

>>> from tg_uop import UOp, Ops, dtypes
>>> x = UOp.const(dtypes.float, 3.0, (UOp(Ops.DEVICE, arg="CPU"),))
>>> g = compute_gradient(x * x, full_like(x * x, 1.0), [x])[x]
>>> g.op.name
'ADD'
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tg_uop.helpers import argsort
from tg_uop.ops import Ops
from tg_uop.rewrite import PatternMatcher, UPat
from tg_uop.uop import UOp, toposort


def full_like(x: UOp, value: Any, dtype: Any = None) -> UOp:
    """A constant with `x`'s shape and device (and dtype, unless given)."""
    dt = dtype or x.dtype
    shape = x.shape
    assert shape is not None
    c = UOp.const(dt, value, (UOp(Ops.DEVICE, arg=x.device),))
    return c.reshape((1,) * len(shape)).expand(shape) if shape else c


def _sum_to(g: UOp, shape: tuple[int, ...]) -> UOp:
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape or (), shape, strict=True)) if a != b)
    return g.reduce_axis(Ops.ADD, axes) if axes else g


def _max_grad(ctx: UOp, ret: UOp) -> tuple[UOp, UOp]:
    # ties share the gradient equally, as in tinygrad and PyTorch's amax
    a, b = ret.src
    half = full_like(ctx, 0.5)
    zero = full_like(ctx, 0.0)
    a_wins = b.alu(Ops.CMPLT, a)
    b_wins = a.alu(Ops.CMPLT, b)
    tie = a.alu(Ops.CMPEQ, b)
    ga = a_wins.alu(Ops.WHERE, ctx, tie.alu(Ops.WHERE, ctx * half, zero))
    gb = b_wins.alu(Ops.WHERE, ctx, tie.alu(Ops.WHERE, ctx * half, zero))
    return ga, gb


def _reduce_grad(ctx: UOp, ret: UOp) -> tuple[UOp]:
    x = ret.src[0]
    assert x.shape is not None
    op, _ = ret.arg
    if op is Ops.ADD:
        return (ctx.expand(x.shape),)
    if op is Ops.MAX:
        hit = x.alu(Ops.CMPEQ, ret.expand(x.shape)).cast(ctx.dtype)
        count = hit.reduce_axis(Ops.ADD, ret.arg[1])
        return ((hit * (ctx / count).expand(x.shape)),)
    if op is Ops.MUL:
        return (_prod_grad(ctx, ret),)
    raise NotImplementedError(f"no gradient for REDUCE_AXIS {op}")


def _prod_grad(ctx: UOp, ret: UOp) -> UOp:
    # d prod / d x_i is the product of the other elements. prod / x_i gives it only when no element is 0: with
    # one zero, the zero's gradient is the product of the nonzero elements and the others' is 0; with two, all 0
    x = ret.src[0]
    assert x.shape is not None
    axes = ret.arg[1]
    zero, one = full_like(x, 0.0), full_like(x, 1.0)
    is_zero = x.alu(Ops.CMPEQ, zero)
    nonzero_x = is_zero.alu(Ops.WHERE, one, x)
    nonzero_prod = nonzero_x.reduce_axis(Ops.MUL, axes).expand(x.shape)
    zeros = is_zero.cast(x.dtype).reduce_axis(Ops.ADD, axes).expand(x.shape)
    others = is_zero.alu(
        Ops.WHERE,
        zeros.alu(Ops.CMPEQ, one).alu(Ops.WHERE, nonzero_prod, zero),
        zeros.alu(Ops.CMPEQ, zero).alu(Ops.WHERE, nonzero_prod.alu(Ops.FDIV, nonzero_x), zero),
    )
    return others * ctx.expand(x.shape)


def _expand_grad(ctx: UOp, ret: UOp) -> tuple[UOp]:
    x = ret.src[0]
    assert x.shape is not None
    return (_sum_to(ctx, x.shape),)


def _pad_grad(ctx: UOp, ret: UOp) -> tuple[UOp]:
    x = ret.src[0]
    assert x.shape is not None
    return (ctx.shrink(tuple((b, b + s) for (b, _), s in zip(ret.arg, x.shape, strict=True))),)


def _shrink_grad(ctx: UOp, ret: UOp) -> tuple[UOp]:
    x = ret.src[0]
    assert x.shape is not None
    return (ctx.pad(tuple((b, s - e) for (b, e), s in zip(ret.arg, x.shape, strict=True))),)


def _multi_grad(ctx: UOp, ret: UOp) -> tuple[UOp | None, ...]:
    # a sharded value's part i gets its rows of the gradient; a replicated one is one value, whose gradient goes
    # once (to the first part), else what the parts came from would get it once per device
    if ret.arg is None:
        return (UOp(Ops.COPY, ctx.dtype, (ctx,), ret.src[0].device), *(None,) * (len(ret.src) - 1))
    shape, a, n = ret.shape, ret.arg, len(ret.src)
    assert shape is not None
    out: list[UOp | None] = []
    for i, part in enumerate(ret.src):
        rows = (i * shape[a] // n, (i + 1) * shape[a] // n)
        mine = ctx.shrink(tuple(rows if j == a else (0, d) for j, d in enumerate(shape)))
        out.append(UOp(Ops.COPY, ctx.dtype, (mine,), part.device))
    return tuple(out)


_LN2 = math.log(2)

pm_gradient = PatternMatcher(
    [
        (UPat(Ops.ADD), lambda ctx: (ctx, ctx)),
        (UPat(Ops.SUB), lambda ctx: (ctx, -ctx)),
        (UPat(Ops.MUL, name="ret"), lambda ctx, ret: (ctx * ret.src[1], ctx * ret.src[0])),
        (
            UPat(Ops.FDIV, name="ret"),
            lambda ctx, ret: (ctx / ret.src[1], -(ctx * ret.src[0]) / (ret.src[1] * ret.src[1])),
        ),
        (UPat(Ops.NEG), lambda ctx: (-ctx,)),
        (UPat(Ops.RECIP, name="ret"), lambda ctx, ret: (-(ctx * ret * ret),)),
        (UPat(Ops.SQRT, name="ret"), lambda ctx, ret: (ctx / (ret * full_like(ret, 2.0)),)),
        (UPat(Ops.EXP2, name="ret"), lambda ctx, ret: (ctx * ret * full_like(ret, _LN2),)),
        (UPat(Ops.LOG2, name="ret"), lambda ctx, ret: (ctx / (ret.src[0] * full_like(ret, _LN2)),)),
        (
            UPat(Ops.SIN, name="ret"),
            lambda ctx, ret: (ctx * (full_like(ret, math.pi / 2) - ret.src[0]).alu(Ops.SIN),),
        ),
        (UPat(Ops.MAX, name="ret"), _max_grad),
        (
            UPat(Ops.WHERE, name="ret"),
            lambda ctx, ret: (
                None,
                ret.src[0].alu(Ops.WHERE, ctx, full_like(ctx, 0.0)),
                ret.src[0].alu(Ops.WHERE, full_like(ctx, 0.0), ctx),
            ),
        ),
        (UPat((Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ)), lambda ctx: (None, None)),
        (UPat((Ops.TRUNC,)), lambda ctx: (None,)),
        (UPat(Ops.CAST, name="ret"), lambda ctx, ret: (ctx.cast(ret.src[0].dtype),)),
        (UPat(Ops.BITCAST), lambda ctx: (None,)),  # reinterpreted bits carry no gradient
        (UPat(Ops.REDUCE_AXIS, name="ret"), _reduce_grad),
        (UPat(Ops.RESHAPE, name="ret"), lambda ctx, ret: (ctx.reshape(ret.src[0].shape),)),
        (UPat(Ops.PERMUTE, name="ret"), lambda ctx, ret: (ctx.permute(tuple(argsort(list(ret.arg)))),)),
        (UPat(Ops.EXPAND, name="ret"), _expand_grad),
        (UPat(Ops.PAD, name="ret"), _pad_grad),
        (UPat(Ops.SHRINK, name="ret"), _shrink_grad),
        (UPat(Ops.FLIP, name="ret"), lambda ctx, ret: (ctx.flip(ret.arg),)),
        (UPat((Ops.CONTIGUOUS,)), lambda ctx: (ctx,)),
        (UPat(Ops.COPY, name="ret"), lambda ctx, ret: (UOp(Ops.COPY, ctx.dtype, (ctx,), ret.src[0].device),)),
        (UPat((Ops.DETACH,)), lambda ctx: (None,)),
        (UPat(Ops.MULTI, name="ret"), _multi_grad),
    ]
)


@dataclass(frozen=True, eq=False)
class CustomGradient:
    """The gradient of a node as its author wrote it: `backward(grad)` gives one gradient (or None) per input."""

    inputs: tuple[UOp, ...]
    backward: Callable[[UOp], tuple[UOp | None, ...]]


# keyed weakly by the node: the rule lives as long as the graph holding the node (UOps compare by identity,
# and equal UOps are one hash-consed object, so a node rebuilt the same way finds its rule again)
_custom_gradients: weakref.WeakKeyDictionary[UOp, CustomGradient] = weakref.WeakKeyDictionary()


def set_custom_gradient(node: UOp, inputs: tuple[UOp, ...], backward: Callable[[UOp], tuple[UOp | None, ...]]) -> UOp:
    """Make `compute_gradient` give `inputs` the gradients `backward(grad of node)` instead of applying the rules
    to the UOps between them and `node`; returns `node`. `inputs` must be in `node`'s graph.

    >>> from tg_uop import UOp, Ops, dtypes
    >>> x = UOp.const(dtypes.float, 3.0, (UOp(Ops.DEVICE, arg="CPU"),))
    >>> y = set_custom_gradient(x * x, (x,), lambda g: (g * full_like(g, 10.0),))
    >>> compute_gradient(y, full_like(y, 1.0), [x])[x].op.name
    'MUL'
    """
    _custom_gradients[node] = CustomGradient(inputs, backward)
    return node


def _region_holds(node: UOp, inputs: tuple[UOp, ...], wanted: set[UOp]) -> bool:
    """Whether a wanted node lies strictly between a custom-gradient node and its inputs (only nodes on a path
    to a wanted one are walked)."""
    stop, seen, stack = set(inputs), set(), [node]
    while stack:
        u = stack.pop()
        if u in stop or u in seen:
            continue
        if u is not node and u in wanted:
            return True
        seen.add(u)
        stack.extend(u.src)
    return False


def _source_gradients(n: UOp, ctx: UOp, inner: set[UOp]) -> Iterable[tuple[UOp, UOp | None]]:
    custom = _custom_gradients.get(n)
    # a target inside the region the custom rule skips (equal UOps are one object, so a user can build one)
    # needs the rules through that region
    if custom is not None and not (inner and _region_holds(n, custom.inputs, inner)):
        return zip(custom.inputs, custom.backward(ctx), strict=True)
    src_grads = pm_gradient.rewrite(n, ctx=ctx)
    if src_grads is None:
        raise NotImplementedError(f"no gradient rule for {n.op}")
    return zip(n.src, src_grads, strict=True)


def compute_gradient(root: UOp, root_grad: UOp, targets: Iterable[UOp]) -> dict[UOp, UOp]:
    """Gradients of `root` (seeded with `root_grad`) with respect to each target that it depends on."""
    want = set(targets)
    # only nodes on a path from a target to the root need a gradient
    on_path: set[UOp] = set()
    order = toposort([root])
    for n in order:
        if n in want or any(s in on_path for s in n.src):
            on_path.add(n)
    grads: dict[UOp, UOp] = {root: root_grad}
    # targets that are not leaves: only they can sit inside a custom-gradient region
    inner = {t for t in want if t in on_path and t.src}
    # a target's gradient keeps flowing to the targets below it (gradient(x, y) with y computed from x)
    for n in reversed(order):
        if n not in grads or n not in on_path or not any(s in on_path for s in n.src):
            continue
        for s, g in _source_gradients(n, grads[n], inner):
            if g is None or s not in on_path or not (s.dtype.is_float):
                continue
            grads[s] = grads[s] + g if s in grads else g
    return {t: grads[t] for t in want if t in grads}
