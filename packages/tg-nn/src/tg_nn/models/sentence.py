"""`SentenceEncoder`: a sentence-transformers model directory (BERT + pooling + normalization) run by tg.

    enc = SentenceEncoder.from_dir(minilm_dir())
    emb = enc.encode(["A man is eating food.", "A man rides a horse."])  # (2, 384) float32, L2-normalized

Variable lengths: texts are sorted by length and cut into batches; each batch is padded to a bucket length
(16, 32, 64, ... up to the model's maximum) and to `batch_size` rows, so each (rows, bucket) shape is compiled
once and then comes from the schedule and compile caches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tg_nn.models.bert import BertModel
from tg_nn.models.config import BertConfig, read_json
from tg_nn.models.pooling import Pooling
from tg_nn.models.tokenizer import Batch, TextTokenizer
from tg_nn.state import load_state_dict, safe_load
from tg_tensor import Tensor

MIN_BUCKET = 16
# buffers HF keeps in some files but that are no parameters (position_ids is arange(max_position_embeddings))
_NON_PARAMETERS = ("embeddings.position_ids",)


def bucket_length(n: int, max_length: int) -> int:
    """The padded length for `n` tokens: the next power of two from 16 on, at most `max_length`.

    >>> [bucket_length(n, 256) for n in (1, 16, 17, 100, 256)]
    [16, 16, 32, 128, 256]
    """
    b = MIN_BUCKET
    while b < n:
        b *= 2
    return min(b, max_length)


def load_bert(directory: str | os.PathLike[str], device: str | None = None) -> BertModel:
    """A `BertModel` from a Hugging Face directory (`config.json` and `model.safetensors`), loaded strictly: a
    missing, unexpected or mis-shaped tensor raises a `ValueError` naming the weight file and the tensors."""
    d = Path(directory)
    cfg = BertConfig.from_file(d / "config.json")
    weights = d / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: weight file not found")
    state = safe_load(weights, device)
    model = BertModel(cfg, add_pooling_layer=any(k.startswith("pooler.") for k in state))
    for k in _NON_PARAMETERS:
        state.pop(k, None)
    try:
        load_state_dict(model, state)
    except ValueError as e:
        raise ValueError(f"{weights}: the weights do not fit the model of {d / 'config.json'}: {e}") from None
    model.store_transposed()
    return model


def _modules(d: Path) -> tuple[str, bool]:
    """The pooling directory and whether a Normalize module follows, from sentence-transformers' modules.json."""
    f = d / "modules.json"
    if not f.is_file():
        return "1_Pooling", False
    mods = read_json(f, "modules", list)
    try:
        types = [str(m["type"]).rsplit(".", 1)[-1] for m in mods]
        pool_dir = next(str(m["path"]) for m, t in zip(mods, types, strict=True) if t == "Pooling")
    except (KeyError, TypeError, StopIteration):
        raise ValueError(f"{f}: modules file must list a Pooling module with a path") from None
    return pool_dir, "Normalize" in types


def _max_length(d: Path, cfg: BertConfig) -> int:
    """sentence-transformers' `max_seq_length` (sentence_bert_config.json), else the position table's size."""
    f = d / "sentence_bert_config.json"
    n = read_json(f, "sentence-transformers config").get("max_seq_length") if f.is_file() else None
    if n is None:
        return cfg.max_position_embeddings
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= cfg.max_position_embeddings:
        raise ValueError(f"{f}: max_seq_length must be an int in [1, {cfg.max_position_embeddings}], got {n!r}")
    return n


class SentenceEncoder:
    """Text -> sentence embeddings: tokenizer, BERT encoder and pooling of one sentence-transformers model."""

    def __init__(self, tokenizer: TextTokenizer, model: BertModel, pooling: Pooling) -> None:
        self.tokenizer, self.model, self.pooling = tokenizer, model, pooling

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.tokenizer!r}, {self.pooling!r})"

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str], device: str | None = None) -> SentenceEncoder:
        """Load a sentence-transformers directory: config.json, model.safetensors, tokenizer.json, modules.json,
        the pooling config and sentence_bert_config.json. Every bad file raises an error naming it."""
        d = Path(directory)
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: model directory not found")
        model = load_bert(d, device)
        pool_dir, normalize = _modules(d)
        pooling = Pooling.from_file(d / pool_dir / "config.json", normalize)
        return cls(TextTokenizer(d / "tokenizer.json", _max_length(d, model.config)), model, pooling)

    def embed_batch(self, batch: Batch) -> Tensor:
        """The (rows, hidden) embeddings of one tokenized batch (lazy: realize or read them)."""
        tokens = self.model(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        mask = Tensor(batch.attention_mask.astype(np.int32), device=tokens.device)
        return self.pooling(tokens, mask)

    def encode(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        progress: Callable[[int], object] | None = None,
    ) -> np.ndarray:
        """The embeddings of `texts` as a (len(texts), hidden) float32 array, in the texts' order.

        Texts are sorted by length and batched `batch_size` at a time; each batch is padded to
        `bucket_length` of its longest text and to `batch_size` rows. `progress(n)` is called after each batch
        with the number of texts it held (e.g. a tqdm bar's `update`)."""
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{self!r}: encode takes strings")
        if batch_size < 1:
            raise ValueError(f"{self!r}: batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        lengths = self.tokenizer.lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            length = bucket_length(lengths[idx[0]], self.tokenizer.max_length)
            batch = self.tokenizer.encode([texts[i] for i in idx], length, batch_size)
            out[idx] = self.embed_batch(batch).numpy()[: len(idx)]
            if progress is not None:
                progress(len(idx))
        return out
