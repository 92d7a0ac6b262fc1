"""Indexing: `t[...]` and `t[...] = v`, gather.

>>> from tg_tensor import Tensor
>>> Tensor([1, 2, 3]).shape
(3,)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor  # noqa: F401


class IndexingMixin:
    """Indexing; mixed into `Tensor`."""

    __slots__ = ()
