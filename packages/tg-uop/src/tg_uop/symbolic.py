"""Symbolic integer math: the `pm_symbolic` rewrite rules, rendering to text, and evaluation.

Integer division and modulo follow C (truncation toward zero), because index expressions end up in C,
OpenCL and CUDA source. Rules that would differ between truncation and flooring only fire when the
bounds (`vmin`/`vmax`) prove the operands are non-negative.

>>> from tg_uop import UOp
>>> g, r = UOp.variable("gidx0", 0, 15), UOp.variable("ridx0", 0, 3)
>>> ((g * 4 + r) // 4).render(), ((g * 4 + r) % 4).render()
('gidx0', 'ridx0')
>>> sym_infer(g * 4 + r, {"gidx0": 2, "ridx0": 1})
9
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tg_uop.dtype import dtypes
from tg_uop.ops import GroupOp, Ops, exec_alu
from tg_uop.rewrite import PatternMatcher, UPat, graph_rewrite
from tg_uop.uop import ConstType, UOp, extensions, toposort

INTS = (*[d for d in dtypes.all() if d.is_int], dtypes.bool)


def _is_int(u: UOp) -> bool:
    return u.dtype.is_int


def _fold_consts(a: UOp) -> UOp | None:
    if a.dtype.count > 1:
        return None
    return UOp.const(a.dtype, exec_alu(a.op, a.dtype, [s.arg for s in a.src]))


def _decided(x: UOp) -> UOp | None:
    # an integer or bool node whose bounds pin it to one value is that constant
    if x.op is Ops.CONST or x.dtype.count > 1 or not (x.dtype.is_int or x.dtype.is_bool) or not x.src:
        return None
    lo, hi = x.vmin, x.vmax
    return UOp.const(x.dtype, lo) if lo == hi else None


def linear_terms(x: UOp) -> tuple[list[tuple[UOp, int]], int]:
    """Split an integer sum into (node, coefficient) terms and a constant.

    >>> x, y = UOp.variable("x", 0, 9), UOp.variable("y", 0, 9)
    >>> [(t.arg[0], k) for t, k in linear_terms(x * 4 + y + 3)[0]], linear_terms(x * 4 + y + 3)[1]
    ([('x', 4), ('y', 1)], 3)
    """
    terms: list[tuple[UOp, int]] = []
    const = 0
    stack = [(x, 1)]
    while stack:
        n, k = stack.pop()
        if n.op is Ops.ADD:
            stack.extend((s, k) for s in reversed(n.src))
        elif n.op is Ops.CONST:
            const += n.arg * k
        elif n.op is Ops.MUL and n.src[1].op is Ops.CONST:
            stack.append((n.src[0], k * n.src[1].arg))
        else:
            terms.append((n, k))
    return terms, const


def _fits(dtype: Any, terms: list[tuple[UOp, int]], const: int) -> bool:
    """Whether the sum of the terms stays inside the dtype for every value of its variables (no wraparound:
    rules that split or move terms are only valid then)."""
    lo: int | float = const
    hi: int | float = const
    for n, k in terms:
        a, b = n.vmin * k, n.vmax * k
        lo, hi = lo + min(a, b), hi + max(a, b)
    return bool(dtype.min <= lo and hi <= dtype.max)


def _build_sum(dtype: Any, terms: list[tuple[UOp, int]], const: int) -> UOp:
    out: UOp | None = None
    for n, k in terms:
        t = n if k == 1 else n * k
        out = t if out is None else out + t
    if out is None:
        return UOp.const(dtype, const)
    return out if const == 0 else out + const


def _div_fold(x: UOp, c: UOp) -> UOp | None:
    """x // c for c > 0 and x >= 0: take out the terms whose coefficient c divides."""
    cv = c.arg
    if cv <= 0 or x.vmin < 0:
        return None
    if x.vmax < cv:
        return x.const_like(0)
    if x.op is Ops.IDIV and x.src[1].op is Ops.CONST and x.src[1].arg > 0:
        nested: UOp = x.src[0] // (x.src[1].arg * cv)
        return nested
    terms, const = linear_terms(x)
    if len(terms) + (const != 0) < 2 and not (len(terms) == 1 and terms[0][1] % cv == 0):
        return None
    if not _fits(x.dtype, terms, const):
        return None
    quot = [(n, k // cv) for n, k in terms if k % cv == 0]
    rest = [(n, k) for n, k in terms if k % cv != 0]
    q_const, r_const = divmod(const, cv)
    if not quot and q_const == 0:
        return _gcd_div(x, terms, const, cv)
    remainder = _build_sum(x.dtype, rest, r_const)
    if remainder.vmin < 0:
        return None
    out: UOp = _build_sum(x.dtype, quot, q_const) + remainder // cv
    return out


def _gcd_div(x: UOp, terms: list[tuple[UOp, int]], const: int, cv: int) -> UOp | None:
    # (a*4 + b*2) // 8 == (a*2 + b) // 4: divide everything by the common factor
    g = math.gcd(cv, const, *(k for _, k in terms))
    if g <= 1:
        return None
    return _build_sum(x.dtype, [(n, k // g) for n, k in terms], const // g) // (cv // g)


def _mod_fold(x: UOp, c: UOp) -> UOp | None:
    """x % c for c > 0 and x >= 0: drop the terms that are multiples of c."""
    cv = c.arg
    if cv <= 0 or x.vmin < 0:
        return None
    if x.vmax < cv:
        return x
    terms, const = linear_terms(x)
    if not _fits(x.dtype, terms, const):
        return None
    kept = [(n, k % cv) for n, k in terms if k % cv != 0]
    changed = len(kept) != len(terms) or const >= cv or any(k >= cv for _, k in terms)
    if not changed:
        return None
    rest = _build_sum(x.dtype, kept, const % cv)
    return rest % cv if rest.vmin >= 0 else None


def _coeffs(x: UOp) -> tuple[dict[UOp, int], int]:
    # linear_terms with repeated nodes merged: {node: coefficient}, constant
    terms, const = linear_terms(x)
    out: dict[UOp, int] = {}
    for n, k in terms:
        out[n] = out.get(n, 0) + k
    return {n: k for n, k in out.items() if k != 0}, const


def _multiple_of(n: UOp, d: dict[UOp, int], dc: int) -> int | None:
    """m when the node n is provably m times the linear form d + dc (same nodes, proportional coefficients)."""
    nd, nc = _coeffs(n)
    if not d or nd.keys() != d.keys():
        return None
    first = next(iter(d))
    m, rem = divmod(nd[first], d[first])
    if rem or any(nd[t] != m * k for t, k in d.items()) or nc != m * dc:
        return None
    return m


def _lower_bound(terms: dict[UOp, int], const: int) -> int | float:
    """A lower bound of sum(k*n) + const; a loop index with a symbolic end counts as at most end-1, so
    ridx < end is known even when both depend on the same Variable."""
    terms = dict(terms)
    lo: int | float = const
    for n in [n for n, k in terms.items() if k < 0 and n.op is Ops.RANGE and n.src[0].op is not Ops.CONST]:
        k = terms.pop(n)
        end, end_c = _coeffs(n.src[0])
        lo += k * (end_c - 1)
        for t, kt in end.items():
            terms[t] = terms.get(t, 0) + k * kt
    for n, k in terms.items():
        lo += k * (n.vmin if k > 0 else n.vmax)
    return lo


def _split_by(x: UOp, d: UOp) -> tuple[UOp, UOp] | None:
    """(q, r) with x == q*d + r and 0 <= r < d for every value of the Variables, d a symbolic divisor.

    Terms that are a node times d (or times a multiple of d) go to q, whole multiples of d's linear form
    are taken out of the rest, and what is left must provably lie in [0, d). With x >= 0 and d > 0
    truncating and floor division agree, so x // d == q and x % d == r exactly."""
    if d.op is Ops.CONST or d.vmin <= 0 or x.vmin < 0:
        return None
    dt, dc = _coeffs(d)
    terms, const = _coeffs(x)
    if not dt or not _fits(x.dtype, list(terms.items()), const):
        return None
    quot: list[tuple[UOp, int]] = []
    for n in list(terms):
        if n.op is Ops.MUL and n.src[0].op is not Ops.CONST and n.src[1].op is not Ops.CONST:
            for a, b in (n.src, n.src[::-1]):
                m = 1 if b is d else _multiple_of(b, dt, dc)
                if m is not None:
                    quot.append((a, m * terms.pop(n)))
                    break
    first = next(iter(dt))
    m = terms.get(first, 0) // dt[first]
    for t, k in dt.items():
        terms[t] = terms.get(t, 0) - m * k
    terms, const = {t: k for t, k in terms.items() if k != 0}, const - m * dc
    if not quot and m == 0:
        return None
    rest = _build_sum(x.dtype, list(terms.items()), const)
    gap = dict(dt)  # d - r - 1 >= 0 proves r < d
    for t, k in terms.items():
        gap[t] = gap.get(t, 0) - k
    if rest.vmin < 0 or _lower_bound(gap, dc - const - 1) < 0:
        return None
    return _build_sum(x.dtype, quot, m), rest


def _sym_div_fold(x: UOp, d: UOp) -> UOp | None:
    split = _split_by(x, d)
    return None if split is None else split[0]


def _sym_mod_fold(x: UOp, d: UOp) -> UOp | None:
    split = _split_by(x, d)
    return None if split is None else split[1]


def _lt_fold(x: UOp, c: UOp) -> UOp | None:
    """Move constants across an integer comparison: x*k + c1 < c2  ->  x < ceil((c2-c1)/k)."""
    terms, const = linear_terms(x)
    if len(terms) != 1 or (const == 0 and terms[0][1] == 1):
        return None
    n, k = terms[0]
    bound = -((const - c.arg) // k)
    if k <= 0 or not _fits(x.dtype, terms, const) or not x.dtype.min <= bound <= x.dtype.max:
        return None
    out: UOp = n < bound
    return out


def _recombine_divmod(x: UOp, c: UOp, y: UOp | None = None) -> UOp | None:
    # (x//c)*c + x%c == x for any x (both truncating or both flooring)
    return x if y is None else y + x


def _merge_like(x: UOp, a: UOp, b: UOp) -> UOp | None:
    """x*a + x*b -> x*(a+b) (a, b constants)."""
    out: UOp = x * (a.arg + b.arg)
    return out


_x, _y, _c1, _c2 = UPat.var("x"), UPat.var("y"), UPat.cvar("c1"), UPat.cvar("c2")
_ix = UPat.var("x", dtype=INTS)

pm_symbolic = PatternMatcher(
    [
        # constant folding and decided values
        (UPat(GroupOp.ALU, src=UPat(Ops.CONST), name="a"), _fold_consts),
        (UPat(GroupOp.ALU | {Ops.CAST}, name="x"), _decided),
        (UPat(Ops.CAST, src=(UPat.cvar("c"),), name="x"), lambda x, c: UOp.const(x.dtype, c.arg)),
        (UPat(Ops.CAST, name="x"), lambda x: x.src[0] if x.src[0].dtype == x.dtype else None),
        # canonical order: constants on the right of commutative ops
        (
            UPat(GroupOp.Commutative, src=(UPat.cvar("c"), UPat.var("x")), name="u"),
            lambda u, c, x: u.replace(src=(x, c)) if x.op is not Ops.CONST else None,
        ),
        # identities
        (_ix + 0, lambda x: x),
        (_x * 1, lambda x: x),
        (_ix * 0, lambda x: x.const_like(0)),
        (_ix - 0, lambda x: x),
        (UPat(Ops.SUB, dtype=INTS, src=(_x, _x)), lambda x: x.const_like(0)),
        (_ix // 1, lambda x: x),
        (_ix % 1, lambda x: x.const_like(0)),
        (UPat(Ops.SUB, dtype=INTS, src=(_x, _c1)), lambda x, c1: x + (-c1.arg)),
        # reassociate constants outward and combine them
        ((_ix + _c1) + _c2, lambda x, c1, c2: x + (c1.arg + c2.arg)),
        ((_ix * _c1) * _c2, lambda x, c1, c2: x * (c1.arg * c2.arg)),
        ((_ix + _c1) + UPat.var("y"), lambda x, c1, y: (x + y) + c1 if y.op is not Ops.CONST else None),
        ((_ix + _c1) * _c2, lambda x, c1, c2: x * c2 + c1.arg * c2.arg),
        # like terms
        (_ix + _ix, lambda x: x * 2),
        (_ix * _c1 + _ix, lambda x, c1: x * (c1.arg + 1)),
        (_ix * UPat.cvar("a") + _ix * UPat.cvar("b"), _merge_like),
        ((_y + _ix * UPat.cvar("a")) + _ix * UPat.cvar("b"), lambda y, x, a, b: y + x * (a.arg + b.arg)),
        # division and modulo
        ((_ix * _c1) // _c1, lambda x, c1: x if c1.arg != 0 and _fits(x.dtype, [(x, c1.arg)], 0) else None),
        (_ix // UPat.cvar("c"), _div_fold),
        (_ix % UPat.cvar("c"), _mod_fold),
        (_ix // UPat.var("d", dtype=INTS), _sym_div_fold),
        (_ix % UPat.var("d", dtype=INTS), _sym_mod_fold),
        ((_ix // UPat.cvar("c")) * UPat.cvar("c") + _ix % UPat.cvar("c"), _recombine_divmod),
        ((_y + (_ix // UPat.cvar("c")) * UPat.cvar("c")) + _ix % UPat.cvar("c"), _recombine_divmod),
        # comparisons
        (_ix < UPat.cvar("c"), _lt_fold),
        (UPat(Ops.CMPNE, src=(UPat.var("x", dtype=INTS), _x)), lambda x: UOp.const(dtypes.bool, False)),
        (UPat(Ops.CMPLT, src=(_ix, _ix)), lambda x: UOp.const(dtypes.bool, False)),
        # max decided by bounds
        (UPat(Ops.MAX, src=(_ix, _y)), lambda x, y: x if x.vmin >= y.vmax else y if y.vmin >= x.vmax else None),
        # bool logic and where
        (UPat(Ops.AND, src=[UPat.var("x"), UPat.const(dtypes.bool, True)]), lambda x: x),
        (UPat(Ops.AND, src=[UPat.var("x"), UPat.const(dtypes.bool, False)]), lambda x: x.const_like(False)),
        (UPat(Ops.OR, src=[UPat.var("x"), UPat.const(dtypes.bool, False)]), lambda x: x),
        (UPat(Ops.OR, src=[UPat.var("x"), UPat.const(dtypes.bool, True)]), lambda x: x.const_like(True)),
        (UPat(Ops.AND, src=(_x, _x)), lambda x: x),
        (UPat(Ops.WHERE, src=(UPat.var("c"), _x, _y)), lambda c, x, y: _where_fold(c, x, y)),
    ]
)


def _where_fold(c: UOp, x: UOp, y: UOp) -> UOp | None:
    if x is y:
        return x
    if c.vmin == c.vmax and c.dtype.count == 1:
        return x if c.vmin else y
    return None


symbolic = pm_symbolic  # the name tinygrad code uses


def simplify(x: UOp) -> UOp:
    """`x` with the symbolic rules applied to a fixed point (`UOp.simplify`).

    >>> x = UOp.variable("x", 0, 9)
    >>> simplify((x * 4 + 3) // 4) is x
    True
    """
    return graph_rewrite(x, pm_symbolic)


def _fmt_const(v: ConstType) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    return str(v)


_BINFMT = {
    Ops.ADD: "+",
    Ops.SUB: "-",
    Ops.MUL: "*",
    Ops.IDIV: "//",
    Ops.FDIV: "/",
    Ops.MOD: "%",
    Ops.CMPLT: "<",
    Ops.CMPNE: "!=",
    Ops.CMPEQ: "==",
    Ops.AND: "&",
    Ops.OR: "|",
    Ops.XOR: "^",
    Ops.SHL: "<<",
    Ops.SHR: ">>",
}


def render(root: UOp) -> str:
    """Render an integer/bool expression as text without simplifying it (see `UOp.render`)."""
    out: dict[UOp, str] = {}
    for u in toposort([root]):
        s = [out[x] for x in u.src]
        if u.op is Ops.CONST:
            out[u] = _fmt_const(u.arg)
        elif u.op is Ops.DEFINE_VAR:
            out[u] = str(u.arg[0])
        elif u.op is Ops.BIND:
            out[u] = s[0]
        elif u.op is Ops.RANGE:
            out[u] = f"ridx{u.arg.axis}"
        elif u.op is Ops.SPECIAL:
            out[u] = str(u.arg[0])
        elif u.op is Ops.CAST:
            out[u] = s[0]
        elif u.op is Ops.ADD:
            # sums print flat: (a*4+b+3), and x + -3 prints as x-3
            parts = [s[0].removeprefix("(").removesuffix(")") if u.src[0].op is Ops.ADD else s[0]]
            if u.src[1].op is Ops.CONST and not isinstance(u.src[1].arg, bool) and u.src[1].arg < 0:
                parts.append(f"-{-u.src[1].arg}")
            else:
                parts.append("+" + s[1])
            out[u] = "(" + "".join(parts) + ")"
        elif u.op is Ops.MUL and u.src[1].op is Ops.CONST:
            out[u] = f"{s[0]}*{s[1]}"
        elif u.op in _BINFMT:
            out[u] = f"({s[0]}{_BINFMT[u.op]}{s[1]})"
        elif u.op is Ops.NEG:
            out[u] = f"(-{s[0]})"
        elif u.op is Ops.MAX:
            out[u] = f"max({s[0]}, {s[1]})"
        elif u.op is Ops.WHERE:
            out[u] = f"({s[1]} if {s[0]} else {s[2]})"
        else:
            out[u] = f"{u.op.name}({', '.join(s)})"
    return out[root]


def sym_infer(expr: UOp | int, values: Mapping[UOp | str, int]) -> Any:
    """Evaluate an integer expression with its variables given by node or by name.

    >>> x = UOp.variable("x", 0, 10)
    >>> sym_infer(x * 3 + 1, {x: 4})
    13
    """
    if isinstance(expr, int):
        return expr
    by_name = {(k.arg[0] if isinstance(k, UOp) else k): v for k, v in values.items()}
    out: dict[UOp, Any] = {}
    for u in toposort([expr], lambda n: n.op is not Ops.BIND):  # a bound variable carries its own value
        if u.op is Ops.CONST:
            out[u] = u.arg
        elif u.op is Ops.DEFINE_VAR:
            if u.arg[0] not in by_name:
                raise KeyError(f"sym_infer: no value given for variable {u.arg[0]!r}")
            out[u] = by_name[u.arg[0]]
        elif u.op is Ops.BIND:
            out[u] = u.src[1].arg
        elif u.op is Ops.CAST:
            out[u] = exec_alu(Ops.ADD, u.dtype, (out[u.src[0]], 0)) if not u.dtype.is_bool else bool(out[u.src[0]])
        elif u.op in GroupOp.ALU:
            out[u] = exec_alu(u.op, u.dtype, [out[s] for s in u.src])
        else:
            raise ValueError(f"sym_infer: cannot evaluate {u.op}")
    return out[expr]


extensions.simplify = simplify
extensions.render = render
