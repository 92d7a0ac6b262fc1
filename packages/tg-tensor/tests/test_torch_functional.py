"""Linear algebra, convolution, pooling and resampling against torch (forward and backward): matmul, linear,
einsum, conv1d/2d/3d and the N-d conv, conv_transpose, max/avg pooling, adaptive pooling, interpolate; their
kernel counts and their errors at the call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import MATMUL_SHAPES, assert_same, check, rand

from tg_tensor import Tensor

# ------------------------------------------------------------------ matmul, linear


@pytest.mark.parametrize(
    "sa, sb",
    MATMUL_SHAPES + [((1, 3, 4), (2, 1, 4, 2)), ((0, 3), (3, 4)), ((3, 0), (0, 4))],
    ids=str,
)
def test_matmul(sa, sb):
    check(lambda a, b: a @ b, lambda a, b: a @ b, sa, sb)


def test_dot_and_linear():
    check(lambda a, b: a.dot(b), lambda a, b: a @ b, (2, 3), (3, 4))
    check(lambda x, w, b: x.linear(w, b), F.linear, (2, 3, 4), (5, 4), (5,))
    check(lambda x, w: x.linear(w), F.linear, (3, 4), (5, 4))


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        Tensor.ones(2, 3) @ Tensor.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: batch dims of shapes \(2, 3, 4\) and \(3, 4, 5\)"):
        Tensor.ones(2, 3, 4) @ Tensor.ones(3, 4, 5)
    with pytest.raises(ValueError, match="matmul: both operands need at least 1 dimension"):
        Tensor(2.0) @ Tensor.ones(2)


# ------------------------------------------------------------------ einsum


@pytest.mark.parametrize(
    "eq, shapes",
    [
        ("ij,jk->ik", [(2, 3), (3, 4)]),
        ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
        ("i,i->", [(5,), (5,)]),
        ("i,j->ij", [(3,), (4,)]),
        ("ij->ji", [(2, 3)]),
        ("ij->", [(2, 3)]),
        ("ii->i", [(3, 3)]),  # diagonal
        ("ii", [(3, 3)]),  # trace
        ("iij->j", [(3, 3, 2)]),
        ("ijk,ikl,l->ij", [(2, 3, 4), (2, 4, 5), (5,)]),  # three operands
        ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),  # ellipsis with broadcasting
        ("b...,b->...", [(2, 3, 4), (2,)]),
        ("i...->i", [(2, 3, 4)]),  # ellipsis summed away
        ("ij,jk->ik", [(2, 1), (3, 4)]),  # size-1 broadcast of a summed letter
        ("bA,b", [(2, 3), (2,)]),
        (" ij , jk -> ki ", [(2, 3), (3, 4)]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_einsum(eq, shapes):
    check(lambda *xs: Tensor.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), *shapes)


def test_einsum_list_operands_and_one_kernel(kernels):
    a, b = Tensor(rand(3, 4)).realize(), Tensor(rand(4, 5, seed=1)).realize()
    out = Tensor.einsum("ij,jk->ik", [a, b])
    assert kernels(out) == 1
    assert_same(out, torch.einsum("ij,jk->ik", torch.tensor(rand(3, 4)), torch.tensor(rand(4, 5, seed=1))))


def test_einsum_errors():
    a = Tensor.ones(2, 3)
    with pytest.raises(ValueError, match="einsum: the equation 'ij,jk->ik' has 2 operand"):
        Tensor.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match=r"einsum: subscripts 'ijk' do not fit operand of shape \(2, 3\)"):
        Tensor.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="einsum: size 4 of 'j'"):
        Tensor.einsum("ij,jk->ik", a, Tensor.ones(4, 2))
    with pytest.raises(ValueError, match="einsum: 'i' is repeated"):
        Tensor.einsum("ii->i", a)
    with pytest.raises(ValueError, match="einsum: output subscripts"):
        Tensor.einsum("ij->iz", a)
    with pytest.raises(ValueError, match="einsum: invalid subscripts"):
        Tensor.einsum("i1->i", a)


# ------------------------------------------------------------------ convolution

CONV2D_CASES = [
    # (x shape, w shape, kwargs)
    ((2, 3, 6, 6), (4, 3, 3, 3), {}),
    ((2, 3, 6, 6), (4, 3, 3, 3), {"padding": 1}),
    ((2, 3, 6, 6), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
    ((2, 3, 7, 6), (4, 3, 3, 2), {"stride": (2, 1), "padding": (1, 0)}),
    ((2, 3, 6, 6), (4, 3, 3, 3), {"dilation": 2, "padding": 2}),
    ((2, 4, 6, 6), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((2, 4, 6, 6), (4, 1, 3, 3), {"groups": 4, "stride": 2}),  # depthwise
    ((2, 3, 6, 6), (4, 3, 1, 1), {"stride": 3}),  # 1x1 with stride > kernel
    ((2, 3, 6, 6), (2, 3, 2, 2), {"stride": 2}),  # non-overlapping windows
    ((2, 3, 6, 6), (4, 3, 3, 3), {"padding": "same", "dilation": 2}),
    ((2, 3, 6, 6), (4, 3, 2, 2), {"padding": "same"}),
    ((2, 3, 6, 6), (4, 3, 3, 3), {"padding": "valid", "stride": 2, "dilation": (1, 2)}),
    ((3, 6, 6), (4, 3, 3, 3), {"padding": 1}),  # unbatched
]


CONV3D_CASES = [
    ((1, 4, 4, 5, 4), (2, 2, 3, 3, 2), {"stride": (1, 2, 1), "padding": 1, "groups": 2}),
    ((2, 2, 5, 6, 5), (3, 2, 2, 3, 2), {"stride": (2, 1, 3), "padding": (0, 2, 1), "dilation": (2, 1, 2)}),
    ((1, 3, 4, 4, 4), (3, 1, 3, 3, 3), {"padding": "same", "groups": 3}),
]


@pytest.mark.parametrize("xs, ws, kw", CONV2D_CASES + CONV3D_CASES, ids=str)
def test_conv2d_conv3d(xs, ws, kw):
    # forward and the input, weight and bias gradients; conv2d or conv3d by the weight's rank
    name = f"conv{len(ws) - 2}d"
    check(
        lambda x, w, b: getattr(x, name)(w, b, **kw),
        lambda x, w, b: getattr(F, name)(x, w, b, **kw),
        xs,
        ws,
        (ws[0],),
        atol=1e-4,
        grad_atol=1e-3,
    )


def test_conv2d_without_bias_and_positional_args():
    check(
        lambda x, w: x.conv2d(w, None, 2, 1, 1, 1),
        lambda x, w: F.conv2d(x, w, None, 2, 1, 1, 1),
        (1, 2, 5, 5),
        (3, 2, 3, 3),
    )


def test_conv2d_tinygrad_padding_order():
    # four ints are (left, right, top, bottom), as torch's F.pad orders them
    x, w = rand(1, 2, 5, 6), rand(3, 2, 3, 3, seed=1)
    got = Tensor(x).conv2d(Tensor(w), padding=(1, 0, 2, 1))
    want = F.conv2d(F.pad(torch.tensor(x), (1, 0, 2, 1)), torch.tensor(w))
    assert_same(got, want, atol=1e-4)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 3, 9), (4, 3, 3), {"stride": 2, "padding": 1}),
        ((2, 4, 9), (4, 2, 3), {"dilation": 3, "groups": 2}),
        ((2, 3, 8), (2, 3, 4), {"padding": "same"}),
        ((2, 6, 11), (6, 2, 3), {"stride": 3, "padding": 2, "dilation": 2, "groups": 3}),
        ((1, 2, 7), (3, 2, 2), {"stride": 2, "padding": 4}),  # padding past the kernel: outputs read only zeros
        ((2, 4, 10), (4, 1, 5), {"stride": 2, "groups": 4, "dilation": 2}),  # depthwise
    ],
    ids=str,
)
def test_conv1d(xs, ws, kw):
    check(lambda x, w: x.conv1d(w, **kw), lambda x, w: F.conv1d(x, w, **kw), xs, ws, atol=1e-4, grad_atol=1e-3)


def test_conv2d_asymmetric_padding_gradients():
    # tinygrad's (left, right, top, bottom) padding: the gradients crop what F.pad added
    check(
        lambda x, w: x.conv2d(w, padding=(2, 0, 1, 3), stride=2),
        lambda x, w: F.conv2d(F.pad(x, (2, 0, 1, 3)), w, stride=2),
        (2, 3, 7, 6),
        (4, 3, 3, 2),
        atol=1e-4,
        grad_atol=1e-3,
    )


def test_conv2d_backward_kernels(kernels):
    # the input gradient is one convolution kernel and the weight gradient one reduction over batch and space
    # (after a channels-last copy of the padded input), not the gradient of the window view
    x = Tensor(rand(2, 8, 10, 10), requires_grad=True).realize()
    w = Tensor(rand(8, 8, 3, 3, seed=1), requires_grad=True).realize()
    b = Tensor(rand(8, seed=2), requires_grad=True).realize()
    x.conv2d(w, b, padding=1).sum().backward()
    assert kernels(x.grad) == 1
    assert kernels(w.grad) == 2
    assert kernels(x.grad, w.grad, b.grad) <= 4
    # strided: one convolution over the phases of the input (after a small rearrangement of the weight), no
    # spreading of the output gradient with zeros
    x.grad = None
    x.conv2d(w, b, padding=1, stride=2).sum().backward()
    assert kernels(x.grad) == 2


def test_conv_nd_infers_rank_from_weight():
    check(lambda x, w: x.conv(w, padding=1), lambda x, w: F.conv2d(x, w, padding=1), (1, 2, 4, 4), (3, 2, 3, 3))
    check(lambda x, w: x.conv(w), lambda x, w: F.conv1d(x, w), (1, 2, 6), (3, 2, 2))


def test_conv2d_forward_is_one_kernel(kernels):
    x, w, b = (Tensor(rand(*s, seed=i)).realize() for i, s in enumerate([(2, 3, 8, 8), (4, 3, 3, 3), (4,)]))
    assert kernels(x.conv2d(w, b, padding=1)) == 1
    assert kernels(x.conv2d(w, stride=2, dilation=2, padding=2)) == 1
    xg, wg = Tensor(rand(2, 4, 6, 6)).realize(), Tensor(rand(4, 2, 3, 3, seed=1)).realize()
    assert kernels(xg.conv2d(wg, groups=2)) == 1
    assert kernels(x.max_pool2d(3, stride=1, padding=1), x.avg_pool2d(2)) == 2


def test_conv2d_of_int_input_promotes():
    x = Tensor(np.arange(16, dtype=np.int32).reshape(1, 1, 4, 4))
    out = x.conv2d(Tensor([[[[1.0, 0.5]]]]))
    want = F.conv2d(torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4), torch.tensor([[[[1.0, 0.5]]]]))
    assert_same(out, want)


def test_conv2d_empty_batch():
    out = Tensor.ones(0, 3, 5, 5).conv2d(Tensor.ones(2, 3, 3, 3), padding=1)
    assert out.shape == (0, 2, 5, 5)
    assert out.numpy().shape == (0, 2, 5, 5)


def test_conv2d_errors():
    x, w = Tensor.ones(2, 3, 6, 6), Tensor.ones(4, 3, 3, 3)
    with pytest.raises(
        ValueError, match=r"conv2d: input of shape \(2, 5, 6, 6\) has 5 channels but weight of shape \(4, 3, 3, 3\)"
    ):
        Tensor.ones(2, 5, 6, 6).conv2d(w)
    with pytest.raises(
        ValueError, match=r"conv2d: input of shape \(2, 3, 6, 6\) .* weight of shape \(4, 3, 3, 3\) with groups=3"
    ):
        x.conv2d(w, groups=3)
    with pytest.raises(ValueError, match=r"conv2d: input must have 4 dims .* got shape \(6, 6\)"):
        Tensor.ones(6, 6).conv2d(w)
    # tinygrad's conv2d takes the rank from the weight: a 3-dim weight is a 1-D convolution of a 3-dim input
    with pytest.raises(ValueError, match=r"conv2d: input must have 3 dims .* got shape \(2, 3, 6, 6\)"):
        x.conv2d(Tensor.ones(4, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: kernel \(3, 3\) .* larger than the padded input \(2, 2\)"):
        Tensor.ones(1, 3, 2, 2).conv2d(w)
    with pytest.raises(ValueError, match=r"conv2d: kernel \(5, 5\) \(with dilation\)"):
        Tensor.ones(1, 3, 4, 4).conv2d(w, dilation=2)
    with pytest.raises(ValueError, match=r"conv2d: bias of shape \(3,\)"):
        x.conv2d(w, Tensor.ones(3))
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        x.conv2d(w, padding="same", stride=2)
    with pytest.raises(ValueError, match="conv2d: stride must be an int >= 1"):
        x.conv2d(w, stride=0)
    with pytest.raises(ValueError, match="conv2d: padding must be"):
        x.conv2d(w, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="conv2d: padding must be"):
        x.conv2d(w, padding="full")
    with pytest.raises(ValueError, match="conv1d: weight must have 3 dims"):
        x.conv1d(w)


# ------------------------------------------------------------------ transposed convolution


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 3, 4, 4), (3, 2, 3, 3), {}),
        ((2, 3, 4, 4), (3, 2, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
        ((2, 4, 3, 4), (4, 3, 2, 3), {"stride": (2, 3), "groups": 2}),
        ((2, 2, 4, 4), (2, 3, 3, 3), {"dilation": 2, "padding": 2}),
        ((1, 2, 3, 3), (2, 2, 3, 3), {"stride": 2, "padding": 2, "dilation": 2, "output_padding": 1}),
        ((1, 2, 5, 3), (2, 4, 2, 2), {"stride": 3, "padding": 1, "output_padding": 2}),  # phases with no tap
    ],
    ids=str,
)
def test_conv_transpose2d(xs, ws, kw):
    cout = ws[1] * kw.get("groups", 1)
    check(
        lambda x, w, b: x.conv_transpose2d(w, b, **kw),
        lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
        xs,
        ws,
        (cout,),
        atol=1e-4,
        grad_atol=1e-3,
    )


def test_conv_transpose_1d_3d_and_unbatched():
    check(
        lambda x, w: x.conv_transpose1d(w, stride=3, padding=1),
        lambda x, w: F.conv_transpose1d(x, w, stride=3, padding=1),
        (2, 3, 5),
        (3, 2, 4),
    )
    check(
        lambda x, w: x.conv_transpose3d(w, stride=2),
        lambda x, w: F.conv_transpose3d(x, w, stride=2),
        (1, 2, 2, 3, 2),
        (2, 1, 2, 2, 2),
    )
    check(
        lambda x, w: x.conv_transpose(w, stride=2),
        lambda x, w: F.conv_transpose2d(x, w, stride=2),
        (2, 3, 3),
        (2, 2, 2, 2),
    )


def test_conv_transpose_errors():
    w = Tensor.ones(3, 2, 3, 3)
    with pytest.raises(
        ValueError,
        match=r"conv_transpose2d: input of shape \(1, 4, 4, 4\) has 4 channels but weight of shape \(3, 2, 3, 3\)",
    ):
        Tensor.ones(1, 4, 4, 4).conv_transpose2d(w)
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding"):
        Tensor.ones(1, 3, 4, 4).conv_transpose2d(w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="conv_transpose2d: input must have 4 dims"):
        Tensor.ones(3, 4).conv_transpose2d(w)
    with pytest.raises(ValueError, match="conv_transpose2d: weight .* not divisible by groups=2"):
        Tensor.ones(1, 3, 4, 4).conv_transpose2d(w, groups=2)
    # an output with no elements is refused on the strided path too, as torch refuses it (not an empty tensor)
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv_transpose1d(torch.ones(1, 1, 1), torch.ones(1, 1, 2), stride=2, padding=1)
    with pytest.raises(ValueError, match=r"conv_transpose1d: input of shape \(1, 1, 1\) gives an output of spatial"):
        Tensor.ones(1, 1, 1).conv_transpose1d(Tensor.ones(1, 1, 2), stride=2, padding=1)


# ------------------------------------------------------------------ pooling


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (3, 2), "stride": 1},
        {"kernel_size": 2, "stride": 1, "dilation": 2},
        {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
    ],
    ids=str,
)
def test_max_pool2d(kw):
    check(lambda x: x.max_pool2d(**kw), lambda x: F.max_pool2d(x, **kw), (2, 3, 7, 6))


def test_max_pool_ties_and_1d_3d():
    # with ties (a constant block) tg shares the gradient while torch picks one element: compare forward only
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    assert_same(Tensor(x).max_pool2d(2), F.max_pool2d(torch.tensor(x), 2))
    check(lambda x: x.max_pool1d(3, 2, 1), lambda x: F.max_pool1d(x, 3, 2, 1), (2, 3, 8))
    check(lambda x: x.max_pool3d(2), lambda x: F.max_pool3d(x, 2), (1, 2, 4, 4, 4))
    check(lambda x: x.max_pool2d(2), lambda x: F.max_pool2d(x, 2), (3, 4, 4))  # unbatched


def test_max_pool_gradient_shares_ties_in_the_input_layout(kernels):
    # windows that tile the input: the gradient is computed in the input's layout, ties share it equally
    x = Tensor(np.ones((1, 1, 4, 4), dtype=np.float32), requires_grad=True).realize()
    x.max_pool2d(2).sum().backward()
    assert x.grad is not None and kernels(x.grad) <= 3
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 1, 4, 4), 0.25, np.float32))
    y = Tensor(np.array([[[[1.0, 3.0, 3.0], [2.0, 0.0, 5.0]]]], np.float32), requires_grad=True)
    y.max_pool2d(2, padding=1).sum().backward()  # padded windows; the tie at 3 shares (torch gives it all to one)
    assert y.grad is not None
    np.testing.assert_array_equal(y.grad.numpy(), [[[[1.0, 0.5, 0.5], [1.0, 0.0, 1.0]]]])


def test_max_pool_int():
    x = rand(1, 2, 4, 4, low=-50, high=50, dtype=np.int32)
    got = Tensor(x).max_pool2d(3, 1, 1)
    want = F.max_pool2d(torch.tensor(x).float(), 3, 1, 1)
    np.testing.assert_array_equal(got.numpy(), want.numpy().astype(np.int32))


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        {"kernel_size": (2, 3), "stride": (1, 2)},
        {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
        {"kernel_size": 2, "divisor_override": 3},
    ],
    ids=str,
)
def test_avg_pool2d(kw):
    check(lambda x: x.avg_pool2d(**kw), lambda x: F.avg_pool2d(x, **kw), (2, 3, 7, 6))


def test_avg_pool_1d_3d():
    check(lambda x: x.avg_pool1d(3, 2, 1), lambda x: F.avg_pool1d(x, 3, 2, 1), (2, 3, 8))
    check(
        lambda x: x.avg_pool3d(2, padding=1, count_include_pad=False),
        lambda x: F.avg_pool3d(x, 2, padding=1, count_include_pad=False),
        (1, 2, 3, 4, 4),
    )


def test_pool_errors():
    x = Tensor.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="max_pool2d: padding 2 must be at most half of kernel_size 3"):
        x.max_pool2d(3, padding=2)
    with pytest.raises(ValueError, match=r"max_pool2d: input must have 3 or 4 dims .* got shape \(4, 4\)"):
        Tensor.ones(4, 4).max_pool2d(2)
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel \(5, 5\) .* larger than the padded input \(4, 4\)"):
        x.avg_pool2d(5)
    with pytest.raises(ValueError, match="avg_pool2d: kernel_size must be an int >= 1"):
        x.avg_pool2d(0)
    with pytest.raises(ValueError, match="avg_pool2d: divisor_override"):
        x.avg_pool2d(2, divisor_override=0)


# ------------------------------------------------------------------ adaptive pooling


@pytest.mark.parametrize(
    "shape, size",
    [
        ((2, 3, 6, 4), (3, 2)),  # bins of one size: a window view
        ((2, 3, 5, 7), (3, 4)),  # overlapping bins
        ((2, 3, 5, 7), 1),
        ((3, 5, 4), (None, 3)),  # unbatched, None keeps a dim
        ((1, 2, 3, 3), (5, 4)),  # more bins than inputs
    ],
    ids=str,
)
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pool2d(shape, size, kind):
    check(
        lambda x: getattr(x, f"adaptive_{kind}_pool2d")(size),
        lambda x: getattr(F, f"adaptive_{kind}_pool2d")(x, size),
        shape,
    )


def test_adaptive_pool_1d_3d_int_and_empty():
    check(lambda x: x.adaptive_avg_pool1d(3), lambda x: F.adaptive_avg_pool1d(x, 3), (2, 3, 7))
    check(lambda x: x.adaptive_max_pool1d(4), lambda x: F.adaptive_max_pool1d(x, 4), (2, 3, 7))
    check(lambda x: x.adaptive_avg_pool3d((2, 3, 1)), lambda x: F.adaptive_avg_pool3d(x, (2, 3, 1)), (1, 2, 3, 5, 4))
    a = rand(1, 2, 5, 5, dtype=np.int32, low=-9, high=9)
    got = Tensor(a).adaptive_avg_pool2d(2)
    assert got.dtype.is_float
    np.testing.assert_allclose(got.numpy(), F.adaptive_avg_pool2d(torch.tensor(a).float(), 2).numpy(), rtol=1e-6)
    got = Tensor(a).adaptive_max_pool2d((2, 3))  # PyTorch has no integer max pool: compare with the float one
    assert got.dtype == Tensor(a).dtype
    want = F.adaptive_max_pool2d(torch.tensor(a).float(), (2, 3)).numpy().astype(np.int32)
    np.testing.assert_array_equal(got.numpy(), want)
    check(lambda x: x.adaptive_avg_pool2d(2), lambda x: F.adaptive_avg_pool2d(x, 2), (0, 2, 4, 4))


def test_adaptive_pool_errors():
    x = Tensor.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: input must have 3 or 4 dims .* got shape \(4,\)"):
        Tensor.ones(4).adaptive_avg_pool2d(2)
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be 2 ints >= 0 .* got \(1, 2, 3\)"):
        x.adaptive_max_pool2d((1, 2, 3))
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be 2 ints"):
        x.adaptive_avg_pool2d(-1)
    with pytest.raises(ValueError, match=r"cannot pool an empty dim into 2 bins, input shape \(1, 1, 0, 4\)"):
        Tensor.ones(1, 1, 0, 4).adaptive_avg_pool2d(2)
    with pytest.raises(NotImplementedError, match="return_indices"):
        x.adaptive_max_pool2d(2, return_indices=True)


# ------------------------------------------------------------------ interpolate


@pytest.mark.parametrize(
    "shape, kw",
    [
        ((2, 3, 4, 5), {"size": (8, 10)}),  # nearest, whole factor up: a view
        ((2, 3, 8, 6), {"size": (4, 3)}),  # nearest, whole factor down: a view
        ((2, 3, 5, 4), {"size": (7, 3)}),  # nearest, general
        ((1, 2, 5), {"scale_factor": 1.7}),  # the scale factor sets the source index
        ((1, 2, 5), {"scale_factor": 1.7, "recompute_scale_factor": True}),
        ((1, 2, 6, 5), {"size": (4, 7), "mode": "nearest-exact"}),
        ((2, 3, 4, 5), {"size": (7, 3), "mode": "bilinear"}),
        ((2, 3, 4, 5), {"size": (7, 3), "mode": "bilinear", "align_corners": True}),
        ((2, 3, 4, 5), {"scale_factor": 2, "mode": "bilinear"}),
        ((2, 3, 4, 5), {"scale_factor": (0.5, 1.5), "mode": "bilinear", "align_corners": False}),
        ((2, 3, 6), {"size": 4, "mode": "linear"}),
        ((2, 3, 6), {"size": 1, "mode": "linear", "align_corners": True}),
        ((1, 2, 3, 2, 4), {"size": (4, 3, 2), "mode": "trilinear"}),
    ],
    ids=str,
)
def test_interpolate(shape, kw):
    check(lambda x: x.interpolate(**kw), lambda x: F.interpolate(x, **kw), shape)


def test_interpolate_linear_any_rank_and_int_nearest():
    # tinygrad's habit: 'linear' on any number of spatial dims; torch needs the name for the rank
    check(
        lambda x: x.interpolate(size=(3, 7), mode="linear"),
        lambda x: F.interpolate(x, size=(3, 7), mode="bilinear"),
        (1, 2, 4, 5),
    )
    xi = rand(1, 2, 3, 3, low=0, high=100, dtype=np.int32)
    got = Tensor(xi).interpolate(size=(5, 4))
    assert got.dtype == Tensor(xi).dtype
    np.testing.assert_array_equal(
        got.numpy(), F.interpolate(torch.tensor(xi).float(), size=(5, 4)).numpy().astype(np.int32)
    )


def test_interpolate_nearest_whole_factor_is_a_view(kernels):
    x = Tensor(rand(1, 2, 3, 3)).realize()
    assert kernels(x.interpolate(scale_factor=2) + 1) == 1
    assert kernels(x.interpolate(size=(6, 6)), x.interpolate(size=(5, 4), mode="bilinear")) <= 3


def test_interpolate_errors():
    x = Tensor.ones(1, 2, 4, 4)
    with pytest.raises(ValueError, match="interpolate: give exactly one of size and scale_factor"):
        x.interpolate()
    with pytest.raises(ValueError, match="interpolate: give exactly one"):
        x.interpolate(size=2, scale_factor=2)
    with pytest.raises(ValueError, match="interpolate: mode 'bicubic' is not supported"):
        x.interpolate(size=2, mode="bicubic")
    with pytest.raises(ValueError, match="interpolate: mode 'trilinear' needs 3 spatial dims"):
        x.interpolate(size=2, mode="trilinear")
    with pytest.raises(ValueError, match="interpolate: align_corners only applies"):
        x.interpolate(size=2, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: input must be \(N, C, \*spatial\)"):
        Tensor.ones(4, 4).interpolate(size=2)
    with pytest.raises(ValueError, match="interpolate: size must be"):
        x.interpolate(size=(2, 2, 2))
