"""Random tensors and the initializers built on them.

>>> from tg_tensor import Tensor
>>> Tensor.manual_seed(0)
>>> Tensor.rand(3).shape
(3,)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from tg_tensor.helpers import _shape_arg, _to_np_dtype, _varargs
from tg_uop.dtype import DType, dtypes
from tg_uop.helpers import prod

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor


class RandomMixin:
    """Random tensors; mixed into `Tensor`."""

    __slots__ = ()
    _rng: ClassVar[np.random.Generator] = np.random.default_rng(0)

    @classmethod
    def manual_seed(cls, seed: int) -> None:
        """Seed the random number generator (host-side for now; see the README)."""
        cls._rng = np.random.default_rng(seed)

    @classmethod
    def rand(
        cls, *shape: Any, dtype: DType | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Tensor:
        """Uniform in [0, 1)."""
        shp = _shape_arg(_varargs(shape), "rand")
        dt = dtype or dtypes.default_float
        data = cls._rng.random(shp).astype(_to_np_dtype(dt))
        return cls(data, device=device, dtype=dt, requires_grad=requires_grad)

    @classmethod
    def randn(
        cls, *shape: Any, dtype: DType | None = None, device: str | None = None, requires_grad: bool | None = None
    ) -> Tensor:
        """Standard normal."""
        shp = _shape_arg(_varargs(shape), "randn")
        dt = dtype or dtypes.default_float
        data = cls._rng.standard_normal(shp).astype(_to_np_dtype(dt))
        return cls(data, device=device, dtype=dt, requires_grad=requires_grad)

    @classmethod
    def uniform(cls, *shape: Any, low: float = 0.0, high: float = 1.0, **kwargs: Any) -> Tensor:
        return (
            cls.rand(*shape, **{k: v for k, v in kwargs.items() if k != "requires_grad"}) * (high - low) + low
        )._set_grad(kwargs.get("requires_grad"))

    @classmethod
    def kaiming_uniform(cls, *shape: Any, a: float = 0.01, **kwargs: Any) -> Tensor:
        """He-uniform init for a weight of shape (out, in, ...): bound sqrt(6 / ((1 + a^2) * fan_in))."""
        shp = _varargs(shape)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a**2)) / math.sqrt(prod(shp[1:]))
        return cls.uniform(*shp, low=-bound, high=bound, **kwargs)
