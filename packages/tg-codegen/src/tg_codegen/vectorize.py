"""Vectorization: the VECTOR RANGE of a loop graph becomes SIMD lanes.

Loads whose index moves by one element per lane become one vector load (a gather of lane loads otherwise);
arithmetic on vectors stays vector; comparisons, where and max stay vector when the renderer has lane masks
(4-byte lanes); what has no vector form (math functions, bool logic) is done lane by lane and packed again
(VECTORIZE of GEPs), except the math functions the renderer computes on whole vectors. Values that do not
depend on the lane stay scalar and are broadcast where they meet a vector. Stores whose index moves by one
element per lane become one vector store (lane stores otherwise). A reduction of a vector body keeps a vector
accumulator; a reduction over the lanes themselves (an unrolled reduce axis made lanes, or a row reduced in its
own loop with lanes along the row) combines them after its loops, lane 0 first, as the unrolled copies would
be. A graph may hold several vector ranges, one per loop: each is vectorized in turn.

>>> from tg_uop import AxisType, Ops, RangeArg, UOp, dtypes
>>> g = UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(8), (), 0)
>>> v = UOp(Ops.RANGE, dtypes.int32, (UOp.const(dtypes.int32, 4),), RangeArg(1, AxisType.VECTOR))
>>> ld = UOp(Ops.LOAD, dtypes.float, (UOp(Ops.INDEX, g.dtype, (g, v + 4)),))
>>> out = vectorize(UOp.sink(UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, g.dtype, (g, v)), ld * 2.0))))
>>> [u.dtype for u in out.toposort() if u.op is Ops.LOAD]
[dtypes.float32.vec(4)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tg_uop.dtype import DType, dtypes
from tg_uop.ops import AxisType, GroupOp, Ops
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite, substitute
from tg_uop.symbolic import linear_terms, pm_symbolic
from tg_uop.uop import UOp, toposort


def _sum(x: UOp) -> tuple[dict[UOp, int], int]:
    # an index as {term: coefficient} and a constant, to compare lanes without trusting subtraction rules
    terms, const = linear_terms(x)
    out: dict[UOp, int] = {}
    for n, k in terms:
        out[n] = out.get(n, 0) + k
    return {n: k for n, k in out.items() if k}, const


# ops C's vector extension computes lane-wise on whole vectors
VECTOR_OPS = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.FDIV, Ops.NEG})
# ops done with lane masks (comparisons) and selects, where the renderer supports it, for 4-byte lanes
MASK_OPS = frozenset({Ops.CMPLT, Ops.CMPNE, Ops.CMPEQ, Ops.WHERE, Ops.MAX})


@dataclass
class _Lanes:
    vec: UOp  # the vector RANGE
    width: int
    masks: bool = False  # whether comparisons may produce lane masks (bool vectors) for selects
    math: frozenset[Ops] = frozenset()  # math functions the renderer computes on whole vectors
    dep: dict[UOp, bool] = field(default_factory=dict)

    def depends(self, x: UOp) -> bool:
        """Whether x changes from lane to lane (it has the vector range among its sources)."""
        if x not in self.dep:
            for n in toposort([x], lambda u: u not in self.dep):
                if n not in self.dep:
                    self.dep[n] = n is self.vec or any(self.dep[s] for s in n.src)
        return self.dep[x]

    def lane(self, x: UOp, c: int) -> UOp:
        """x in lane c."""
        if x.op is Ops.VECTORIZE:
            return x.src[c]
        if x.dtype.count > 1:
            return UOp(Ops.GEP, x.dtype.scalar(), (x,), c)
        return substitute(x, {self.vec: UOp.const(self.vec.dtype, c)}) if self.depends(x) else x

    def as_vector(self, x: UOp) -> UOp:
        """x as a vector: itself, its lanes packed, or a scalar broadcast."""
        if x.dtype.count > 1:
            return x
        return UOp(Ops.VECTORIZE, x.dtype.vec(self.width), tuple(self.lane(x, c) for c in range(self.width)))

    def contiguous(self, idx: UOp) -> UOp | None:
        """The index of lane 0 when lane c reads element idx0 + c, else None."""
        base = self.lane(idx, 0).simplify()
        terms, _ = _sum(idx)
        if terms.get(self.vec) == 1 and not any(n is not self.vec and self.depends(n) for n in terms):
            # the lane enters the index only as `+ vec`: lane c reads base + c (building and simplifying every
            # lane's index to compare them was most of vectorizing's time)
            return base
        # otherwise each lane's index, simplified, must be lane 0's plus c
        base_terms, base_const = _sum(base)
        for c in range(1, self.width):
            terms, const = _sum(self.lane(idx, c).simplify())
            if terms != base_terms or const != base_const + c:
                return None
        return base


def _load(ctx: _Lanes, ld: UOp, idx: UOp) -> UOp | None:
    if ld.dtype.count > 1 or not ctx.depends(idx):
        return None
    gate = idx.src[2:]
    base = ctx.contiguous(idx.src[1]) if not ld.dtype.is_bool else None  # C has no vectors of bool
    after = ld.src[1:]  # a load of a packed copy comes after the copy (tg_codegen.lower's PACK)
    if base is not None and not any(ctx.depends(g) for g in gate):
        return UOp(Ops.LOAD, ld.dtype.vec(ctx.width), (idx.replace(src=(idx.src[0], base, *gate)), *after))
    lanes = [UOp(Ops.LOAD, ld.dtype, (ctx.lane(idx, c), *after)) for c in range(ctx.width)]
    return UOp(Ops.VECTORIZE, ld.dtype.vec(ctx.width), tuple(lanes))


def _alu(ctx: _Lanes, x: UOp) -> UOp | None:
    if x.dtype.count > 1 or not any(s.dtype.count > 1 for s in x.src):
        return None
    bools = x.dtype.is_bool or any(s.dtype.scalar().is_bool for s in x.src)
    if (x.op in VECTOR_OPS or (x.op in ctx.math and x.dtype == dtypes.float32)) and not bools:
        # a scalar that is the same in every lane meets the vector as it is (C broadcasts it); one that
        # changes from lane to lane is packed first
        src = tuple(ctx.as_vector(s) if s.dtype.count == 1 and ctx.depends(s) else s for s in x.src)
        return x.replace(dtype=x.dtype.vec(ctx.width), src=src)
    if x.op is Ops.CAST and not bools:
        return UOp(Ops.CAST, x.dtype.vec(ctx.width), (ctx.as_vector(x.src[0]),))
    if ctx.masks and _maskable(x):
        # comparisons give lane masks; where and max select with them (4-byte lanes: masks are int32 lanes)
        return x.replace(dtype=x.dtype.vec(ctx.width), src=tuple(ctx.as_vector(s) for s in x.src))
    lanes = [x.replace(src=tuple(ctx.lane(s, c) for s in x.src)) for c in range(ctx.width)]
    return UOp(Ops.VECTORIZE, x.dtype.vec(ctx.width), tuple(lanes))


def _lane4(dt: DType) -> bool:
    return dt.scalar().itemsize == 4 and not dt.scalar().is_bool


def _maskable(x: UOp) -> bool:
    values = x.src[1:] if x.op is Ops.WHERE else x.src
    return x.op in MASK_OPS and all(_lane4(v.dtype) for v in values)


def _lane_wise(ctx: _Lanes, r: UOp) -> bool:
    return (r.arg in (Ops.ADD, Ops.MUL) and not r.dtype.is_bool) or (ctx.masks and r.arg is Ops.MAX and _lane4(r.dtype))


def _reduce(ctx: _Lanes, r: UOp) -> UOp | None:
    body = r.src[0]
    if ctx.vec in r.src[1:]:
        return _reduce_lanes(ctx, r)
    if r.dtype.count > 1 or (body.dtype.count == 1 and not ctx.depends(body)):
        return None
    if _lane_wise(ctx, r):
        return UOp(
            Ops.REDUCE,
            body.dtype.vec(ctx.width) if body.dtype.count == 1 else body.dtype,
            (ctx.as_vector(body), *r.src[1:]),
            r.arg,
        )
    lanes = [UOp(Ops.REDUCE, r.dtype, (ctx.lane(body, c), *r.src[1:]), r.arg) for c in range(ctx.width)]
    return UOp(Ops.VECTORIZE, r.dtype.vec(ctx.width), tuple(lanes))


def _reduce_lanes(ctx: _Lanes, r: UOp) -> UOp:
    """A reduction over the lanes themselves (an unrolled reduce axis made SIMD lanes): its other loops keep a
    vector accumulator, whose lanes are combined after them in lane order, as the unrolled copies would be."""
    body, loops = r.src[0], tuple(x for x in r.src[1:] if x is not ctx.vec)
    if loops:
        if _lane_wise(ctx, r):
            body = UOp(Ops.REDUCE, r.dtype.vec(ctx.width), (ctx.as_vector(body), *loops), r.arg)
        else:
            lanes = [UOp(Ops.REDUCE, r.dtype, (ctx.lane(body, c), *loops), r.arg) for c in range(ctx.width)]
            body = UOp(Ops.VECTORIZE, r.dtype.vec(ctx.width), tuple(lanes))
    out = ctx.lane(body, 0)
    for c in range(1, ctx.width):
        out = out.alu(r.arg, ctx.lane(body, c))
    return out


def _stores(ctx: _Lanes, sink: UOp) -> UOp | None:
    out, changed = [], False
    for st in sink.src:
        idx, val = st.src
        if not (ctx.depends(idx) or (val.dtype.count == 1 and ctx.depends(val))):
            out.append(st)
            continue
        changed = True
        base = ctx.contiguous(idx.src[1]) if not val.dtype.scalar().is_bool else None
        if base is not None and not any(ctx.depends(g) for g in idx.src[2:]):
            out.append(
                UOp(Ops.STORE, st.dtype, (idx.replace(src=(idx.src[0], base, *idx.src[2:])), ctx.as_vector(val)))
            )
        else:
            out.extend(UOp(Ops.STORE, st.dtype, (ctx.lane(idx, c), ctx.lane(val, c))) for c in range(ctx.width))
    return UOp.sink(*out) if changed else None


pm_vectorize = PatternMatcher(
    [
        (UPat(Ops.LOAD, src=(UPat(Ops.INDEX, name="idx"),), name="ld", allow_any_len=True), _load),
        (UPat(GroupOp.ALU | {Ops.CAST, Ops.BITCAST}, name="x"), _alu),  # a bitcast goes lane by lane
        (UPat(Ops.REDUCE, name="r"), _reduce),
        (UPat(Ops.SINK, name="sink"), _stores),
    ]
)


def vectorize(graph: UOp, masks: bool = False, math: frozenset[Ops] = frozenset()) -> UOp:
    """Turn the loop graph's VECTOR RANGEs (if any) into SIMD lanes. With `masks`, comparisons, where and
    max stay vector operations (bool vectors are lane masks), else they run lane by lane; float32 math
    functions in `math` stay vector operations too."""
    # one range, or one per reduction over an unrolled reduce axis made lanes (each reduction has its own loop)
    vecs = sorted({u for u in toposort([graph]) if u.op is Ops.RANGE and u.arg.kind is AxisType.VECTOR}, key=_order)
    out = graph
    for vec in vecs:
        lanes = _Lanes(vec, vec.src[0].arg, masks, math)
        out = graph_rewrite(graph_rewrite(out, pm_vectorize, ctx=lanes), pm_symbolic)
        if any(u is vec for u in toposort([out])):
            raise AssertionError("vectorize: the vector range is still used after vectorizing")
    return out


def _order(rng: UOp) -> tuple[int, int]:
    return rng.arg.axis, rng.arg.instance
