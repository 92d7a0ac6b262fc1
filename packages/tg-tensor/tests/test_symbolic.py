"""Tensors with symbolic dimensions (bound Variables): every op family at 3+ bound values against numpy/torch,
kernels compiled once for all values (read from tg_runtime's counters), TinyJit replays over Variables, a backward
pass over a symbolic axis, a KV cache written at a bound position, and the errors for what is not allowed."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tg_runtime.counters import COUNTERS
from tg_schedule.schedule import SCHEDULES
from tg_tensor import Tensor, TinyJit
from tg_tensor.errors import ArgumentError
from tg_uop import Variable

MAX = 16
n = Variable("n", 1, MAX)
VALUES = (1, 5, 11, MAX)
rng = np.random.default_rng(0)
A = rng.standard_normal((MAX, 8)).astype(np.float32)
B = rng.standard_normal((8, 6)).astype(np.float32)
TA = Tensor(A).realize()


def rows(k: int) -> Tensor:
    return TA[: n.bind(k)]


def close(got: Tensor, want: np.ndarray, atol: float = 1e-5) -> None:
    g = got.numpy()
    assert g.shape == want.shape, (g.shape, want.shape)
    np.testing.assert_allclose(g, want, atol=atol, rtol=1e-5)


# ---- shapes, movement, data ----


def test_shape_shows_the_bound_variable_and_data_is_at_the_bound_size() -> None:
    for k in VALUES:
        x = rows(k)
        assert x.shape == (n.bind(k), 8)
        assert x.shape[0].render() == "n"
        close(x, A[:k])
        assert x.tolist() == A[:k].tolist()
    assert TA[: n.bind(1), :1].item() == A[0, 0]


@pytest.mark.parametrize("k", VALUES)
def test_movement_ops(k: int) -> None:
    x = rows(k)
    close(x.reshape(n.bind(k), 2, 4), A[:k].reshape(k, 2, 4))
    close(x.reshape(n.bind(k) * 8), A[:k].reshape(-1))
    close(x.reshape(-1, 4).reshape(n.bind(k), 8), A[:k])
    close(x.T, A[:k].T)
    close(x.permute(1, 0)[2:5], A[:k].T[2:5])
    close(x[:, None, 3:6], A[:k, None, 3:6])
    close(x.flip(1), A[:k, ::-1])
    close(x.reshape(n.bind(k), 1, 8).expand(n.bind(k), 3, 8), np.broadcast_to(A[:k, None], (k, 3, 8)))
    close(Tensor(A[0]).reshape(1, 8).expand(n.bind(k), 8), np.broadcast_to(A[0], (k, 8)))
    close(x.pad(((1, 2), None)), np.pad(A[:k], ((1, 2), (0, 0))))
    close(x.pad(((0, 0), (1, 1)), value=3.0), np.pad(A[:k], ((0, 0), (1, 1)), constant_values=3.0))
    # symbolic pad amounts: a length-k row padded up to MAX
    close(Tensor(A[:, 0]).shrink(((0, n.bind(k)),)).pad(((0, MAX - n.bind(k)),)), np.pad(A[:k, 0], (0, MAX - k)))
    close(Tensor.ones(n.bind(k), 3), np.ones((k, 3), np.float32))


@pytest.mark.parametrize("k", VALUES)
def test_slices_with_symbolic_bounds(k: int) -> None:
    sp = Variable("sp", 0, MAX - 1).bind(k - 1)
    close(TA[sp : sp + 1], A[k - 1 : k])
    close(TA[:, 1:3][: sp + 1], A[:k, 1:3])
    close(TA[..., 2][:sp], A[: k - 1, 2])


@pytest.mark.parametrize("k", VALUES)
def test_arange_masks_cat_and_indexing(k: int) -> None:
    nk = n.bind(k)
    close(Tensor.arange(nk), np.arange(k, dtype=np.int32))
    close(Tensor.arange(2, nk + 2), np.arange(2, k + 2, dtype=np.int32))
    close(Tensor.ones(nk, nk).triu(1), np.triu(np.ones((k, k), np.float32), 1))
    close(rows(k).tril(-1), np.tril(A[:k], -1))
    close(rows(k).cat(TA[:2], dim=0), np.concatenate([A[:k], A[:2]]))
    close(rows(k).cat(rows(k), dim=1), np.concatenate([A[:k], A[:k]], 1))
    close(TA[n.bind(k) - 1], A[k - 1])  # a bound Variable as an index
    causal = Tensor.full((nk, nk), float("-inf")).triu(1)
    scores = rows(k) @ rows(k).T / 8
    want = torch.tensor(A[:k] @ A[:k].T / 8 + np.triu(np.full((k, k), -np.inf, np.float32), 1)).softmax(-1)
    close((scores + causal).softmax(-1), want.numpy(), atol=1e-5)


# ---- elementwise, reductions, matmul, softmax, attention ----


@pytest.mark.parametrize("k", VALUES)
def test_elementwise(k: int) -> None:
    x, a = rows(k), A[:k]
    close((x * 2 + 1).exp().log(), np.log(np.exp(a * 2 + 1)), atol=1e-4)
    close((x > 0).where(x, x * 0.1), np.where(a > 0, a, a * 0.1))
    close(x.relu() - x.abs().sqrt(), np.maximum(a, 0) - np.sqrt(np.abs(a)))
    close((x + Tensor(B[:, 0])).cast("int32"), (a + B[:, 0]).astype(np.int32))
    close(x * x[:, :1], a * a[:, :1])


@pytest.mark.parametrize("k", VALUES)
def test_reductions(k: int) -> None:
    x, a = rows(k), A[:k]
    close(x.sum(0), a.sum(0))
    close(x.sum(), np.array(a.sum()), atol=1e-4)
    close(x.sum(1, keepdim=True), a.sum(1, keepdims=True))
    close(x.max(0), a.max(0))
    close(x.min(1), a.min(1))
    close(x.mean(0), a.mean(0))
    close(x.mean(), np.array(a.mean()))
    if k > 1:
        close(x.var(0), a.var(0, ddof=1), atol=1e-4)
        close(x.std(0, correction=0), a.std(0), atol=1e-4)


@pytest.mark.parametrize("k", VALUES)
def test_matmul_softmax_attention(k: int) -> None:
    x, a = rows(k), A[:k]
    close(x @ Tensor(B), a @ B, atol=1e-4)
    close(x.T @ x, a.T @ a, atol=1e-4)  # a contraction over the symbolic axis
    close(x.softmax(0), torch.tensor(a).softmax(0).numpy())
    close(x.log_softmax(1), torch.tensor(a).log_softmax(1).numpy(), atol=1e-5)
    q = Tensor(B.T[None, :2, :])  # (1, 2, 8): two queries over k keys and values
    kv = x.reshape(1, n.bind(k), 8)
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(B.T[None, :2]), torch.tensor(a[None]), torch.tensor(a[None])
    )
    close(q.scaled_dot_product_attention(kv, kv), want.numpy(), atol=1e-5)
    close(x.layernorm(), torch.nn.functional.layer_norm(torch.tensor(a), (8,)).numpy(), atol=1e-4)


# ---- compiles once, the schedule cache, TinyJit ----


def test_new_values_compile_and_schedule_nothing() -> None:
    def f(k: int) -> np.ndarray:
        return ((rows(k) @ Tensor(B)).relu().softmax(0).sum(1)).numpy()

    f(3)
    before, misses = COUNTERS.snapshot(), SCHEDULES.misses
    for k in (2, 7, 9, 12):
        want = torch.tensor(np.maximum(A[:k] @ B, 0)).softmax(0).sum(1).numpy()
        np.testing.assert_allclose(f(k), want, atol=1e-5)
    assert COUNTERS.since(before).compiles == 0
    assert SCHEDULES.misses == misses


def test_tinyjit_replays_ten_lengths_without_compiling() -> None:
    w = Tensor(B).realize()

    @TinyJit
    def step(x: Tensor) -> Tensor:
        return (x @ w).relu().softmax(0)

    lengths = [3, 9, 1, 4, 16, 7, 2, 12, 5, 10, 11, 6]
    for i, k in enumerate(lengths):
        if i == 2:  # after the warm-up and the capture
            before, misses = COUNTERS.snapshot(), SCHEDULES.misses
        out = step(rows(k))
        assert out.shape == (n.bind(k), 6)  # this call's shape, not the capture's
        close(out, torch.tensor(np.maximum(A[:k] @ B, 0)).softmax(0).numpy())
    counts = COUNTERS.since(before)
    assert counts.compiles == 0 and counts.launches > 0
    assert SCHEDULES.misses == misses


def test_tinyjit_takes_bound_variables_as_arguments() -> None:
    @TinyJit
    def head(x: Tensor, pos: object) -> Tensor:
        return x[:pos].sum(0).realize()

    for k in (4, 2, 9, 13, 16):
        close(head(TA, n.bind(k)), A[:k].sum(0))
    assert head.captured is not None


def test_tinyjit_with_lazy_symbolic_inputs() -> None:
    @TinyJit
    def f(x: Tensor) -> Tensor:
        return (x * 2).sum(0)

    for i, k in enumerate((3, 8, 2, 14, 6)):
        if i == 2:
            before = COUNTERS.snapshot()
        close(f(rows(k) + 1), ((A[:k] + 1) * 2).sum(0), atol=1e-4)  # the input is realized at the maximum size
    assert COUNTERS.since(before).compiles == 0


def test_seed_documents_example() -> None:
    # as the seed documents write it (the import aside): a reshape naming the batch axis with an unbound Variable
    BS = Variable("BS", 1, 100)  # noqa: N806

    @TinyJit
    def process_batch(x: Tensor) -> Tensor:
        return x.reshape(BS, -1).sum()

    data = Tensor.randn(10, 10)
    for _ in range(3):
        result = process_batch(data)
        np.testing.assert_allclose(result.numpy(), data.numpy().sum(), rtol=1e-5, atol=1e-5)
    assert Tensor.ones(10, 10).reshape(BS, -1).shape == (BS.bind(10), 10)


def test_kv_cache_written_at_a_bound_position() -> None:
    length, dim = 12, 4
    start = Variable("start_pos", 0, length - 1)
    cache = Tensor.zeros(length, dim).contiguous().realize()
    ref = np.zeros((length, dim), np.float32)

    @TinyJit
    def decode(x: Tensor, sp: object) -> Tensor:
        cache[sp : sp + 1].assign(x).realize()  # type: ignore[misc]
        keys = cache[: sp + 1]  # type: ignore[operator]
        return (x @ keys.T).softmax(-1) @ keys

    for k in range(length):
        if k == 2:
            before = COUNTERS.snapshot()
        x = rng.standard_normal((1, dim)).astype(np.float32)
        ref[k] = x[0]
        keys = torch.tensor(ref[: k + 1])
        want = (torch.tensor(x) @ keys.T).softmax(-1) @ keys
        close(decode(Tensor(x), start.bind(k)), want.numpy())
    assert COUNTERS.since(before).compiles == 0


# ---- gradients ----


@pytest.mark.parametrize("k", (2, 7, MAX))
def test_backward_over_a_symbolic_axis(k: int) -> None:
    x = Tensor(A, requires_grad=True)
    w = Tensor(B, requires_grad=True)
    y = x[: n.bind(k)]
    loss = ((y @ w).softmax(0) * Tensor(B[0])).sum() + y.mean() + (y * y).sum(1).max()
    loss.backward()
    tx, tw = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    ty = tx[:k]
    tl = ((ty @ tw).softmax(0) * torch.tensor(B[0])).sum() + ty.mean() + (ty * ty).sum(1).max()
    tl.backward()
    close(loss, np.array(tl.item()), atol=1e-4)
    assert x.grad is not None and w.grad is not None
    close(x.grad, tx.grad.numpy(), atol=1e-4)
    close(w.grad, tw.grad.numpy(), atol=1e-4)


# ---- a small fuzzer: random op chains over a symbolic axis ----

UNARY = [("exp", np.exp), ("relu", lambda a: np.maximum(a, 0)), ("neg", np.negative), ("abs", np.abs)]
REDUCE = [("sum", np.sum), ("max", np.max), ("mean", np.mean)]


@pytest.mark.parametrize("seed", range(8))
def test_random_chains_over_a_symbolic_axis(seed: int) -> None:
    r = random.Random(seed)
    ops = [r.choice(UNARY) for _ in range(r.randint(1, 3))]
    red, axis = r.choice(REDUCE), r.randint(0, 1)
    transpose, scale = r.random() < 0.5, r.uniform(-2, 2)
    for k in (r.randint(1, 5), r.randint(6, 11), MAX):
        x, a = rows(k) * scale, A[:k] * np.float32(scale)
        if transpose:
            x, a = x.T, a.T
        for name, fn in ops:
            x, a = getattr(x, name)(), fn(a)
        got = getattr(x, red[0])(axis)
        close(got, red[1](a, axis=axis).astype(np.float32), atol=1e-4)


# ---- what is refused ----


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"n=17 is outside \[1, 16\]"):
        n.bind(MAX + 1)
    with pytest.raises(ArgumentError, match="not inside shape"):
        Tensor.zeros(8, 2)[: n.bind(3)]  # n may be up to 16: past the 8 rows
    with pytest.raises(ArgumentError, match="cannot reshape"):
        rows(4).reshape(Variable("m", 1, MAX).bind(4), 8)  # m == n only at these values
    with pytest.raises(ArgumentError, match="unbound"):
        Tensor.zeros(4, 4).reshape(2, 8).expand(Variable("u", 1, 4), 2, 8)
    with pytest.raises(NotImplementedError, match="step"):
        rows(4)[::2]
    with pytest.raises(TypeError, match="symbolic axis"):
        len(rows(3))
    with pytest.raises(ArgumentError, match="int sizes"):
        Tensor.rand(n.bind(3), 2)
