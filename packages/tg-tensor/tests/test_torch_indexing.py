"""Indexing against PyTorch: `t[...]` (basic and advanced), `t[...] = v`, `gather`, forward and backward,
and the errors they raise at the call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_same, check, rand

from tg_tensor import Tensor, dtypes
from tg_uop.helpers import Context
from tg_uop.ops import Ops

S = slice(None)


def _torch_index(ix: tuple) -> tuple:
    return tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in ix)


def _tg_index(ix: tuple) -> tuple:
    return tuple(Tensor(i) if isinstance(i, np.ndarray) else i for i in ix)


# ---- basic indexing: views ----

BASIC = [
    (1,),
    (-1,),
    (0, 2, -1),
    (S, -2),
    (slice(1, None),),
    (slice(None, 2),),
    (slice(None, None, 2),),
    (slice(1, None, 3), slice(None, None, 2)),
    (S, slice(1, 4, 2), slice(0, 5, 4)),
    (slice(-100, 100),),
    (slice(5, 10),),
    (slice(2, 1),),
    (Ellipsis, 1),
    (1, Ellipsis),
    (Ellipsis,),
    (None,),
    (None, 1, Ellipsis, None),
    (S, None, S, None),
    (Ellipsis, 1, None),
    (0, slice(1, 3), slice(None, None, 3)),
    (),
]


@pytest.mark.parametrize("ix", BASIC, ids=[str(i) for i in BASIC])
def test_basic_index_matches_torch(ix):
    check(lambda x: x[ix], lambda x: x[ix], (3, 4, 5))


def _torch_negative_steps(x: torch.Tensor, ix: tuple) -> torch.Tensor:
    # PyTorch refuses negative steps: select the same elements with index_select on each such axis
    for axis, s in enumerate(ix):
        x = x.index_select(axis, torch.tensor(list(range(x.shape[axis]))[s], dtype=torch.long))
    return x


NEGATIVE = [
    (slice(None, None, -1),),
    (slice(None, None, -2), S, slice(None, None, -3)),
    (slice(2, 0, -1), slice(3, None, -2)),
    (S, slice(-1, -5, -3)),
    (S, slice(0, 3, -1)),  # empty
    (slice(100, -100, -2),),
]


@pytest.mark.parametrize("ix", NEGATIVE, ids=[str(i) for i in NEGATIVE])
def test_negative_steps_match_numpy(ix):
    a = rand(3, 4, 5)
    np.testing.assert_array_equal(Tensor(a)[ix].numpy(), a[ix])
    check(lambda x: x[ix], lambda x: _torch_negative_steps(x, ix), a)


def test_basic_index_is_a_view_with_no_kernel(kernels):
    t = Tensor(rand(3, 4, 5)).realize()
    buf = t.uop.base.arg
    for ix in [(1, slice(None, None, 2), None, slice(1, -1, 3)), (slice(None, None, -1),), (Ellipsis, slice(0, 5, 4))]:
        v = t[ix]
        assert kernels(v) == 0
        v.realize()
        assert v.uop.base.op is Ops.BUFFER and v.uop.base.arg is buf


def test_basic_index_of_a_lazy_value_fuses(kernels):
    x = Tensor(rand(6, 6)).realize()
    assert kernels((x * 2 + 1)[1::2, ::-3] + 1) == 1


def test_index_of_0d_tensor():
    a = np.array(3.5, dtype=np.float32)
    for ix in [(), Ellipsis, None, (None, Ellipsis, None)]:
        check(lambda x, ix=ix: x[ix], lambda x, ix=ix: x[ix], a)
    with pytest.raises(IndexError, match="too many indices"):
        Tensor(a)[0]


def test_index_of_empty_tensors():
    check(lambda x: x[:, 1:], lambda x: x[:, 1:], (0, 3))
    check(lambda x: x[:, [2, 0]], lambda x: x[:, [2, 0]], (0, 3))
    check(lambda x: x[[]], lambda x: x[[]], (3, 4))
    check(lambda x: x[1, []], lambda x: x[1, []], (3, 4))
    check(lambda x: x[[1]], lambda x: x[[1]], (3, 0))


def test_bool_scalar_index():
    check(lambda x: x[True], lambda x: x[True], (2, 3))
    check(lambda x: x[False], lambda x: x[False], (2, 3))


def test_iteration_gives_rows():
    a = rand(3, 2)
    rows = list(Tensor(a))
    assert len(rows) == 3
    np.testing.assert_array_equal(rows[2].numpy(), a[2])
    with pytest.raises(TypeError, match="0-d"):
        list(Tensor(1.0))


# ---- advanced indexing ----

I2 = np.array([[0, 2], [1, -1]])
J2 = np.array([3, -4])
ADVANCED = [
    ([0, 2],),
    ([[0, 1], [2, 0]],),
    ([-1, 0, -3],),
    ([1, 1, 1],),  # repeated: gradients add up
    (I2,),
    (S, J2, I2),  # broadcast together, adjacent: in place
    (I2, S, J2),  # separated: the index dims go first
    ([0], None, [0]),
    (Ellipsis, [1, 2]),
    ([[0, 1]], S, [[1], [2]]),
    (S, [1, 3], slice(1, 4, 2)),
    (slice(None, None, 2), [3, 1]),
    ([1, 2], S, 0),  # an int is applied first (PyTorch), so [1, 2] stands alone
    (0, S, [1, 2]),
    (1, [0, 1], [1, 2]),
    (np.array(1), S, J2),  # a 0-d tensor acts like an int
    (S, np.array(-1), J2),
    (None, [2, 0], None, 1),
]


@pytest.mark.parametrize("ix", ADVANCED, ids=[str(i).replace("\n", "") for i in ADVANCED])
def test_advanced_index_matches_torch(ix):
    check(lambda x: x[_tg_index(ix)], lambda x: x[_torch_index(ix)], (3, 4, 5))


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.bool_, np.float16])
def test_advanced_index_keeps_dtype(dtype):
    a = rand(4, 3, dtype=dtype, low=-50, high=50)
    out = check(lambda x: x[[3, 0, 3], 1:], lambda x: x[[3, 0, 3], 1:], a, grad=False)
    assert out.dtype == Tensor(a).dtype


def test_advanced_index_with_lazy_index_is_one_kernel(kernels):
    x = Tensor(rand(5, 4)).realize()
    idx = Tensor([4, 0, -2]) * 1  # computed in the graph: unchecked, never read on the host
    with Context(CHECK_INDEX=0):
        out = x[idx, 1:] * 2
    assert idx.uop.op is Ops.MUL  # still lazy
    assert kernels(out) == 1
    np.testing.assert_allclose(out.numpy(), x.numpy()[[4, 0, -2], 1:] * 2)


def test_out_of_range_index_tensor_reads_zero_unchecked():
    # documented: with the check off (the unchecked fast path) the element selects nothing
    x = Tensor(rand(3, 2, low=1, high=2))
    with Context(CHECK_INDEX=0):
        assert x[Tensor([5, -4])].tolist() == [[0.0, 0.0], [0.0, 0.0]]


MASKS = [
    (np.array([True, False, True]),),
    (S, np.array([False, True, True, False])),
    (rand(3, 4, dtype=np.bool_),),
    (rand(3, 4, 5, dtype=np.bool_, seed=3),),
    ([True, True, False],),
]


@pytest.mark.parametrize("ix", MASKS, ids=["mask0", "mask1", "mask2d", "mask3d", "list"])
def test_bool_mask_index_matches_torch(ix):
    check(lambda x: x[_tg_index(ix)], lambda x: x[_torch_index(ix)], (3, 4, 5))


def test_mask_from_a_comparison():
    check(lambda x: x[x > 0], lambda x: x[x > 0], (4, 3))


# ---- setitem ----


def _set(x, ix, v):
    y = x * 1  # not a leaf: PyTorch allows in-place writes into it and differentiates them
    y[ix] = v
    return y


SETS = [
    ((1,), (5,)),
    ((S, 2), (5,)),
    ((S, 2), (3, 1)),
    ((S, 2), (1,)),
    ((slice(1, None), slice(None, None, 2)), (2, 1, 5)),
    ((slice(None, None, 2), slice(1, 4, 2)), (2, 1)),
    ((Ellipsis, -1), (3, 4)),
    ((None, 0), (1, 4, 5)),
    ((0,), (1, 1, 4, 5)),  # leading 1s of the value are dropped
    ((), (3, 4, 5)),
    (([0, 2],), (2, 4, 5)),
    ((S, [3, 0], [1, 4]), (3, 2)),
    (([2, 0], S, [4, 1]), (2, 4)),  # separated: the index dim goes first
    ((1, [0, 3]), (5,)),
    ((np.array([[0], [2]]), np.array([1, 3])), (2, 2, 5)),
]


@pytest.mark.parametrize("ix,vshape", SETS, ids=[str(s[0]).replace("\n", "") for s in SETS])
def test_setitem_matches_torch(ix, vshape):
    check(lambda x, v: _set(x, _tg_index(ix), v), lambda x, v: _set(x, _torch_index(ix), v), (3, 4, 5), vshape)


def test_setitem_scalars_and_negative_steps():
    a = rand(4, 5)
    t = Tensor(a).realize()
    t[::-2, 1] = 7.0
    t[2, ::-3] = -1
    a[::-2, 1] = 7.0
    a[2, ::-3] = -1
    np.testing.assert_array_equal(t.numpy(), a)


def test_setitem_writes_into_the_buffer_and_views_see_it():
    t = Tensor(rand(3, 4)).realize()
    buf = t.uop.base.arg
    row, col = t[1], t[:, 2]  # views taken before the write
    t[1, 2] = 9.0
    assert t.uop.base.arg is buf
    assert row.numpy()[2] == 9.0 and col.numpy()[1] == 9.0


def test_setitem_through_a_view_writes_the_base():
    t = Tensor(np.zeros((3, 4), np.float32)).realize()
    row = t[1]
    row[::2] = 1.0
    assert t.tolist() == [[0.0] * 4, [1.0, 0.0, 1.0, 0.0], [0.0] * 4]


def test_setitem_value_reading_the_target():
    a = rand(4, 3)
    t = Tensor(a).realize()
    t[1:] = t[:-1]
    a[1:] = a[:-1].copy()
    np.testing.assert_array_equal(t.numpy(), a)


def test_setitem_on_an_unrealized_tensor():
    t = Tensor.zeros(2, 3)
    t[:, 1] = Tensor([1.0, 2.0])
    assert t.tolist() == [[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]]


def test_setitem_casts_the_value():
    t = Tensor([1, 2, 3]).realize()
    t[1] = 7.9
    t[[0, 2]] = Tensor([True, False])
    assert t.dtype == dtypes.int32
    assert t.tolist() == [1, 7, 0]


def test_setitem_repeated_indices_last_wins():
    t = Tensor(np.zeros(5, np.float32)).realize()
    t[[1, 3, 1]] = Tensor([1.0, 2.0, 3.0])
    assert t.tolist() == [0.0, 3.0, 0.0, 2.0, 0.0]


def test_setitem_with_index_tensor_and_broadcast_value():
    th = torch.tensor(rand(3, 4))
    t = Tensor(th.numpy()).realize()
    idx = np.array([[2], [0]])
    t[Tensor(idx), 1:3] = Tensor([5.0, 6.0])
    th[torch.tensor(idx), 1:3] = torch.tensor([5.0, 6.0])
    assert_same(t, th)


def test_setitem_mask():
    a = rand(3, 4)
    th = torch.tensor(a)
    t = Tensor(a).realize()
    t[t > 0] = 0.5  # a lone mask and a scalar: a where, no host read
    th[th > 0] = 0.5
    assert_same(t, th)
    m = a < -1
    t[:, m[0]] = Tensor(2.0)
    th[:, torch.tensor(m[0])] = 2.0
    assert_same(t, th)
    t[Tensor(m)] = Tensor(np.arange(m.sum(), dtype=np.float32))  # one value per True: read on the host
    th[torch.tensor(m)] = torch.arange(int(m.sum()), dtype=torch.float32)
    assert_same(t, th)


def test_setitem_mask_gradient():
    check(lambda x: _set(x, x > 0, 0.0), lambda x: _set(x, x > 0, 0.0), (3, 4))


def test_setitem_value_gradient_into_a_fresh_tensor():
    v = Tensor(rand(2, 3), requires_grad=True)
    y = Tensor.zeros(4, 3).contiguous()
    y[1:3] = v * 2
    (y * Tensor(rand(4, 3, seed=5))).sum().backward()
    assert v.grad is not None
    np.testing.assert_allclose(v.grad.numpy(), rand(4, 3, seed=5)[1:3] * 2, rtol=1e-6)


def test_setitem_on_a_leaf_keeps_it_a_leaf():
    w = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w[0, 0] = 5.0
    (w * w).sum().backward()
    assert w.grad is not None
    assert w.grad.tolist() == [[10.0, 2.0, 2.0], [2.0, 2.0, 2.0]]


def test_setitem_that_selects_nothing_is_a_no_op():
    t = Tensor([1.0, 2.0]).realize()
    t[2:] = 5.0
    t[[]] = 5.0
    t[False] = 5.0
    assert t.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="cannot be assigned"):
        t[2:] = Tensor([1.0, 2.0, 3.0])


def test_failed_setitem_leaves_the_tensor_unchanged():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]]).realize()
    with pytest.raises(
        ValueError, match=r"setitem: a value of shape \(3,\) cannot be assigned to an index of shape \(2,\)"
    ):
        t[0] = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="out of range"):
        t[5] = 1.0
    with pytest.raises(TypeError, match="cannot assign a str"):
        t[0] = "x"
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]


# ---- gather ----

GATHERS = [
    (0, np.array([[0, 1, 2, 0], [2, 2, 1, 0]])),
    (1, np.array([[0, 3], [1, 1], [3, 2]])),
    (-1, np.array([[1], [0]])),
    (1, np.array([[0, 0, 0, 0, 0]])),  # repeated: gradients add up
    (0, np.zeros((0, 4), np.int64)),
]


@pytest.mark.parametrize("dim,idx", GATHERS, ids=[f"dim{d}-{i.shape}" for d, i in GATHERS])
def test_gather_matches_torch(dim, idx):
    check(lambda x: x.gather(dim, Tensor(idx)), lambda x: x.gather(dim, torch.tensor(idx)), (3, 4))


def test_gather_3d_and_0d():
    idx = rand(2, 3, 2, low=0, high=4, dtype=np.int64)
    check(lambda x: x.gather(1, Tensor(idx)), lambda x: x.gather(1, torch.tensor(idx)), (2, 4, 3))
    zero = np.array(0)
    check(lambda x: x.gather(0, Tensor(zero)), lambda x: x.gather(0, torch.tensor(zero)), np.array(1.5, np.float32))


def test_gather_negative_index_counts_from_the_end():
    x = Tensor([[1, 2, 3], [4, 5, 6]])
    assert x.gather(1, Tensor([[-1], [-3]])).tolist() == [[3], [4]]


def test_gather_int_dtype():
    a = rand(3, 4, dtype=np.int32, low=-9, high=9)
    idx = np.array([[3, 0], [1, 1]])
    check(lambda x: x.gather(1, Tensor(idx)), lambda x: x.gather(1, torch.tensor(idx)), a, same_dtype=True)


def test_gather_errors():
    x = Tensor(rand(3, 4))
    with pytest.raises(TypeError, match="integer tensor"):
        x.gather(0, Tensor([[0.5]]))
    with pytest.raises(ValueError, match=r"gather: index of shape \(2,\) must have as many axes"):
        x.gather(0, Tensor([0, 1]))
    with pytest.raises(ValueError, match=r"larger than the input \(3, 4\)"):
        x.gather(1, Tensor([[0]] * 4))
    with pytest.raises(IndexError, match="gather: axis 2"):
        x.gather(2, Tensor([[0]]))


# ---- errors at the call ----


def test_int_index_out_of_range_names_axis_index_and_size():
    x = Tensor(rand(3, 4))
    with pytest.raises(IndexError, match="index 3 is out of range for axis 0 of size 3"):
        x[3]
    with pytest.raises(IndexError, match="index -5 is out of range for axis 1 of size 4"):
        x[0, -5]
    with pytest.raises(IndexError, match="index 4 is out of range for axis 1 of size 4"):
        x[:, [0, 4]]
    with pytest.raises(IndexError, match="index 9 is out of range for axis 0 of size 3"):
        x[np.array([9])]


def test_index_type_and_count_errors():
    x = Tensor(rand(3, 4))
    with pytest.raises(IndexError, match=r"too many indices for a tensor of shape \(3, 4\)"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="too many indices"):
        x[[True, False, True], 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(TypeError, match="got float"):
        x[1.0]
    with pytest.raises(TypeError, match="slice bounds must be ints"):
        x[0.5:]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(TypeError, match="integer or bool"):
        x[Tensor([0.0, 1.0])]
    with pytest.raises(TypeError, match="only integers or bools"):
        x[[0.5, 1.5]]
    with pytest.raises(TypeError, match="got str"):
        x["a"]
    with pytest.raises(IndexError, match=r"mask of shape \(2,\) cannot index axes 0.. of shape \(3,\)"):
        x[[True, False]]
    with pytest.raises(IndexError, match=r"shapes \[\(2,\), \(3,\)\] cannot be broadcast"):
        x[[0, 1], [0, 1, 2]]


# ---- index_select, masked_fill, masked_select ----


@pytest.mark.parametrize(
    "dim,idx",
    [(0, np.array([2, 0, 2])), (1, np.array([3])), (-1, np.array([4, 0])), (1, np.array(2)), (0, np.zeros(0, int))],
    ids=str,
)
def test_index_select_matches_torch(dim, idx):
    check(
        lambda x: x.index_select(dim, Tensor(idx)),
        lambda x: x.index_select(dim, torch.tensor(idx, dtype=torch.int64)),
        (3, 4, 5),
    )


def test_index_select_list_0d_input_and_errors():
    assert Tensor([[1, 2], [3, 4]]).index_select(0, [1, 1]).tolist() == [[3, 4], [3, 4]]
    check(lambda x: x.index_select(0, Tensor([0])), lambda x: x.index_select(0, torch.tensor([0])), ())
    with pytest.raises(ValueError, match=r"index_select: a 0-d input takes one index, got an index of shape \(2,\)"):
        Tensor(1.0).index_select(0, Tensor([0, 0]))
    x = Tensor(rand(3, 4))
    with pytest.raises(ValueError, match=r"index_select: the index must be 1-d or 0-d, got shape \(1, 2\)"):
        x.index_select(0, Tensor([[0, 1]]))
    with pytest.raises(TypeError, match="index_select: the index must be an integer tensor"):
        x.index_select(0, Tensor([0.0]))
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(2, Tensor([0]))
    with pytest.raises(IndexError, match="index 4 is out of range for axis 1 of size 4"):
        x.index_select(1, [4])


@pytest.mark.parametrize(
    "xs,ms",
    [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 1)), ((), (2,)), ((2, 3), ()), ((0, 3), (3,))],
    ids=str,
)
def test_masked_fill_matches_torch(xs, ms):
    m = rand(*ms, dtype=np.bool_, seed=5)
    check(lambda x: x.masked_fill(Tensor(m), -1.5), lambda x: x.masked_fill(torch.tensor(m), -1.5), xs)


def test_masked_fill_tensor_value_int_dtype_and_errors():
    m = rand(3, 4, dtype=np.bool_, seed=2)
    check(
        lambda x, v: x.masked_fill(Tensor(m), v),
        lambda x, v: x.masked_fill(torch.tensor(m), v),
        (3, 4),
        np.array(2.5, np.float32),
    )
    a = rand(3, 4, dtype=np.int32, low=-5, high=5)
    check(
        lambda x: x.masked_fill(Tensor(m), 7.9),
        lambda x: x.masked_fill(torch.tensor(m), 7.9),
        a,
        same_dtype=True,
    )
    x = Tensor(rand(3, 4))
    with pytest.raises(TypeError, match="masked_fill: the mask must be a bool tensor"):
        x.masked_fill(Tensor([1, 0, 1, 0]), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill.*\(3, 4\).*\(3,\)"):
        x.masked_fill(Tensor([True, False, True]), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill: value must be a number or a 0-d tensor, got shape \(1,\)"):
        x.masked_fill(Tensor([True] * 4), Tensor([1.0]))


@pytest.mark.parametrize("xs,ms", [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 1)), ((), ()), ((2, 0), (2, 1))])
def test_masked_select_matches_torch(xs, ms):
    m = rand(*ms, dtype=np.bool_, seed=3)
    check(lambda x: x.masked_select(Tensor(m)), lambda x: x.masked_select(torch.tensor(m)), xs)


def test_masked_select_errors():
    x = Tensor(rand(3, 4))
    with pytest.raises(TypeError, match="masked_select: the mask must be a bool tensor"):
        x.masked_select(x)
    with pytest.raises(ValueError, match=r"masked_select.*\(3, 4\).*\(2,\)"):
        x.masked_select(Tensor([True, False]))


# ---- scatter ----

# distinct targets along the scatter axis within each line, so the written values do not depend on the order
SCATTERS = [
    (0, np.array([[1, 0, 2, 0], [2, 1, 0, 1]])),
    (1, np.array([[3, 0], [1, 2], [0, 1]])),
    (-1, np.array([[2], [0]])),
    (1, np.zeros((0, 2), np.int64)),
]


@pytest.mark.parametrize("dim,idx", SCATTERS, ids=[f"dim{d}-{i.shape}" for d, i in SCATTERS])
def test_scatter_matches_torch(dim, idx):
    # a constant src first: PyTorch gives an empty src an empty gradient, tg gives it none (nothing reads it)
    src = rand(*idx.shape, dtype=np.int32, low=-9, high=9).astype(np.float32)
    check(
        lambda x: x.scatter(dim, Tensor(idx), Tensor(src)),
        lambda x: x.scatter(dim, torch.tensor(idx), torch.tensor(src)),
        (3, 4),
    )
    if idx.size:
        check(
            lambda x, s: x.scatter(dim, Tensor(idx), s),
            lambda x, s: x.scatter(dim, torch.tensor(idx), s),
            (3, 4),
            idx.shape,
        )
    # a src larger than the index: only its corner is read (PyTorch cannot differentiate this one)
    check(
        lambda x, s: x.scatter(dim, Tensor(idx), s),
        lambda x, s: x.scatter(dim, torch.tensor(idx), s),
        (3, 4),
        (3, 5),
        grad=False,
    )
    check(lambda x: x.scatter(dim, Tensor(idx), 9.0), lambda x: x.scatter(dim, torch.tensor(idx), 9.0), (3, 4))


def test_scatter_repeated_index_last_wins_and_3d():
    assert Tensor.zeros(3).scatter(0, Tensor([1, 1, 2]), Tensor([5.0, 6.0, 7.0])).tolist() == [0.0, 6.0, 7.0]
    assert Tensor.zeros(3).scatter(0, Tensor([-1, 0]), Tensor([5.0, 6.0])).tolist() == [6.0, 0.0, 5.0]
    idx = np.stack([np.random.default_rng(i).permutation(4)[:3] for i in range(2 * 5)]).reshape(2, 5, 3)
    idx = idx.transpose(0, 2, 1).copy()  # (2, 3, 5): distinct along axis 1
    check(
        lambda x, s: x.scatter(1, Tensor(idx), s),
        lambda x, s: x.scatter(1, torch.tensor(idx), s),
        (2, 4, 5),
        (2, 3, 5),
    )


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_argument_matches_torch(reduce):
    idx = np.array([[0, 0, 2], [1, 1, 1]])
    check(
        lambda x, s: x.scatter(1, Tensor(idx), s, reduce=reduce),
        lambda x, s: x.scatter(1, torch.tensor(idx), s, reduce=reduce),
        (2, 3),
        (2, 3),
        grad=False,  # PyTorch does not differentiate scatter with a reduce argument
    )


def test_scatter_add_matches_torch():
    idx = np.array([[0, 1, 0, 0], [2, 2, 1, 0]])
    check(
        lambda x, s: x.scatter_add(0, Tensor(idx), s),
        lambda x, s: x.scatter_add(0, torch.tensor(idx), s),
        (3, 4),
        (2, 4),
    )
    a, s = rand(4, dtype=np.int32, low=-9, high=9), rand(3, dtype=np.int32, low=-9, high=9, seed=1)
    check(
        lambda x, v: x.scatter_add(0, Tensor([3, 3, 0]), v),
        lambda x, v: x.scatter_add(0, torch.tensor([3, 3, 0]), v),
        a,
        s,
        same_dtype=True,
    )


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_matches_torch(reduce, include_self):
    idx = np.array([[0, 0, 2, 0], [1, 3, 3, 3], [2, 2, 2, 2]])  # place 1 of row 0 is never written
    check(
        lambda x, s: x.scatter_reduce(1, Tensor(idx), s, reduce, include_self=include_self),
        lambda x, s: x.scatter_reduce(1, torch.tensor(idx), s, reduce, include_self=include_self),
        (3, 4),
        (3, 4),
        low=0.5,
        high=2.0,
    )


def test_scatter_0d_and_errors():
    check(
        lambda x, s: x.scatter(0, Tensor(np.array(0)), s),
        lambda x, s: x.scatter(0, torch.tensor(0), s),
        (),
        (),
    )
    x = Tensor(rand(3, 4))
    with pytest.raises(ValueError, match=r"scatter: index of shape \(2,\) must have as many axes as the input"):
        x.scatter(0, Tensor([0, 1]), 1.0)
    with pytest.raises(ValueError, match=r"scatter: index of shape \(1, 5\) is larger than the input \(3, 4\)"):
        x.scatter(0, Tensor([[0] * 5]), 1.0)
    with pytest.raises(ValueError, match=r"index of shape \(2, 2\) is larger than src of shape \(1, 2\)"):
        x.scatter(0, Tensor([[0, 1], [1, 0]]), Tensor([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="scatter: the index must be an integer tensor"):
        x.scatter(0, Tensor([[0.0]]), 1.0)
    with pytest.raises(ValueError, match="scatter: reduce must be None, 'add' or 'multiply'"):
        x.scatter(0, Tensor([[0]]), 1.0, reduce="max")
    with pytest.raises(ValueError, match="scatter_reduce: reduce must be"):
        x.scatter_reduce(0, Tensor([[0]]), x, "max")
    with pytest.raises(TypeError, match="scatter_add: src must be a tensor"):
        x.scatter_add(0, Tensor([[0]]), 1.0)
    with pytest.raises(IndexError, match="scatter"):
        x.scatter(2, Tensor([[0]]), 1.0)
