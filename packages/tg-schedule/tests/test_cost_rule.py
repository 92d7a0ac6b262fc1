"""The cost rule (README, rule 5): an expensive value that a kernel would compute many times per element is
realized first; cheap values and values read once stay fused. Values never change."""

from __future__ import annotations

from helpers import const, leaf, run_and_check

from tg_schedule.kernelize import RECOMPUTE_OPS, find_realizes
from tg_uop import Ops, UOp


def expensive(x: UOp, ops: int) -> UOp:
    """`ops` elementwise ops over x (x*0.5 + 0.25, repeated): a stand-in for a random initialisation."""
    shape = x.shape
    assert shape is not None
    for i in range(ops // 2):
        x = x * const(0.5, shape) + const(0.25 * (i % 3), shape)
    return x


def matmul(a: UOp, b: UOp, n: int, k: int, m: int) -> UOp:
    left = a.reshape((n, k, 1)).expand((n, k, m))
    right = b.reshape((1, k, m)).expand((n, k, m))
    return (left * right).reduce_axis(Ops.ADD, (1,)).reshape((n, m))


N, K, M = 4, 3, 5
X_VALS = [float(i % 7 - 3) for i in range(N * K)]
W_VALS = [float(i % 5) * 0.5 - 1.0 for i in range(K * M)]


def test_expensive_weight_read_by_every_output_is_realized():
    # the weight's 16+ ops per element would run for every one of the N rows of the product
    w = expensive(leaf(W_VALS, (K, M)), RECOMPUTE_OPS + 2)
    out = matmul(leaf(X_VALS, (N, K)), w, N, K, M)
    assert w in find_realizes([out])
    sched = run_and_check(out)
    assert len(sched) == 2
    assert sched[0].outputs[0].size == K * M  # the weight is computed once, then the product reads it


def test_expensive_value_expanded_in_an_elementwise_kernel_is_realized():
    b = expensive(leaf([1.0, 2.0, 3.0]), RECOMPUTE_OPS + 2)
    out = leaf([float(i) for i in range(12)], (4, 3)) + b.reshape((1, 3)).expand((4, 3))
    assert len(run_and_check(out)) == 2


def test_cheap_weight_stays_fused():
    w = expensive(leaf(W_VALS, (K, M)), 4)
    out = matmul(leaf(X_VALS, (N, K)), w, N, K, M)
    assert w not in find_realizes([out])
    assert len(run_and_check(out)) == 1


def test_matmul_with_broadcast_bias_is_one_kernel():
    bias = leaf([0.5, -1.0, 2.0, 0.0, 1.5]).reshape((1, M)).expand((N, M))
    out = matmul(leaf(X_VALS, (N, K)), leaf(W_VALS, (K, M)), N, K, M) + bias * const(2.0, (N, M))
    assert len(run_and_check(out)) == 1


def test_expensive_value_read_once_stays_fused():
    x = leaf(X_VALS, (N, K))
    out = (expensive(x, RECOMPUTE_OPS * 2) * const(2.0, (N, K))).reduce_axis(Ops.ADD, (1,))
    assert len(run_and_check(out)) == 1
