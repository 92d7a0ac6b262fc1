"""`Pooling`: token embeddings to one sentence embedding, as sentence-transformers' `Pooling` module says.

>>> from tg_tensor import Tensor
>>> from tg_nn.models.pooling import Pooling
>>> Pooling("mean")(Tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]]), Tensor([[1, 1, 0]])).tolist()
[[2.0, 3.0]]
"""

from __future__ import annotations

import os

from tg_nn.models.config import read_json
from tg_tensor import Tensor

# sentence-transformers' config keys of each mode
_KEYS = {
    "mean": "pooling_mode_mean_tokens",
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
}
_MODES = tuple(_KEYS)


class Pooling:
    """`mean` (over the real tokens), `cls` (the first token), `max` or `mean_sqrt_len`; then, with `normalize`,
    each embedding divided by its L2 norm (at least 1e-12, as `torch.nn.functional.normalize`)."""

    def __init__(self, mode: str = "mean", normalize: bool = False) -> None:
        if mode not in _MODES:
            raise ValueError(f"Pooling: mode {mode!r} is not one of {_MODES}")
        self.mode, self.normalize = mode, normalize

    def __repr__(self) -> str:
        return f"Pooling({self.mode!r}, normalize={self.normalize})"

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], normalize: bool = False) -> Pooling:
        """The mode of a sentence-transformers `1_Pooling/config.json` (exactly one `pooling_mode_*` true)."""
        d = read_json(path, "pooling config")
        modes = [m for m, key in _KEYS.items() if d.get(key) is True]
        others = [k for k, v in d.items() if k.startswith("pooling_mode") and v is True and k not in _KEYS.values()]
        if len(modes) != 1 or others:
            chosen = sorted(k for k, v in d.items() if k.startswith("pooling_mode") and v is True)
            raise ValueError(
                f"{os.fspath(path)}: pooling config must set exactly one of {list(_KEYS.values())}, sets {chosen}"
            )
        return cls(modes[0], normalize)

    def __call__(self, tokens: Tensor, attention_mask: Tensor) -> Tensor:
        """tokens (batch, length, hidden), attention_mask (batch, length) of 0/1 -> (batch, hidden)."""
        mask = attention_mask.cast(tokens.dtype).unsqueeze(-1)
        if self.mode == "cls":
            out = tokens[:, 0]
        elif self.mode == "max":
            out = (mask > 0).where(tokens, -1e9).max(1)
        else:
            count = mask.sum(1).maximum(1e-9)
            out = (tokens * mask).sum(1) / (count.sqrt() if self.mode == "mean_sqrt_len" else count)
        if self.normalize:
            out = out / (out * out).sum(-1, keepdim=True).sqrt().maximum(1e-12)
        return out
