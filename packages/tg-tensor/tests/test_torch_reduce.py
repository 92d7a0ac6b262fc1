"""Reductions against PyTorch: sum, prod, max/min (as amax/amin), mean, var, std, logsumexp, argmax/argmin,
any/all, softmax/log_softmax and the cumulative ops, forward and backward, over every axis form (None, one,
several, negative, keepdim), on empty and 0-d tensors, with the dtype rules and the errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from helpers import assert_same, check, rand

from tg_tensor import Tensor, dtypes

# ---- torch references that take tg's axis forms (None, int, tuple) ----


def _dims(x: torch.Tensor, axis: int | tuple[int, ...] | None) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _torch_prod(x: torch.Tensor, axis: int | tuple[int, ...] | None, keepdim: bool) -> torch.Tensor:
    # torch.prod takes one dim at a time
    dims = sorted((d % max(x.ndim, 1) for d in _dims(x, axis)), reverse=True)
    for d in dims:
        x = x.prod(d, keepdim=keepdim)
    return x


TORCH: dict[str, Callable[[torch.Tensor, object, bool], torch.Tensor]] = {
    "sum": lambda x, a, k: x.sum(_dims(x, a), keepdim=k),
    "prod": _torch_prod,
    "max": lambda x, a, k: x.amax(_dims(x, a), keepdim=k),
    "min": lambda x, a, k: x.amin(_dims(x, a), keepdim=k),
    "mean": lambda x, a, k: x.mean(_dims(x, a), keepdim=k),
    "var": lambda x, a, k: x.var(_dims(x, a), keepdim=k),
    "std": lambda x, a, k: x.std(_dims(x, a), keepdim=k),
    "logsumexp": lambda x, a, k: x.logsumexp(_dims(x, a), keepdim=k),
}

# (axis, keepdim): every axis form, each with and without keepdim somewhere
AXES = [(None, False), (None, True), (1, False), (-1, True), ((0, 2), False), ((-1, 0), True), ((-3, -2, -1), False)]


@pytest.mark.parametrize("axis, keepdim", AXES, ids=str)
@pytest.mark.parametrize("name", list(TORCH))
def test_reduce_forward_backward(name: str, axis, keepdim: bool) -> None:
    # prod of many values in [-2, 2] is fine in float32; bounded away from 0 so prod's gradient divides safely
    low = 0.5 if name == "prod" else -2.0
    check(
        lambda t: getattr(t, name)(axis, keepdim),
        lambda t: TORCH[name](t, axis, keepdim),
        (2, 3, 4),
        low=low,
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("name", ["sum", "max", "min", "mean", "var", "std", "logsumexp", "prod", "any", "all"])
def test_dim_is_an_alias_of_axis(name: str) -> None:
    a = rand(3, 4, low=0.5)
    np.testing.assert_array_equal(
        getattr(Tensor(a), name)(dim=-1, keepdim=True).numpy(), getattr(Tensor(a), name)(axis=-1, keepdim=True).numpy()
    )
    np.testing.assert_array_equal(getattr(Tensor(a), name)(dim=(0, 1)).numpy(), getattr(Tensor(a), name)().numpy())
    with pytest.raises(TypeError, match=f"{name}: got both axis=0 and dim=1"):
        getattr(Tensor(a), name)(0, dim=1)


def test_reduce_of_broadcast_and_permuted_inputs() -> None:
    check(
        lambda a, b: (a * b).permute(2, 0, 1).sum((0, 2)),
        lambda a, b: (a * b).permute(2, 0, 1).sum((0, 2)),
        (2, 3, 4),
        (3, 1),
    )
    check(lambda a: a.expand(3, 4).max(0), lambda a: a.expand(3, 4).amax(0), (1, 4))


# ---- dtypes ----


@pytest.mark.parametrize("np_dtype", [np.bool_, np.int8, np.uint8, np.int16, np.int32])
@pytest.mark.parametrize("name", ["sum", "prod", "cumsum"])
def test_sum_of_small_ints_and_bool_is_int32(name: str, np_dtype) -> None:
    # tg's default int is int32 (documented in the README); torch widens to int64: values agree, dtypes differ
    a = rand(3, 4, low=-3, high=4, dtype=np_dtype)
    tg = getattr(Tensor(a), name)(0)
    th = getattr(torch.tensor(a), name)(0)
    assert tg.dtype == dtypes.int32
    assert th.dtype == torch.int64
    assert_same(tg, th)


def test_sum_keeps_wide_ints_and_floats() -> None:
    a = rand(3, 4, low=-100, high=100, dtype=np.int64)
    assert Tensor(a).sum(1).dtype == dtypes.int64
    check(lambda t: t.sum(1), lambda t: t.sum(1), a, same_dtype=True)
    check(lambda t: t.sum(0), lambda t: t.sum(0), rand(3, 4).astype(np.float64), same_dtype=True)


def test_sum_dtype_argument() -> None:
    a = rand(2, 3, low=0, high=9, dtype=np.int32)
    got = Tensor(a).sum(1, dtype=dtypes.float32)
    assert got.dtype == dtypes.float32
    assert_same(got, torch.tensor(a).sum(1, dtype=torch.float32))


def test_float16_sum_accumulates_in_float32() -> None:
    # in float16, 2048 + 1 == 2048: a float16 accumulator would stop counting at 2048
    got = Tensor(np.ones(4096, np.float16)).sum()
    assert got.dtype == dtypes.float16
    assert got.item() == 4096.0
    assert Tensor(np.ones(4096, np.float16)).mean().item() == 1.0


def test_max_min_keep_the_dtype_and_handle_extremes() -> None:
    i32 = np.array([[-(2**31), 0, 2**31 - 1], [5, -7, 3]], np.int32)
    for name in ("max", "min"):
        for axis in (None, 0, 1):
            got = getattr(Tensor(i32), name)(axis)
            assert got.dtype == dtypes.int32
            assert_same(got, getattr(torch.tensor(i32), "a" + name)(_dims(torch.tensor(i32), axis)))
    u8 = np.array([0, 200, 255, 7], np.uint8)
    assert Tensor(u8).min().item() == 0 and Tensor(u8).max().item() == 255
    assert Tensor(u8).min().dtype == dtypes.uint8
    b = np.array([[True, False], [True, True]])
    assert Tensor(b).max(1).tolist() == [True, True] and Tensor(b).min(1).tolist() == [False, True]


@pytest.mark.parametrize("name", ["mean", "var", "std"])
def test_mean_var_std_of_ints_give_float(name: str) -> None:
    # torch refuses integer inputs here; tg gives the default float, as tinygrad does
    a = rand(3, 4, low=-5, high=5, dtype=np.int32)
    got = getattr(Tensor(a), name)(1)
    assert got.dtype == dtypes.float32
    assert_same(got, getattr(torch.tensor(a).float(), name)(1))


# ---- max/min gradients on ties ----


def test_max_min_ties_share_the_gradient_like_amax() -> None:
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0]], np.float32)
    check(lambda t: t.max(1), lambda t: t.amax(1), a)
    check(lambda t: -t.min(0), lambda t: -t.amin(0), -a)
    check(lambda t: t.max(), lambda t: t.amax(), a)
    # torch.max(dim) is different: it gives the whole gradient to one of the tied elements
    th = torch.tensor(a, requires_grad=True)
    th.max(1).values.sum().backward()
    assert th.grad is not None and th.grad[0].tolist() in ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    t = Tensor(a, requires_grad=True)
    t.max(1).sum().backward()
    assert t.grad is not None and t.grad.numpy()[0].tolist() == [0.0, 0.5, 0.5]


def test_amax_amin_names() -> None:
    check(lambda t: t.amax(dim=(0, 1)), lambda t: t.amax(dim=(0, 1)), (2, 3, 4))
    check(lambda t: t.amin(-1, keepdim=True), lambda t: t.amin(-1, keepdim=True), (2, 3, 4))


# ---- prod gradient with zeros ----


@pytest.mark.parametrize(
    "rows",
    [
        [[1.5, 0.0, -2.0, 3.0]],  # one zero: its gradient is the product of the others, the rest get 0
        [[0.0, 2.0, 0.0, 3.0]],  # two zeros: every gradient is 0
        [[0.0, 0.0, 0.0, 0.0]],
        [[1.5, 0.0, -2.0, 3.0], [0.0, 2.0, 0.0, 3.0], [1.0, 2.0, 3.0, 4.0]],
    ],
    ids=["one zero", "two zeros", "all zero", "mixed rows"],
)
def test_prod_gradient_with_zeros(rows) -> None:
    a = np.array(rows, np.float32)
    check(lambda t: t.prod(1), lambda t: t.prod(1), a)
    check(lambda t: t.prod(), lambda t: t.prod(), a)


# ---- empty tensors ----


def test_empty_sum_prod_mean() -> None:
    e = np.zeros((0, 3), np.float32)
    for name in ("sum", "prod", "mean"):
        for axis in (None, 0, 1):
            got = getattr(Tensor(e), name)(axis)
            want = TORCH[name](torch.tensor(e), axis, False)
            assert_same(got, want, what=f"{name}({axis})")
    assert Tensor(e).sum().item() == 0.0 and Tensor(e).prod().item() == 1.0
    assert math.isnan(Tensor(e).mean().item())
    assert Tensor(np.zeros(0, np.int32)).sum().item() == 0


@pytest.mark.parametrize("name", ["max", "min", "amax", "argmax", "argmin"])
def test_max_min_argmax_of_an_empty_axis_raise_at_the_call(name: str) -> None:
    t = Tensor(np.zeros((0, 3), np.float32))
    with pytest.raises(IndexError, match=rf"{name}: cannot reduce over axis 0 of size 0 \(tensor of shape \(0, 3\)\)"):
        getattr(t, name)(0)
    with pytest.raises(IndexError, match=f"{name}: cannot reduce over axis 0 of size 0"):
        getattr(t, name)()
    # an axis that is not empty is fine: the result is empty
    assert getattr(t, name)(1).shape == (0,)


def test_empty_any_all_softmax_cumsum() -> None:
    e = np.zeros((0, 3), np.float32)
    assert Tensor(e).any().item() is False and Tensor(e).all().item() is True
    assert_same(Tensor(e).all(0), torch.tensor(e).all(0))
    assert Tensor(e).softmax(-1).shape == (0, 3) and Tensor(e).log_softmax(0).shape == (0, 3)
    assert_same(Tensor(e).cumsum(0), torch.tensor(e).cumsum(0))
    assert_same(Tensor(e).cumsum(1), torch.tensor(e).cumsum(1))
    assert_same(Tensor(e).logsumexp(1), torch.tensor(e).logsumexp(1))


# ---- 0-d tensors ----

SCALAR_OPS = ["sum", "prod", "max", "min", "mean", "logsumexp", "any", "all", "argmax", "argmin"]


@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", SCALAR_OPS)
def test_reductions_of_0d_tensors(name: str, axis, keepdim: bool) -> None:
    a = np.array(1.5, np.float32)
    kw = {} if axis is None else {"dim": axis}
    got = getattr(Tensor(a), name)(**kw, keepdim=keepdim)
    # torch's max(dim) returns (values, indices): amax is the values; most torch reductions refuse keepdim
    # without a dim, and a 0-d result is the same with or without keepdim
    th = torch.tensor(a)
    th_name = {"max": "amax", "min": "amin"}.get(name, name)
    if axis is None:
        want = th.logsumexp(()) if name == "logsumexp" else getattr(th, th_name)()
    else:
        want = getattr(th, th_name)(dim=axis, keepdim=keepdim)
    assert_same(got, want)


def test_0d_softmax_var_cumsum_and_bad_axes() -> None:
    s = np.array(-0.5, np.float32)
    check(lambda t: t.softmax(0), lambda t: t.softmax(0), s)
    check(lambda t: t.log_softmax(-1), lambda t: t.log_softmax(-1), s)
    check(lambda t: t.cumsum(0) * 3, lambda t: t.cumsum(0) * 3, s)
    check(lambda t: t.sum(0) * 2, lambda t: t.sum(0) * 2, s)
    assert math.isnan(Tensor(s).var(0).item())  # one value, correction 1: 0 / 0, as in torch
    for name in ("sum", "max", "argmax", "softmax", "cumsum"):
        with pytest.raises(IndexError, match=rf"{name}: axis 1 is out of range for a tensor of shape \(\)"):
            getattr(Tensor(s), name)(1)


# ---- var, std ----


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 1, (0, -1)], ids=str)
def test_var_std_correction(axis, correction: int) -> None:
    dims = lambda t: _dims(t, axis)  # noqa: E731
    check(lambda t: t.var(axis, correction=correction), lambda t: t.var(dims(t), correction=correction), (3, 4, 5))
    check(
        lambda t: t.std(dim=axis, keepdim=True, correction=correction),
        lambda t: t.std(dims(t), keepdim=True, correction=correction),
        (3, 4, 5),
    )


def test_var_std_degrees_of_freedom_at_most_zero() -> None:
    # torch warns and gives NaN (0 / 0) or inf (x / 0)
    assert math.isnan(Tensor([1.0]).var().item())
    assert Tensor([1.0, 2.0]).var(correction=3).item() == math.inf
    assert np.isnan(Tensor([[1.0, 2.0]]).std(0).numpy()).all()
    assert_same(Tensor([[1.0, 2.0]]).std(0), torch.tensor([[1.0, 2.0]]).std(0))
    assert_same(Tensor([1.0, 2.0]).var(correction=2), torch.tensor([1.0, 2.0]).var(correction=2))
    assert_same(Tensor(np.zeros((0, 2), np.float32)).var(0), torch.zeros(0, 2).var(0))


def test_var_mean_std_mean() -> None:
    a = rand(3, 5)
    for tg_fn, th_fn in ((Tensor.var_mean, torch.var_mean), (Tensor.std_mean, torch.std_mean)):
        for axis, keepdim in ((1, False), ((0, 1), True)):
            got = tg_fn(Tensor(a), axis, keepdim, correction=0)
            want = th_fn(torch.tensor(a), axis, keepdim=keepdim, correction=0)
            assert_same(got[0], want[0])
            assert_same(got[1], want[1])


def test_var_is_at_most_two_kernels(kernels) -> None:
    x = Tensor(rand(8, 16)).realize()
    assert kernels(x.var(1)) <= 2
    assert kernels(x.std(-1, keepdim=True)) <= 2
    assert kernels(x.var()) <= 2


# ---- argmax, argmin ----


@pytest.mark.parametrize("axis, keepdim", [(None, False), (None, True), (0, False), (1, True), (-1, False), (-3, True)])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_first_on_ties(name: str, axis, keepdim: bool) -> None:
    # few distinct values: many ties, where torch returns the first occurrence
    for a in (rand(3, 4, 5, low=0, high=3, dtype=np.int32), rand(3, 4, 5)):
        got = getattr(Tensor(a), name)(axis, keepdim)
        want = getattr(torch.tensor(a), name)(axis, keepdim)
        assert got.dtype == dtypes.int32  # torch gives int64
        assert_same(got, want, what=f"{name}({axis}, {keepdim}) of {a.dtype}")


def test_argmax_of_all_equal_values_and_bools() -> None:
    assert Tensor([[7, 7, 7], [7, 7, 7]]).argmax().item() == 0
    assert Tensor([[7, 7, 7], [7, 7, 8]]).argmin(dim=1).tolist() == [0, 0]
    assert Tensor([False, True, True]).argmax().item() == 1
    assert Tensor([True, False, False]).argmin().item() == 1


def test_argmax_has_no_gradient_and_leaves_x_usable() -> None:
    x = Tensor(rand(3, 4), requires_grad=True)
    idx = x.argmax(1)
    assert idx.dtype == dtypes.int32
    (x * 2).sum().backward()
    assert x.grad is not None and np.all(x.grad.numpy() == 2)


# ---- any, all ----


@pytest.mark.parametrize("axis, keepdim", [(None, False), (1, False), (-1, True), ((0, 2), False)], ids=str)
@pytest.mark.parametrize("np_dtype", [np.bool_, np.int32, np.float32])
def test_any_all(np_dtype, axis, keepdim: bool) -> None:
    a = rand(3, 4, 2, low=0, high=2, dtype=np.int32).astype(np_dtype)  # about half zeros
    a[0] = 1  # a row of all-true
    a[1] = 0  # a row of all-false
    for name in ("any", "all"):
        got = getattr(Tensor(a), name)(axis, keepdim)
        th = torch.tensor(a)
        want = getattr(th, name)(_dims(th, axis), keepdim=keepdim)
        assert got.dtype == dtypes.bool
        assert_same(got, want, what=f"{name}({axis})")


def test_any_all_of_nan_and_negative() -> None:
    assert Tensor([0.0, math.nan]).any().item() is True  # NaN is not zero, as in torch
    assert Tensor([-1, -2]).all().item() is True


# ---- softmax, log_softmax, logsumexp ----


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_log_softmax(name: str, axis: int) -> None:
    check(lambda t: getattr(t, name)(axis), lambda t: getattr(t, name)(axis), (2, 3, 4), low=-5, high=5)


def test_softmax_default_axis_and_dim_alias() -> None:
    check(lambda t: t.softmax(), lambda t: t.softmax(-1), (3, 4))
    check(lambda t: t.log_softmax(dim=0), lambda t: t.log_softmax(dim=0), (3, 4))
    with pytest.raises(TypeError, match="softmax: axis must be one int"):
        Tensor(rand(3, 4)).softmax((0, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_stable_for_large_inputs(name: str) -> None:
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -999.0]], np.float32)
    check(lambda t: getattr(t, name)(1), lambda t: getattr(t, name)(1), a)


def test_logsumexp_of_infinities() -> None:
    a = np.array([[-math.inf, -math.inf], [math.inf, 1.0], [-math.inf, 0.0]], np.float32)
    assert_same(Tensor(a).logsumexp(1), torch.tensor(a).logsumexp(1))


def test_softmax_over_the_last_axis_is_at_most_three_kernels(kernels) -> None:
    x = Tensor(rand(8, 16)).realize()
    assert kernels(x.softmax(-1)) <= 3
    assert kernels(x.log_softmax(-1)) <= 3
    assert kernels(x.logsumexp(-1)) <= 2


# ---- cumulative ops ----


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "cummax", "cummin"])
def test_cumulative(name: str, axis: int) -> None:
    want = {
        "cumsum": lambda t: t.cumsum(axis),
        "cumprod": lambda t: t.cumprod(axis),
        "cummax": lambda t: t.cummax(axis).values,
        "cummin": lambda t: t.cummin(axis).values,
    }[name]
    ours = {"cummax": lambda t: t.cummax(dim=axis).values, "cummin": lambda t: t.cummin(dim=axis).values}
    check(ours.get(name, lambda t: getattr(t, name)(dim=axis)), want, (3, 4, 5), low=0.5 if name == "cumprod" else -2.0)


def test_cumprod_gradient_with_zeros() -> None:
    a = np.array([[1.5, 0.0, -2.0, 3.0], [0.0, 2.0, 0.0, 3.0]], np.float32)
    check(lambda t: t.cumprod(1), lambda t: t.cumprod(1), a)


def test_cumsum_long_axis_goes_in_blocks() -> None:
    # longer than one block of 256: a running sum per block plus the running sum of the block totals
    check(lambda t: t.cumsum(1), lambda t: t.cumsum(1), (2, 600), rtol=1e-4, atol=1e-4)
    check(lambda t: t.cummax(0).values, lambda t: t.cummax(0).values, (300,))
    check(lambda t: t.cummin(1).values, lambda t: t.cummin(1).values, (2, 600))


def test_cumulative_ints_and_bools() -> None:
    a = rand(3, 6, low=-9, high=9, dtype=np.int32)
    for name in ("cumsum", "cumprod"):
        assert_same(getattr(Tensor(a), name)(1), getattr(torch.tensor(a), name)(1))
    for name in ("cummax", "cummin"):
        assert_same(getattr(Tensor(a), name)(1).values, getattr(torch.tensor(a), name)(1).values)
    b = rand(2, 5, dtype=np.bool_)
    assert_same(Tensor(b).cumsum(1), torch.tensor(b).cumsum(1))
    assert Tensor(np.array([3, 1, 200], np.uint8)).cummin(0).values.tolist() == [3, 1, 1]


def test_cumsum_is_one_kernel_and_fuses(kernels) -> None:
    x = Tensor(rand(4, 16)).realize()
    assert kernels(x.cumsum(1)) == 1
    assert kernels((x * 2 + 1).cumsum(0).exp()) == 1


# ---- bad axes ----


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std", "any", "all", "logsumexp"])
def test_bad_axes_raise_at_the_call(name: str) -> None:
    t = Tensor(rand(2, 3))
    with pytest.raises(IndexError, match=rf"{name}: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        getattr(t, name)(2)
    with pytest.raises(IndexError, match=rf"{name}: axis -3 is out of range for a tensor of shape \(2, 3\)"):
        getattr(t, name)((0, -3))
    with pytest.raises(ValueError, match=rf"{name}: repeated axis in \(1, -1\) for a tensor of shape \(2, 3\)"):
        getattr(t, name)((1, -1))
    with pytest.raises(TypeError, match=f"{name}: axis must be an int"):
        getattr(t, name)(1.0)


@pytest.mark.parametrize("name", ["argmax", "argmin", "softmax", "log_softmax", "cumsum", "cumprod", "cummax"])
def test_bad_single_axis_raises_at_the_call(name: str) -> None:
    t = Tensor(rand(2, 3))
    with pytest.raises(IndexError, match=rf"{name}: axis 5 is out of range for a tensor of shape \(2, 3\)"):
        getattr(t, name)(5)
    with pytest.raises(IndexError, match=rf"{name}: axis -3 is out of range"):
        getattr(t, name)(dim=-3)
    with pytest.raises(TypeError, match=f"{name}: axis must be one int"):
        getattr(t, name)((0, 1))


# ---- cummax/cummin indices, var/std `unbiased`, empty axes in softmax/logsumexp ----


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_indices_like_torch(name: str, axis: int) -> None:
    # few distinct values: many ties, where torch points at the last position holding the running best
    for a in (rand(4, 7, low=0, high=3, dtype=np.int32), rand(4, 7), rand(4, 7, dtype=np.bool_)):
        got = getattr(Tensor(a), name)(dim=axis)
        want = getattr(torch.tensor(a), name)(axis)
        assert got.indices.dtype == dtypes.int32  # torch gives int64
        assert_same(got.values, want.values, what=f"{name} values of {a.dtype}")
        assert_same(got.indices, want.indices, what=f"{name} indices of {a.dtype}")


def test_cummax_indices_over_a_long_axis_and_corners() -> None:
    a = rand(2, 600, low=0, high=50, dtype=np.int32)
    for name in ("cummax", "cummin"):
        assert_same(getattr(Tensor(a), name)(1).indices, getattr(torch.tensor(a), name)(1).indices)
    values, indices = Tensor(np.array(2.5, np.float32)).cummax(0)
    assert values.item() == 2.5 and indices.shape == () and indices.item() == 0
    e = np.zeros((0, 3), np.float32)
    got, want = Tensor(e).cummin(0), torch.tensor(e).cummin(0)
    assert_same(got.values, want.values)
    assert_same(got.indices, want.indices)


def test_cummax_ties_share_the_gradient() -> None:
    # running maxima 1, 3, 3, 3: the first 3 is x1 alone, the next two are tied between x1 and x2 and each gives
    # half to both. torch gives a tied running maximum's gradient to the position in `indices` ([1, 1, 2, 0])
    t = Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    t.cummax(0).values.sum().backward()
    assert t.grad is not None and t.grad.tolist() == [1.0, 2.0, 1.0, 0.0]


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_unbiased_keyword(name: str, unbiased: bool) -> None:
    check(lambda t: getattr(t, name)(1, unbiased=unbiased), lambda t: getattr(t, name)(1, unbiased=unbiased), (3, 5))
    got = getattr(Tensor, name + "_mean")(Tensor(rand(3, 5)), dim=0, unbiased=unbiased)
    want = getattr(torch, name + "_mean")(torch.tensor(rand(3, 5)), 0, unbiased=unbiased)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    with pytest.raises(TypeError, match=f"{name}: got both correction=0 and unbiased={unbiased}"):
        getattr(Tensor(rand(3, 5)), name)(1, correction=0, unbiased=unbiased)


def test_softmax_logsumexp_over_an_empty_axis() -> None:
    e = np.zeros((2, 0), np.float32)
    for name in ("softmax", "log_softmax"):
        assert_same(getattr(Tensor(e), name)(1), getattr(torch.tensor(e), name)(1))
    assert_same(Tensor(e).logsumexp(1), torch.tensor(e).logsumexp(1))  # log of an empty sum: -inf
    assert_same(Tensor(e).logsumexp(1, keepdim=True), torch.tensor(e).logsumexp(1, keepdim=True))


def test_bad_axis_types_and_leaves_the_tensor_usable() -> None:
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    for bad in ("0", True, (0, 1.5), [0, None]):
        with pytest.raises(TypeError, match="sum: axis must be an int or a tuple of ints"):
            t.sum(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cummax: axis must be one int"):
        t.cummax(1.0)  # type: ignore[arg-type]
    assert t.sum(axis=[0, 1]).item() == 10.0  # a list of axes is a sequence too
