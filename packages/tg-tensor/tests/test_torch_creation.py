"""Creation ops against PyTorch: empty, zeros, ones, full, the *_like forms, arange, linspace, eye.

Values and dtypes are compared with torch 2.13 (CPU). tg's default int is int32 where torch's is int64, so
integer results are compared by kind (helpers.assert_same) and the exact tg dtype is asserted separately.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers import TORCH_DTYPE, assert_same, check

from tg_runtime.device import Device
from tg_tensor import Tensor, dtypes

# ---- zeros, ones, full, empty ----


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 1, 1)])
@pytest.mark.parametrize("name", ["zeros", "ones"])
def test_zeros_ones_shapes(name, shape):
    got, want = getattr(Tensor, name)(*shape), getattr(torch, name)(shape)
    assert got.dtype == dtypes.float32
    assert_same(got, want)
    # a tuple or a list works as well as varargs
    assert getattr(Tensor, name)(shape).shape == shape
    assert getattr(Tensor, name)(list(shape)).shape == shape


@pytest.mark.parametrize(
    "dtype", [dtypes.bool, dtypes.int8, dtypes.uint8, dtypes.int32, dtypes.int64, dtypes.float16, dtypes.float64]
)
def test_zeros_ones_full_dtypes(dtype):
    tdt = TORCH_DTYPE[dtype]
    for got, want in (
        (Tensor.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=tdt)),
        (Tensor.ones(4, dtype=dtype), torch.ones(4, dtype=tdt)),
        (Tensor.full((3, 2), 1, dtype=dtype), torch.full((3, 2), 1, dtype=tdt)),
    ):
        assert got.dtype == dtype
        assert got.numpy().dtype == want.numpy().dtype
        assert_same(got, want)


@pytest.mark.parametrize(
    "value, dtype",
    [
        (7, dtypes.int32),
        (-2.5, dtypes.float32),
        (True, dtypes.bool),
        (np.float32(1.5), dtypes.float32),
        (0, dtypes.int32),
    ],
)
def test_full_dtype_follows_the_value(value, dtype):
    got = Tensor.full((2, 2), value)
    assert got.dtype == dtype
    assert_same(got, torch.full((2, 2), value.item() if isinstance(value, np.generic) else value))
    assert Tensor.full((), value).shape == ()
    assert Tensor.full(3, value).shape == (3,)  # an int is a 1-d shape


def test_dtype_names_are_accepted():
    assert Tensor.zeros(2, dtype="float16").dtype == dtypes.float16
    assert Tensor.arange(3, dtype="int64").dtype == dtypes.int64
    assert Tensor.eye(2, dtype="bool").tolist() == [[True, False], [False, True]]


def test_constants_need_no_memory_and_fuse(kernels):
    # a constant alone realizes as one kernel filling the buffer (no host data is copied); read by an
    # elementwise op it fuses into that op's kernel
    assert [si.kind for si in Tensor.zeros(3, 4).schedule()] == ["kernel"]
    x = Tensor(np.ones((3, 4), np.float32)).realize()
    assert kernels(x + Tensor.full((3, 4), 2.0) * Tensor.ones(4)) == 1


def test_empty_is_a_buffer_of_the_shape():
    t = Tensor.empty(2, 3, dtype=dtypes.int32)
    assert (t.shape, t.dtype, t.is_contiguous_buffer()) == ((2, 3), dtypes.int32, True)
    assert t.schedule() == []  # already a buffer: nothing to run
    assert t.numpy().shape == (2, 3)
    t.assign(Tensor.full((2, 3), 5, dtype=dtypes.int32))
    assert t.tolist() == [[5] * 3] * 2
    assert Tensor.empty(0, 4).numpy().shape == (0, 4)
    assert Tensor.empty(()).shape == ()


def test_device_argument():
    for name in ("zeros", "ones", "empty"):
        assert getattr(Tensor, name)(2, device="PYTHON").device == "PYTHON"
    assert Tensor.full((2,), 3, device="python").device == "PYTHON"
    assert Tensor.arange(3, device="PYTHON").tolist() == [0, 1, 2]
    assert Tensor.eye(2, device="PYTHON").tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert Tensor.linspace(0, 1, 3, device="PYTHON").tolist() == [0.0, 0.5, 1.0]


# ---- the *_like forms ----


@pytest.mark.parametrize("name, args", [("zeros_like", ()), ("ones_like", ()), ("full_like", (3,)), ("empty_like", ())])
def test_like_keeps_shape_dtype_device(name, args):
    src = Tensor(np.arange(6, dtype=np.int64).reshape(2, 3), device="PYTHON")
    got = getattr(src, name)(*args)
    assert (got.shape, got.dtype, got.device) == ((2, 3), dtypes.int64, "PYTHON")
    if name != "empty_like":
        want = getattr(torch, name)(torch.arange(6).reshape(2, 3), *args)
        assert_same(got, want)
    over = getattr(src, name)(*args, dtype=dtypes.float16, device="CPU")
    assert (over.shape, over.dtype, over.device) == ((2, 3), dtypes.float16, "CPU")


def test_full_like_of_a_0d_and_an_empty_tensor():
    assert_same(Tensor(2.5).full_like(-1.0), torch.full_like(torch.tensor(2.5), -1.0))
    assert Tensor.zeros(0, 2).ones_like().shape == (0, 2)


# ---- requires_grad and gradients ----


def test_requires_grad_leaves_get_gradients():
    w = Tensor.ones(3, requires_grad=True)
    z = Tensor.zeros(3, requires_grad=True)
    f = Tensor.full((3,), 2.0, requires_grad=True)
    x = Tensor([1.0, 2.0, 3.0])
    (w * x + z * 2 + f * f).sum().backward()
    assert w.grad.tolist() == [1.0, 2.0, 3.0]
    assert z.grad.tolist() == [2.0, 2.0, 2.0]
    assert f.grad.tolist() == [4.0, 4.0, 4.0]
    # equal constants with requires_grad are distinct leaves (each gets its own gradient)
    a, b = Tensor.zeros(2, requires_grad=True), Tensor.zeros(2, requires_grad=True)
    (a * 3 + b).sum().backward()
    assert (a.grad.tolist(), b.grad.tolist()) == ([3.0, 3.0], [1.0, 1.0])
    assert Tensor.eye(2, requires_grad=True).requires_grad is True
    assert Tensor.zeros(2).requires_grad is None


def test_gradient_flows_past_created_tensors():
    check(lambda x: x * Tensor.arange(4) + Tensor.eye(3, 4), lambda x: x * torch.arange(4) + torch.eye(3, 4), (3, 4))
    check(
        lambda x: (x - Tensor.linspace(-1, 1, 5)) * Tensor.full((5,), 3.0),
        lambda x: (x - torch.linspace(-1, 1, 5)) * torch.full((5,), 3.0),
        (2, 5),
    )


# ---- arange ----

ARANGES = [
    (5,),
    (0,),
    (1,),
    (2, 10, 3),
    (10, 2, -3),
    (-4, 4),
    (5, 5),
    (2.5,),
    (0, 1, 0.1),
    (1, 2, 0.25),
    (-3.5, 2, 0.7),
    (-1, -10, -2.5),
    (0, 1, 1 / 3),
    (1000.0, 1001.0, 0.1),
    (3, 3.5, 0.5),
    (np.int64(2), np.int32(7)),
]


@pytest.mark.parametrize("args", ARANGES, ids=str)
def test_arange(args):
    got, want = Tensor.arange(*args), torch.arange(*args)
    assert got.dtype == (dtypes.int32 if want.dtype == torch.int64 else dtypes.float32)
    # torch computes float ranges in double: float32 values can differ in the last bit
    assert_same(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "args, dtype",
    [
        ((0, 5, 1), dtypes.float32),
        ((-3, 4, 2), dtypes.float64),
        ((0, 1, 0.125), dtypes.float64),
        ((7,), dtypes.int64),
        ((0.5, 4, 1), dtypes.int32),
        ((0, 5.5, 1.5), dtypes.int32),  # torch truncates start and step for integer dtypes
        ((-2.5, 3, 1.0), dtypes.int32),
        ((3, 0.5, -1.5), dtypes.int16),
        ((0, 10, 3), dtypes.uint8),
        ((0, 3), dtypes.float16),
    ],
    ids=str,
)
def test_arange_with_dtype(args, dtype):
    got, want = Tensor.arange(*args, dtype=dtype), torch.arange(*args, dtype=TORCH_DTYPE[dtype])
    assert got.dtype == dtype
    assert_same(got, want, rtol=0, atol=0)


def test_arange_keyword_forms_and_fusion(kernels):
    assert Tensor.arange(start=2, stop=5).tolist() == [2, 3, 4]
    assert Tensor.arange(0, 6, step=2).tolist() == [0, 2, 4]
    assert Tensor.arange(5).schedule()[0].kind == "kernel"  # computed in a kernel, no host data copied
    assert all(si.kind == "kernel" for si in Tensor.arange(100).schedule())
    x = Tensor(np.ones(7, np.float32)).realize()
    assert kernels(x * Tensor.arange(7) + 1) == 1


def test_big_arange():
    n = 100_003
    assert_same(Tensor.arange(n), torch.arange(n))
    assert_same(Tensor.arange(n, 0, -7), torch.arange(n, 0, -7))


# ---- linspace ----


@pytest.mark.parametrize(
    "args", [(0, 1, 5), (-2, 3, 7), (3, -1, 4), (0, 1, 0), (2, 5, 1), (0, 1, 1000), (1, 1, 3), (-1e3, 1e3, 11)], ids=str
)
def test_linspace(args):
    got, want = Tensor.linspace(*args), torch.linspace(*args)
    assert got.dtype == dtypes.float32
    assert_same(got, want, rtol=1e-6, atol=1e-6)
    if args[2] > 1:  # both ends are exact
        assert got.numpy()[0] == np.float32(args[0]) and got.numpy()[-1] == np.float32(args[1])


@pytest.mark.parametrize(
    "args, dtype",
    [
        ((0, 10, 4), dtypes.int32),
        ((-1.5, 10, 4), dtypes.int32),
        ((-5, 5, 6), dtypes.int64),
        ((0, 1, 5), dtypes.float64),
        ((0.1, 0.7, 9), dtypes.float64),
        ((0, 2, 5), dtypes.float16),
    ],
    ids=str,
)
def test_linspace_with_dtype(args, dtype):
    got, want = Tensor.linspace(*args, dtype=dtype), torch.linspace(*args, dtype=TORCH_DTYPE[dtype])
    assert got.dtype == dtype
    assert_same(got, want, rtol=1e-12, atol=1e-12)


# ---- eye ----


@pytest.mark.parametrize("args", [(1,), (3,), (0,), (2, 4), (4, 2), (3, 0), (0, 3), (5, 5)], ids=str)
def test_eye(args):
    got = Tensor.eye(*args)
    assert got.dtype == dtypes.float32
    assert_same(got, torch.eye(*args), rtol=0, atol=0)


def test_eye_dtypes_and_fusion(kernels):
    for dt in (dtypes.bool, dtypes.int32, dtypes.float64):
        assert_same(Tensor.eye(3, 2, dtype=dt), torch.eye(3, 2, dtype=TORCH_DTYPE[dt]))
    assert all(si.kind == "kernel" for si in Tensor.eye(4).schedule())
    x = Tensor(np.ones((4, 4), np.float32)).realize()
    assert kernels(x - Tensor.eye(4)) == 1


# ---- bad input raises at the call, naming the op ----


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_bad_shapes(name):
    fn = getattr(Tensor, name)
    with pytest.raises(ValueError, match=rf"{name}: invalid shape \(2, -1\)"):
        fn(2, -1)
    with pytest.raises(ValueError, match=rf"{name}: invalid shape \(2.5,\): sizes must be ints"):
        fn(2.5)
    with pytest.raises(ValueError, match=rf"{name}: .*sizes must be ints"):
        fn((2, True))
    with pytest.raises(TypeError, match=rf"{name}: unknown dtype name 'floaty'"):
        fn(2, dtype="floaty")
    with pytest.raises(TypeError, match=rf"{name}: dtype must be a scalar tg dtype"):
        fn(2, dtype=np.float32)
    with pytest.raises(KeyError, match=rf"{name}"):
        fn(2, device="NOPE")
    with pytest.raises(ValueError, match=rf"{name}: only floating point tensors can require gradients"):
        fn(2, dtype=dtypes.int32, requires_grad=True)


def test_bad_full_and_like():
    with pytest.raises(ValueError, match=r"full: invalid shape \(-3,\)"):
        Tensor.full(-3, 1.0)
    with pytest.raises(TypeError, match="full: fill_value must be a number, got str"):
        Tensor.full((2,), "x")
    with pytest.raises(TypeError, match="full_like: unknown dtype name"):
        Tensor.ones(2).full_like(1, dtype="nope")
    with pytest.raises(TypeError, match="empty_like: unknown dtype name"):
        Tensor.ones(2).empty_like(dtype="nope")


def test_bad_arange():
    with pytest.raises(ValueError, match="arange: step must be nonzero"):
        Tensor.arange(0, 5, 0)
    with pytest.raises(ValueError, match="arange: the step -1 goes away from stop"):
        Tensor.arange(0, 5, -1)
    with pytest.raises(ValueError, match="arange: the step 2 goes away from stop"):
        Tensor.arange(5, 0, 2)
    with pytest.raises(ValueError, match="arange: start, stop and step must be finite"):
        Tensor.arange(0, float("inf"))
    with pytest.raises(ValueError, match="arange: .* too many"):
        Tensor.arange(2**32)
    with pytest.raises(TypeError, match="arange: stop must be a number, got str"):
        Tensor.arange(0, "5")
    with pytest.raises(TypeError, match="arange: unknown dtype name"):
        Tensor.arange(3, dtype="int33")
    with pytest.raises(TypeError, match="arange: a range of bools"):
        Tensor.arange(3, dtype=dtypes.bool)
    with pytest.raises(ValueError, match="arange: only floating point"):
        Tensor.arange(3, requires_grad=True)


def test_bad_linspace_and_eye():
    with pytest.raises(ValueError, match="linspace: steps must be an int >= 0, got -1"):
        Tensor.linspace(0, 1, -1)
    with pytest.raises(ValueError, match="linspace: steps must be an int >= 0, got 2.5"):
        Tensor.linspace(0, 1, 2.5)
    with pytest.raises(TypeError, match="linspace: start must be a number"):
        Tensor.linspace(None, 1, 3)
    with pytest.raises(ValueError, match=r"eye: invalid shape \(-2, -2\)"):
        Tensor.eye(-2)
    with pytest.raises(ValueError, match=r"eye: invalid shape \(2, -1\)"):
        Tensor.eye(2, -1)
    with pytest.raises(ValueError, match=r"eye: .*sizes must be ints"):
        Tensor.eye(2.0)


@pytest.mark.parametrize(
    "value, dtype",
    [
        (300, dtypes.uint8),
        (-1, dtypes.uint32),
        (2**31, dtypes.int32),
        (70000.0, dtypes.float16),
        (1e39, dtypes.float32),
    ],
)
def test_full_refuses_values_the_dtype_cannot_hold(value, dtype):
    with pytest.raises(ValueError, match=re.escape(f"full: the value {value} does not fit in {dtype!r}")):
        Tensor.full((2,), value, dtype=dtype)
    with pytest.raises(ValueError, match="full: the value"):
        Tensor.zeros(2, dtype=dtype).full_like(value)


def test_full_truncates_floats_for_int_dtypes_and_keeps_inf():
    assert_same(Tensor.full((2,), -1.7, dtype=dtypes.int32), torch.full((2,), -1.7, dtype=torch.int32))
    assert Tensor.full((2,), 255, dtype=dtypes.uint8).tolist() == [255, 255]
    assert Tensor.full((1,), float("inf"), dtype=dtypes.float16).tolist() == [float("inf")]
    assert Tensor.full((1,), 5, dtype=dtypes.bool).tolist() == [True]


def test_dtypes_a_device_lacks_are_refused_at_the_call():
    missing = [
        (d, dt) for d in ("CPU", "CL") for dt in (dtypes.float16, dtypes.bfloat16) if dt not in Device[d].caps.dtypes
    ]
    assert ("CPU", dtypes.bfloat16) in missing  # the C backend has no bfloat16 arithmetic
    calls = [
        ("zeros", (2,)),
        ("full", ((2,), 1.0)),
        ("empty", (2,)),
        ("arange", (3,)),
        ("linspace", (0, 1, 3)),
        ("eye", (2,)),
        ("rand", (2,)),
        ("randn", (2,)),
    ]
    for dev, dt in missing:
        for name, args in calls:
            with pytest.raises(TypeError, match=re.escape(f"{name}: device {dev} does not support {dt!r}")):
                getattr(Tensor, name)(*args, dtype=dt, device=dev)
