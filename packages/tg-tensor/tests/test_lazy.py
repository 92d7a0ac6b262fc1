"""Laziness: building operations runs nothing; realize/numpy/item/tolist run the schedule; schedule() only plans."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tg_tensor import Tensor
from tg_uop.ops import Ops

# the module (tg_schedule re-exports a function of the same name as the package attribute)
realize_mod = importlib.import_module("tg_schedule.run")


@pytest.fixture
def runs(monkeypatch):
    """Counts the schedule items that actually run."""
    ran: list[object] = []
    original = realize_mod.run_item

    def counting(si, index=0):
        ran.append(si)
        return original(si, index)

    monkeypatch.setattr(realize_mod, "run_item", counting)
    return ran


def _graph(seed: int = 0) -> tuple[Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    ta, tb = Tensor(a), Tensor(b)
    out = ((ta * 2 + 1).relu() @ tb).exp().sum(axis=0)
    want = np.exp(np.maximum(a * 2 + 1, 0) @ b).sum(axis=0)
    return out, want


def test_building_runs_nothing(runs):
    out, _ = _graph()
    assert runs == []
    assert out.uop.op is not Ops.BUFFER and out.uop.base.op is not Ops.BUFFER
    # shape and dtype are known without running anything
    assert out.shape == (2,)
    assert runs == []


@pytest.mark.parametrize("read", ["realize", "numpy", "item", "tolist"])
def test_reading_a_value_runs_the_schedule(runs, read):
    out, want = _graph()
    if read == "item":
        out, want = out.sum(), want.sum()
    assert runs == []
    got = getattr(out, read)()
    assert len(runs) >= 1
    if read == "realize":
        assert got is out
        got = out.numpy()
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_realize_makes_the_tensor_a_view_of_a_buffer():
    out, want = _graph()
    assert out.uop.base.op is not Ops.BUFFER
    out.realize()
    assert out.uop.base.op is Ops.BUFFER
    assert out.uop.base.arg.is_allocated
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-5)


def test_realized_tensor_is_not_recomputed(runs):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out, want = (Tensor(a) * 2 + 1).exp(), np.exp(a * 2 + 1)
    out.realize()
    n = len(runs)
    assert n >= 1
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-5)
    out.tolist()
    assert len(runs) == n
    assert out.schedule() == []


def test_schedule_plans_without_running(runs):
    out, want = _graph()
    sched = out.schedule()
    assert runs == []
    kernels = [si for si in sched if si.kind == "kernel"]
    assert kernels
    # every kernel's outputs are planned but not yet given memory
    for si in kernels:
        assert si.outputs
        assert all(not b.is_allocated for b in si.outputs)
    # the tensor itself is unchanged: still a graph, not a buffer
    assert out.uop.base.op is not Ops.BUFFER
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-5)


def test_realize_several_in_one_schedule():
    a = Tensor([1.0, 2.0, 3.0])
    x, y = a * 2, a + 10
    Tensor.realize(x, y)
    assert x.uop.base.op is Ops.BUFFER and y.uop.base.op is Ops.BUFFER
    assert x.tolist() == [2.0, 4.0, 6.0]
    assert y.tolist() == [11.0, 12.0, 13.0]


def test_full_is_a_constant_without_memory(runs):
    t = Tensor.full((1000, 1000), 3.0)
    assert t.uop.base.op is Ops.CONST
    assert runs == []
    assert (t * 2).sum().item() == 6.0 * 1_000_000


def test_inputs_are_not_changed_by_realizing_results():
    a = Tensor([1.0, 2.0])
    b = a * 3
    b.realize()
    assert a.tolist() == [1.0, 2.0]
    assert b.tolist() == [3.0, 6.0]
    c = b + a
    assert c.tolist() == [4.0, 8.0]


def test_graph_built_before_realize_still_computes():
    a = Tensor([1.0, 2.0, 3.0])
    b = a * a
    c = b + 1
    b.realize()
    d = b + 1
    assert c.tolist() == d.tolist() == [2.0, 5.0, 10.0]
