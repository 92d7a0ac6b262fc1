"""Shape edge cases tinygrad code relies on, against torch: reshape with None, 0-d and empty tensors through
cat, stack, matmul/dot, pad with negative amounts, roll, flip, permute, gather, einsum (ellipsis, repeated
subscripts, shape checks), scaled_dot_product_attention with is_causal and a mask together."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tg_tensor import Tensor
from tg_tensor.errors import ArgumentError


def _arr(*shape: int) -> np.ndarray:
    return np.random.default_rng(len(shape) + sum(shape)).standard_normal(shape).astype(np.float32)


def _same(got: Tensor, want: torch.Tensor) -> None:
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_reshape_none_keeps_a_dimension() -> None:
    a = _arr(2, 3, 4)
    _same(Tensor(a).reshape(None, 12), torch.tensor(a).reshape(2, 12))
    _same(Tensor(a).reshape(None, None, 2, 2), torch.tensor(a).reshape(2, 3, 2, 2))
    _same(Tensor(a).reshape((None, -1, 1)), torch.tensor(a).reshape(2, -1, 1))
    with pytest.raises(ArgumentError, match="None past"):
        Tensor(a).reshape(2, 3, 4, None)
    b = _arr(2, 1, 3)
    _same(Tensor(b).expand(None, 4, None), torch.tensor(b).expand(-1, 4, -1))  # tinygrad's None in expand too


CASES: dict[str, tuple[Callable, Callable, list[tuple[int, ...]]]] = {
    "cat empty 1-d with 2-d": (lambda a, b: a.cat(b), lambda a, b: torch.cat([a, b]), [(0,), (2, 3)]),
    "cat empty axis": (lambda a, b: a.cat(b, dim=1), lambda a, b: torch.cat([a, b], 1), [(2, 0), (2, 3)]),
    "stack 0-d": (lambda a, b: a.stack(b), lambda a, b: torch.stack([a, b]), [(), ()]),
    "stack empty": (lambda a, b: a.stack(b, dim=1), lambda a, b: torch.stack([a, b], 1), [(0, 2), (0, 2)]),
    "matmul empty rows": (lambda a, b: a @ b, lambda a, b: a @ b, [(0, 3), (3, 2)]),
    "matmul empty inner": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 0), (0, 2)]),
    "matmul 1-d by batch": (lambda a, b: a @ b, lambda a, b: a @ b, [(3,), (2, 3, 4)]),
    "matmul batch by 1-d": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 5, 3, 4), (4,)]),
    "matmul broadcast batch": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    "dot 1-d": (lambda a, b: a.dot(b), lambda a, b: a.dot(b), [(3,), (3,)]),
    "dot empty": (lambda a, b: a.dot(b), lambda a, b: a.dot(b), [(0,), (0,)]),
    "pad negative": (
        lambda a: a.pad(((-1, 1), (2, -2))),
        lambda a: torch.nn.functional.pad(a, (2, -2, -1, 1)),
        [(4, 5)],
    ),
    "pad negative flat": (
        lambda a: a.pad((-2, 1, 0, -3)),
        lambda a: torch.nn.functional.pad(a, (-2, 1, 0, -3)),
        [(4, 5)],
    ),
    "roll 0-d": (lambda a: a.roll(1), lambda a: a.roll(1), [()]),
    "roll empty": (lambda a: a.roll(1, 0), lambda a: a.roll(1, 0), [(0, 3)]),
    "roll several": (lambda a: a.roll((1, -2), (0, 1)), lambda a: a.roll((1, -2), (0, 1)), [(3, 4)]),
    "roll flat": (lambda a: a.roll(5), lambda a: a.roll(5), [(3, 4)]),
    "flip 0-d": (lambda a: a.flip(()), lambda a: a.flip(()), [()]),
    "flip empty": (lambda a: a.flip(0), lambda a: a.flip(0), [(0, 3)]),
    "permute empty": (lambda a: a.permute(1, 0), lambda a: a.permute(1, 0), [(0, 3)]),
    "einsum ellipsis": (
        lambda a, b: Tensor.einsum("...ij,...jk->...ik", a, b),
        lambda a, b: torch.einsum("...ij,...jk->...ik", a, b),
        [(2, 3, 4), (2, 4, 5)],
    ),
    "einsum ellipsis out": (lambda a: Tensor.einsum("i...->...", a), lambda a: torch.einsum("i...->...", a), [(2, 3)]),
    "einsum diagonal": (lambda a: Tensor.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a), [(3, 3)]),
    "einsum trace": (lambda a: Tensor.einsum("ii", a), lambda a: torch.einsum("ii", a), [(3, 3)]),
    "einsum implicit": (
        lambda a, b: Tensor.einsum("ij,jk", [a, b]),
        lambda a, b: torch.einsum("ij,jk", [a, b]),
        [(2, 3), (3, 4)],
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_shape_edge_case(name: str) -> None:
    tg_fn, torch_fn, shapes = CASES[name]
    arrays = [_arr(*s) for s in shapes]
    ins = [Tensor(a, requires_grad=True) for a in arrays]
    tins = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, want = tg_fn(*ins), torch_fn(*tins)
    _same(out, want)
    if want.numel():
        out.sum().backward()
        want.sum().backward()
        for t, tt in zip(ins, tins):
            if t.grad is None:  # an empty input that cat leaves out of the graph gets no gradient tensor
                assert tt.grad.numel() == 0
                continue
            _same(t.grad, tt.grad)


def test_gather_empty_and_0d() -> None:
    a = _arr(3, 4)
    idx = np.zeros((3, 0), dtype=np.int64)
    _same(Tensor(a).gather(1, Tensor(idx)), torch.tensor(a).gather(1, torch.tensor(idx)))
    _same(Tensor(np.float32(3.0)).gather(0, Tensor(0)), torch.tensor(3.0).gather(0, torch.tensor(0)))


def test_einsum_checks_shapes() -> None:
    with pytest.raises(RuntimeError, match="einsum"):
        Tensor.einsum("ij,jk->ik", Tensor.ones(2, 3), Tensor.ones(4, 4))
    with pytest.raises(RuntimeError, match="einsum"):
        Tensor.einsum("ij->ij", Tensor.ones(2, 3, 4))


def test_attention_with_is_causal_and_a_mask() -> None:
    q, k, v = _arr(1, 2, 3, 4), _arr(1, 2, 5, 4), _arr(1, 2, 5, 6)
    mask = np.random.default_rng(1).random((3, 5)) < 0.7
    mask[:, 0] = True  # every row keeps one position
    got = Tensor(q).scaled_dot_product_attention(Tensor(k), Tensor(v), attn_mask=Tensor(mask), is_causal=True)
    both = torch.tensor(mask) & torch.ones(3, 5, dtype=torch.bool).tril()
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=both
    )
    _same(got, want)
