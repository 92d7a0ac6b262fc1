"""Neural-network functions on tensors: normalization, dropout, attention, losses.

>>> from tg_tensor import Tensor
>>> Tensor([1.0, 2.0]).shape
(2,)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor  # noqa: F401


class NNOpsMixin:
    """Normalization, dropout, attention and losses; mixed into `Tensor`."""

    __slots__ = ()
