"""`BertConfig`: the hyperparameters of a BERT encoder, read from a Hugging Face `config.json`.

>>> from tg_nn.models.config import BertConfig
>>> cfg = BertConfig(hidden_size=384, num_attention_heads=12, num_hidden_layers=6, intermediate_size=1536)
>>> cfg.head_dim
32

Only what the encoder uses is kept; the file's other keys (dropout rates, `architectures`, ...) are ignored.
Every problem is a `ValueError` naming the file, so a broken download is told apart from a broken model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder: sizes, layer count, activation and LayerNorm epsilon (HF's names)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type == "int" and (
                not isinstance(v, int) or isinstance(v, bool) or v <= 0 and f.name != "pad_token_id"
            ):
                raise ValueError(f"BertConfig: {f.name} must be a positive int, got {v!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig: hidden_size {self.hidden_size} is not a multiple of "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_act not in ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu"):
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r} is not supported")

    @property
    def head_dim(self) -> int:
        """The size of one attention head."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BertConfig:
        """The config from the keys of a parsed `config.json` (unknown keys ignored)."""
        if d.get("model_type", "bert") != "bert":
            raise ValueError(f"BertConfig: model_type is {d.get('model_type')!r}, not 'bert'")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"BertConfig: position_embedding_type {d['position_embedding_type']!r} is not supported")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BertConfig:
        """Read a Hugging Face `config.json`; a missing, unparsable or invalid file raises a `ValueError` naming it."""
        d = read_json(path, "model config")
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{os.fspath(path)}: invalid model config: {e}") from None


def read_json(path: str | os.PathLike[str], what: str, expect: type = dict) -> Any:
    """The JSON value of `path`, of type `expect` (an object by default); `FileNotFoundError` or `ValueError`
    naming the file and `what` it should hold."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: {what} file not found")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{p}: {what} file does not parse as JSON: {e}") from None
    if not isinstance(d, expect):
        kind = "an object" if expect is dict else f"a {expect.__name__}"
        raise ValueError(f"{p}: {what} file must hold a JSON {kind}, not {type(d).__name__}")
    return d
