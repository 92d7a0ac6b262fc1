"""`TextTokenizer`: sentences to token ids with the `tokenizers` package, from a model's `tokenizer.json`.

`tokenizers` is an optional dependency (extra `tg-nn[text]`): this module imports without it and says how to
install it when a tokenizer is made.

>>> from tg_nn.models.tokenizer import tokenizers_available
>>> isinstance(tokenizers_available(), bool)
True
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

try:
    import tokenizers

    TOKENIZERS: ModuleType | None = tokenizers
except ImportError:  # optional: only text models need it
    TOKENIZERS = None


def tokenizers_available() -> bool:
    """Whether the `tokenizers` package is installed."""
    return TOKENIZERS is not None


class Batch(NamedTuple):
    """Token ids, attention mask and token types, each (batch, length) int64, padded on the right."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray


class TextTokenizer:
    """The tokenizer of `tokenizer.json`, truncating each text to `max_length` tokens (special tokens included)
    from the right, as sentence-transformers does; padding is left to `pad`."""

    def __init__(self, path: str | os.PathLike[str], max_length: int) -> None:
        if TOKENIZERS is None:
            raise ModuleNotFoundError("TextTokenizer needs the `tokenizers` package: pip install 'tg-nn[text]'")
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: tokenizer file not found")
        try:
            tok: Any = TOKENIZERS.Tokenizer.from_file(str(p))
        except Exception as e:  # the Rust library raises its own exception type for every parse failure
            raise ValueError(f"{p}: tokenizer file does not parse: {e}") from None
        tok.no_padding()
        tok.enable_truncation(max_length)
        self.path, self.max_length, self._tok = p, max_length, tok
        self.pad_id = tok.token_to_id("[PAD]") or 0

    def __repr__(self) -> str:
        return f"TextTokenizer({str(self.path)!r}, max_length={self.max_length})"

    def lengths(self, texts: list[str]) -> list[int]:
        """The number of tokens of each text after truncation."""
        return [len(e.ids) for e in self._tok.encode_batch(texts)]

    def encode(self, texts: list[str], length: int | None = None, rows: int | None = None) -> Batch:
        """The texts' tokens padded to `length` tokens (default: the longest) and `rows` rows (default: one per
        text; extra rows hold one padding token that is attended to, so that no row is fully masked)."""
        encs = self._tok.encode_batch(texts)
        n = max((len(e.ids) for e in encs), default=1)
        length, rows = length or n, rows or len(texts)
        if n > length or len(texts) > rows:
            raise ValueError(f"{self!r}: {len(texts)} texts of up to {n} tokens do not fit {rows} x {length}")
        ids = np.full((rows, length), self.pad_id, dtype=np.int64)
        mask = np.zeros((rows, length), dtype=np.int64)
        types = np.zeros((rows, length), dtype=np.int64)
        mask[len(texts) :, 0] = 1
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)], mask[i, : len(e.ids)], types[i, : len(e.ids)] = e.ids, e.attention_mask, e.type_ids
        return Batch(ids, mask, types)
