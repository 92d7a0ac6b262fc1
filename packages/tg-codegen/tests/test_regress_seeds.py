"""Regressions found while running the seed tutorials' examples (tg-tensor's test_seeds.py)."""

from __future__ import annotations

from helpers import DEVICES, contig, load, param, run, sink, store

from tg_codegen import merge_dims
from tg_uop import Ops, UOp, dtypes, toposort

ONES = [1.0] * 16


def _reduce_twice(op: Ops) -> UOp:
    # x.sum(1, keepdim=True).sum(1, keepdim=True) of a (4, 4) x, fused into one kernel: the outer REDUCE_AXIS reads
    # a value that already has size 1 along axis 1 (the kernel's full shape still has 4 there)
    x = load(param(1, dtypes.float32, 16), contig((4, 4)))
    return sink(store(param(0, dtypes.float32, 4), contig((4, 1)), x.reduce_axis(op, (1,)).reduce_axis(op, (1,))))


def test_reduce_of_an_already_reduced_axis_is_the_identity() -> None:
    # the outer sum looped over the full axis again, giving 4 * 4 = 16 per row instead of 4
    for dev in DEVICES:
        assert run(_reduce_twice(Ops.ADD), dev, {1: ONES})[0] == [4.0] * 4, dev
        assert run(_reduce_twice(Ops.MAX), dev, {1: list(range(16))})[0] == [3.0, 7.0, 11.0, 15.0], dev


def test_merge_dims_drops_the_outer_reduce_only_where_nothing_varies() -> None:
    ast = merge_dims(_reduce_twice(Ops.ADD))
    assert [u.op for u in toposort([ast])].count(Ops.REDUCE_AXIS) == 1
    # a reduction over (0, 1) of a value reduced along 1 still reduces along 0
    x = load(param(1, dtypes.float32, 16), contig((4, 4)))
    outer = x.reduce_axis(Ops.ADD, (1,)).reduce_axis(Ops.ADD, (0, 1))
    ast2 = sink(store(param(0, dtypes.float32, 1), contig((1, 1)), outer))
    for dev in DEVICES:
        assert run(ast2, dev, {1: ONES})[0] == [16.0], dev
