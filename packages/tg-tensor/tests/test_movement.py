"""Movement ops: values against numpy, and no kernel of their own on a realized tensor."""

from __future__ import annotations

import numpy as np
import pytest

from tg_tensor import Tensor

A = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 3.0


def _realized() -> Tensor:
    return Tensor(A).realize()


MOVES = [
    ("reshape", lambda t: t.reshape(6, 4), lambda a: a.reshape(6, 4)),
    ("reshape_tuple", lambda t: t.reshape((4, 6)), lambda a: a.reshape(4, 6)),
    ("reshape_-1", lambda t: t.reshape(-1, 2), lambda a: a.reshape(-1, 2)),
    ("reshape_-1_mid", lambda t: t.reshape(2, -1, 3), lambda a: a.reshape(2, -1, 3)),
    ("reshape_flat", lambda t: t.reshape(-1), lambda a: a.reshape(-1)),
    ("view", lambda t: t.view(3, 8), lambda a: a.reshape(3, 8)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    ("permute_tuple", lambda t: t.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0)),
    ("permute_negative", lambda t: t.permute(-1, -3, -2), lambda a: a.transpose(2, 0, 1)),
    ("expand", lambda t: t.reshape(2, 1, 3, 4).expand(2, 5, 3, 4), lambda a: np.broadcast_to(a[:, None], (2, 5, 3, 4))),
    ("expand_new_dim", lambda t: t.expand(3, 2, 3, 4), lambda a: np.broadcast_to(a, (3, 2, 3, 4))),
    ("expand_-1", lambda t: t.reshape(2, 3, 1, 4).expand(-1, -1, 2, -1), lambda a: np.repeat(a[:, :, None], 2, 2)),
    ("transpose", lambda t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    ("transpose_neg", lambda t: t.transpose(-1, -2), lambda a: a.swapaxes(-1, -2)),
    ("T", lambda t: t.reshape(6, 4).T, lambda a: a.reshape(6, 4).T),
    ("flatten", lambda t: t.flatten(), lambda a: a.reshape(-1)),
    ("flatten_from_1", lambda t: t.flatten(1), lambda a: a.reshape(2, 12)),
    ("flatten_range", lambda t: t.flatten(0, 1), lambda a: a.reshape(6, 4)),
    ("unsqueeze_0", lambda t: t.unsqueeze(0), lambda a: a[None]),
    ("unsqueeze_mid", lambda t: t.unsqueeze(2), lambda a: a[:, :, None]),
    ("unsqueeze_last", lambda t: t.unsqueeze(-1), lambda a: a[..., None]),
    (
        "chain",
        lambda t: t.permute(1, 0, 2).reshape(3, 8).T.unsqueeze(0),
        lambda a: a.transpose(1, 0, 2).reshape(3, 8).T[None],
    ),
]


@pytest.mark.parametrize("name, move, ref", MOVES, ids=[m[0] for m in MOVES])
def test_movement_values(name, move, ref):
    got = move(Tensor(A))
    want = ref(A)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("name, move, ref", MOVES, ids=[m[0] for m in MOVES])
def test_movement_makes_no_kernel(kernels, name, move, ref):
    t = _realized()
    assert kernels(t) == 0
    moved = move(t)
    assert kernels(moved) == 0
    # and reading it back still gives the moved values
    np.testing.assert_array_equal(moved.numpy(), ref(A))


def test_movement_of_realized_intermediate_makes_no_kernel(kernels):
    t = (Tensor(A) * 2).realize()
    assert kernels(t.permute(2, 1, 0).reshape(4, 6).expand(3, 4, 6)) == 0


def test_movement_then_elementwise_is_one_kernel(kernels):
    t = _realized()
    out = t.permute(2, 0, 1) * 2 + t.transpose(0, 2).permute(0, 2, 1).exp()
    assert kernels(out) == 1
    want = A.transpose(2, 0, 1) * 2 + np.exp(A.swapaxes(0, 2).transpose(0, 2, 1))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)


def test_reshape_same_shape_is_identity():
    t = Tensor(A)
    assert t.reshape(2, 3, 4) is t


def test_flatten_and_unsqueeze_of_scalar():
    assert Tensor(3.0).flatten().shape == (1,)
    assert Tensor(3.0).unsqueeze(0).shape == (1,)
    assert Tensor(3.0).unsqueeze(0).tolist() == [3.0]


def test_expand_then_reduce_values():
    t = Tensor(A[0, 0])  # (4,)
    got = t.expand(3, 4).sum(0)
    np.testing.assert_array_equal(got.numpy(), A[0, 0] * 3)


def test_elementwise_on_permuted_views():
    t = Tensor(A)
    got = t.permute(2, 1, 0) * t.transpose(0, 2)
    want = A.transpose(2, 1, 0) * A.swapaxes(0, 2)
    np.testing.assert_array_equal(got.numpy(), want)
