"""Tensors made from nothing: constants of a shape, ranges.

>>> from tg_tensor import Tensor
>>> Tensor.full((2, 2), 7).tolist()
[[7, 7], [7, 7]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tg_runtime.device import Device, canonicalize
from tg_tensor.helpers import Scalar, _const, _shape_arg, _varargs
from tg_uop.dtype import DType, dtypes

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor


class CreationMixin:
    """Constants of a shape and ranges; mixed into `Tensor`."""

    __slots__ = ()

    @classmethod
    def full(
        cls, shape: Sequence[int] | int, fill_value: Scalar, dtype: DType | None = None, device: str | None = None
    ) -> Tensor:
        """A tensor of one value (a broadcast constant: no memory until it is realized)."""
        shp = _shape_arg((shape,) if isinstance(shape, int) else tuple(shape), "full")
        dev = canonicalize(device) if device is not None else Device.DEFAULT
        c = _const(dtype or dtypes.from_py(fill_value), fill_value, dev)
        return cls._wrap(c.reshape((1,) * len(shp)).expand(shp) if shp else c)

    @classmethod
    def zeros(cls, *shape: Any, dtype: DType | None = None, device: str | None = None) -> Tensor:
        return cls.full(_varargs(shape), 0.0 if dtype is None else 0, dtype or dtypes.default_float, device)

    @classmethod
    def ones(cls, *shape: Any, dtype: DType | None = None, device: str | None = None) -> Tensor:
        return cls.full(_varargs(shape), 1.0 if dtype is None else 1, dtype or dtypes.default_float, device)

    def zeros_like(self) -> Tensor:
        return self.full(self.shape, 0, self.dtype, self.device)

    def ones_like(self) -> Tensor:
        return self.full(self.shape, 1, self.dtype, self.device)

    @classmethod
    def arange(
        cls, start: int, stop: int | None = None, step: int = 1, dtype: DType | None = None, device: str | None = None
    ) -> Tensor:
        if stop is None:
            start, stop = 0, start
        return cls(np.arange(start, stop, step), device=device, dtype=dtype or dtypes.default_int)
