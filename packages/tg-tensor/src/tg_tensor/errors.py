"""The exception tg raises for a bad argument (shape, axis, size, option): both a `ValueError` (tg's own rule
so far) and a `RuntimeError` (what torch and tinygrad raise), so code ported from either catches it. Indices
out of range stay `IndexError`, dtype misuse `TypeError`.

>>> from tg_tensor import Tensor
>>> try:
...     Tensor.ones(2, 3).reshape(4)
... except RuntimeError as e:
...     isinstance(e, ValueError), type(e).__name__
(True, 'ArgumentError')
"""

from __future__ import annotations


class ArgumentError(ValueError, RuntimeError):
    """A bad argument to a tg operation; the message names the op and the shapes involved."""
