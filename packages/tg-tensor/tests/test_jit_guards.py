"""TinyJit replays only what is provably the same call: each case runs a function jitted and plain over several
calls and compares every result, including results of earlier calls read after later ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tg_tensor import Tensor, TinyJit

RNG = np.random.default_rng(14)


def _values(result: Any) -> Any:
    if isinstance(result, Tensor):
        return result.numpy()
    if isinstance(result, (list, tuple)):
        return [_values(r) for r in result]
    if isinstance(result, dict):
        return {k: _values(v) for k, v in result.items()}
    return result


def _same(a: Any, b: Any) -> None:
    if isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    else:
        assert a == b


Args = tuple[tuple[Any, ...], dict[str, Any]]


def compare(fn: Callable[..., Any], make_args: Callable[[int], Args], n: int = 6) -> None:
    """Call fn plainly and jitted n times with equal fresh arguments; every result, read at once and again
    after all calls, must match."""
    jitted = TinyJit(fn)
    kept_plain, kept_jit = [], []
    for i in range(n):
        a, k = make_args(i)
        plain = fn(*a, **k)
        a, k = make_args(i)
        jit = jitted(*a, **k)
        _same(_values(plain), _values(jit))
        kept_plain.append(plain)
        kept_jit.append(jit)
    for p, j in zip(kept_plain, kept_jit, strict=True):  # outputs of earlier calls keep their values
        _same(_values(p), _values(j))


def rand(*shape: int) -> Tensor:
    return Tensor(RNG.standard_normal(shape).astype(np.float32))


def fixed(seed: int, *shape: int) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


# ---- inputs anywhere in the arguments ----


def test_tensors_inside_a_list() -> None:
    compare(lambda xs: (xs[0] * 2 + xs[1]).realize(), lambda i: (([fixed(i, 3), fixed(i + 50, 3)],), {}))


def test_tensors_inside_a_tuple_and_nested() -> None:
    compare(lambda t: (t[0] + t[1][0]).realize(), lambda i: (((fixed(i, 4), (fixed(i + 9, 4),)),), {}))


def test_tensors_inside_a_dict_and_keywords() -> None:
    compare(lambda d, *, y: (d["x"] * y).sum().realize(), lambda i: (({"x": fixed(i, 5)},), {"y": fixed(i + 3, 5)}))


@dataclasses.dataclass
class Batch:
    x: Tensor
    scale: float


def test_tensors_inside_a_dataclass() -> None:
    compare(lambda b: (b.x * b.scale).realize(), lambda i: ((Batch(fixed(i, 3), 2.0),), {}))


# ---- non-tensor arguments are part of the key ----


def test_a_changing_int_argument() -> None:
    compare(lambda x, n: (x * n).realize(), lambda i: ((fixed(i, 3), i % 3), {}), n=9)


def test_a_changing_float_keyword() -> None:
    compare(lambda x, *, s: (x + s).realize(), lambda i: ((fixed(i, 3),), {"s": [0.5, -1.0][i % 2]}), n=8)


def test_an_int_that_decides_the_output_shape() -> None:
    compare(lambda x, n: (x[:n] * 2).realize(), lambda i: ((fixed(i, 6), 2 + i % 3), {}), n=9)


def test_a_dataclass_field_value_is_part_of_the_key() -> None:
    compare(lambda b: (b.x * b.scale).realize(), lambda i: ((Batch(fixed(i, 3), float(i % 2)),), {}))


# ---- outputs that are inputs, or views of inputs ----


def test_returning_the_input() -> None:
    compare(lambda x: x, lambda i: ((fixed(i, 3),), {}))


def test_returning_the_input_and_a_result() -> None:
    compare(lambda x: (x, (x * 3).realize()), lambda i: ((fixed(i, 3),), {}))


def test_returning_a_reshape_of_the_input() -> None:
    compare(lambda x: x.reshape(3, 2), lambda i: ((fixed(i, 6),), {}))


def test_returning_a_slice_of_the_input() -> None:
    compare(lambda x: x[1:], lambda i: ((fixed(i, 4),), {}))


def test_returned_input_is_the_callers_tensor() -> None:
    f = TinyJit(lambda x: x)
    for i in range(4):
        x = fixed(i, 2)
        assert f(x) is x


# ---- aliasing between arguments ----


def test_one_tensor_twice_then_two_tensors() -> None:
    def make(i: int) -> Args:
        x = fixed(i, 3)
        return ((x, x) if i < 3 else (x, fixed(i + 100, 3))), {}

    compare(lambda a, b: (a * 2 + b).realize(), make)


def test_two_tensors_then_one_tensor_twice() -> None:
    def make(i: int) -> Args:
        x = fixed(i, 3)
        return ((x, fixed(i + 100, 3)) if i < 3 else (x, x)), {}

    compare(lambda a, b: (a * 2 + b).realize(), make)


def test_assign_into_an_argument_passed_twice() -> None:
    def f(a: Tensor, b: Tensor) -> Tensor:
        a.assign(a + 1)
        return (b * 1).realize()

    compare(lambda a, b: f(a, b), lambda i: ((lambda x: (x, x if i % 2 else fixed(i + 7, 2)))(fixed(i, 2)), {}))


# ---- outputs of earlier calls ----


def test_outputs_of_earlier_calls_keep_their_values() -> None:
    f = TinyJit(lambda x: (x + 1).realize())
    xs = [np.full(3, float(i), np.float32) for i in range(6)]
    outs = [f(Tensor(x)) for x in xs]
    for x, o in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(o.numpy(), x + 1)


def test_several_outputs_of_earlier_calls_keep_their_values() -> None:
    def f(x: Tensor) -> dict[str, Any]:
        return {"sum": x.sum().realize(), "both": [(x * 2).realize(), (x - 1).realize()]}

    compare(f, lambda i: ((fixed(i, 4),), {}))


# ---- views passed in ----


def test_a_view_passed_in_still_follows_its_base() -> None:
    f = TinyJit(lambda v: (v * 2).realize())
    for i in range(5):
        base = Tensor(np.arange(6, dtype=np.float32) + i).realize()
        view = base[2:5]
        np.testing.assert_array_equal(f(view).numpy(), (np.arange(2, 5) + i) * 2)
        base.assign(base * 0 + 100.0).realize()
        np.testing.assert_array_equal(view.numpy(), [100.0, 100.0, 100.0])


def test_a_view_that_moves_is_captured_per_view() -> None:
    base = Tensor(np.arange(10, dtype=np.float32)).realize()
    compare(lambda v: (v + 1).realize(), lambda i: ((base[i % 2 : i % 2 + 4],), {}))


def test_assign_into_a_view_reaches_its_base() -> None:
    def f(v: Tensor) -> Tensor:
        v.assign(v + 1)
        return v

    jitted = TinyJit(f)
    base = Tensor(np.zeros(4, np.float32)).realize()
    for _ in range(5):
        jitted(base[1:3])
    np.testing.assert_array_equal(base.numpy(), [0, 5, 5, 0])


# ---- bounded captures ----


def test_too_many_keys_name_the_changing_argument() -> None:
    f = TinyJit(lambda x, n: (x * n).realize(), max_captures=3)
    for n in range(3):
        for _ in range(3):
            assert f(Tensor([1.0]), n).tolist() == [float(n)]
    with pytest.raises(ValueError, match=r"args\[1\]"):
        f(Tensor([1.0]), 7)
    assert f(Tensor([2.0]), 2).tolist() == [4.0]  # the captured keys still replay


def test_a_new_shape_is_captured_again() -> None:
    compare(lambda x: (x.sum(0) * 2).realize(), lambda i: ((fixed(i, 2 + i % 2, 3),), {}), n=8)


def test_a_warm_up_that_raised_is_done_again() -> None:
    calls = []

    def f(x: Tensor) -> Tensor:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return (x * 2).realize()

    jitted = TinyJit(f)
    with pytest.raises(RuntimeError):
        jitted(Tensor([1.0]))
    assert [jitted(Tensor([float(i)])).tolist() for i in range(5)] == [[0.0], [2.0], [4.0], [6.0], [8.0]]
    assert len(calls) == 3  # the failed call, a warm-up, the capture; then replays


def test_state_one_jit_leaves_for_another_follows_every_call() -> None:
    # tinygrad's split step: a first TinyJit leaves the gradients in w.grad, a second reads them from there (Python
    # state, not an argument); every replay of the first must update what the second reads
    def run(jit: bool) -> list[list[float]]:
        w = Tensor([1.0, -2.0, 0.5], requires_grad=True)

        def grads(x: Tensor) -> list[Tensor]:
            w.grad = None
            loss = (w * x).square().sum()
            loss.backward()
            assert w.grad is not None
            return [loss, w.grad]  # outputs: realized by the call, as the gradients of a training step are

        def update() -> Tensor:
            assert w.grad is not None
            w.assign(w - w.grad * 0.1).realize()
            return w

        g, u = (TinyJit(grads), TinyJit(update)) if jit else (grads, update)
        out = []
        for i in range(6):
            g(Tensor([1.0 + i, 0.5 * i, -1.0]))
            out.append(u().tolist())
        return out

    assert run(True) == run(False)
