"""Movement: reshape, permute, expand, pad, shrink and the forms built on them. None of these copies data;
they change how a later kernel indexes its input.

>>> from tg_tensor import Tensor
>>> Tensor([[1, 2], [3, 4]]).T.tolist()
[[1, 3], [2, 4]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tg_tensor.helpers import _varargs
from tg_uop.dtype import dtypes
from tg_uop.helpers import normalize_axis, prod

if TYPE_CHECKING:
    from tg_tensor.tensor import Tensor


class MovementMixin:
    """Movement operations; mixed into `Tensor`."""

    __slots__ = ()

    def reshape(self, *shape: Any) -> Tensor:
        new = _varargs(shape)
        if sum(1 for s in new if s == -1) > 1:
            raise ValueError(f"reshape: only one dimension can be -1, got {new}")
        if any((not isinstance(s, int)) or s < -1 for s in new):
            raise ValueError(f"reshape: invalid shape {new}")
        if -1 in new:
            known = prod(s for s in new if s != -1)
            if known == 0 or self.numel() % known:
                raise ValueError(f"reshape: cannot reshape tensor of shape {self.shape} to {new}")
            new = tuple(self.numel() // known if s == -1 else s for s in new)
        if prod(new) != self.numel():
            raise ValueError(f"reshape: cannot reshape tensor of shape {self.shape} (size {self.numel()}) to {new}")
        return self if new == self.shape else self._apply(lambda u: u.reshape(new))

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def permute(self, *order: Any) -> Tensor:
        o = tuple(normalize_axis(a, self.ndim, "permute") for a in _varargs(order))
        if sorted(o) != list(range(self.ndim)):
            raise ValueError(f"permute: {_varargs(order)} is not a permutation of the axes of shape {self.shape}")
        return self._apply(lambda u: u.permute(o))

    def expand(self, *shape: Any) -> Tensor:
        want = _varargs(shape)
        if len(want) < self.ndim:
            raise ValueError(f"expand: cannot expand shape {self.shape} to {want}")
        src = (1,) * (len(want) - self.ndim) + self.shape
        new = tuple(s if w == -1 else w for s, w in zip(src, want, strict=True))
        if any(s != n and s != 1 for s, n in zip(src, new, strict=True)):
            raise ValueError(f"expand: cannot expand shape {self.shape} to {want}")
        return self.reshape(src)._apply(lambda u: u.expand(new))

    def transpose(self, dim0: int = 1, dim1: int = 0) -> Tensor:
        order = list(range(self.ndim))
        a, b = normalize_axis(dim0, self.ndim, "transpose"), normalize_axis(dim1, self.ndim, "transpose")
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def pad(self, padding: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
        """Pad each axis by (before, after) elements of `value` (one pair per axis, from the first axis)."""
        arg = tuple((int(b), int(a)) for b, a in padding)
        if len(arg) != self.ndim or any(b < 0 or a < 0 for b, a in arg):
            raise ValueError(f"pad: need one (before, after) pair >= 0 per axis of shape {self.shape}, got {padding}")
        out = self._apply(lambda u: u.pad(arg))
        if value == 0:
            return out
        inside = self.ones(*self.shape, dtype=dtypes.bool, device=self.device)._apply(lambda u: u.pad(arg))
        return inside.where(out, value)

    def shrink(self, arg: Sequence[tuple[int, int]]) -> Tensor:
        """Keep elements [begin, end) of each axis (one pair per axis)."""
        bounds = tuple((int(b), int(e)) for b, e in arg)
        if len(bounds) != self.ndim or any(not 0 <= b <= e <= s for (b, e), s in zip(bounds, self.shape, strict=True)):
            raise ValueError(f"shrink: {arg} is not inside shape {self.shape}")
        return self._apply(lambda u: u.shrink(bounds))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = normalize_axis(start_dim, self.ndim, "flatten"), normalize_axis(end_dim, self.ndim, "flatten")
        return self.reshape(*self.shape[:s], prod(self.shape[s : e + 1]), *self.shape[e + 1 :])

    def unsqueeze(self, dim: int) -> Tensor:
        d = normalize_axis(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:d], 1, *self.shape[d:])
