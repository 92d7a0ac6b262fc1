"""The pure-IR examples of tinygrad tutorials (the seed texts named below: UOps, PatternMatcher/UPat rewrites,
flags), run against tg-uop (`tinygrad.uop.ops` -> `tg_uop`, `tinygrad.helpers` -> `tg_uop.helpers`).

Seed files: 001 "Tinygrad 7-Day Crash Course for Contributors" (001_488a3466af3cad3a.txt), 004 "Claude Code
Guide for tinygrad" (004_f1af22687d3cd762.txt).
"""

from __future__ import annotations

from typing import Any

from tg_uop import GroupOp, Ops, PatternMatcher, UOp, UPat, Variable, dtypes, graph_rewrite
from tg_uop.helpers import DEBUG, Context, getenv


def test_004_pattern_matcher_doubles_x_plus_x() -> None:
    """004, "Key Concepts", PatternMatcher: `ADD(cvar x, cvar x) -> x * 2` rewrites `3 + 3` to `3 * 2`; the two
    sources must be the same constant (one name binds one node), so `3 + 4` is left alone."""
    pm = PatternMatcher([(UPat(Ops.ADD, src=(UPat.cvar("x"), UPat.cvar("x"))), lambda x: x * 2)])
    three = UOp.const(dtypes.int32, 3)
    result = graph_rewrite(three + three, pm)
    assert result.op is Ops.MUL and result.src[0] is three and result.src[1].arg == 2
    other = three + UOp.const(dtypes.int32, 4)
    assert graph_rewrite(other, pm) is other
    nested = (three + three) * 5  # rewrites reach inner nodes too
    assert graph_rewrite(nested, pm).src[0] is result


def test_004_uops_are_immutable_and_cached() -> None:
    """004, "Key Concepts", UOp: creating the same UOp twice returns the same object; `replace` makes a new node
    and keeps the tag unless it is changed."""
    a = UOp(Ops.CONST, dtypes.float32, (), 1.5)
    assert a is UOp(Ops.CONST, dtypes.float32, (), 1.5)
    assert (a + a) is (a + a)
    tagged = UOp(Ops.CONST, dtypes.int32, (), 5, "mine")
    changed = tagged.replace(arg=6)
    assert changed is not tagged and tagged.arg == 5 and changed.arg == 6 and changed.tag == "mine"
    assert tagged.replace(tag=None) is UOp.const(dtypes.int32, 5)


def test_004_graph_transformation_with_ctx() -> None:
    """004, "Common Patterns", Graph Transformation: a rule `my_transform(ctx, x)` that returns `x.replace(...)` or
    None, applied by `graph_rewrite(uop, pm, ctx={})`, sees the context and rewrites to a fixed point."""

    def my_transform(ctx: dict[str, Any], x: UOp) -> UOp | None:
        ctx.setdefault("seen", []).append(x.arg)
        return x.replace(arg=x.arg + 1) if x.arg < 3 else None

    pm = PatternMatcher([(UPat(Ops.CONST, name="x"), my_transform)])
    ctx: dict[str, Any] = {}
    out = graph_rewrite(UOp.const(dtypes.int32, 0) * UOp.const(dtypes.int32, 10), pm, ctx=ctx)
    assert [s.arg for s in out.src] == [3, 10]
    assert ctx["seen"][:4] == [0, 1, 2, 3] and 10 in ctx["seen"]


def test_004_finding_variables_bind_unbind() -> None:
    """004, "Common Patterns", Finding Variables: a bound variable unbinds to (variable, value); the variables of a
    graph are its DEFINE_VAR nodes. (tinygrad's `uop.variables()` helper has no tg equivalent; filtering the
    toposort is the debugging tip's way.)"""
    var = Variable("BS", 1, 100)
    bound = var.bind(32)
    assert bound.op is Ops.BIND and bound.unbind() == (var, 32)
    expr = var * 4 + Variable("i", 0, 9)
    names = sorted(u.arg[0] for u in expr.toposort() if u.op is Ops.DEFINE_VAR)
    assert names == ["BS", "i"]
    assert (expr.vmin, expr.vmax) == (4, 409)


def test_001_uop_operation_categories() -> None:
    """001, Day 3 "Pathway B: UOp System Mastery", Operation Categories: unary (SQRT, EXP, LOG: tg and tinygrad
    have EXP2/LOG2), binary (ADD, MUL, MAX), movement (RESHAPE, PERMUTE, ...) and reduce ops."""
    assert {Ops.SQRT, Ops.EXP2, Ops.LOG2} <= GroupOp.Unary
    assert {Ops.ADD, Ops.MUL, Ops.MAX} <= GroupOp.Binary
    assert {Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP} == set(GroupOp.Movement)
    assert Ops.REDUCE_AXIS in GroupOp.Reduce


def test_004_debug_flag_context_and_getenv(monkeypatch: Any) -> None:
    """004, "Common Environment Variables" and 000's DEBUG levels: `Context(DEBUG=n)` sets a flag inside the block
    and restores it after; `getenv` reads an environment variable with the default's type."""
    before = DEBUG.value
    with Context(DEBUG=3):
        assert DEBUG.value == 3 and DEBUG >= 2
    assert DEBUG.value == before
    monkeypatch.setenv("TG_SEED_FLAG", "7")
    assert getenv("TG_SEED_FLAG") == 7 and getenv("TG_SEED_MISSING", 2) == 2
