"""Tensor.custom_kernel: hand-written kernel ASTs scheduled like any kernel, on every device, checked against plain
tg ops (a fused GELU, a reduction with its gradient against finite differences, a matmul), and under TinyJit."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tg_runtime import Device
from tg_schedule.item import capture
from tg_tensor import Tensor, TinyJit
from tg_tensor.custom import load, store
from tg_tensor.errors import ArgumentError
from tg_uop import Context, Ops, ShapeTracker, UOp, trace

DEVICES = ("CPU", "PYTHON", *(d for d in ("LLVM", "CL") if Device.available().get(d) is None))
RNG = np.random.default_rng(19)


def gelu_kernel(n: int):  # type: ignore[no-untyped-def]
    """x * sigmoid(1.702 x) in one kernel: x / (1 + 2^(-1.702 log2(e) x))."""

    def body(out: UOp, x: UOp) -> UOp:
        v = load(x, (n,))
        e = (v * (-1.702 * math.log2(math.e))).alu(Ops.EXP2)
        return store(out, (n,), v * (e + 1.0).alu(Ops.RECIP))

    return body


def sumsq_kernel(rows: int, cols: int):  # type: ignore[no-untyped-def]
    """Each row's sum of squares: out[i] = sum_j x[i, j]^2."""

    def body(out: UOp, x: UOp) -> UOp:
        v = load(x, (rows, cols))
        return store(out, (rows, 1), (v * v).reduce_axis(Ops.ADD, (1,)))

    return body


def matmul_kernel(m: int, k: int, n: int):  # type: ignore[no-untyped-def]
    """a (m, k) @ b (k, n): both read as (m, n, k) views (a broadcast along n, b transposed and along m)."""

    def body(out: UOp, a: UOp, b: UOp) -> UOp:
        va = ShapeTracker.from_shape((m, k)).reshape((m, 1, k)).expand((m, n, k))
        vb = ShapeTracker.from_shape((k, n)).permute((1, 0)).reshape((1, n, k)).expand((m, n, k))
        prod = load(a, va) * load(b, vb)
        return store(out, (m, n, 1), prod.reduce_axis(Ops.ADD, (2,)))

    return body


def sumsq(x: Tensor) -> Tensor:
    rows, cols = x.shape
    return x.custom_kernel(
        kernel=sumsq_kernel(rows, cols), shape=(rows, 1), backward=lambda g, a: (g * a * 2,), name="sumsq"
    )


@pytest.mark.parametrize("device", DEVICES)
def test_fused_gelu(device: str) -> None:
    xs = RNG.uniform(-3, 3, 16).astype(np.float32)
    x = Tensor(xs, device=device).realize()
    ref = lambda t: t * (t * 1.702).sigmoid()  # noqa: E731
    y = x.custom_kernel(kernel=gelu_kernel(16), shape=(16,), reference=ref, atol=1e-5, rtol=1e-4, name="gelu")
    assert y.device == device
    np.testing.assert_allclose(y.numpy(), xs / (1 + np.exp(-1.702 * xs)), rtol=1e-4, atol=1e-5)
    assert len((x.custom_kernel(kernel=gelu_kernel(16), shape=(16,)) * 2).schedule()) == 2  # its own kernel


@pytest.mark.parametrize("device", DEVICES)
def test_reduction_gradient_matches_finite_differences(device: str) -> None:
    xs = RNG.uniform(-1, 1, (3, 4)).astype(np.float32)
    ws = RNG.uniform(-1, 1, (3, 1)).astype(np.float32)
    x = Tensor(xs, device=device, requires_grad=True)
    w = Tensor(ws, device=device)
    out = sumsq(x)
    np.testing.assert_allclose(out.numpy(), (x * x).sum(1, keepdim=True).numpy(), rtol=1e-5, atol=1e-6)
    (out * w).sum().backward()
    assert x.grad is not None

    def loss(v: np.ndarray) -> float:
        return float((sumsq(Tensor(v.astype(np.float32), device=device)) * w).sum().item())

    eps, numeric = 1e-2, np.zeros_like(xs)
    for idx in np.ndindex(*xs.shape):
        hi, lo = xs.copy(), xs.copy()
        hi[idx] += eps
        lo[idx] -= eps
        numeric[idx] = (loss(hi) - loss(lo)) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
def test_matmul(device: str) -> None:
    a_np, b_np = RNG.uniform(-1, 1, (3, 5)).astype(np.float32), RNG.uniform(-1, 1, (5, 4)).astype(np.float32)
    a, b = Tensor(a_np, device=device), Tensor(b_np, device=device)
    out = a.custom_kernel(
        b, kernel=matmul_kernel(3, 5, 4), shape=(3, 4, 1), reference=lambda x, y: (x @ y).reshape(3, 4, 1)
    )
    np.testing.assert_allclose(out.reshape(3, 4).numpy(), a_np @ b_np, rtol=1e-5, atol=1e-5)


def test_inputs_that_are_not_buffers_are_realized_first() -> None:
    xs = RNG.uniform(-1, 1, (4, 3)).astype(np.float32)
    x = Tensor(xs).realize()
    y = sumsq(x.T * 2)  # a permuted view of an unrealized value: computed into a buffer, then read whole
    np.testing.assert_allclose(y.numpy(), ((xs.T * 2) ** 2).sum(1, keepdims=True), rtol=1e-5)


def test_jit_captures_and_replays_a_custom_kernel() -> None:
    @TinyJit
    def f(x: Tensor) -> Tensor:
        return x.custom_kernel(kernel=gelu_kernel(8), shape=(8,), name="gelu") + 1

    for _ in range(4):
        xs = RNG.uniform(-2, 2, 8).astype(np.float32)
        with capture() as log:
            got = f(Tensor(xs)).numpy()
        np.testing.assert_allclose(got, xs / (1 + np.exp(-1.702 * xs)) + 1, rtol=1e-5, atol=1e-6)
    assert f.captured is not None
    assert any(u.op is Ops.EXP2 for si in f.captured.items for u in si.ast.toposort())
    assert any(u.op is Ops.EXP2 for si in log for u in si.ast.toposort())  # the replay ran the custom kernel


def test_reference_mismatch_raises() -> None:
    with pytest.raises(AssertionError, match="differs from its reference"):
        Tensor([1.0, 2.0]).custom_kernel(kernel=gelu_kernel(2), shape=(2,), reference=lambda t: t)


def test_bad_bodies_and_missing_gradient_raise_clear_errors() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ArgumentError, match="must return a STORE"):
        x.custom_kernel(kernel=lambda out, a: load(a, (2,)), shape=(2,))
    with pytest.raises(ArgumentError, match="only the output"):
        x.custom_kernel(kernel=lambda out, a: store(a, (2,), load(a, (2,))), shape=(2,))
    y = x.custom_kernel(kernel=gelu_kernel(2), shape=(2,))
    with pytest.raises(ArgumentError, match="no backward"):
        y.sum().backward()


C_SRC = "void axpb(float* restrict data0, const float* restrict data1) { for (int i = 0; i < 8; i++) data0[i] = data1[i] * 2.0f + 1.0f; }"  # noqa: E501
CL_SRC = "__kernel void axpb(__global float* data0, __global const float* data1) { int i = get_global_id(0); data0[i] = data1[i] * 2.0f + 1.0f; }"  # noqa: E501


@pytest.mark.parametrize("device,src", [("CPU", C_SRC), *((("CL", CL_SRC),) if "CL" in DEVICES else ())])
def test_source_kernel_for_one_device(device: str, src: str) -> None:
    xs = RNG.uniform(-2, 2, 8).astype(np.float32)
    x = Tensor(xs, device=device).realize()
    y = x.custom_kernel(src=src, shape=(8,), global_size=(8, 1, 1), name="axpb", reference=lambda t: t * 2 + 1)
    np.testing.assert_allclose((y + 1).numpy(), xs * 2 + 2, rtol=1e-6)

    @TinyJit
    def f(t: Tensor) -> Tensor:
        return t.custom_kernel(src=src, shape=(8,), global_size=(8, 1, 1), name="axpb")

    for _ in range(3):
        xs = RNG.uniform(-2, 2, 8).astype(np.float32)
        np.testing.assert_allclose(f(Tensor(xs, device=device)).numpy(), xs * 2 + 1, rtol=1e-6)
    assert f.captured is not None and any(si.ast.op is Ops.CUSTOM for si in f.captured.items)


def test_source_kernel_refuses_another_device() -> None:
    y = Tensor.ones(8, device="PYTHON").custom_kernel(src=C_SRC, shape=(8,), name="axpb")
    y.uop = y.uop.replace(arg=dataclasses.replace(y.uop.arg, device="CPU"))  # source for CPU, inputs on PYTHON
    with pytest.raises(ValueError, match="is source for CPU"):
        y.realize()
    with pytest.raises(ArgumentError, match="either kernel= .* or src="):
        Tensor.ones(2).custom_kernel(shape=(2,))


def test_custom_kernels_show_in_debug_and_viz(capsys: pytest.CaptureFixture[str]) -> None:
    x = Tensor(RNG.uniform(-2, 2, 5).astype(np.float32), device="CPU").realize()  # C source: the CPU device
    with trace.capture() as recs, Context(DEBUG=2):
        x.custom_kernel(kernel=gelu_kernel(5), shape=(5,), name="gelu").realize()
        x.custom_kernel(src=C_SRC.replace("8", "5"), shape=(5,), name="axpb").realize()
    realized = [ref for r in recs if r["k"] == "realize" for ref in r["kernels"]]
    launches = [r for r in recs if r["k"] == "launch" and r["ref"] is not None]
    assert len(realized) == 2 and {r["ref"] for r in launches} == set(realized)
    assert any(r["k"] == "kernel" and r["ref"] == realized[0] for r in recs)  # the UOp body: AST, program, source
    out = capsys.readouterr().out
    assert "axpb" in out and out.count("*** CPU") == 2
