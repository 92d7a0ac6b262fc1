"""`GPT`: a small GPT-style decoder (Radford et al. 2019) with a KV cache for generation token by token.

>>> from tg_tensor import Tensor
>>> from tg_nn.models.gpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=16, context=8, dim=8, n_layers=1, n_heads=2))
>>> model(Tensor([[1, 2, 3]])).shape  # the full forward: logits at every position
(1, 3, 16)
>>> model(Tensor([[1, 2]]), start_pos=0).shape  # the cached forward: writes positions 0, 1 of the cache
(1, 2, 16)
>>> model(Tensor([[3]]), start_pos=2).shape  # then one token at position 2, reading the cache
(1, 1, 16)

Pre-norm blocks as GPT-2: `x + Attention(LayerNorm(x))`, `x + MLP(LayerNorm(x))` (GELU, tanh form), a final
LayerNorm and an untied output layer. Token and learned position embeddings start from N(0, 0.02^2). The dense
weights are stored transposed (`tg_nn.linear.store_transposed`): decoding one token multiplies a single row by
each weight, several times faster from that layout.

Two forwards with the same weights:
- `model(tokens)`: the full recomputation, causal self-attention over the tokens given (training, and the
  reference the cached path is tested against);
- `model(tokens, start_pos)`: the tokens are positions `start_pos`.. of a sequence whose earlier positions went
  through the cached forward before; each layer writes its keys and values into its `KVCache` (preallocated for
  `context` positions, created at the first cached call and again when the batch size changes) and attends to
  the cache. See `tg_nn.models.kv_cache` for what `start_pos` may be.
"""

from __future__ import annotations

import dataclasses

from tg_nn.embedding import Embedding
from tg_nn.linear import Linear, store_transposed
from tg_nn.models.kv_cache import KVCache, Position, check_position
from tg_nn.norm import LayerNorm
from tg_tensor import Tensor


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Vocabulary, context length (positions, and the KV cache's size), width, depth and heads."""

    vocab_size: int = 256  # bytes
    context: int = 128  # positions: the longest sequence, and the KV cache's length
    dim: int = 128  # the width of the residual stream
    n_layers: int = 4
    n_heads: int = 4  # dim / n_heads per head
    mlp_ratio: int = 4  # the MLP's hidden width over dim

    def __post_init__(self) -> None:
        values = dataclasses.asdict(self)
        if bad := {k: v for k, v in values.items() if type(v) is not int or v <= 0}:
            raise ValueError(f"GPTConfig: each size must be a positive int, got {bad}")
        if self.dim % self.n_heads:
            raise ValueError(f"GPTConfig: dim {self.dim} is not a multiple of n_heads {self.n_heads}")

    @property
    def head_dim(self) -> int:
        """The size of one attention head."""
        return self.dim // self.n_heads


class CausalSelfAttention:
    """Multi-head causal self-attention: one (dim, 3 * dim) projection to queries, keys and values, one back."""

    def __init__(self, cfg: GPTConfig) -> None:
        self.cfg = cfg
        self.qkv = Linear(cfg.dim, 3 * cfg.dim)
        self.proj = Linear(cfg.dim, cfg.dim)
        self.cache: KVCache | None = None

    def __call__(self, x: Tensor, start_pos: Position | None = None, realize_with: tuple[Tensor, ...] = ()) -> Tensor:
        """Attention over `x` (batch, T, dim); with `start_pos`, through the cache, realizing the cache writes, the
        queries and `realize_with` in one schedule."""
        b, t, dim = x.shape
        heads, hd = self.cfg.n_heads, self.cfg.head_dim
        qkv = self.qkv(x).reshape(b, t, 3, heads, hd)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # each (b, heads, t, hd)
        if start_pos is None:
            out = q.scaled_dot_product_attention(k, v, is_causal=True)
        else:
            if self.cache is None or self.cache.batch != b:
                self.cache = KVCache(b, heads, self.cfg.context, hd, device=x.device)
            keys, values, mask = self.cache.update(k, v, start_pos, q, *realize_with)
            out = q.scaled_dot_product_attention(keys, values, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, t, dim))


class MLP:
    """dim -> mlp_ratio * dim -> dim with GELU (tanh form) between."""

    def __init__(self, cfg: GPTConfig) -> None:
        self.fc = Linear(cfg.dim, cfg.mlp_ratio * cfg.dim)
        self.proj = Linear(cfg.mlp_ratio * cfg.dim, cfg.dim)

    def __call__(self, x: Tensor) -> Tensor:
        return self.proj(self.fc(x).gelu(approximate="tanh"))


class Block:
    """One pre-norm transformer block."""

    def __init__(self, cfg: GPTConfig) -> None:
        self.ln_1, self.attn = LayerNorm(cfg.dim), CausalSelfAttention(cfg)
        self.ln_2, self.mlp = LayerNorm(cfg.dim), MLP(cfg)

    def __call__(self, x: Tensor, start_pos: Position | None = None) -> Tensor:
        # the residual is realized with the cache writes: the later blocks' writes would compute it again
        x = x + self.attn(self.ln_1(x), start_pos, (x,))
        return x + self.mlp(self.ln_2(x))


class GPT:
    """`model(tokens)` or `model(tokens, start_pos)`: tokens (batch, T) integer ids -> logits (batch, T, vocab)."""

    def __init__(self, cfg: GPTConfig) -> None:
        self.config = cfg
        self.wte, self.wpe = Embedding(cfg.vocab_size, cfg.dim), Embedding(cfg.context, cfg.dim)
        self.wte.weight = Tensor.randn(cfg.vocab_size, cfg.dim) * 0.02
        self.wpe.weight = Tensor.randn(cfg.context, cfg.dim) * 0.02
        self.h = [Block(cfg) for _ in range(cfg.n_layers)]
        self.ln_f = LayerNorm(cfg.dim)
        self.lm_head = Linear(cfg.dim, cfg.vocab_size, bias=False)
        store_transposed(self.linears())

    def linears(self) -> list[Linear]:
        """The dense layers, in order."""
        return [d for b in self.h for d in (b.attn.qkv, b.attn.proj, b.mlp.fc, b.mlp.proj)] + [self.lm_head]

    def __repr__(self) -> str:
        return f"GPT({self.config})"

    def positions(self, t: int, start_pos: Position | None) -> Tensor:
        """The position embeddings (t, dim) of positions start_pos .. start_pos + t (0 .. t without a cache)."""
        first = 0 if start_pos is None else start_pos
        check_position(first, t, self.config.context, repr(self))
        return self.wpe.weight[first : first + t]

    def __call__(self, tokens: Tensor, start_pos: Position | None = None) -> Tensor:
        if tokens.ndim != 2:
            raise ValueError(f"{self!r}: tokens must be (batch, T), got shape {tokens.shape}")
        x = self.wte(tokens) + self.positions(tokens.shape[1], start_pos)
        for block in self.h:
            x = block(x, start_pos)
        return self.lm_head(self.ln_f(x))
