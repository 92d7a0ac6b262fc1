"""The examples of tinygrad tutorials (the seed texts named below), run against tg-tensor and checked for the values and
behaviour the tutorials state.

Seed files (by their number):
  000 "Day 1: Tinygrad Architecture Deep Dive" (000_d5c836d46b24e72b.txt)
  001 "Tinygrad 7-Day Crash Course for Contributors" (001_488a3466af3cad3a.txt)
  002 "Comprehensive Analysis of the tinygrad Repository" (002_42a21793858266a3.txt)
  003 "Tinygrad Projects" (003_549a308d079cd038.txt)
  004 "Claude Code Guide for tinygrad" (004_f1af22687d3cd762.txt)

The imports are tg's: `tinygrad.Tensor` -> `tg_tensor.Tensor`, `tinygrad.uop.ops` -> `tg_uop`,
`tinygrad.helpers` -> `tg_uop.helpers`, `tinygrad.Device` -> `tg_runtime.Device`. The tutorials switch DEBUG by
writing `os.environ` after import, which neither tinygrad nor tg reads again; the tests use `Context(DEBUG=n)`.
Layer, optimizer and data-set examples are in tg-nn's test_seeds.py, pure-IR ones in tg-uop's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from helpers import assert_same

from tg_runtime import Device
from tg_tensor import Tensor, TinyJit, dtypes
from tg_uop import Ops, UOp
from tg_uop.helpers import Context

# ---------------------------------------------------------------------------------------------------------------
# 000: Day 1, Part 1 "Layer 1: Tensor Frontend" (explore_tensor_fundamentals, trace_execution_flow,
# understand_lazy_evaluation, explore_autograd_system)


def test_000_tensor_fundamentals_lazy_until_numpy(kernels: Callable[..., int]) -> None:
    """000, Part 1 "Layer 1: Tensor Frontend", explore_tensor_fundamentals: tensors have a shape, device, dtype and
    a UOp; `(a + b) * 2.0` summed stays a graph until `.numpy()`, which gives 72."""
    a = Tensor([[1.0, 2.0], [3.0, 4.0]])
    b = Tensor([[5.0, 6.0], [7.0, 8.0]])
    assert a.shape == (2, 2) and a.device == Device.DEFAULT and a.dtype == dtypes.float32
    assert isinstance(a.uop.op, Ops)
    e = ((a + b) * 2.0).sum()
    graph = list(e.uop.toposort())
    assert len(graph) > 5 and graph[-1] is e.uop
    assert kernels(e) == 1  # still lazy: the whole chain is one pending kernel
    result = e.numpy()
    assert result.shape == () and result == 72.0
    assert kernels(e) == 0  # realized now


def test_000_trace_execution_flow() -> None:
    """000, Part 1 "Layer 1: Tensor Frontend", trace_execution_flow: before realization the graph of `x * 2.0 + 1.0`
    lists its MUL and ADD; DEBUG=4 prints while realizing; the result is [3, 5, 7]."""
    x = Tensor([1.0, 2.0, 3.0])
    y = x * 2.0 + 1.0
    ops = [u.op for u in y.uop.toposort()]
    assert Ops.MUL in ops and Ops.ADD in ops and ops[-1] is Ops.ADD
    with Context(DEBUG=4):
        result = y.numpy()
    np.testing.assert_array_equal(result, [3.0, 5.0, 7.0])


def test_000_lazy_evaluation_chain_of_sums() -> None:
    """000, Part 1 "Layer 1: Tensor Frontend", understand_lazy_evaluation: ten rounds of `*2+1`, relu and
    `sum(axis=1, keepdim=True)` on a 1000x1000 randn build one graph; realizing it gives shape (1000, 1)."""
    x = Tensor.randn(1000, 1000).realize()
    ref = x.numpy().astype(np.float64)
    for _ in range(10):
        x = (x * 2.0 + 1.0).relu().sum(axis=1, keepdim=True)
        ref = np.maximum(ref * 2.0 + 1.0, 0).sum(axis=1, keepdims=True)
    assert len(list(x.uop.toposort())) > 30
    result = x.numpy()
    assert result.shape == (1000, 1)
    np.testing.assert_allclose(result, ref, rtol=1e-4)


def test_000_autograd_of_elementwise_product() -> None:
    """000, Part 1 "Layer 1: Tensor Frontend", explore_autograd_system: z = (x * y).sum() is 15, dz/dx = y and
    dz/dy = x."""
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = Tensor([[2.0, 1.0], [1.0, 2.0]], requires_grad=True)
    assert x.requires_grad and y.requires_grad
    z = (x * y).sum()
    assert z.numpy() == 15.0
    z.backward()
    assert x.grad is not None and y.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), x.numpy())


# ---------------------------------------------------------------------------------------------------------------
# 000: Day 1, Part 1 "Layer 2: UOp System"


def test_000_uop_of_an_add() -> None:
    """000, Part 1 "Layer 2: UOp System", explore_uop_fundamentals: `a + b` is an ADD UOp of dtype float32 and
    shape (3,), the last node of its toposort; every node has an op name, a dtype and a shape."""
    a = Tensor([1.0, 2.0, 3.0])
    b = Tensor([4.0, 5.0, 6.0])
    c = a + b
    assert c.uop.op is Ops.ADD and c.uop.dtype == dtypes.float32 and c.uop.shape == (3,)
    graph = list(c.uop.toposort())
    assert graph[-1] is c.uop
    assert all(isinstance(u.op.name, str) and u.dtype is not None for u in graph)
    assert c.tolist() == [5.0, 7.0, 9.0]


def test_000_uop_operation_categories() -> None:
    """000, Part 1 "Layer 2: UOp System", examine_uop_operations: unary (sqrt, exp, log, relu), binary (add, mul,
    maximum, ==) and reductions (sum, max, mean: shape ()) on [[1, 2], [3, 4]]. tg has no EXP/LOG/RELU UOps (as in
    tinygrad: exp and log are built on EXP2/LOG2, relu on a comparison), but SQRT appears as itself."""
    assert len(Ops) > 50
    x_np = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    y_np = np.array([[5.0, 6.0], [7.0, 8.0]], np.float32)
    x, y = Tensor(x_np), Tensor(y_np)
    assert any(u.op is Ops.SQRT for u in x.sqrt().uop.toposort())
    assert any(u.op is Ops.EXP2 for u in x.exp().uop.toposort())
    assert any(u.op is Ops.LOG2 for u in x.log().uop.toposort())
    unary = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "relu": lambda v: np.maximum(v, 0)}
    for name, ref in unary.items():
        np.testing.assert_allclose(getattr(x, name)().numpy(), ref(x_np), rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal((x + y).numpy(), x_np + y_np)
    np.testing.assert_array_equal((x * y).numpy(), x_np * y_np)
    np.testing.assert_array_equal(x.maximum(y).numpy(), y_np)
    eq = x == y
    assert eq.dtype == dtypes.bool and not eq.numpy().any()
    for name, want in (("sum", 10.0), ("max", 4.0), ("mean", 2.5)):
        r = getattr(x, name)()
        assert r.shape == () and r.item() == want, name


def test_000_uop_optimization_redundant_ops(kernels: Callable[..., int]) -> None:
    """000, Part 1 "Layer 2: UOp System", analyze_uop_optimization: `((x + 0.0) * 1.0)` doubled by `z + z` gives
    [2, 4, 6, 8], and the whole chain is one kernel ("optimizations happen during kernelization")."""
    x = Tensor([1.0, 2.0, 3.0, 4.0])
    z = (x + 0.0) * 1.0
    w = z + z
    assert [u.op for u in w.uop.toposort()].count(Ops.ADD) == 2
    assert kernels(w) == 1
    np.testing.assert_array_equal(w.numpy(), [2.0, 4.0, 6.0, 8.0])


# ---------------------------------------------------------------------------------------------------------------
# 000: Day 1, Part 2 "Development Environment Setup"


def test_000_setup_verification() -> None:
    """000, Part 2 "Advanced Environment Configuration" (verification step): a default device exists and
    `(Tensor([1,2,3]) + 1).numpy()` is [2, 3, 4]. Also 001 "Pre-Course Setup" and 003 "Setup" (verify step)."""
    assert isinstance(Device.DEFAULT, str) and Device.DEFAULT
    out = (Tensor([1, 2, 3]) + 1).numpy()
    assert out.tolist() == [2, 3, 4] and np.issubdtype(out.dtype, np.integer)
    assert Tensor([1, 2, 3]).numpy().tolist() == [1, 2, 3]


def test_000_development_tools_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """000, Part 2 "Development Tools Configuration", usage examples 1-4: a traced complex operation at DEBUG=3
    (shape (), float32), the op breakdown of `(x * 2 + 1).relu().sum()` (24), a 128x128 matmul and
    `sum(axis=1).mean()` of a 1000x1000 randn compared with numpy."""
    Tensor.manual_seed(0)
    x = Tensor.randn(100, 100).realize()
    with Context(DEBUG=3):
        y = x.relu().sum(axis=1).exp().mean().realize()
    assert "realized" in capsys.readouterr().out
    assert y.shape == () and y.dtype == dtypes.float32
    np.testing.assert_allclose(y.item(), np.exp(np.maximum(x.numpy(), 0).sum(axis=1)).mean(), rtol=1e-4)

    g = (Tensor([1.0, 2.0, 3.0, 4.0]) * 2 + 1).relu().sum()
    op_counts: dict[str, int] = {}
    for u in g.uop.toposort():
        op_counts[u.op.name] = op_counts.get(u.op.name, 0) + 1
    assert op_counts["REDUCE_AXIS"] == 1 and op_counts["MUL"] == 1
    assert g.item() == 24.0

    a, b = Tensor.randn(128, 128).realize(), Tensor.randn(128, 128).realize()
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-4, atol=1e-4)

    t = Tensor.randn(1000, 1000).realize()
    np.testing.assert_allclose(t.sum(axis=1).mean().item(), np.mean(np.sum(t.numpy(), axis=1)), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# 000: Day 1, Part 3 "Debugging Mastery"; 003 "Debug Environment Variables"


@pytest.mark.parametrize("level", range(7))
def test_000_debug_levels(level: int, capsys: pytest.CaptureFixture[str]) -> None:
    """000, Part 3 "DEBUG Flags Deep Dive", demonstrate_debug_levels: `relu().sum()` of [[1, 2], [3, 4]] is 10 at
    every DEBUG level 0-6. What each level prints follows tg's DEBUG contract (and 003's table): 1 a line per
    realize with the kernel count, 2 a line per kernel with its name and shape, 3 the kernel's source."""
    with Context(DEBUG=level):
        result = Tensor([[1.0, 2.0], [3.0, 4.0]]).relu().sum().numpy()
    assert result == 10.0
    out = capsys.readouterr().out
    assert ("realized 1 kernel" in out) == (level >= 1)
    assert ("shape (4,)" in out) == (level >= 2)
    # a loop of the kernel's source, in the default device's language
    loop = {"C": "for (int", "LLVM": "br label %L"}.get(Device[Device.DEFAULT].caps.language, "for (int")
    assert (loop in out) == (level >= 3)


def test_000_advanced_debugging_techniques(capsys: pytest.CaptureFixture[str]) -> None:
    """000, Part 3 "DEBUG Flags Deep Dive", advanced_debugging_techniques: walking the UOps of `x * 2 + 1`
    (shape, dtype, sources), a 4x4 matmul under DEBUG=2, and tracing shape/dtype/device/graph size/requires_grad
    through relu, sum and exp."""
    y = Tensor([1.0, 2.0, 3.0]) * 2 + 1
    graph = list(y.uop.toposort())
    assert all(all(s in graph[:i] for s in u.src) for i, u in enumerate(graph))  # sources come first
    assert graph[-1].shape == (3,) and graph[-1].dtype == dtypes.float32 and len(graph[-1].src) == 2

    a, b = Tensor.randn(4, 4).realize(), Tensor.randn(4, 4).realize()
    with Context(DEBUG=2):
        c = (a @ b).numpy()
    assert "shape" in capsys.readouterr().out
    np.testing.assert_allclose(c, a.numpy() @ b.numpy(), rtol=1e-5, atol=1e-5)

    trace = []
    x = Tensor([[1.0, 2.0], [3.0, 4.0]])
    for name, f in (("initial", lambda t: t), ("relu", Tensor.relu), ("sum", Tensor.sum), ("exp", Tensor.exp)):
        x = f(x)
        trace.append((name, x.shape, x.dtype, x.device, len(list(x.uop.toposort())), x.requires_grad))
    assert [t[1] for t in trace] == [(2, 2), (2, 2), (), ()]
    assert all(t[2] == dtypes.float32 and t[3] == Device.DEFAULT and not t[5] for t in trace)
    sizes = [t[4] for t in trace]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    np.testing.assert_allclose(x.item(), np.exp(10.0), rtol=1e-6)


def test_000_debug_common_issues() -> None:
    """000, Part 3 "DEBUG Flags Deep Dive", debug_common_issues: adding shapes (2, 2) and (3,) fails (in tg at the
    `+`, not at `.numpy()`); `x.grad` is None before backward and 2x after `(x ** 2).sum().backward()`."""
    a = Tensor([[1.0, 2.0], [3.0, 4.0]])
    b = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(3,\)"):
        a + b
    assert Device.DEFAULT in Tensor([1.0, 2.0, 3.0]).device
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x**2).sum()
    assert x.grad is None
    y.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


# ---------------------------------------------------------------------------------------------------------------
# 000: Day 1, Part 4 "First Contribution": class TestTensorEdgeCases


def test_000_edge_empty_tensors() -> None:
    """000, Part 4, TestTensorEdgeCases.test_empty_tensor_operations: Tensor([]) has shape (0,) and no elements;
    the sum of a (0, 5) tensor is a scalar (0)."""
    empty = Tensor([])
    assert empty.shape == (0,) and empty.numel() == 0
    empty_2d = Tensor(np.array([]).reshape(0, 5))
    assert empty_2d.shape == (0, 5)
    result = empty_2d.sum()
    assert result.shape == () and result.item() == 0.0


def test_000_edge_single_element_and_scalar() -> None:
    """000, Part 4, TestTensorEdgeCases.test_single_element_tensor_operations and
    test_zero_dimensional_tensor_operations: [42] + 1, * 2, sum, mean, max, min; Tensor(5.0) has shape (), ndim 0,
    and + 3.0 gives the scalar 8."""
    single = Tensor([42.0])
    assert (single + 1).numpy() == [43.0] and (single * 2).numpy() == [84.0]
    assert single.sum().numpy() == 42.0 and single.mean().numpy() == 42.0
    assert single.max().numpy() == 42.0 and single.min().numpy() == 42.0
    scalar = Tensor(5.0)
    assert scalar.shape == () and scalar.ndim == 0
    result = scalar + 3.0
    assert result.shape == () and result.numpy() == 8.0


def test_000_edge_shapes_dtypes_devices() -> None:
    """000, Part 4, TestTensorEdgeCases.test_large_tensor_shapes, test_tensor_dtype_consistency and
    test_tensor_device_consistency: ones of shape (2, 1, 3, 1, 4, 1) squeeze to (2, 3, 4); int32 + float32 is a
    float; results stay on the default device. (tinygrad's `Tensor.int32` is `dtypes.int32` in tg, as in tinygrad.)"""
    shape = (2, 1, 3, 1, 4, 1)
    multi_dim = Tensor.ones(shape)
    assert multi_dim.shape == shape and multi_dim.ndim == 6
    assert multi_dim.squeeze().shape == (2, 3, 4)
    int_tensor = Tensor([1, 2, 3], dtype=dtypes.int32)
    float_tensor = Tensor([1.0, 2.0, 3.0], dtype=dtypes.float32)
    assert int_tensor.dtype == dtypes.int32 and float_tensor.dtype == dtypes.float32
    mixed = int_tensor + float_tensor
    assert mixed.dtype in (dtypes.float32, dtypes.float64)
    assert mixed.tolist() == [2.0, 4.0, 6.0]
    tensor = Tensor([1.0, 2.0, 3.0])
    assert tensor.device == Device.DEFAULT and (tensor * 2 + 1).device == tensor.device


def test_000_edge_gradients() -> None:
    """000, Part 4, TestTensorEdgeCases.test_gradient_edge_cases: d(x*x)/dx at 0 is 0 (backward of a one-element
    tensor, as PyTorch allows); relu's gradient is 1 where x > 0 and 0 elsewhere (0 at 0)."""
    x = Tensor([0.0], requires_grad=True)
    y = x * x
    y.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)
    x_neg = Tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    x_neg.relu().sum().backward()
    assert x_neg.grad is not None
    np.testing.assert_allclose(x_neg.grad.numpy(), (x_neg.numpy() > 0).astype(float), rtol=1e-6)


def test_000_edge_numerics_broadcasting_identity() -> None:
    """000, Part 4, TestTensorEdgeCases.test_numerical_stability, test_broadcasting_edge_cases and
    test_memory_efficiency: log of 1e-10..1e-30 is finite, exp of 1e10 and 1e20 overflows to inf without error;
    (1, 3) + (2, 1) broadcasts to [[2, 3, 4], [3, 4, 5]]; relu makes a new UOp and leaves x unchanged."""
    small = Tensor([1e-10, 1e-20, 1e-30]).log().numpy()
    assert not np.isnan(small).any()
    np.testing.assert_allclose(small, np.log(np.array([1e-10, 1e-20, 1e-30], np.float32)), rtol=1e-5)
    large = Tensor([1e10, 1e20]).exp().numpy()
    assert np.isinf(large).all()
    result = Tensor([[1, 2, 3]]) + Tensor([[1], [2]])
    assert result.shape == (2, 3)
    np.testing.assert_array_equal(result.numpy(), [[2, 3, 4], [3, 4, 5]])
    x = Tensor([1.0, 2.0, 3.0, 4.0])
    before = x.uop
    y = x.relu()
    assert y.uop is not before and x.uop is before
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, 3.0, 4.0])


# ---------------------------------------------------------------------------------------------------------------
# 000: Day 1, Part 4 "First Contribution": class TinygradValidator; 001 Day 1 "Pathway A" validator project

_MATRICES = [
    np.array([[1.0, 2.0], [3.0, 4.0]]),
    np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]),
    np.random.default_rng(0).standard_normal((5, 5)),
]
_VECTORS = [np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0, 1.0]), np.random.default_rng(1).standard_normal(10)]


@pytest.mark.parametrize("data", _VECTORS + _MATRICES, ids=lambda a: f"shape{a.shape}")
def test_000_validator_unary_ops(data: np.ndarray) -> None:
    """000, Part 4, TinygradValidator.run_comprehensive_validation (unary part) at its tolerance 1e-6: relu, exp,
    sum, mean match numpy on float64 data; log and sqrt match on the magnitudes (the tutorial's references take
    abs), and are nan for negative inputs, as numpy's."""
    t = Tensor(data)
    assert t.dtype == dtypes.float64  # numpy float64 keeps its dtype
    cases = {"relu": np.maximum(data, 0), "exp": np.exp(data), "sum": np.sum(data), "mean": np.mean(data)}
    for name, want in cases.items():
        np.testing.assert_allclose(getattr(t, name)().numpy(), want, rtol=1e-6, atol=1e-6, err_msg=name)
    mag = np.abs(data) + 1e-8
    np.testing.assert_allclose(Tensor(mag).log().numpy(), np.log(mag), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(Tensor(np.abs(data)).sqrt().numpy(), np.sqrt(np.abs(data)), rtol=1e-6, atol=1e-6)
    if (data < 0).any():
        assert np.isnan(t.log().numpy()[data < 0]).all() and np.isnan(t.sqrt().numpy()[data < 0]).all()


@pytest.mark.parametrize("data", _MATRICES, ids=lambda a: f"shape{a.shape}")
def test_000_validator_binary_ops(data: np.ndarray) -> None:
    """000, Part 4, TinygradValidator.run_comprehensive_validation (binary part): add, mul and matmul (with the
    second operand transposed when the shapes need it) match numpy at 1e-6."""
    other = data if data.shape[-1] == data.shape[0] else data.T
    a, b = Tensor(data), Tensor(data)
    np.testing.assert_allclose((a + b).numpy(), data + data, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose((a * b).numpy(), data * data, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose((a @ Tensor(other)).numpy(), data @ other, rtol=1e-6, atol=1e-6)


def test_001_validator_basic_reductions_shapes() -> None:
    """001, Day 1 "Pathway A: Project-Based Start" (tinygrad_validator.py): test_basic_ops (+, -, *, /),
    test_reductions (sum, mean, max), test_shapes (reshape, transpose) against torch."""
    a_np = np.random.default_rng(2).uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    b_np = np.random.default_rng(3).uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    a, b, ta, tb = Tensor(a_np), Tensor(b_np), torch.tensor(a_np), torch.tensor(b_np)
    for name, f in {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}.items():
        assert_same(f(a, b), f(ta, tb), what=name)
    assert_same(a / b, ta / tb, what="/")
    assert_same(a.sum(1), ta.sum(1), what="sum")
    assert_same(a.mean(0), ta.mean(0), what="mean")
    assert_same(a.max(), ta.max(), what="max")
    assert_same(a.reshape(2, 6), ta.reshape(2, 6), what="reshape")
    assert_same(a.transpose(0, 1), ta.transpose(0, 1), what="transpose")


# ---------------------------------------------------------------------------------------------------------------
# 002: "Code Utilization Examples" and "Edge Case and Pitfall Examples"


def test_002_example1_basic_tensor_operations() -> None:
    """002, "Example 1: Basic Tensor Operations": int tensor a, seeded randn b, a + b, a * 10, and broadcasting
    a + [10, 20]."""
    Tensor.manual_seed(42)
    a = Tensor([[1, 2], [3, 4]])
    b = Tensor.randn(2, 2)
    assert b.shape == (2, 2) and b.dtype == dtypes.float32
    c = a + b
    assert c.dtype == dtypes.float32
    np.testing.assert_allclose(c.numpy(), a.numpy() + b.numpy(), rtol=1e-6)
    assert (a * 10).tolist() == [[10, 20], [30, 40]]
    assert (a + Tensor([10, 20])).tolist() == [[11, 22], [13, 24]]
    Tensor.manual_seed(42)
    np.testing.assert_array_equal(Tensor.randn(2, 2).numpy(), b.numpy())  # the seed makes it reproducible


def test_002_example2_autograd_matmul_eye() -> None:
    """002, "Example 2: Autograd and Backpropagation": z = (y @ eye(3)).sum() with y = [[2, 0, -2]]; dz/dx repeats
    y down the rows, dz/dy is all ones."""
    x = Tensor.eye(3, requires_grad=True)
    y = Tensor([[2.0, 0, -2.0]], requires_grad=True)
    z = y.matmul(x).sum()
    z.backward()
    assert x.grad is not None and y.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0], [-2.0, -2.0, -2.0]])
    np.testing.assert_array_equal(y.grad.numpy(), [[1.0, 1.0, 1.0]])


def test_002_pitfall_invalid_reshape_raises_at_the_call() -> None:
    """002, "Edge Case and Pitfall Examples", 3. Lazy Execution and Realization: `(a + b).reshape((99, 99))`. The
    tutorial says the error surfaces only at `.numpy()`; tg deliberately refuses it where it is written (its error
    policy), naming the op and both shapes, and `c` stays usable. `device="GPU"` becomes the default device."""
    a = Tensor([1, 2, 3])
    b = Tensor([4, 5, 6])
    c = a + b
    with pytest.raises(ValueError, match=r"reshape.*\(3,\).*\(99, 99\)"):
        c.reshape((99, 99))
    assert c.tolist() == [5, 7, 9]


# ---------------------------------------------------------------------------------------------------------------
# 003: "Tinygrad Projects" (the kernel-count and gradient facts each project states)


def test_003_project1_fused_path_is_one_kernel(kernels: Callable[..., int]) -> None:
    """003, "Project 1: Tensor Basics and Lazy Evaluation": `(a + b).relu().sum()` is one kernel ("the fused path
    uses 1 kernel"), and nothing runs before `.realize()`/`.numpy()`."""
    a = Tensor.randn(16, 16).realize()
    b = Tensor.randn(16, 16).realize()
    out = (a + b).relu().sum()
    assert kernels(out) == 1
    np.testing.assert_allclose(out.item(), np.maximum(a.numpy() + b.numpy(), 0).sum(), rtol=1e-5)


def test_003_project2_op_types(kernels: Callable[..., int]) -> None:
    """003, "Project 2: The Three Op Types": movement ops alone produce zero kernels; elementwise ops fuse; matmul
    is expand + multiply + sum, one kernel."""
    x = Tensor.randn(4, 6).realize()
    moved = x.reshape(6, 4).permute(1, 0).reshape(24)
    assert kernels(moved) == 0
    np.testing.assert_array_equal(moved.numpy(), x.numpy().reshape(6, 4).T.reshape(24))
    assert kernels((x * 2 + 1).exp().sqrt()) == 1
    w = Tensor.randn(6, 3).realize()
    mm = x @ w
    ops = {u.op for u in mm.uop.toposort()}
    assert {Ops.EXPAND, Ops.MUL, Ops.REDUCE_AXIS} <= ops
    assert kernels(mm) == 1
    np.testing.assert_allclose(mm.numpy(), x.numpy() @ w.numpy(), rtol=1e-5, atol=1e-5)


def test_003_project3_autograd_analytic_and_numerical(gradcheck: Callable[..., list[Tensor]]) -> None:
    """003, "Project 3: Autograd from Scratch": the gradient of a sum of squares is 2x, of sigmoid s(1 - s), and
    both agree with a finite-difference gradient checker."""
    x_np = np.array([-1.5, -0.2, 0.0, 0.7, 2.0], np.float32)
    x = Tensor(x_np, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 2 * x_np, rtol=1e-6)
    x = Tensor(x_np, requires_grad=True)
    x.sigmoid().sum().backward()
    s = 1 / (1 + np.exp(-x_np))
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), rtol=1e-5)
    gradcheck(lambda t: (t * t).sum(), lambda a: (a * a).sum(), x_np)
    gradcheck(Tensor.sigmoid, lambda a: 1 / (1 + np.exp(-a)), x_np)


def test_003_project3_xor_mlp_overfits() -> None:
    """003, "Project 3: Autograd from Scratch": a small MLP trained with plain gradient descent overfits XOR."""
    Tensor.manual_seed(3)
    x = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = Tensor([[0.0], [1.0], [1.0], [0.0]])
    w1 = (Tensor.randn(2, 8) * 1.0).realize().requires_grad_(True)
    b1 = Tensor.zeros(8).contiguous().realize().requires_grad_(True)
    w2 = (Tensor.randn(8, 1) * 0.5).realize().requires_grad_(True)
    b2 = Tensor.zeros(1).contiguous().realize().requires_grad_(True)
    params = [w1, b1, w2, b2]
    losses = []
    for _ in range(300):
        pred = ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid()
        loss = ((pred - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        Tensor.realize(loss, *[p.assign(p.detach() - 1.0 * p.grad) for p in params if p.grad is not None])
        losses.append(loss.item())
    assert losses[-1] < 0.02 < losses[0]
    pred = ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid().numpy()
    np.testing.assert_array_equal((pred > 0.5).astype(np.float32), [[0.0], [1.0], [1.0], [0.0]])


def test_003_project5_rewrites_and_constant_folding(capsys: pytest.CaptureFixture[str]) -> None:
    """003, "Project 5: Inspecting the Compiler": `x*1 -> x` and constant folding happen (the kernel source has
    neither the `*1` nor `2+3`), NOOPT=1 gives the same values. `log(exp(x))` is not rewritten to x by tg (it is not
    an identity in floating point: exp overflows), but its values are x for moderate x."""
    x = Tensor([1.0, 2.0, 3.0, 4.0]).realize()
    with Context(DEBUG=3):
        np.testing.assert_array_equal((x * 1.0).exp2().numpy(), [2.0, 4.0, 8.0, 16.0])
        np.testing.assert_array_equal((x * (Tensor(2.0) + 3.0)).numpy(), [5.0, 10.0, 15.0, 20.0])
    src = capsys.readouterr().out
    if Device[Device.DEFAULT].caps.language == "LLVM":  # constants in hexadecimal, one instruction per line
        one, five, two, three = "0x3FF0000000000000", "0x4014000000000000", "0x4000000000000000", "0x4008000000000000"
        muls = [line for line in src.splitlines() if " = fmul " in line]
        assert not any(one in m for m in muls) and any(five in m for m in muls)
        assert not any(two in line and three in line for line in src.splitlines() if " = fadd " in line)
    else:
        assert "*1.0f" not in src and "5.0f" in src and "2.0f+3.0f" not in src
    np.testing.assert_allclose(x.exp().log().numpy(), x.numpy(), rtol=1e-6)
    with Context(NOOPT=1):
        np.testing.assert_allclose(x.softmax().numpy(), torch.tensor(x.numpy()).softmax(0).numpy(), rtol=1e-6)


def _gelu(x: Tensor) -> Tensor:
    return 0.5 * x * (1 + (0.7978845608 * (x + 0.044715 * x * x * x)).tanh())


def _swish(x: Tensor) -> Tensor:
    return x * x.sigmoid()


def _mish(x: Tensor) -> Tensor:
    return x * (1 + x.exp()).log().tanh()


def _rmsnorm(x: Tensor) -> Tensor:
    return x / ((x * x).mean(axis=-1, keepdim=True) + 1e-6).sqrt()


def _layernorm(x: Tensor) -> Tensor:
    centered = x - x.mean(axis=-1, keepdim=True)
    return centered / ((centered * centered).mean(axis=-1, keepdim=True) + 1e-5).sqrt()


_TORCH_CUSTOM: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    "swish": torch.nn.functional.silu,
    "mish": torch.nn.functional.mish,
    "rmsnorm": lambda t: t / (t.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt(),
    "layernorm": lambda t: torch.nn.functional.layer_norm(t, t.shape[-1:]),
}
_TG_CUSTOM = {"gelu": _gelu, "swish": _swish, "mish": _mish, "rmsnorm": _rmsnorm, "layernorm": _layernorm}


@pytest.mark.parametrize("name", list(_TG_CUSTOM))
def test_003_project6_custom_ops_from_primitives(name: str, kernels: Callable[..., int]) -> None:
    """003, "Project 6: Custom Operations": GELU, Swish, Mish, RMSNorm and LayerNorm built from primitives match
    torch forward and backward; each fuses into one kernel, the norms too: on the CPU a row statistic broadcast
    back over its row runs inside the kernel that stores the row (tg-schedule's row broadcasts, rule 4)."""
    x_np = np.random.default_rng(7).uniform(-3, 3, (4, 8)).astype(np.float32)
    x, tx = Tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    out, tout = _TG_CUSTOM[name](x), _TORCH_CUSTOM[name](tx)
    assert_same(out, tout, rtol=1e-4, atol=1e-5)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    assert x.grad is not None and tx.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    fused = kernels(_TG_CUSTOM[name](Tensor(x_np).realize()))
    assert fused == 1


def test_003_project6_causal_attention_from_primitives() -> None:
    """003, "Project 6: Custom Operations": scaled dot-product attention with a causal mask, from primitives
    (matmul, a -inf mask, softmax), matches torch and tg's built-in `scaled_dot_product_attention`."""
    rng = np.random.default_rng(8)
    q_np, k_np, v_np = (rng.standard_normal((2, 5, 4)).astype(np.float32) for _ in range(3))
    q, k, v = Tensor(q_np), Tensor(k_np), Tensor(v_np)
    mask = Tensor.ones(5, 5).tril().cast(dtypes.bool)
    scores = (q @ k.transpose(-1, -2)) / 2.0
    out = mask.where(scores, float("-inf")).softmax(-1) @ v
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q_np), torch.tensor(k_np), torch.tensor(v_np), is_causal=True
    )
    assert_same(out, want, rtol=1e-4, atol=1e-5)
    assert_same(q.scaled_dot_product_attention(k, v, is_causal=True), want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# 004: "Claude Code Guide for tinygrad": TinyJit Behavior, Debugging Tips


def test_004_tinyjit_runs_python_only_while_warming_up() -> None:
    """004, "TinyJit Behavior": the function's Python body runs on the first two calls (warm-up and capture);
    later calls replay the captured kernels on the new inputs."""
    runs = []

    @TinyJit
    def step(x: Tensor) -> Tensor:
        runs.append(1)
        return (x * 2 + 1).realize()

    for i in range(5):
        out = step(Tensor([float(i), 10.0]))
        assert out.tolist() == [2.0 * i + 1, 21.0]
    assert len(runs) == 2


def test_004_jit_0_runs_the_function_plainly() -> None:
    """004, "Common Environment Variables": JIT=0 disables the JIT; the Python body runs on every call."""
    runs = []

    @TinyJit
    def step(x: Tensor) -> Tensor:
        runs.append(1)
        return (x + 1).realize()

    with Context(JIT=0):
        assert [step(Tensor([float(i)])).item() for i in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert len(runs) == 4


def test_004_tinyjit_captures_side_effect_assigns() -> None:
    """004, "TinyJit Behavior", side effects and assigns: a buffer updated by `.assign()` that no output depends
    on. In tinygrad it updates only during warm-up unless realized by hand; tg's TinyJit realizes pending assigns
    while capturing (its documented decision), so the update happens on every call, as without the JIT."""
    counter = Tensor([0.0]).contiguous().realize()

    @TinyJit
    def step(x: Tensor) -> Tensor:
        counter.assign(counter + 1)
        return (x * 2).realize()

    for i in range(5):
        assert step(Tensor([float(i)])).item() == 2.0 * i
    assert counter.item() == 5.0


def test_004_debugging_tips_uop_state_and_schedule() -> None:
    """004, "Debugging Tips" 1, 2, 4 and 6: `UOp.sink(tensor.uop)` wraps the graph (tg's `sink` is a static
    builder: tinygrad's `tensor.uop.sink()` gives an empty SINK in tg); `tensor.schedule()` lists
    ScheduleItems; UOps of one op are found by filtering the toposort; a realized tensor is a BUFFER (tg: its uop is
    a view of one, `.base` is the BUFFER) and an `assign` not yet realized is an ASSIGN."""
    from tg_schedule import ScheduleItem

    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    y = (t * 2).sum(axis=1)
    assert UOp.sink(y.uop).op is Ops.SINK and UOp.sink(y.uop).src == (y.uop,)
    items = y.schedule()
    assert items and all(isinstance(si, ScheduleItem) for si in items)
    assert len([u for u in y.uop.toposort() if u.op is Ops.REDUCE_AXIS]) == 1
    t.realize()
    assert t.uop.base.op is Ops.BUFFER
    t.assign(t * 3)
    assert t.uop.op is Ops.ASSIGN
    t.realize()
    assert t.uop.base.op is Ops.BUFFER and t.tolist() == [[3.0, 6.0], [9.0, 12.0]]
