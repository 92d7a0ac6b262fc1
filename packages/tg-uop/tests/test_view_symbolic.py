"""Views whose shapes contain Variables: for every value of the variable, the symbolic view's index and
validity equal those of the same view built with that value as a plain int (and the int views are checked
against a pure-Python reference in test_view.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tg_uop import ShapeTracker, UOp, sym_infer
from tg_uop.view import sym_equal

N = UOp.variable("n", 1, 5)

# each case builds a tracker from a dim `d` (the variable, or an int standing for it)
CASES: dict[str, Callable[[object], ShapeTracker]] = {
    "contiguous": lambda d: ShapeTracker.from_shape((d, 3)),
    "permute": lambda d: ShapeTracker.from_shape((d, 3)).permute((1, 0)),
    "flatten": lambda d: ShapeTracker.from_shape((d, 3)).reshape((d * 3,)),
    "permute then flatten": lambda d: ShapeTracker.from_shape((d, 3)).permute((1, 0)).reshape((d * 3,)),
    "add size-1 dims": lambda d: ShapeTracker.from_shape((2, d)).permute((1, 0)).reshape((d, 1, 2)),
    "expand": lambda d: ShapeTracker.from_shape((1, 3)).expand((d, 3)),
    "pad": lambda d: ShapeTracker.from_shape((d, 2)).pad(((1, 0), (0, 2))),
    "flip": lambda d: ShapeTracker.from_shape((d, 2)).flip((True, False)),
    "shrink": lambda d: ShapeTracker.from_shape((d, 4)).shrink(((0, d), (1, 3))),
    "pad then shrink": lambda d: ShapeTracker.from_shape((d, 2)).pad(((2, 1), (0, 0))).shrink(((1, d + 2), (0, 2))),
}


def _concrete(shape: tuple[object, ...], n: int) -> tuple[int, ...]:
    return tuple(int(sym_infer(s, {"n": n})) if isinstance(s, UOp) else int(s) for s in shape)


@pytest.mark.parametrize("name", list(CASES))
def test_symbolic_view_matches_the_concrete_one(name: str) -> None:
    sym = CASES[name](N)
    for n in range(1, 6):
        con = CASES[name](n)
        assert _concrete(sym.shape, n) == con.shape
        idx_vars = [UOp.variable(f"i{k}", 0, 64) for k in range(len(con.shape))]
        s_idx, s_valid = sym.to_indexed_uops(idx_vars)
        c_idx, c_valid = con.to_indexed_uops(idx_vars)
        for point in itertools.product(*(range(d) for d in con.shape)):
            env = {"n": n, **{f"i{k}": v for k, v in enumerate(point)}}
            assert bool(sym_infer(s_valid, env)) == bool(sym_infer(c_valid, env)), (name, n, point)
            if sym_infer(c_valid, env):
                assert sym_infer(s_idx, env) == sym_infer(c_idx, env), (name, n, point)


def test_symbolic_sizes_compare_by_simplification() -> None:
    assert sym_equal(N * 3, 3 * N)
    assert sym_equal(N * 4 + N * 2, N * 6)
    assert not sym_equal(N * 3, N * 4)
    assert sym_equal(6, 6) and not sym_equal(6, 7)


def test_reshape_to_a_different_symbolic_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot reshape"):
        ShapeTracker.from_shape((N, 3)).reshape((N * 4,))


def test_a_contiguous_symbolic_view_stays_one_view() -> None:
    st = ShapeTracker.from_shape((N, 3)).reshape((N * 3,)).reshape((N, 3))
    assert len(st.views) == 1 and st.contiguous
