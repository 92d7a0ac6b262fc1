"""`BertModel`: the BERT encoder (Devlin et al. 2018) as Hugging Face's `BertModel`, with its parameter names.

>>> import numpy as np
>>> from tg_nn.models.bert import BertModel
>>> from tg_nn.models.config import BertConfig
>>> cfg = BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
>>> BertModel(cfg)(np.array([[2, 5, 3]]), np.array([[1, 1, 1]])).shape
(1, 3, 8)

Post-norm layers: `x = LayerNorm(x + Attention(x))`, `x = LayerNorm(x + FFN(x))` with GELU (exact, erf) in the
FFN. `get_state_dict(model)` has the names of HF's safetensors files (`encoder.layer.0.attention.self.query.weight`
...), so `load_state_dict` reads them directly.

Two detours around what tg does slowly today, neither of which can serve stale weights after a new load:
- the word embedding is looked up on the host, by numpy indexing into a copy of the table (one copy of 47 MB
  per call): tg's device lookups (`Embedding`, `gather`) compare every index with the whole vocabulary, which
  for BERT's 30522 words costs more than the rest of the model;
- `BertModel.store_transposed()` (which `load_bert` calls) keeps each dense (out, in) weight as a view of an
  (in, out) buffer:
  `x @ weight.T` then reads contiguous rows, where from the (out, in) layout tg's matmul reads strided columns,
  about 6x slower on the CPU. Loading into such a weight writes through the view, so the layout stays.
"""

from __future__ import annotations

import math

import numpy as np

from tg_nn.embedding import Embedding
from tg_nn.linear import Linear, store_transposed
from tg_nn.models.config import BertConfig
from tg_nn.norm import LayerNorm
from tg_tensor import Tensor
from tg_tensor.helpers import to_np_dtype


def _activation(x: Tensor, name: str) -> Tensor:
    if name == "gelu":
        return x.gelu()
    if name == "relu":
        return x.relu()
    return x.gelu(approximate="tanh")  # gelu_new and gelu_pytorch_tanh


class BertEmbeddings:
    """word + position + token type embeddings, then LayerNorm."""

    def __init__(self, cfg: BertConfig) -> None:
        self.word_embeddings = Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self._host_table: np.ndarray | None = None  # where the word table is copied to

    def word_vectors(self, input_ids: np.ndarray) -> Tensor:
        """The word embeddings of `input_ids` (batch, length), gathered on the host."""
        w = self.word_embeddings.weight
        if self._host_table is None or self._host_table.shape != w.shape:
            self._host_table = np.empty(w.shape, dtype=to_np_dtype(w.dtype))
        table = self._host_table
        w.buffer().copyout(table.data.cast("B"))
        if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= len(table)):
            raise ValueError(
                f"BertEmbeddings: token ids must be in [0, {len(table)}), got {input_ids.min()}..{input_ids.max()}"
            )
        return Tensor(table[input_ids], device=w.device)

    def __call__(self, input_ids: np.ndarray, token_type_ids: np.ndarray) -> Tensor:
        length = input_ids.shape[1]
        if length > self.position_embeddings.num_embeddings:
            raise ValueError(f"BertEmbeddings: {length} tokens, at most {self.position_embeddings.num_embeddings}")
        x = self.word_vectors(input_ids) + self.position_embeddings.weight[:length]
        types = self.token_type_embeddings.weight
        n_types = self.token_type_embeddings.num_embeddings
        if token_type_ids.size and (token_type_ids.min() < 0 or token_type_ids.max() >= n_types):
            raise ValueError(
                f"BertEmbeddings: token type ids must be in [0, {n_types}), "
                f"got {token_type_ids.min()}..{token_type_ids.max()}"
            )
        if n_types > 1 and token_type_ids.any():
            x = x + self.token_type_embeddings(Tensor(token_type_ids.astype(np.int32), device=types.device))
        else:  # all sentences of type 0 (the usual case): one row, broadcast
            x = x + types[0]
        return self.LayerNorm(x)


class BertSelfAttention:
    def __init__(self, cfg: BertConfig) -> None:
        self.heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.query, self.key, self.value = (Linear(cfg.hidden_size, cfg.hidden_size) for _ in range(3))

    def __call__(self, x: Tensor, keep: Tensor) -> Tensor:
        """x (batch, length, hidden); keep (batch, 1, 1, length) bool: the keys that are real tokens."""
        b, n, _ = x.shape

        def split(t: Tensor) -> Tensor:
            return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        out = q.scaled_dot_product_attention(k, v, attn_mask=keep, scale=1 / math.sqrt(self.head_dim))
        return out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)


class BertAddNorm:
    """`LayerNorm(residual + dense(x))`: HF's `BertSelfOutput` and `BertOutput`."""

    def __init__(self, cfg: BertConfig, in_features: int) -> None:
        self.dense = Linear(in_features, cfg.hidden_size)
        self.LayerNorm = LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def __call__(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention:
    def __init__(self, cfg: BertConfig) -> None:
        self.self = BertSelfAttention(cfg)
        self.output = BertAddNorm(cfg, cfg.hidden_size)

    def __call__(self, x: Tensor, keep: Tensor) -> Tensor:
        return self.output(self.self(x, keep), x)


class BertIntermediate:
    def __init__(self, cfg: BertConfig) -> None:
        self.dense = Linear(cfg.hidden_size, cfg.intermediate_size)
        self.act = cfg.hidden_act

    def __call__(self, x: Tensor) -> Tensor:
        return _activation(self.dense(x), self.act)


class BertLayer:
    """One post-norm transformer layer: attention, then the feed-forward block, each with residual and LayerNorm."""

    def __init__(self, cfg: BertConfig) -> None:
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertAddNorm(cfg, cfg.intermediate_size)

    def __call__(self, x: Tensor, keep: Tensor) -> Tensor:
        h = self.attention(x, keep)
        return self.output(self.intermediate(h), h)


class BertEncoder:
    def __init__(self, cfg: BertConfig) -> None:
        self.layer = [BertLayer(cfg) for _ in range(cfg.num_hidden_layers)]

    def __call__(self, x: Tensor, keep: Tensor) -> Tensor:
        for layer in self.layer:
            x = layer(x, keep)
        return x


class BertPooler:
    """tanh(dense(first token)): HF's pooler, kept so that its weights load; sentence embeddings do not use it."""

    def __init__(self, cfg: BertConfig) -> None:
        self.dense = Linear(cfg.hidden_size, cfg.hidden_size)

    def __call__(self, x: Tensor) -> Tensor:
        return self.dense(x[:, 0]).tanh()


class BertModel:
    """The BERT encoder: `model(input_ids, attention_mask)` -> the last hidden states (batch, length, hidden).

    Inputs are numpy integer arrays (batch, length) as a tokenizer gives them; `attention_mask` is 1 on real
    tokens and 0 on padding (padded keys get no attention; padded positions' outputs are meaningless)."""

    def __init__(self, cfg: BertConfig, add_pooling_layer: bool = True) -> None:
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        self.pooler = BertPooler(cfg) if add_pooling_layer else None

    def __repr__(self) -> str:
        return f"BertModel({self.config})"

    def linears(self) -> list[Linear]:
        """The dense layers, in order."""
        out = []
        for layer in self.encoder.layer:
            att = layer.attention
            out += [att.self.query, att.self.key, att.self.value, att.output.dense, layer.intermediate.dense]
            out.append(layer.output.dense)
        return out + ([self.pooler.dense] if self.pooler is not None else [])

    def store_transposed(self) -> None:
        """Keep each dense weight (out, in) as a transposed view of an (in, out) buffer, realized (see the module's
        docstring): same Tensor objects, shapes and values; loading into them later keeps this layout."""
        store_transposed(self.linears())

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None = None
    ) -> Tensor:
        input_ids, attention_mask = np.asarray(input_ids), np.asarray(attention_mask)
        if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"{self!r}: input_ids {input_ids.shape}, attention_mask {attention_mask.shape}: need equal 2-d shapes"
            )
        types = np.zeros_like(input_ids) if token_type_ids is None else np.asarray(token_type_ids)
        x = self.embeddings(input_ids, types)
        keep = Tensor(attention_mask.astype(bool), device=x.device).reshape(input_ids.shape[0], 1, 1, -1)
        return self.encoder(x, keep)
