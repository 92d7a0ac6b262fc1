"""`KVCache`: an attention layer's keys and values of the positions decoded so far, preallocated for the
whole context and written in place (`assign`) as tokens arrive.

>>> from tg_tensor import Tensor
>>> from tg_uop import Variable
>>> cache = KVCache(batch=1, heads=1, context=4, head_dim=1)
>>> k, v, mask = cache.update(Tensor([[[[1.0], [2.0]]]]), Tensor([[[[3.0], [4.0]]]]), 0)  # positions 0, 1
>>> k.shape, mask.tolist()
((1, 1, 2, 1), [[True, False], [True, True]])
>>> k, v, mask = cache.update(Tensor([[[[5.0]]]]), Tensor([[[[6.0]]]]), Variable("start_pos", 0, 3).bind(2))
>>> k.numpy().ravel().tolist(), v.numpy().ravel().tolist(), mask
([1.0, 2.0, 5.0], [3.0, 4.0, 6.0], None)

`start_pos` is where the new tokens go: an int, or a bound Variable (`Variable("start_pos", 0, context - 1)
.bind(k)`), with which the shapes are symbolic (the keys are `start_pos + T` long) and every position runs the
same kernels: a TinyJit over the decoding step replays them with the position as a launch argument.
"""

from __future__ import annotations

from tg_tensor import Tensor
from tg_uop.ops import Ops
from tg_uop.uop import UOp

Position = int | UOp  # a position: an int or a bound Variable


def check_position(start_pos: Position, length: int, context: int, who: str) -> None:
    """Raise a ValueError unless `length` positions from `start_pos` fit in `context` for every value it may take."""
    if isinstance(start_pos, UOp):
        if start_pos.op is not Ops.BIND or start_pos.src[0].op is not Ops.DEFINE_VAR:
            raise ValueError(f"{who}: start_pos must be an int or a bound Variable, got {start_pos}")
        name, lo, hi = start_pos.src[0].arg
        if lo < 0 or hi + length > context:
            raise ValueError(
                f"{who}: start_pos {name} in [{lo}, {hi}] with {length} tokens does not fit the context {context}: "
                f"declare it as Variable({name!r}, 0, {context - length})"
            )
    elif isinstance(start_pos, bool) or not isinstance(start_pos, int) or not 0 <= start_pos <= context - length:
        raise ValueError(f"{who}: {length} positions from start_pos {start_pos!r} do not fit the context {context}")


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

    def update(
        self, k: Tensor, v: Tensor, start_pos: Position, *realize_with: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Write `k`, `v` (batch, heads, T, head_dim) at positions `start_pos`.. and return the keys and values of
        positions 0 .. start_pos + T and a bool mask (T, start_pos + T) of the keys each new query may attend to
        (its own position and those before it; None for one token, which may attend to them all).

        The writes are realized at once (the keys returned read the cache), together with `realize_with`: pass
        the queries, computed from the same projection, which would otherwise be computed a second time."""
        t = k.shape[2]
        want = (self.batch, self.heads, t, self.head_dim)
        if k.shape != want or v.shape != want:
            raise ValueError(f"{self!r}: keys {k.shape} and values {v.shape} must both be {want}")
        check_position(start_pos, t, self.context, repr(self))
        end = start_pos + t
        Tensor.realize(
            self.keys[:, :, start_pos:end].assign(k), self.values[:, :, start_pos:end].assign(v), *realize_with
        )
        mask = None
        if t > 1:  # the earlier positions all, the new ones causally (padding works with a symbolic start_pos)
            old = Tensor.ones(t, start_pos, dtype="bool", device=k.device).pad(((0, 0), (0, t)))
            new = Tensor.ones(t, t, dtype="bool", device=k.device).tril().pad(((0, 0), (start_pos, 0)))
            mask = old | new
        return self.keys[:, :, :end], self.values[:, :, :end], mask
