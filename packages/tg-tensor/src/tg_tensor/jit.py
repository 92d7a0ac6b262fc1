"""TinyJit: run a function twice to capture the kernels it launches, then replay them on new inputs.

Call 1 runs the function normally (kernels compile). Call 2 runs it again while tg-schedule records every
kernel and copy, and realizes the outputs and every pending `assign` (so side effects no output depends on,
like running statistics, are captured too). Later calls skip the Python function entirely: the recorded
kernels run with the new inputs' buffers in place of the captured ones, and the captured output tensors are
returned, now holding the new results (copy them if you need to keep one). `JIT=0` calls the function plainly.

>>> from tg_tensor import Tensor
>>> @TinyJit
... def double(x):
...     return (x * 2).realize()
>>> [double(Tensor([float(i), 1.0])).tolist() for i in range(3)]
[[0.0, 2.0], [2.0, 2.0], [4.0, 2.0]]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tg_schedule.jit import CapturedRun, capture
from tg_tensor.tensor import Tensor, flush_pending_assigns
from tg_uop import trace
from tg_uop.helpers import JIT

R = TypeVar("R")


def _tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Tensor]:
    return [a for a in args if isinstance(a, Tensor)] + [
        kwargs[k] for k in sorted(kwargs) if isinstance(kwargs[k], Tensor)
    ]


def _outputs(result: Any) -> list[Tensor]:
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (list, tuple)):
        return [r for r in result if isinstance(r, Tensor)]
    if isinstance(result, dict):
        return [r for r in result.values() if isinstance(r, Tensor)]
    return []


class TinyJit(Generic[R]):
    """Decorator: capture a function's kernels on its second call and replay them afterwards."""

    def __init__(self, fn: Callable[..., R]) -> None:
        self.fn = fn
        self.calls = 0
        self.captured: CapturedRun | None = None
        self.signature: list[tuple[Any, ...]] = []
        self.result: R | None = None
        functools.update_wrapper(self, fn)

    def reset(self) -> None:
        """Forget the capture (the next two calls capture again)."""
        self.calls, self.captured, self.result = 0, None, None

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        if not JIT:
            return self.fn(*args, **kwargs)
        inputs = _tensors(args, kwargs)
        # inputs are read from their buffers: give every input one of its own, laid out in order
        for t in inputs:
            if not t.is_contiguous_buffer():
                t.replace_uop(t.contiguous().realize().uop)
        # assigns made before this call belong to the caller, not to the function: apply them now (with the
        # inputs, in one schedule), or the capture would record them and every replay would apply them again
        if todo := [*inputs, *flush_pending_assigns()]:
            Tensor.realize(*todo)
        signature = [(t.shape, t.dtype, t.device) for t in inputs]
        buffers = [t.buffer() for t in inputs]
        if self.captured is not None:
            if signature != self.signature:
                raise ValueError(
                    f"TinyJit({self.fn.__name__}): inputs {signature} differ from the captured {self.signature};"
                    " call .reset() to capture again"
                )
            self.captured.replay(buffers)
            assert self.result is not None
            return self.result
        self.calls += 1
        if self.calls == 1:  # warm-up: everything compiles
            result = self.fn(*args, **kwargs)
            _realize_all(result)
            return result
        with capture() as items:
            result = self.fn(*args, **kwargs)
            _realize_all(result)
        self.captured, self.signature, self.result = CapturedRun(items, buffers), signature, result
        trace.emit("jit", fn=self.fn.__name__, kernels=[trace.Ref(i.ast) for i in items if i.kind == "kernel"])
        return result


def _realize_all(result: Any) -> None:
    """Realize a call's output tensors and every pending assign, in one schedule."""
    todo = _outputs(result) + flush_pending_assigns()
    if todo:
        Tensor.realize(*todo)
