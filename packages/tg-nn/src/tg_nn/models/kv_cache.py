"""`KVCache`: an attention layer's keys and values of the positions decoded so far, preallocated for the
whole context and written in place (`assign`) as tokens arrive.

>>> from tg_tensor import Tensor
>>> cache = KVCache(batch=1, heads=1, context=4, head_dim=2)
>>> k, v, mask = cache.update(Tensor([[[[1.0, 2.0]]]]), Tensor([[[[3.0, 4.0]]]]), 0)
>>> k.shape, mask.tolist()
((1, 1, 1, 2), [[True]])

`start_pos` is where the new tokens go. As an int, the returned keys and values are the first
`start_pos + T` positions (concrete shapes: a new position is a new kernel). As a 0-d integer tensor (one new
token), the returned keys and values are the whole preallocated context and the mask hides the positions after
`start_pos`, so every position runs the same kernels (TinyJit replays them with the position as an input).
"""

from __future__ import annotations

from tg_tensor import Tensor

Position = int | Tensor


class KVCache:
    """Keys and values of shape (batch, heads, context, head_dim), zeros until written."""

    # slots, no __dict__: `get_state_dict` (and so `get_parameters`, optimizers and saved files) skips the cache
    __slots__ = ("batch", "heads", "context", "head_dim", "keys", "values")

    def __init__(self, batch: int, heads: int, context: int, head_dim: int, device: str | None = None) -> None:
        self.batch, self.heads, self.context, self.head_dim = batch, heads, context, head_dim
        self.keys = Tensor.zeros(batch, heads, context, head_dim, device=device).contiguous().realize()
        self.values = Tensor.zeros(batch, heads, context, head_dim, device=device).contiguous().realize()

    def __repr__(self) -> str:
        return f"KVCache(batch={self.batch}, heads={self.heads}, context={self.context}, head_dim={self.head_dim})"

    def update(self, k: Tensor, v: Tensor, start_pos: Position) -> tuple[Tensor, Tensor, Tensor]:
        """Write `k`, `v` (batch, heads, T, head_dim) at positions `start_pos`.. and return the keys, values and
        a bool mask (T, positions) of the keys each new query may attend to (causal: up to its own position)."""
        want = (self.batch, self.heads, k.shape[2], self.head_dim)
        if k.shape != want or v.shape != want:
            raise ValueError(f"{self!r}: keys {k.shape} and values {v.shape} must both be {want}")
        if isinstance(start_pos, Tensor):
            return self._update_masked(k, v, start_pos)
        t = k.shape[2]
        if not 0 <= start_pos <= self.context - t:
            raise ValueError(f"{self!r}: {t} positions from start_pos {start_pos} do not fit the context")
        end = start_pos + t
        # realized now: the attention below reads the cache, which must already hold these positions
        Tensor.realize(
            self.keys[:, :, start_pos:end].assign(k),
            self.values[:, :, start_pos:end].assign(v),
        )
        rows = Tensor.arange(t, device=k.device).reshape(t, 1) + start_pos
        mask = rows >= Tensor.arange(end, device=k.device).reshape(1, end)
        return self.keys[:, :, :end], self.values[:, :, :end], mask

    def _update_masked(self, k: Tensor, v: Tensor, start_pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One token at the position held by the 0-d tensor `start_pos`: every shape is the whole context's."""
        if k.shape[2] != 1:
            raise ValueError(f"{self!r}: a tensor start_pos takes one token at a time, got {k.shape[2]}")
        positions = Tensor.arange(self.context, device=k.device)
        here = (positions == start_pos).reshape(1, 1, self.context, 1)
        Tensor.realize(self.keys.assign(here.where(k, self.keys)), self.values.assign(here.where(v, self.values)))
        return self.keys, self.values, (positions <= start_pos).reshape(1, self.context)
