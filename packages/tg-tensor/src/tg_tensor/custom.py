"""Custom kernels: a kernel body written by hand as a kernel AST (UOps: loads through views, ALU ops, reductions,
one store), scheduled like any other kernel (a CUSTOM node in the tensor graph that tg-schedule turns into one
ScheduleItem), so it runs on every device whose renderer lowers it, is captured by TinyJit and shows in DEBUG
and VIZ. `load` and `store` build the body's leaves; `backward` gives its gradient; `reference` checks it.

>>> from tg_tensor import Tensor
>>> x = Tensor([1.0, 2.0, 3.0])
>>> sq = lambda out, a: store(out, (3,), load(a, (3,)) * load(a, (3,)))
>>> x.custom_kernel(kernel=sq, shape=(3,), reference=lambda a: a * a).tolist()
[1.0, 4.0, 9.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Self

import numpy as np

from tg_tensor.errors import ArgumentError
from tg_tensor.helpers import DTypeLike, dtype_arg
from tg_tensor.selection import SelectionMixin
from tg_uop.dtype import PtrDType, dtypes
from tg_uop.helpers import prod
from tg_uop.ops import CustomKernel, Ops
from tg_uop.uop import UOp
from tg_uop.view import ShapeTracker


def _view(st: ShapeTracker | Sequence[int]) -> UOp:
    return UOp(Ops.VIEW, dtypes.void, (), st if isinstance(st, ShapeTracker) else ShapeTracker.from_shape(tuple(st)))


def load(param: UOp, st: ShapeTracker | Sequence[int]) -> UOp:
    """Read kernel parameter `param` through a view (a ShapeTracker, or a shape for the contiguous view).

    >>> load(UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(6), (), 1), (2, 3)).shape
    (2, 3)
    """
    if not isinstance(param.dtype, PtrDType) or param.dtype.base is None:
        raise ArgumentError(f"load reads a kernel parameter (a DEFINE_GLOBAL), not {param.op}")
    return UOp(Ops.LOAD, param.dtype.base, (param, _view(st)))


def store(param: UOp, st: ShapeTracker | Sequence[int], value: UOp) -> UOp:
    """Write `value` to kernel parameter `param` through a view (a ShapeTracker, or a shape for the contiguous
    view); the kernel's body is this STORE (or a SINK of it).

    >>> out = UOp(Ops.DEFINE_GLOBAL, dtypes.float.ptr(2), (), 0)
    >>> store(out, (2,), load(out, (2,))).op
    Ops.STORE
    """
    return UOp(Ops.STORE, dtypes.void, (param, _view(st), value))


def _checked_ast(ast: UOp, n_inputs: int, name: str) -> UOp:
    """The user's body as a SINK, refused at the call when it cannot be the kernel of a CUSTOM node."""
    if ast.op is Ops.STORE:
        ast = UOp.sink(ast)
    if not isinstance(ast, UOp) or ast.op is not Ops.SINK:
        raise ArgumentError(f"custom_kernel {name!r}: kernel must return a STORE (or a SINK of STOREs)")
    for u in ast.toposort():
        if u.op is Ops.STORE and u.src[0].arg != 0:
            raise ArgumentError(f"custom_kernel {name!r}: only the output (parameter 0) may be stored to")
        if u.op is Ops.DEFINE_GLOBAL and not 0 <= u.arg <= n_inputs:
            raise ArgumentError(f"custom_kernel {name!r}: parameter {u.arg} is not one of its {n_inputs} inputs")
    return ast


def _check(got: np.ndarray, want: np.ndarray, atol: float, rtol: float, name: str) -> None:
    if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
        err = np.max(np.abs(got - want)) if got.shape == want.shape else f"shape {got.shape} != {want.shape}"
        raise AssertionError(f"custom_kernel {name!r} differs from its reference: max error {err}")


class CustomKernelMixin(SelectionMixin):
    """`Tensor.custom_kernel`."""

    def custom_kernel(
        self,
        *others: Self,
        kernel: Callable[..., UOp] | None = None,
        shape: Sequence[int] = (),
        src: str | None = None,
        global_size: Sequence[int] = (1, 1, 1),
        local_size: Sequence[int] | None = None,
        dtype: DTypeLike | None = None,
        backward: Callable[..., Sequence[Self | None]] | None = None,
        reference: Callable[..., Self] | None = None,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        name: str = "custom",
    ) -> Self:
        """A tensor of `shape` and `dtype` (self's by default) computed by a hand-written kernel.

        `kernel(out, *ins)` gets the kernel's parameters (DEFINE_GLOBAL UOps: the output, then self and `others`,
        each read as a contiguous buffer of its elements) and returns the body: `store(out, view, value)` with
        the value built from `load(param, view)`, UOp ALU ops and `reduce_axis`. `backward(grad, self, *others)`
        gives the inputs' gradients in Tensor operations (without it, backward through the kernel raises).
        With `reference` (a function of the same inputs in plain tg ops), the result is realized and checked
        against it (`atol`, `rtol`): AssertionError on a mismatch.

        Instead of `kernel`, `src` is the text of a program for the inputs' kind of device only (C for CPU,
        OpenCL C for CL) defining the function `name` with the same parameters, launched over `global_size`
        (and `local_size` on work-group devices); run on another kind of device, it raises.

        >>> from tg_tensor import Tensor
        >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> rows = lambda out, a: store(out, (2, 1), load(a, (2, 2)).reduce_axis(Ops.ADD, (1,)))
        >>> x.custom_kernel(kernel=rows, shape=(2, 1), name="rowsum").tolist()
        [[3.0], [7.0]]
        """
        ins = (self, *others)
        out_dtype = dtype_arg(dtype, self.dtype, "custom_kernel")
        shape = tuple(int(d) for d in shape)
        if any(t.device != self.device for t in others):
            raise ArgumentError(f"custom_kernel {name!r}: the inputs are on several devices; move them to one")
        if (kernel is None) == (src is None):
            raise ArgumentError(f"custom_kernel {name!r}: give either kernel= (UOps) or src= (source text)")
        if kernel is not None:
            params = [UOp(Ops.DEFINE_GLOBAL, out_dtype.ptr(prod(shape)), (), 0)]
            params += [UOp(Ops.DEFINE_GLOBAL, t.dtype.ptr(t.numel()), (), i + 1) for i, t in enumerate(ins)]
            arg = CustomKernel(_checked_ast(kernel(*params), len(ins), name), shape, name)
        else:
            sizes = (tuple(int(d) for d in global_size), None if local_size is None else tuple(map(int, local_size)))
            arg = CustomKernel(None, shape, name, src, self.device.split(":")[0], *sizes)
        cls = type(self)

        def forward(*ts: Self) -> Self:
            return cls._wrap(UOp(Ops.CUSTOM, out_dtype, tuple(t.uop for t in ts), arg))

        def no_backward(grad: Self, *ts: Self) -> Sequence[Self | None]:
            raise ArgumentError(f"custom_kernel {name!r} was given no backward: it has no gradient")

        out = self.apply_with_gradient(forward, backward or no_backward, *others)
        if reference is not None:
            _check(out.numpy(), reference(*ins).numpy(), atol, rtol, name)
        return out
