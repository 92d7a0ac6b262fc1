"""Compiled patterns (what PatternMatcher runs) find exactly the matches of the interpreted UPat.match."""

from __future__ import annotations

import random

import pytest

from tg_uop import Ops, UOp, UPat, dtypes, symbolic
from tg_uop.rewrite import compile_upat


def random_nodes(seed: int, n: int = 300) -> list[UOp]:
    rng = random.Random(seed)
    pool = [UOp.variable(name, -3, 9) for name in "abc"] + [UOp.const(dtypes.int32, v) for v in (-1, 0, 1, 2, 4)]
    for _ in range(n):
        a, b = rng.choice(pool), rng.choice(pool)
        op = rng.choice([Ops.ADD, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.SUB, Ops.MAX, Ops.CMPLT])
        if op in (Ops.IDIV, Ops.MOD):
            b = UOp.const(dtypes.int32, rng.choice([1, 2, 4, 8]))
        node = a.alu(op, b)
        if op is Ops.CMPLT and rng.random() < 0.5:
            node = node.where(a, b)
        pool.append(node)
    return pool


def as_sets(stores: list[dict[str, UOp]]) -> list[frozenset[tuple[str, int]]]:
    return [frozenset((k, id(v)) for k, v in s.items()) for s in stores]


@pytest.mark.parametrize("seed", range(3))
def test_compiled_symbolic_rules_match_like_the_interpreter(seed: int) -> None:
    nodes = random_nodes(seed)
    checked = 0
    for pat, _ in symbolic.patterns:
        fn = compile_upat(pat)
        assert fn is not None
        for u in nodes:
            want = pat.match(u, {})
            assert as_sets(fn(u)) == as_sets(want), (pat, u.pretty())
            checked += len(want)
    assert checked > 100  # the rules really matched things


@pytest.mark.parametrize(
    "pat",
    [
        UPat(Ops.ADD, src=[UPat.var("x"), UPat.var("x")]),  # a name bound twice
        UPat(Ops.WHERE, src=(UPat.var("c"), UPat.cvar("t"), UPat.var("f"))),
        UPat(Ops.ADD, src=(UPat.var("x"),), allow_any_len=True),
        UPat((Ops.ADD, Ops.MUL), dtype=dtypes.int32, src=UPat(Ops.CONST)),  # repeated sources
        UPat(Ops.CONST, arg=True),
        UPat(name="anything"),
    ],
)
def test_compiled_special_forms(pat: UPat) -> None:
    fn = compile_upat(pat)
    assert fn is not None
    for u in random_nodes(7, 200):
        assert as_sets(fn(u)) == as_sets(pat.match(u, {}))


def test_a_repeated_pattern_with_captures_falls_back_to_the_interpreter() -> None:
    pat = UPat(Ops.ADD, src=UPat(Ops.CONST, name="c"))
    assert compile_upat(pat) is None
    from tg_uop import PatternMatcher

    pm = PatternMatcher([(pat, lambda c: c)])
    one = UOp.const(dtypes.int32, 1)
    assert pm.rewrite(UOp(Ops.ADD, dtypes.int32, (one, one))) is one
