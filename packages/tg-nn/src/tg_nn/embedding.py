"""`Embedding`: a lookup table of vectors indexed by integers, as `torch.nn.Embedding`.

>>> from tg_tensor import Tensor
>>> from tg_nn.embedding import Embedding
>>> emb = Embedding(10, 4)
>>> emb(Tensor([[1, 2, 3], [4, 5, 6]])).shape
(2, 3, 4)

The lookup is written as a comparison with `arange(num_embeddings)` and a masked sum, so the weight gets a
gradient from the existing rules and the whole lookup is one fused kernel. Its cost is
O(number of indices * num_embeddings * embedding_dim) (like a one-hot matmul), not O(indices * embedding_dim)
as a gather in PyTorch: fine for small vocabularies, slow for large ones. Unlike a one-hot matmul, an inf or
NaN in one row does not spread to the other rows' results. An index outside [0, num_embeddings) raises
IndexError (tg-tensor's index rule: the indices are read back to check them; under `Context(CHECK_INDEX=0)`
they are not, and give zero vectors).
"""

from __future__ import annotations

from tg_tensor import Tensor
from tg_tensor.indexing import check_indices


class Embedding:
    """`weight[indices]`: weight (num_embeddings, embedding_dim), initialised from N(0, 1) as in PyTorch.

    With `padding_idx` that row starts at zeros and gets no gradient (its value is still looked up)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None) -> None:
        for what, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Embedding: {what} must be an int >= 0, got {v!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx={padding_idx} is out of range for num_embeddings={num_embeddings}"
                )
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        weight = Tensor.randn(num_embeddings, embedding_dim)
        if padding_idx is not None:
            weight = self._row_mask(padding_idx).where(0.0, weight)  # zero the padding row
        self.weight = weight

    def _row_mask(self, padding_idx: int) -> Tensor:
        """(num_embeddings, 1): True on the padding row."""
        return Tensor.arange(self.num_embeddings).reshape(self.num_embeddings, 1) == padding_idx

    def __repr__(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"

    def __call__(self, idx: Tensor) -> Tensor:
        """The rows of weight named by the integer tensor `idx`: shape (*idx.shape, embedding_dim)."""
        if not isinstance(idx, Tensor):
            raise TypeError(f"{self!r}: indices must be an integer Tensor, got {type(idx).__name__}")
        if not idx.dtype.is_int:
            raise TypeError(
                f"{self!r}: indices must be an integer tensor, got dtype {idx.dtype!r} of shape {idx.shape}"
            )
        check_indices(idx, self.num_embeddings, repr(self), "num_embeddings", negative=False)
        w = self.weight
        if self.padding_idx is not None:  # the padding row's value is read through a detached copy: no gradient
            w = self._row_mask(self.padding_idx).where(w.detach(), w)
        hit = idx.unsqueeze(-1) == Tensor.arange(self.num_embeddings, device=idx.device)  # (..., num_embeddings)
        return hit.unsqueeze(-1).where(w, 0.0).sum(-2)
