"""Bound variables in tensor graphs (tg_uop.bound) and symbolic dims in views."""

from __future__ import annotations

import pytest

from tg_uop import Ops, ShapeTracker, UOp, Variable, dtypes
from tg_uop.bound import VariableConflict, bind_graph, concrete, max_size, unbind_graph
from tg_uop.view import canonical_dim, sym_equal

n = Variable("n", 1, 10)
m = Variable("m", 0, 5)


def ones(shape: tuple) -> UOp:
    return UOp.const(dtypes.float, 1.0).reshape((1,) * len(shape)).expand(shape)


@pytest.mark.parametrize("k", (1, 4, 10))
def test_unbind_and_bind_round_trip(k: int) -> None:
    g = ones((n.bind(k), 3)).shrink(((0, n.bind(k)), (1, 3))).pad(((0, m.bind(2)), (0, 0)))
    (u,), vals = unbind_graph([g])
    assert vals == {n: k, m: 2}
    assert not any(x.op is Ops.BIND for x in u.toposort())
    assert u.shape is not None and [canonical_dim(s) for s in u.shape] == [canonical_dim(n + m), 2]
    back = bind_graph(u, vals)
    assert [concrete(s) for s in back.shape] == [k + 2, 2]
    # values are not part of the unbound graph: every value gives the same one
    assert (
        unbind_graph([ones((n.bind(3), 3)).shrink(((0, n.bind(3)), (1, 3))).pad(((0, m.bind(2)), (0, 0)))])[0][0] is u
    )


def test_a_graph_without_variables_comes_back_unchanged() -> None:
    g = ones((2, 3))
    assert unbind_graph([g]) == ([g], {})


def test_one_variable_with_two_values_is_refused() -> None:
    with pytest.raises(VariableConflict):
        unbind_graph([ones((n.bind(2),)), ones((n.bind(3),))])


def test_bind_checks_the_range() -> None:
    with pytest.raises(ValueError, match=r"n=11 is outside \[1, 10\]"):
        n.bind(11)
    with pytest.raises(ValueError, match="only a variable"):
        (n + 1).bind(3)


def test_concrete_and_max_size() -> None:
    assert concrete(n.bind(4) * 3 + 1) == 13 and concrete(7) == 7
    assert max_size(n * 3 + 1) == 31 and max_size(5) == 5
    with pytest.raises(ValueError, match="unbound"):
        concrete(n + 1)


def test_symbolic_dims_simplify_and_compare() -> None:
    s = Variable("s", 0, 9)
    assert canonical_dim((s + 1) - s) == 1
    assert sym_equal(n * 4, 4 * n) and sym_equal((n + 2) - 2, n) and not sym_equal(n, n + 1)
    st = ShapeTracker.from_shape((10, 4)).shrink(((s, s + 1), (0, 4)))
    assert st.shape == (1, 4)
    st = ShapeTracker.from_shape((n * 4,)).reshape((n, 4)).expand((n, 4))
    assert st.shape == (n, 4) and st.contiguous


def test_repr_of_a_bound_dim() -> None:
    assert repr(n.bind(3)) == "<UOp BIND n=3>"
