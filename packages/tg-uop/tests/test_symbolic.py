"""Symbolic integer math: each simplification rule, render(), sym_infer, and a fuzzer over random expressions."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tg_uop import AxisType, Ops, RangeArg, UOp, dtypes, graph_rewrite, render, sym_infer, symbolic


def _var(lo: int, hi: int, name: str | None = None) -> UOp:
    return UOp.variable(name or f"s_{uuid.uuid4().hex[:8]}", lo, hi)


def _c(v: int) -> UOp:
    return UOp.const(dtypes.int32, v)


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _c_mod(a: int, b: int) -> int:
    return a - b * _c_div(a, b)


def assert_same_values(before: UOp, after: UOp, variables: list[UOp]) -> None:
    """At every point of the variables' ranges both expressions agree and lie within both sets of bounds."""
    for point in itertools.product(*(range(v.arg[1], v.arg[2] + 1) for v in variables)):
        values = dict(zip(variables, point, strict=True))
        a, b = sym_infer(before, values), sym_infer(after, values)
        assert a == b, (point, render(before), render(after), a, b)
        assert before.vmin <= a <= before.vmax
        assert after.vmin <= b <= after.vmax


def simp(u: UOp, *variables: UOp) -> UOp:
    out = u.simplify()
    assert_same_values(u, out, list(variables))
    return out


# ---------------------------------------------------------------------------------------------------------------
# the rules of tg_uop/symbolic.py, one by one
# ---------------------------------------------------------------------------------------------------------------


def test_constant_folding() -> None:
    assert (_c(3) + _c(4)).simplify() is _c(7)
    assert (_c(-7) // _c(2)).simplify() is _c(-3)
    assert (_c(-7) % _c(2)).simplify() is _c(-1)
    assert (_c(3) < _c(4)).simplify() is UOp.const(dtypes.bool, True)
    assert ((_c(2) * _c(5)) - _c(1)).simplify() is _c(9)
    assert UOp(Ops.ADD, dtypes.int8, (UOp.const(dtypes.int8, 100), UOp.const(dtypes.int8, 100))).simplify() is (
        UOp.const(dtypes.int8, -56)
    )


def test_additive_and_multiplicative_identities() -> None:
    x = _var(-4, 6)
    assert simp(x + 0, x) is x
    assert simp(0 + x, x) is x
    assert simp(x * 1, x) is x
    assert simp(1 * x, x) is x
    assert simp(x * 0, x) is _c(0)
    assert simp(0 * x, x) is _c(0)
    assert simp(x - 0, x) is x
    assert simp(x - x, x) is _c(0)


def test_div_mod_by_one() -> None:
    x = _var(-4, 6)
    assert simp(x // 1, x) is x
    assert simp(x % 1, x) is _c(0)


def test_sub_const_becomes_add_negative() -> None:
    x = _var(-4, 6)
    assert simp(x - 3, x) is x + (-3)


def test_constants_reassociate_and_combine() -> None:
    x, y = _var(-4, 6), _var(0, 3)
    assert simp((x + 3) + 4, x) is x + 7
    assert simp((x + 3) + (-3), x) is x
    assert simp((x * 3) * 4, x) is x * 12
    assert simp((x + 2) + y, x, y) is (x + y) + 2
    assert simp((x + 2) * 3, x) is x * 3 + 6
    assert simp(((x + 1) + 2) + 3, x) is x + 6


def test_like_terms() -> None:
    x, y = _var(-4, 6), _var(0, 3)
    assert simp(x + x, x) is x * 2
    assert simp(x * 3 + x, x) is x * 4
    assert simp(x * 2 + x * 5, x) is x * 7
    assert simp((y + x * 2) + x * 3, x, y) is y + x * 5


def test_mul_then_div_by_same_const() -> None:
    x = _var(-5, 5)  # exact for negative values too
    assert simp((x * 4) // 4, x) is x
    assert simp((x * 7) // 7, x) is x


def test_div_of_multiple_plus_small_remainder() -> None:
    a, b = _var(0, 10), _var(0, 3)
    assert simp((a * 4 + b) // 4, a, b) is a
    assert simp((a * 4 + 3) // 4, a) is a
    assert simp((a * 8 + b) // 4, a, b) is a * 2
    assert simp((a * 4 + b + 4) // 4, a, b) is a + 1


def test_mod_of_multiple_plus_small_remainder() -> None:
    a, b = _var(0, 10), _var(0, 3)
    assert simp((a * 4 + b) % 4, a, b) is b
    assert simp((a * 4 + 3) % 4, a) is _c(3)
    assert simp((a * 8 + b) % 4, a, b) is b
    assert simp((a * 5 + b) % 4, a, b) is (a + b) % 4


def test_div_mod_not_folded_when_the_sign_could_differ() -> None:
    # with C truncation, (a*4+b)//4 is not a when a*4+b can be negative
    a, b = _var(-3, 3), _var(0, 3)
    out = simp((a * 4 + b) // 4, a, b)
    assert out is not a
    out = simp((a * 4 + b) % 4, a, b)
    assert out is not b


def test_small_operand_div_and_mod() -> None:
    x = _var(0, 5)
    assert simp(x % 6, x) is x
    assert simp(x % 100, x) is x
    assert simp(x // 6, x) is _c(0)
    y = _var(-1, 5)
    assert simp(y % 6, y) is y % 6  # -1 % 6 is -1 in C, but the rule only fires for x >= 0


def test_nested_div() -> None:
    x = _var(0, 100)
    assert simp((x // 2) // 3, x) is x // 6


def test_common_factor_div() -> None:
    a, b = _var(0, 9), _var(0, 9)
    assert simp((a * 4 + b * 2) // 8, a, b) is (a * 2 + b) // 4


def test_divmod_recombine() -> None:
    x = _var(-9, 9)  # holds for truncating division too
    assert simp((x // 4) * 4 + x % 4, x) is x
    y = _var(0, 5)
    assert simp((y + (x // 3) * 3) + x % 3, x, y) is y + x


def test_comparisons_decided_by_bounds() -> None:
    x = _var(0, 10)
    true, false = UOp.const(dtypes.bool, True), UOp.const(dtypes.bool, False)
    assert simp(x < 11, x) is true
    assert simp(x < 0, x) is false
    assert simp(x < 10, x) is (x < 10)
    assert simp(x.ne(11), x) is true
    assert simp(x.eq(-1), x) is false
    assert simp(x >= 0, x) is true
    assert simp(x < x, x) is false
    assert simp(x.ne(x), x) is false


def test_comparison_constants_move_across() -> None:
    x = _var(0, 10)
    assert simp(x * 2 + 1 < 7, x) is (x < 3)  # 2x+1 < 7  <=>  x < 3
    assert simp(x * 2 + 1 < 8, x) is (x < 4)  # 2x+1 < 8  <=>  x < 3.5
    assert simp(x + 3 < 5, x) is (x < 2)
    assert simp(x * 3 < 7, x) is (x < 3)
    y = _var(-10, 10)
    assert simp(y * 3 - 2 < -7, y) is (y < -1)  # 3y < -5  <=>  y <= -2


def test_single_term_forms_exhaustively() -> None:
    """x*k + c1 compared with, divided by and taken modulo small constants, for every small k, c1, c2."""
    x = _var(-6, 6)
    points = range(-6, 7)
    for k, c1 in itertools.product(range(-3, 5), range(-5, 6)):
        lin = x * k + c1
        for c2 in range(-9, 10):
            out = (lin < c2).simplify()
            assert [sym_infer(out, {x: p}) for p in points] == [k * p + c1 < c2 for p in points], (k, c1, c2)
        for d in range(1, 6):
            q, r = (lin // d).simplify(), (lin % d).simplify()
            assert [sym_infer(q, {x: p}) for p in points] == [_c_div(k * p + c1, d) for p in points], (k, c1, d)
            assert [sym_infer(r, {x: p}) for p in points] == [_c_mod(k * p + c1, d) for p in points], (k, c1, d)


def test_max_decided_by_bounds() -> None:
    x, y, z = _var(5, 9), _var(0, 5), _var(0, 7)
    assert simp(x.maximum(y), x, y) is x
    assert simp(y.maximum(x), x, y) is x
    assert simp(x.maximum(z), x, z) is x.maximum(z)
    assert simp(x.maximum(3), x) is x


def test_where_with_decided_condition() -> None:
    x, a, b = _var(0, 10), _var(-2, 2), _var(3, 4)
    assert simp((x < 20).where(a, b), x, a, b) is a
    assert simp((x < 0).where(a, b), x, a, b) is b
    assert simp((x < 5).where(a, a), x, a) is a
    assert simp((x < 5).where(a, b), x, a, b) is ((x < 5).where(a, b))


def test_bool_logic() -> None:
    x = _var(0, 10)
    c = x < 5
    true, false = UOp.const(dtypes.bool, True), UOp.const(dtypes.bool, False)
    assert simp(c & true, x) is c
    assert simp(true & c, x) is c
    assert simp(c & false, x) is false
    assert simp(c | false, x) is c
    assert simp(c | true, x) is true
    assert simp(c & c, x) is c


def test_casts() -> None:
    x = _var(0, 10)
    assert UOp.const(dtypes.int32, 7).cast(dtypes.int64).simplify() is UOp.const(dtypes.int64, 7)
    assert UOp.const(dtypes.int32, 300).cast(dtypes.uint8).simplify() is UOp.const(dtypes.uint8, 44)
    assert UOp(Ops.CAST, dtypes.int32, (x,)).simplify() is x
    assert x.cast(dtypes.int64).simplify() is x.cast(dtypes.int64)


def test_canonical_order_puts_constants_right() -> None:
    x = _var(-4, 6)
    assert simp(3 + x, x) is x + 3
    assert simp(3 * x, x) is x * 3
    assert simp(UOp.const(dtypes.int32, 3).maximum(x), x) is x.maximum(3)


def test_simplify_is_a_fixed_point() -> None:
    a, b, c = _var(0, 7), _var(0, 3), _var(-2, 2)
    expr = ((a * 4 + b) // 4 * 4 + (a * 4 + b) % 4 + c * 2 + c + 0) * 1
    out = simp(expr, a, b, c)
    assert out.simplify() is out
    assert graph_rewrite(out, symbolic) is out
    assert all(symbolic.rewrite(n) is None for n in out.toposort())


def test_index_expression_from_a_view() -> None:
    g, r = _var(0, 15, "gidx0"), _var(0, 3, "ridx0")
    assert ((g * 4 + r) // 4).render() == "gidx0"
    assert ((g * 4 + r) % 4).render() == "ridx0"
    assert ((g * 4 + r) // 2 % 2).render() == "(ridx0//2)"


# ---------------------------------------------------------------------------------------------------------------
# render
# ---------------------------------------------------------------------------------------------------------------


def test_render_text() -> None:
    x, y = _var(0, 9, "x"), _var(0, 9, "y")
    assert render(x) == "x"
    assert render(_c(-4)) == "-4"
    assert render(x * 4 + y + 3) == "(x*4+y+3)"
    assert render(x + (-3)) == "(x-3)"
    assert render(x - y) == "(x-y)"
    assert render(x * y) == "(x*y)"
    assert render(x // 4) == "(x//4)"
    assert render(x % 4) == "(x%4)"
    assert render(x < 3) == "(x<3)"
    assert render(x.ne(3)) == "(x!=3)"
    assert render(x.eq(3)) == "(x==3)"
    assert render(-x) == "(-x)"
    assert render(x.maximum(y)) == "max(x, y)"
    assert render((x < 3).where(x, y)) == "(x if (x<3) else y)"
    assert render(UOp.const(dtypes.bool, True)) == "True"
    assert render(x.cast(dtypes.int64)) == "x"
    assert render(x.bind(3)) == "x"
    assert render(UOp(Ops.RANGE, dtypes.int32, (_c(8),), RangeArg(1, AxisType.REDUCE))) == "ridx1"
    assert render(UOp(Ops.SPECIAL, dtypes.int32, (), ("gidx0", 8))) == "gidx0"
    assert render(x * 1 + 0) == "(x*1+0)"  # render does not simplify
    assert (x * 1 + 0).render() == "x"
    assert (x * 1 + 0).render(simplify=False) == "(x*1+0)"
    load = UOp(Ops.LOAD, dtypes.int32, (UOp(Ops.DEFINE_GLOBAL, dtypes.int32.ptr(), (), 0),))
    assert render(load).startswith("LOAD(")


# ---------------------------------------------------------------------------------------------------------------
# sym_infer
# ---------------------------------------------------------------------------------------------------------------


def test_sym_infer() -> None:
    x, y = _var(0, 10, "x"), _var(-5, 5, "y")
    assert sym_infer(x * 3 + 1, {x: 4}) == 13
    assert sym_infer(x * 3 + 1, {"x": 4}) == 13
    assert sym_infer(x // y, {x: 7, y: -2}) == -3
    assert sym_infer(x % y, {x: 7, y: -2}) == 1
    assert sym_infer(y % 3, {y: -4}) == -1
    assert sym_infer((x < y).where(x, y * 2), {x: 1, y: 2}) == 1
    assert sym_infer((x < y).where(x, y * 2), {x: 3, y: 2}) == 4
    assert sym_infer(x.maximum(y), {x: 1, y: 4}) == 4
    assert sym_infer(x.cast(dtypes.int8) * UOp.const(dtypes.int8, 100), {x: 3}) == 300 - 256  # int8 wraps
    assert sym_infer(x.cast(dtypes.int64) * 100, {x: 3}) == 300
    assert sym_infer(17, {}) == 17
    with pytest.raises(KeyError, match="y"):
        sym_infer(x + y, {x: 1})
    load = UOp(Ops.LOAD, dtypes.int32, (UOp(Ops.DEFINE_GLOBAL, dtypes.int32.ptr(), (), 0),))
    with pytest.raises(ValueError):
        sym_infer(load + 1, {})


# ---------------------------------------------------------------------------------------------------------------
# fuzzer: random expressions, simplified and not, agree everywhere and stay within their bounds
# ---------------------------------------------------------------------------------------------------------------

Tree = tuple[Any, ...]

_PY_BIN: dict[str, Callable[[int, int], int]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "max": max,
}


def _trees(nvars: int) -> st.SearchStrategy[Tree]:
    leaf = st.one_of(
        st.tuples(st.just("var"), st.integers(0, nvars - 1)),
        st.tuples(st.just("const"), st.integers(-5, 5)),
    )

    def extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        return st.one_of(
            st.tuples(st.sampled_from(sorted(_PY_BIN)), children, children),
            st.tuples(st.sampled_from(["div", "mod"]), children, st.integers(1, 6)),
            st.tuples(st.just("mulc"), children, st.integers(-4, 4)),
            st.tuples(st.just("where"), children, st.integers(-6, 6), children, children),
        )

    return st.recursive(leaf, extend, max_leaves=8)


def _eval(t: Tree, env: tuple[int, ...]) -> int:
    kind = t[0]
    if kind == "var":
        return env[t[1]]
    if kind == "const":
        return t[1]
    if kind in _PY_BIN:
        return _PY_BIN[kind](_eval(t[1], env), _eval(t[2], env))
    if kind == "mulc":
        return _eval(t[1], env) * t[2]
    if kind == "div":
        return _c_div(_eval(t[1], env), t[2])
    if kind == "mod":
        return _c_mod(_eval(t[1], env), t[2])
    assert kind == "where"
    return _eval(t[3], env) if _eval(t[1], env) < t[2] else _eval(t[4], env)


def _build(t: Tree, variables: list[UOp]) -> UOp:
    kind = t[0]
    if kind == "var":
        return variables[t[1]]
    if kind == "const":
        return _c(t[1])
    if kind == "add":
        return _build(t[1], variables) + _build(t[2], variables)
    if kind == "sub":
        return _build(t[1], variables) - _build(t[2], variables)
    if kind == "mul":
        return _build(t[1], variables) * _build(t[2], variables)
    if kind == "max":
        return _build(t[1], variables).maximum(_build(t[2], variables))
    if kind == "mulc":
        return _build(t[1], variables) * t[2]
    if kind == "div":
        return _build(t[1], variables) // t[2]
    if kind == "mod":
        return _build(t[1], variables) % t[2]
    return (_build(t[1], variables) < t[2]).where(_build(t[3], variables), _build(t[4], variables))


_ranges = st.lists(
    st.tuples(st.integers(-5, 3), st.integers(0, 4)).map(lambda p: (p[0], p[0] + p[1])), min_size=2, max_size=3
)


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[tuple[int, int]], Tree]:
    ranges = draw(_ranges)
    return ranges, draw(_trees(len(ranges)))


@given(_case())
@settings(max_examples=200, deadline=None)
def test_fuzz_simplify_keeps_values_and_bounds(case: tuple[list[tuple[int, int]], Tree]) -> None:
    ranges, tree = case
    variables = [UOp.variable(f"f{i}", lo, hi) for i, (lo, hi) in enumerate(ranges)]
    expr = _build(tree, variables)
    simple = expr.simplify()
    for point in itertools.product(*(range(lo, hi + 1) for lo, hi in ranges)):
        want = _eval(tree, point)
        got_raw = sym_infer(expr, dict(zip(variables, point, strict=True)))
        got_simple = sym_infer(simple, dict(zip(variables, point, strict=True)))
        assert got_raw == want, (point, render(expr))
        assert got_simple == want, (point, render(expr), render(simple))
        assert expr.vmin <= want <= expr.vmax, (point, render(expr), expr.vmin, expr.vmax)
        assert simple.vmin <= want <= simple.vmax, (point, render(simple), simple.vmin, simple.vmax)


@st.composite
def _linear_case(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[int], int, str, int, int]:
    ranges = draw(_ranges)
    coeffs = draw(st.lists(st.one_of(st.just(0), st.integers(-4, 8)), min_size=len(ranges), max_size=len(ranges)))
    return (
        ranges,
        coeffs,
        draw(st.integers(-10, 10)),
        draw(st.sampled_from(["div", "mod", "lt", "divmod", "moddiv"])),
        draw(st.integers(1, 8)),
        draw(st.integers(-12, 12)),
    )


@given(_linear_case())
@settings(max_examples=200, deadline=None)
def test_fuzz_linear_index_forms(case: tuple[list[tuple[int, int]], list[int], int, str, int, int]) -> None:
    """The shapes index math takes: (sum k_i*v_i + c) // d, % d, < c2, and nested div/mod."""
    ranges, coeffs, const, kind, d, c2 = case
    variables = [UOp.variable(f"l{i}", lo, hi) for i, (lo, hi) in enumerate(ranges)]
    lin = _c(const)
    for v, k in zip(variables, coeffs, strict=True):
        lin = v * k + lin
    expr = {
        "div": lambda: lin // d,
        "mod": lambda: lin % d,
        "lt": lambda: lin < c2,
        "divmod": lambda: (lin // d) % 3,
        "moddiv": lambda: (lin % d) // 2,
    }[kind]()

    def ref(point: tuple[int, ...]) -> int | bool:
        value = const + sum(k * p for k, p in zip(coeffs, point, strict=True))
        return {
            "div": lambda: _c_div(value, d),
            "mod": lambda: _c_mod(value, d),
            "lt": lambda: value < c2,
            "divmod": lambda: _c_mod(_c_div(value, d), 3),
            "moddiv": lambda: _c_div(_c_mod(value, d), 2),
        }[kind]()

    simple = expr.simplify()
    for point in itertools.product(*(range(lo, hi + 1) for lo, hi in ranges)):
        env = dict(zip(variables, point, strict=True))
        want = ref(point)
        assert sym_infer(expr, env) == want
        assert sym_infer(simple, env) == want, (point, render(expr), render(simple))
        assert simple.vmin <= want <= simple.vmax, (point, render(simple), simple.vmin, simple.vmax)


def test_fuzz_helpers_agree_with_hand_values() -> None:
    # the independent evaluator the fuzzer trusts
    tree = ("where", ("mod", ("var", 0), 3), 1, ("div", ("sub", ("var", 1), ("const", 4)), 2), ("const", 9))
    assert _eval(tree, (-4, 1)) == -1  # -4 % 3 == -1 < 1, (1-4)/2 truncates to -1
    assert _eval(tree, (5, 1)) == 9  # 5 % 3 == 2
    assert _eval(("max", ("var", 0), ("const", -2)), (-3,)) == -2
