"""UPat, PatternMatcher, graph_rewrite and track_rewrites."""

from __future__ import annotations

import uuid

import pytest

from tg_uop import (
    GroupOp,
    Ops,
    PatternMatcher,
    RewriteRecord,
    UOp,
    UPat,
    dtypes,
    graph_rewrite,
    substitute,
    track_rewrites,
)
from tg_uop.rewrite import RewriteLimitError


def _var(lo: int = 0, hi: int = 9, dtype=dtypes.int32) -> UOp:  # type: ignore[no-untyped-def]
    return UOp.variable(f"v_{uuid.uuid4().hex[:8]}", lo, hi, dtype)


def _c(v: int, dtype=dtypes.int32) -> UOp:  # type: ignore[no-untyped-def]
    return UOp.const(dtype, v)


# ---------------------------------------------------------------------------------------------------------------
# UPat.match
# ---------------------------------------------------------------------------------------------------------------


def test_op_filter_single_and_set() -> None:
    x = _var()
    assert UPat(Ops.ADD).match(x + 1, {}) == [{}]
    assert UPat(Ops.MUL).match(x + 1, {}) == []
    assert UPat({Ops.MUL, Ops.ADD}).match(x + 1, {}) == [{}]
    assert UPat((Ops.MUL, Ops.ADD)).match(x * 2, {}) == [{}]
    assert UPat(GroupOp.Binary).match(x + 1, {}) == [{}]
    assert UPat(GroupOp.Unary).match(x + 1, {}) == []
    assert UPat().match(x, {}) == [{}]


def test_dtype_filter() -> None:
    x = _var()
    f = UOp.variable("fv", 0, 1, dtypes.float32)
    assert UPat(dtype=dtypes.int32).match(x, {}) == [{}]
    assert UPat(dtype=dtypes.float32).match(x, {}) == []
    assert UPat(dtype=(dtypes.float32, dtypes.int32)).match(x, {}) == [{}]
    assert UPat(dtype={dtypes.float16, dtypes.float32}).match(f, {}) == [{}]
    assert UPat(dtype={dtypes.float16, dtypes.int32}).match(f, {}) == []
    # a vector node matches a pattern on its scalar type
    v = UOp(Ops.VECTORIZE, dtypes.float32.vec(2), (f, f))
    assert UPat(dtype=dtypes.float32).match(v, {}) == [{}]
    assert UPat(dtype=dtypes.float32.vec(2)).match(v, {}) == [{}]
    assert UPat(dtype=dtypes.float32.vec(4)).match(v, {}) == []


def test_named_capture() -> None:
    x = _var()
    u = x * 3
    assert UPat(Ops.MUL, name="m").match(u, {}) == [{"m": u}]
    assert UPat.var("z").match(x, {}) == [{"z": x}]
    # an existing store is extended, not mutated
    store = {"other": x}
    out = UPat.var("z").match(u, store)
    assert out == [{"other": x, "z": u}] and store == {"other": x}


def test_ordered_src() -> None:
    x = _var()
    pat = UPat(Ops.ADD, src=(UPat.var("a"), UPat.cvar("c")))
    assert pat.match(x + 1, {}) == [{"a": x, "c": _c(1)}]
    assert pat.match(1 + x, {}) == []  # order matters for a tuple
    assert UPat(Ops.ADD, src=(UPat(),)).match(x + 1, {}) == []  # length must match
    assert UPat(Ops.ADD, src=(UPat(), UPat(), UPat())).match(x + 1, {}) == []


def test_list_src_tries_every_order() -> None:
    x = _var()
    pat = UPat(Ops.ADD, src=[UPat.var("a"), UPat.cvar("c")])
    assert pat.match(x + 1, {}) == [{"a": x, "c": _c(1)}]
    assert pat.match(1 + x, {}) == [{"a": x, "c": _c(1)}]
    # three sources: every permutation is tried
    y, z = _var(), _var()
    node = UOp(Ops.SINK, dtypes.void, (z, _c(5), y))
    pat3 = UPat(Ops.SINK, src=[UPat.cvar("c"), UPat(Ops.DEFINE_VAR, name="p"), UPat(Ops.DEFINE_VAR, name="q")])
    matches = pat3.match(node, {})
    assert {(m["p"], m["q"]) for m in matches} == {(z, y), (y, z)}
    assert all(m["c"] is _c(5) for m in matches)
    # every match is returned: x + x matches both ways
    assert len(UPat(Ops.ADD, src=[UPat.var("a"), UPat.var("b")]).match(x + x, {})) == 2


def test_repeated_src_single_upat() -> None:
    a, b = _c(1), _c(2)
    x = _var()
    every_const = UPat(Ops.SINK, src=UPat(Ops.CONST))
    assert every_const.match(UOp.sink(a, b, a), {}) == [{}]
    assert every_const.match(UOp.sink(a, x), {}) == []
    assert every_const.match(UOp.sink(), {}) == [{}]  # no sources: trivially all match
    # a named repeated pattern must bind the same node each time
    same = UPat(Ops.SINK, src=UPat.var("s"))
    assert same.match(UOp.sink(a, a, a), {}) == [{"s": a}]
    assert same.match(UOp.sink(a, b), {}) == []


def test_repeated_name_must_bind_the_same_node() -> None:
    x, y = _var(), _var()
    pat = UPat(Ops.ADD, src=(UPat.var("a"), UPat.var("a")))
    assert pat.match(x + x, {}) == [{"a": x}]
    assert pat.match(x + y, {}) == []
    nested = UPat(Ops.MUL, src=(UPat(Ops.ADD, src=(UPat.var("a"), UPat.cvar("c"))), UPat.var("a")))
    assert nested.match((x + 1) * x, {}) == [{"a": x, "c": _c(1)}]
    assert nested.match((x + 1) * y, {}) == []
    # a name already in the store constrains the match
    assert UPat.var("a").match(y, {"a": x}) == []
    assert UPat.var("a").match(x, {"a": x}) == [{"a": x}]


def test_cvar_and_const() -> None:
    x = _var()
    assert UPat.cvar("c").match(_c(4), {}) == [{"c": _c(4)}]
    assert UPat.cvar("c").match(x, {}) == []
    assert UPat.cvar("c", dtypes.int32).match(_c(4, dtypes.int64), {}) == []
    assert UPat.const(dtypes.int32, 4).match(_c(4), {}) == [{}]
    assert UPat.const(dtypes.int32, 4).match(_c(5), {}) == []
    assert UPat.const(None, 0).match(UOp.const(dtypes.float32, 0.0), {}) == [{}]


def test_arg_matching_bool_vs_int() -> None:
    t, one = UOp.const(dtypes.bool, True), _c(1)
    f, zero = UOp.const(dtypes.bool, False), _c(0)
    assert UPat(Ops.CONST, arg=True).match(t, {}) == [{}]
    assert UPat(Ops.CONST, arg=True).match(one, {}) == []
    assert UPat(Ops.CONST, arg=1).match(one, {}) == [{}]
    assert UPat(Ops.CONST, arg=1).match(t, {}) == []
    assert UPat(Ops.CONST, arg=False).match(zero, {}) == []
    assert UPat(Ops.CONST, arg=0).match(f, {}) == []
    assert UPat(Ops.CONST, arg=1).match(UOp.const(dtypes.float32, 1.0), {}) == [{}]
    x = _var()
    assert UPat(Ops.DEFINE_VAR, arg=x.arg).match(x, {}) == [{}]
    assert UPat(Ops.DEFINE_VAR, arg=(x.arg[0], 0, 8)).match(x, {}) == []


def test_allow_any_len() -> None:
    x, y = _var(), _var()
    s = UOp.sink(x, y, _c(3))
    assert UPat(Ops.SINK, src=(UPat.var("a"),)).match(s, {}) == []
    assert UPat(Ops.SINK, src=(UPat.var("a"),), allow_any_len=True).match(s, {}) == [{"a": x}]
    assert UPat(Ops.SINK, src=(UPat(), UPat.var("b")), allow_any_len=True).match(s, {}) == [{"b": y}]
    # extra sources only, never fewer
    assert UPat(Ops.SINK, src=(UPat(), UPat(), UPat(), UPat()), allow_any_len=True).match(s, {}) == []


def test_upat_sugar() -> None:
    x = _var()
    add0 = UPat.var("a") + 0
    assert add0.op == frozenset({Ops.ADD}) and isinstance(add0.src, list)
    assert add0.match(x + 0, {}) == [{"a": x}] and add0.match(0 + x, {}) == [{"a": x}]
    sub = UPat.var("a") - 1
    assert isinstance(sub.src, tuple)
    assert sub.match(x - 1, {}) == [{"a": x}] and sub.match(1 - x, {}) == []
    assert (2 * UPat.var("a")).match(x * 2, {}) == [{"a": x}]
    assert (UPat.var("a") // 2).match(x // 2, {}) == [{"a": x}]
    assert (UPat.var("a") % 2).match(x % 2, {}) == [{"a": x}]
    assert (UPat.var("a") < 2).match(x < 2, {}) == [{"a": x}]
    assert (UPat.var("a") < 2).match(2 < x, {}) == []
    assert (1 + UPat.var("a")).match(x + 1, {}) == [{"a": x}]
    named = (UPat.var("a") + 0).named("whole")
    assert named.match(x + 0, {}) == [{"a": x, "whole": x + 0}]


# ---------------------------------------------------------------------------------------------------------------
# PatternMatcher
# ---------------------------------------------------------------------------------------------------------------


def test_first_rule_returning_a_node_wins() -> None:
    x = _var()
    calls: list[str] = []

    def decline(a: UOp) -> None:
        calls.append("decline")
        return None

    def same(a: UOp) -> UOp:
        calls.append("same")
        return a + 0  # returning the node itself means "no change"

    pm = PatternMatcher(
        [
            (UPat.var("a") + 0, decline),
            (UPat.var("a") + 0, same),
            (UPat.var("a") + 0, lambda a: a * 5),
            (UPat.var("a") + 0, lambda a: a * 6),
        ]
    )
    assert pm.rewrite(x + 0) is x * 5
    assert calls == ["decline", "same"]
    assert pm.rewrite(x + 1) is None
    assert len(pm) == 4


def test_rules_without_op_apply_to_every_op() -> None:
    x = _var()
    pm = PatternMatcher(
        [(UPat(dtype=dtypes.int32, name="u"), lambda u: u.replace(tag="seen") if u.tag is None else None)]
    )
    assert pm.rewrite(x) is x.replace(tag="seen")
    assert pm.rewrite(x + 1) is (x + 1).replace(tag="seen")
    assert pm.rewrite(x.replace(tag="seen")) is None


def test_add_matchers_concatenates_in_order() -> None:
    x = _var()
    pm1 = PatternMatcher([(UPat.var("a") + 0, lambda a: a * 1)])
    pm2 = PatternMatcher([(UPat.var("a") + 0, lambda a: a * 2), (UPat.var("a") * 3, lambda a: a)])
    both = pm1 + pm2
    assert len(both) == 3
    assert both.rewrite(x + 0) is x * 1
    assert (pm2 + pm1).rewrite(x + 0) is x * 2
    assert both.rewrite(x * 3) is x
    assert pm1.rewrite(x * 3) is None  # the operands are unchanged


def test_ctx_passed_only_to_callbacks_that_declare_it() -> None:
    x = _var()
    seen: list[object] = []

    def with_ctx(ctx: list[int], a: UOp) -> UOp:
        ctx.append(1)
        return a

    def without_ctx(**kw: UOp) -> None:
        seen.append(sorted(kw))
        return None

    pm = PatternMatcher([(UPat.var("a") * 1, without_ctx), (UPat.var("a") * 1, with_ctx)])
    log: list[int] = []
    assert pm.rewrite(x * 1, ctx=log) is x
    assert log == [1] and seen == [["a"]]
    assert graph_rewrite((x * 1) * 1, pm, ctx=log) is x
    assert log == [1, 1, 1]


def test_patternmatcher_refuses_non_upat() -> None:
    with pytest.raises(TypeError):
        PatternMatcher([(Ops.ADD, lambda: None)])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------------------------
# graph_rewrite
# ---------------------------------------------------------------------------------------------------------------

# x*1 -> x, x+0 -> x, and a rule that only applies once its sources are simplified: (x+x) -> x*2
SIMPLE = PatternMatcher(
    [
        (UPat.var("a") * 1, lambda a: a),
        (UPat.var("a") + 0, lambda a: a),
        (UPat(Ops.ADD, src=(UPat.var("a"), UPat.var("a"))), lambda a: a * 2),
        (UPat(Ops.MUL, src=(UPat(Ops.MUL, src=(UPat.var("a"), UPat.cvar("b"))), UPat.cvar("c"))),
         lambda a, b, c: a * (b.arg * c.arg)),
    ]
)  # fmt: skip


def test_graph_rewrite_reaches_a_fixed_point() -> None:
    x = _var()
    expr = ((x * 1 + 0) + (x + 0) * 1) * 3
    out = graph_rewrite(expr, SIMPLE)
    assert out is x * 6
    # nothing applies any more anywhere in the result
    assert all(SIMPLE.rewrite(n) is None for n in out.toposort())
    assert graph_rewrite(out, SIMPLE) is out


def test_graph_rewrite_leaves_unmatched_graph_alone() -> None:
    x, y = _var(), _var()
    expr = UOp.sink(x * y, (x - y) // 2)
    assert graph_rewrite(expr, SIMPLE) is expr


def test_graph_rewrite_shares_rewritten_nodes() -> None:
    x = _var()
    shared = x * 1
    out = graph_rewrite(UOp.sink(shared + 5, shared - 5, shared), SIMPLE)
    assert out is UOp.sink(x + 5, x - 5, x)


def test_graph_rewrite_replacement_is_rewritten_too() -> None:
    x = _var()
    # a -> a + 0 -> a chain: the first rewrite of the root builds nodes that the second rule cleans up
    pm = PatternMatcher([(UPat(Ops.SUB, src=(UPat.var("a"), UPat.var("a"))), lambda a: (a * 1) + 0), *SIMPLE.patterns])
    assert graph_rewrite(x - x, pm) is x


def test_bottom_up_tries_a_node_before_its_sources() -> None:
    x = _var()
    pm = PatternMatcher(
        [
            (UPat(Ops.MUL, src=(UPat.var("a"), UPat.const(dtypes.int32, 1))), lambda a: a),
            (UPat(Ops.CONST, dtype=dtypes.int32, arg=1), lambda: _c(2)),
        ]
    )
    # default: sources first, so the 1 becomes 2 and x*1 never matches
    assert graph_rewrite(x * 1, pm) is x * 2
    # bottom_up: x*1 is matched first
    assert graph_rewrite(x * 1, pm, bottom_up=True) is x
    # the result of a bottom-up rewrite is processed again
    assert graph_rewrite((x * 1) * 1, pm, bottom_up=True) is x
    assert graph_rewrite(x + 1, pm, bottom_up=True) is x + 2


def test_bottom_up_sees_unrewritten_sources() -> None:
    x = _var()
    seen: list[UOp] = []

    def record(u: UOp) -> None:
        seen.append(u)
        return None

    pm = PatternMatcher([(UPat(Ops.ADD, name="u"), record), (UPat.var("a") * 1, lambda a: a)])
    expr = (x * 1) + 3
    assert graph_rewrite(expr, pm, bottom_up=True) is x + 3
    assert seen[0] is expr and seen[-1] is x + 3
    seen.clear()
    assert graph_rewrite(expr, pm) is x + 3
    assert seen == [x + 3]


def test_looping_rules_raise() -> None:
    x, y = _var(), _var()
    swap = PatternMatcher([(UPat(Ops.ADD, name="u"), lambda u: u.replace(src=u.src[::-1]))])
    with pytest.raises(RewriteLimitError, match="1000"):
        graph_rewrite(x + y, swap, limit=1000)
    with pytest.raises(RewriteLimitError):
        graph_rewrite(x + y, swap, bottom_up=True, limit=1000)
    grow = PatternMatcher([(UPat(Ops.DEFINE_VAR, name="v"), lambda v: v.replace(tag=(v.tag or 0) + 1))])
    with pytest.raises(RewriteLimitError):
        graph_rewrite(x * 2, grow, limit=500)
    assert issubclass(RewriteLimitError, RuntimeError)


def test_limit_counts_rewrites() -> None:
    x = _var()
    pm = PatternMatcher([(UPat.var("a") * 1, lambda a: a)])
    expr = x
    for _ in range(10):
        expr = expr * 1
    assert graph_rewrite(expr, pm, limit=10) is x
    with pytest.raises(RewriteLimitError):
        graph_rewrite(expr, pm, limit=9)


# ---------------------------------------------------------------------------------------------------------------
# track_rewrites
# ---------------------------------------------------------------------------------------------------------------


def test_track_rewrites_records_before_after_pattern() -> None:
    x = _var()
    mul1 = UPat.var("a") * 1
    add0 = UPat.var("a") + 0
    pm = PatternMatcher([(mul1, lambda a: a), (add0, lambda a: a)])
    with track_rewrites() as log:
        out = graph_rewrite((x * 1) + 0, pm)
    assert out is x
    assert all(isinstance(r, RewriteRecord) for r in log)
    assert [(r.before, r.after, r.pattern) for r in log] == [(x * 1, x, mul1), (x + 0, x, add0)]
    assert all(isinstance(r.rule, str) and r.rule for r in log)
    # outside the block nothing more is recorded
    graph_rewrite((x * 1) + 0, pm)
    assert len(log) == 2


def test_track_rewrites_nested_and_on_error() -> None:
    x = _var()
    pm = PatternMatcher([(UPat.var("a") * 1, lambda a: a)])
    with track_rewrites() as outer:
        pm.rewrite(x * 1)
        with track_rewrites() as inner:
            pm.rewrite((x + 1) * 1)
        pm.rewrite((x + 2) * 1)
    assert [r.before for r in outer] == [x * 1, (x + 1) * 1, (x + 2) * 1]
    assert [r.before for r in inner] == [(x + 1) * 1]
    with pytest.raises(ZeroDivisionError), track_rewrites() as failed:
        pm.rewrite(x * 1)
        raise ZeroDivisionError
    pm.rewrite((x + 3) * 1)
    assert len(failed) == 1


def test_track_rewrites_ignores_declined_rules() -> None:
    x = _var()
    pm = PatternMatcher([(UPat.var("a") * 1, lambda a: None), (UPat.var("a") * 1, lambda a: a * 1)])
    with track_rewrites() as log:
        assert pm.rewrite(x * 1) is None
    assert log == []


# ---------------------------------------------------------------------------------------------------------------
# graph_rewrite(once=True) and substitute
# ---------------------------------------------------------------------------------------------------------------


def test_once_rewrites_each_node_a_single_time() -> None:
    # adding 1 to every constant never reaches a fixed point; once=True applies it to each node once
    x = _var()
    inc = PatternMatcher([(UPat(Ops.CONST, name="c"), lambda c: c.const_like(c.arg + 1))])
    assert graph_rewrite(x * 3 + 5, inc, once=True) is x * 4 + 6
    with pytest.raises(RewriteLimitError):
        graph_rewrite(x * 3, inc, limit=50)


def test_once_keeps_a_result_that_looks_like_another_input() -> None:
    # 1 -> 2 and 2 -> 3: the 2 made from the 1 is not rewritten again, the 2 of the input is
    x = _var()
    inc = PatternMatcher([(UPat(Ops.CONST, name="c"), lambda c: c.const_like(c.arg + 1))])
    assert graph_rewrite(x * 1 + 2, inc, once=True) is x * 2 + 3


def test_substitute_swaps_and_does_not_visit_replaced_nodes() -> None:
    a, b = _var(), _var()
    assert substitute(a * 2 + b, {a: b, b: a}) is b * 2 + a
    # a replaced node's sources are not visited: the b inside the mapped (a + b) stays
    assert substitute((a + b) * b, {a + b: a * b, b: _c(7)}) is (a * b) * 7
    assert (a + b).substitute({a: b}) is b + b
