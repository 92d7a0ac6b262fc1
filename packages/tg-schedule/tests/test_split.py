"""The split rule (README, "Long reductions over few outputs"): a long reduction over few outputs becomes a
kernel of partial results and a kernel combining them; everything else keeps its kernels. Values never change."""

from __future__ import annotations

import math

from helpers import const, leaf, run_and_check

from tg_schedule.split import SPLIT_CHUNK, SPLIT_EXACT_REDUCE, SPLIT_MIN_REDUCE, split_count, split_reductions
from tg_uop import Ops, UOp

N = 2 * SPLIT_MIN_REDUCE


def values(n: int) -> list[float]:
    # small integers: every order of summing them gives the same float32 sum
    return [float(i % 13 - 6) for i in range(n)]


def reduce_shapes(out: UOp) -> list[tuple[int, ...] | None]:
    return [u.shape for u in split_reductions([out])[0].toposort() if u.op is Ops.REDUCE_AXIS]


def test_full_sum_is_a_kernel_of_partials_and_one_combining_them():
    out = leaf(values(N), (N,)).reduce_axis(Ops.ADD, (0,))
    sched = run_and_check(out)
    assert len(sched) == 2
    assert sched[0].outputs[0].size == split_count(out) and split_count(out) >= 8  # every thread gets rows


def test_a_length_without_a_divisor_is_padded_with_zeros():
    n = N + 3  # 131075 = 5^2 * 5243: no divisor near the chunk count
    out = leaf(values(n), (n,)).reduce_axis(Ops.ADD, (0,))
    assert len(run_and_check(out)) == 2


def test_max_splits_only_where_the_axis_divides():
    assert len(run_and_check(leaf(values(N), (N,)).reduce_axis(Ops.MAX, (0,)))) == 2
    assert len(run_and_check(leaf(values(N + 3), (N + 3,)).reduce_axis(Ops.MAX, (0,)))) == 1  # no padding for max


def test_channel_statistics_split_the_outermost_long_axis():
    # batch-norm's statistics over N, H, W of NCHW with 2 channels: each partial is a run of images
    shape = (32, 2, 64, 64)
    x = leaf(values(math.prod(shape)), shape)
    out = x.reduce_axis(Ops.ADD, (0, 2, 3))
    assert len(run_and_check(out)) == 2
    assert run_and_check((x * x).reduce_axis(Ops.ADD, (0, 2, 3)).reshape((2,)) * const(0.5, (2,)))


def test_many_outputs_or_short_reductions_stay_one_kernel():
    rows = leaf(values(N), (16, N // 16)).reduce_axis(Ops.ADD, (1,))  # 16 outputs: every thread has 8
    assert split_count(rows) == 1 and len(run_and_check(rows)) == 1
    short = leaf(values(SPLIT_MIN_REDUCE - 1), (SPLIT_MIN_REDUCE - 1,)).reduce_axis(Ops.ADD, (0,))
    assert split_count(short) == 1


def test_very_long_sums_split_for_accuracy_whatever_their_outputs():
    long_rows = const(1.0, (64, 2 * SPLIT_EXACT_REDUCE)).reduce_axis(Ops.ADD, (1,))
    assert split_count(long_rows) == 2 * SPLIT_EXACT_REDUCE // SPLIT_CHUNK
    assert reduce_shapes(long_rows) == [(64, 32, 1), (64, 1, 1)]
    assert split_count(const(1.0, (64, 2 * SPLIT_EXACT_REDUCE)).reduce_axis(Ops.MAX, (1,))) == 1


def test_each_partial_reduces_at_most_a_chunk():
    out = const(1.0, (1 << 26,)).reduce_axis(Ops.ADD, (0,))
    shapes = reduce_shapes(out)
    assert shapes == [(1 << 10, 1), (1, 1)]


def test_a_row_broadcast_stays_in_its_readers_kernel():
    # x - x.max(1): the max is read once per row by the subtraction's kernel (one kernel on the CPU)
    x = leaf(values(N), (2, N // 2))
    m = x.reduce_axis(Ops.MAX, (1,))
    out = x - m.expand((2, N // 2))
    assert reduce_shapes(out) == [(2, 1)]
    assert len(run_and_check(out)) == 1
