"""Division and modulo by a symbolic divisor: (a*d + r) // d -> a and (a*d + r) % d -> r when 0 <= r < d is
provable for every value of the Variables, checked by evaluating at every value; and cases where it must not fire."""

from __future__ import annotations

import itertools

from tg_uop import UOp
from tg_uop.dtype import dtypes
from tg_uop.ops import AxisType, Ops, RangeArg
from tg_uop.symbolic import sym_infer

SP = UOp.variable("sp", 0, 7)
G = UOp.variable("g", 0, 3)


def _ops(u: UOp) -> set[Ops]:
    return {n.op for n in u.toposort()}


def _same_everywhere(before: UOp, after: UOp, names: dict[str, range]) -> None:
    for vals in itertools.product(*names.values()):
        env = dict(zip(names, vals, strict=True))
        assert sym_infer(after, env) == sym_infer(before, env), env


def test_div_mod_by_variable_expression_fold() -> None:
    r = UOp.variable("r", 0, 31)
    d = SP * 32 + 32
    x = G * d + r
    q, m = (x // d).simplify(), (x % d).simplify()
    assert q is G and m is r
    _same_everywhere(x // d, q, {"sp": range(8), "g": range(4), "r": range(32)})


def test_loop_index_below_its_symbolic_end() -> None:
    # the attention-times-values index: gidx0*(32*(sp+1)) + u*(sp+1) + ridx0 with ridx0 < sp+1, u < 32
    ridx = UOp(Ops.RANGE, dtypes.int32, (SP + 1,), RangeArg(0, AxisType.REDUCE))
    for u in (0, 1, 31):
        x = G * (SP * 32 + 32) + (SP * u + ridx) + u
        assert (x // (SP * 32 + 32)).simplify() is G
        assert (x % (SP + 1)).simplify() is ridx
        assert Ops.IDIV not in _ops(((x // (SP + 1)) % 32).simplify())
        assert ((x // (SP + 1)) % 32).simplify().render() == str(u)


def test_no_fold_when_remainder_may_reach_divisor() -> None:
    r = UOp.variable("r", 0, 40)  # may be >= 32 when sp == 0
    d = SP * 32 + 32
    out = ((G * d + r) // d).simplify()
    assert Ops.IDIV in _ops(out)
    _same_everywhere((G * d + r) // d, out, {"sp": range(8), "g": range(4), "r": range(41)})
    ridx = UOp(Ops.RANGE, dtypes.int32, (SP + 2,), RangeArg(0, AxisType.REDUCE))  # ridx may equal sp+1
    assert Ops.MOD in _ops(((G * (SP + 1) + ridx) % (SP + 1)).simplify())


def test_no_fold_when_remainder_may_be_negative() -> None:
    r = UOp.variable("r", -3, 5)
    d = SP + 8
    x = G * d + r
    assert Ops.IDIV in _ops((x // d).simplify()) and Ops.MOD in _ops((x % d).simplify())


def test_no_fold_when_divisor_may_be_zero() -> None:
    x = G * SP + UOp.variable("r", 0, 2)  # sp may be 0
    assert Ops.IDIV in _ops((x // SP).simplify()) and Ops.MOD in _ops((x % SP).simplify())
