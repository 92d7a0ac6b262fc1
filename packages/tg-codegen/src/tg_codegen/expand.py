"""Expansion: the UPCAST and UNROLL RANGEs of a loop graph become copies of the computation.

An unroll range of a REDUCE is replaced by its values: the reduction's body is copied once per value and the
copies combined (REDUCE(x[u], u) with u in 0..3 becomes x[0] + x[1] + x[2] + x[3]). When the copies hold an
inner reduction, each copy is its own accumulator and the linearizer runs them in one loop.

A STORE that depends on upcast ranges is copied once per combination of their values. Because UOps are
hash-consed, a value the copies share (a load that does not depend on the upcast range) stays one node:
that is how an upcast matmul tile reuses each loaded element from a register.

>>> from tg_uop import AxisType, Ops, RangeArg, UOp, dtypes
>>> r = UOp(Ops.RANGE, dtypes.int32, (UOp.const(dtypes.int32, 2),), RangeArg(0, AxisType.UNROLL))
>>> expand(UOp(Ops.REDUCE, dtypes.int32, (r * 10, r), Ops.ADD)).render()
'10'
"""

from __future__ import annotations

import itertools

from tg_uop.ops import AxisType, Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite, substitute
from tg_uop.symbolic import pm_symbolic
from tg_uop.uop import UOp, toposort


def _values(rngs: list[UOp]) -> list[dict[UOp, UOp]]:
    """Every assignment of constants to the ranges, first range slowest."""
    sizes = [r.src[0].arg for r in rngs]
    return [
        {r: UOp.const(r.dtype, v) for r, v in zip(rngs, combo, strict=True)}
        for combo in itertools.product(*(range(s) for s in sizes))
    ]


def _expand_reduce(r: UOp) -> UOp | None:
    unrolled = [x for x in r.src[1:] if x.arg.kind is AxisType.UNROLL]
    if not unrolled:
        return None
    loops = [x for x in r.src[1:] if x.arg.kind is not AxisType.UNROLL]
    copies = [substitute(r.src[0], m) for m in _values(unrolled)]
    body = copies[0]
    for c in copies[1:]:
        body = body.alu(r.arg, c)
    return UOp(Ops.REDUCE, r.dtype, (body, *loops), r.arg) if loops else body


def _expand_stores(sink: UOp) -> UOp | None:
    stores: list[UOp] = []
    for st in sink.src:
        ups = sorted(
            (u for u in toposort([st]) if u.op is Ops.RANGE and u.arg.kind is AxisType.UPCAST), key=lambda u: u.arg
        )
        stores.extend(substitute(st, m) for m in _values(ups)) if ups else stores.append(st)
    return None if len(stores) == len(sink.src) else UOp.sink(*stores)


pm_expand = PatternMatcher(
    [
        (UPat(Ops.REDUCE, name="r"), _expand_reduce),
        (UPat(Ops.SINK, name="sink"), _expand_stores),
    ]
)


def expand(graph: UOp) -> UOp:
    """Expand the upcast and unroll ranges of a loop graph, then simplify the index math they leave."""
    return graph_rewrite(graph_rewrite(graph, pm_expand), pm_symbolic)
