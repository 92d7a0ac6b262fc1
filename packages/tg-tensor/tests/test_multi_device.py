"""Tensors sharded or replicated over several device instances of one process (`Tensor.shard`, `Tensor.to` with a
tuple): ops, matmul, reductions (all-reduce) and backward against the same computation on one device."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tg_tensor import Tensor
from tg_tensor.errors import ArgumentError
from tg_tensor.multi import RING_MIN_BYTES, allreduce, lower
from tg_uop.ops import Ops
from tg_uop.uop import UOp

CPUS = {n: tuple(f"CPU:{i}" for i in range(n)) for n in (2, 3, 4)}
rng = np.random.default_rng(0)


def parts(t: Tensor) -> list[np.ndarray]:
    """Each device's part of a realized tensor on a device tuple."""
    t.realize()
    assert t.uop.op is Ops.MULTI
    return [Tensor(p).numpy() for p in t.uop.src]


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_shard_places_rows_on_each_device(n: int) -> None:
    a = rand(4 * n, 3)
    x = Tensor(a).shard(CPUS[n], axis=0)
    assert x.devices == ("CPU", *CPUS[n][1:]) and x.shape == a.shape
    got = parts(x)
    assert [p.device for p in x.uop.src] == list(x.devices)
    for i, p in enumerate(got):
        np.testing.assert_array_equal(p, a[4 * i : 4 * (i + 1)])
    np.testing.assert_array_equal(x.numpy(), a)
    np.testing.assert_array_equal(Tensor(a).to(CPUS[n]).numpy(), a)


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("sharding", ["batch", "inner", "outer", "replicated"])
def test_matmul(n: int, sharding: str) -> None:
    a, b = rand(8, 12), rand(12, 4 * n)
    devs = CPUS[n]
    ta, tb = {
        "batch": (Tensor(a).shard(devs, 0), Tensor(b).to(devs)),
        "inner": (Tensor(a).shard(devs, 1), Tensor(b).shard(devs, 0)),  # the sum over the split axis: all-reduce
        "outer": (Tensor(a).to(devs), Tensor(b).shard(devs, 1)),
        "replicated": (Tensor(a).to(devs), Tensor(b).to(devs)),
    }[sharding]
    out = ta @ tb
    np.testing.assert_allclose(out.numpy(), (Tensor(a) @ Tensor(b)).numpy(), rtol=1e-5, atol=1e-5)
    if sharding in ("inner", "replicated"):  # every device holds the whole, identical result
        got = parts(out)
        assert all(np.array_equal(g, got[0]) for g in got)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("axis", [0, 1])
def test_reductions(n: int, axis: int) -> None:
    a = rand(2 * n, 3 * n)
    x = Tensor(a).shard(CPUS[n], axis=axis)
    one = Tensor(a)
    for name in ("sum", "max", "min", "mean", "prod"):
        for over in (None, 0, 1):
            got = getattr(x, name)(axis=over)
            want = getattr(one, name)(axis=over)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{name} {over}")
    np.testing.assert_allclose(x.softmax(axis=1).numpy(), one.softmax(axis=1).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), one.argmax(axis=1).numpy())


@pytest.mark.parametrize("n", [2, 4])
def test_movement_ops(n: int) -> None:
    a = rand(4 * n, 6, 2)
    x, one = Tensor(a).shard(CPUS[n], 0), Tensor(a)
    cases = [
        lambda t: t.reshape(2 * n, 2, 12),  # the split axis splits: each part stays a block of rows
        lambda t: t.reshape(4 * n, 12),
        lambda t: t.reshape(4 * n * 6, 2),  # merged with the next axis
        lambda t: t.permute(2, 0, 1),
        lambda t: t.flip(0),
        lambda t: t.flip(1),
        lambda t: t.pad(((0, 0), (1, 2), (0, 0))),
        lambda t: t[:, 1:4],
        lambda t: t.unsqueeze(0).expand(3, 4 * n, 6, 2),
        lambda t: t.transpose(0, 1).contiguous() * 2 + 1,
    ]
    for i, f in enumerate(cases):
        np.testing.assert_allclose(f(x).numpy(), f(one).numpy(), err_msg=f"case {i}")


def test_mismatches_raise_at_the_call() -> None:
    d2, a = CPUS[2], rand(4, 6)
    with pytest.raises(ArgumentError, match="does not split evenly"):
        Tensor(rand(3, 4)).shard(d2, 0)
    with pytest.raises(ArgumentError, match="out of range"):
        Tensor(a).shard(d2, 2)
    with pytest.raises(ArgumentError, match="different axes"):
        Tensor(a).shard(d2, 0) + Tensor(a).shard(d2, 1)
    with pytest.raises(ArgumentError, match=r"different devices \(CPU,CPU:1 and CPU,CPU:2\)"):
        Tensor(a).shard(d2, 0) + Tensor(a).shard(("CPU:0", "CPU:2"), 0)
    with pytest.raises(ArgumentError, match=r"different devices \(CPU,CPU:1 and CPU\)"):
        Tensor(a).shard(d2, 0) + Tensor(a, device="CPU")
    with pytest.raises(ArgumentError, match="different device tuples"):  # built below the tensor layer's checks
        Tensor(a).shard(d2, 0).where(Tensor(a).shard(("CPU:0", "CPU:2"), 0), 0.0)
    with pytest.raises(ArgumentError, match="moves elements between the parts"):
        Tensor(a).shard(d2, 0).reshape(3, 8)
    with pytest.raises(ArgumentError, match="cannot change axis 0"):
        Tensor(a).shard(d2, 0).pad(((1, 0), (0, 0)))
    with pytest.raises(ArgumentError, match="names a device twice"):
        Tensor(a).shard(("CPU:1", "CPU:1"), 0)
    with pytest.raises(ArgumentError, match="unknown device"):
        Tensor(a).shard(("CPU", "NOPE"), 0)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_backward_data_parallel(n: int) -> None:
    """Weights replicated, the batch sharded on axis 0: the gradients come out all-reduced, equal to one device's."""
    x, w1, w2 = rand(4 * n, 5), rand(5, 7), rand(7, 3)
    y = rng.integers(0, 3, 4 * n).astype(np.int32)

    def grads(devs: tuple[str, ...] | None) -> list[np.ndarray]:
        ws = [Tensor(w, requires_grad=True) for w in (w1, w2)]
        xs, ys = Tensor(x), Tensor(y)
        if devs:
            for w in ws:
                w.to_(devs)
            xs, ys = xs.shard(devs, 0), ys.shard(devs, 0)
        loss = (xs @ ws[0]).relu().layernorm() @ ws[1]
        loss.sparse_categorical_crossentropy(ys).backward()
        for w in ws:
            assert w.grad is not None and w.grad.device == ws[0].device
        return [w.grad.numpy() for w in ws if w.grad is not None]

    for got, want in zip(grads(CPUS[n]), grads(None), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gradient_flows_back_through_shard_and_to() -> None:
    a, b = rand(4, 3), rand(3, 2)
    x, w = Tensor(a, device="CPU", requires_grad=True), Tensor(b, device="CPU", requires_grad=True)
    ((x.shard(CPUS[2], 0) @ w.to(CPUS[2])) ** 2).sum().backward()
    x1, w1 = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    ((x1 @ w1) ** 2).sum().backward()
    assert x.grad is not None and w.grad is not None and x1.grad is not None and w1.grad is not None
    assert x.grad.device == "CPU" and w.grad.device == "CPU"
    np.testing.assert_allclose(x.grad.numpy(), x1.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), w1.grad.numpy(), rtol=1e-5)


def test_in_place_and_assign() -> None:
    a = rand(4, 2)
    t = Tensor(a).shard_(CPUS[2], 0)
    assert t.devices == ("CPU", "CPU:1")
    t.realize().assign(t * 3).realize()
    np.testing.assert_allclose(t.numpy(), a * 3, rtol=1e-6)
    r = Tensor(a).to_(CPUS[2])
    r.assign(r + 1).realize()
    assert all(np.allclose(p, a + 1) for p in parts(r))


def test_random_numbers_equal_one_device() -> None:
    Tensor.manual_seed(5)
    r = Tensor.rand(4, 2, device="CPU:0,CPU:1")
    Tensor.manual_seed(5)
    assert r.devices == ("CPU", "CPU:1") and np.array_equal(r.numpy(), Tensor.rand(4, 2).numpy())
    x = Tensor(rand(6, 4)).shard(CPUS[2], 0)
    masks = []
    for t in (x, Tensor(x.numpy())):
        Tensor.manual_seed(1)
        with Tensor.train():
            masks.append(t.dropout(0.5).numpy())
    np.testing.assert_array_equal(masks[0], masks[1])


SIZES = [1, 2, 3, 7, 1000, 4097, RING_MIN_BYTES // 4 - 1, RING_MIN_BYTES + 3, 10**6 + 1, 10**7]


@pytest.mark.parametrize("size", SIZES)
def test_allreduce_sizes(size: int) -> None:
    """Sums of integers (exact in float32 in any order), on 2 devices, or 3 below a million elements."""
    n = 2 if size > 10**6 else 3
    data = rng.integers(-50, 50, (n, size)).astype(np.float32)
    x = Tensor(data).shard(CPUS[n], 0)
    want = data.sum(axis=0, keepdims=True)
    for got in parts(x.sum(axis=0, keepdim=True)):
        np.testing.assert_array_equal(got, want)
    if size < 10**6:
        for got in parts(x.max(axis=0, keepdim=True)):
            np.testing.assert_array_equal(got, data.max(axis=0, keepdims=True))


def test_allreduce_picks_ring_by_size() -> None:
    def copies(size: int) -> int:
        dev = [UOp.const(np.float32 and Tensor([0.0]).dtype, 1.0, (UOp(Ops.DEVICE, arg=d),)) for d in CPUS[4]]
        ps = [c.reshape((1,)).expand((size,)) for c in dev]
        return sum(u.op is Ops.COPY for u in UOp.sink(*allreduce(ps, Ops.ADD)).toposort())

    assert copies(16) == 4 * 3  # naive: every device copies every other part
    assert copies(RING_MIN_BYTES) == 2 * 4 * 3  # ring: n-1 chunk copies to reduce, n-1 to gather, per device


def test_lowered_graph_has_no_multi_inside() -> None:
    x, w = Tensor(rand(4, 4)).shard(CPUS[2], 0), Tensor(rand(4, 4)).to(CPUS[2])
    low = lower(((x @ w).sum(axis=0) + 1).uop)
    assert low.op is Ops.MULTI and all(u.op is not Ops.MULTI for p in low.src for u in p.toposort())


def test_mixed_backends() -> None:
    a = rand(4, 6)
    x = Tensor(a).shard(("CPU", "PYTHON"), 0)
    np.testing.assert_allclose((x * 2).sum(axis=0).numpy(), (a * 2).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose((x @ Tensor(a.T).to(("CPU", "PYTHON"))).numpy(), a @ a.T, rtol=1e-5, atol=1e-6)


def test_opencl_instances() -> None:
    """CL:0 and CL:1 on PoCL: POCL_DEVICES lists two CPU devices (set before OpenCL starts: a fresh process)."""
    pytest.importorskip("pyopencl")
    code = textwrap.dedent(
        """
        import numpy as np
        from tg_runtime import Device
        from tg_tensor import Tensor
        if "CL:1" not in [f"CL:{i}" for i in range(2)] or Device.available().get("CL") is not None:
            raise SystemExit("no OpenCL")
        a = np.arange(24, dtype=np.float32).reshape(4, 6)
        x = Tensor(a).shard(("CL:0", "CL:1"), 0)
        assert x.uop.op.name == "MULTI"
        np.testing.assert_allclose((x @ Tensor(a.T).to(("CL:0", "CL:1"))).numpy(), a @ a.T)
        np.testing.assert_allclose(x.sum(axis=0).numpy(), a.sum(axis=0))
        mixed = Tensor(a).shard(("CPU", "CL:1"), 1)
        np.testing.assert_allclose(mixed.sum().numpy(), a.sum())
        print("ok")
        """
    )
    env = {**os.environ, "POCL_DEVICES": "pthread pthread"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if "no OpenCL" in proc.stderr:
        pytest.skip("no OpenCL device here")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
