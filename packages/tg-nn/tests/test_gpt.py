"""The GPT decoder (tg_nn.models.gpt) and its KV cache: the cached forward, one token at a time through a TinyJit
with the position a bound Variable, gives the full recomputation's logits at every position and compiles and
schedules nothing after the first two tokens; a short training run lowers the loss."""

from __future__ import annotations

import numpy as np
import pytest

from tg_codegen import get_program
from tg_nn import optim
from tg_nn.models import GPT, ByteTokenizer, GPTConfig, KVCache
from tg_nn.state import get_parameters, get_state_dict, load_state_dict, safe_load, safe_save
from tg_runtime.counters import COUNTERS
from tg_schedule.schedule import SCHEDULES
from tg_tensor import Tensor, TinyJit
from tg_uop import UOp, Variable

CFG = GPTConfig(vocab_size=32, context=12, dim=16, n_layers=2, n_heads=2)


def tiny_model(seed: int = 0) -> GPT:
    Tensor.manual_seed(seed)
    return GPT(CFG)


def tokens(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, CFG.vocab_size, (batch, length)).astype(np.int32)


def jit_step(model: GPT) -> TinyJit:
    @TinyJit
    def step(token: Tensor, start_pos: UOp) -> Tensor:
        return model(token, start_pos).realize()

    return step


@pytest.mark.parametrize("batch", [1, 2])
def test_cached_steps_equal_the_full_recomputation_at_every_position(batch: int) -> None:
    model, ids = tiny_model(), tokens(batch, CFG.context)
    full = model(Tensor(ids)).numpy()  # (batch, context, vocab), no cache
    step, start = jit_step(model), Variable("start_pos", 0, CFG.context - 1)
    for pos in range(CFG.context):
        logits = step(Tensor(ids[:, pos : pos + 1]), start.bind(pos)).numpy()
        assert logits.shape == (batch, 1, CFG.vocab_size)
        np.testing.assert_allclose(logits[:, 0], full[:, pos], atol=1e-5, rtol=1e-5, err_msg=f"position {pos}")


def test_no_compile_and_no_schedule_after_the_first_two_tokens() -> None:
    model, ids = tiny_model(), tokens(1, CFG.context)
    step, start = jit_step(model), Variable("start_pos", 0, CFG.context - 1)
    step(Tensor(ids[:, :1]), start.bind(0))
    step(Tensor(ids[:, 1:2]), start.bind(1))
    before, misses = COUNTERS.snapshot(), SCHEDULES.misses
    for pos in range(2, CFG.context):
        step(Tensor(ids[:, pos : pos + 1]), start.bind(pos)).numpy()
    counts = COUNTERS.since(before)
    assert counts.compiles == 0
    assert SCHEDULES.misses == misses
    assert counts.launches > 0  # the replays did run kernels


def test_prompt_in_one_call_then_chunks_at_a_variable_position() -> None:
    model, ids = tiny_model(), tokens(2, CFG.context)
    full = model(Tensor(ids)).numpy()
    got = [model(Tensor(ids[:, :5]), 0).numpy()]  # the prompt at a concrete start: causal within it
    start = Variable("start_pos", 0, CFG.context - 3)
    for pos in (5, 8):
        got.append(model(Tensor(ids[:, pos : pos + 3]), start.bind(pos)).numpy())
    got.append(model(Tensor(ids[:, 11:12]), 11).numpy())
    np.testing.assert_allclose(np.concatenate(got, axis=1), full, atol=1e-5, rtol=1e-5)


def test_short_training_run_lowers_the_loss() -> None:
    model = tiny_model()
    ids = np.array(ByteTokenizer().encode("to be or not to be, that is the question. " * 4), np.int32) % 32
    x, y = Tensor(ids[None, : CFG.context].repeat(4, 0)), Tensor(ids[None, 1 : CFG.context + 1].repeat(4, 0))
    opt = optim.AdamW(get_parameters(model), lr=1e-2)

    @TinyJit
    def train_step(x: Tensor, y: Tensor) -> Tensor:
        opt.zero_grad()
        loss = model(x).reshape(-1, CFG.vocab_size).sparse_categorical_crossentropy(y.reshape(-1))
        loss.backward()
        Tensor.realize(loss, *opt.schedule_step())
        return loss

    with Tensor.train():
        losses = [train_step(x, y).item() for _ in range(15)]
    assert losses[-1] < 0.7 * losses[0], losses


def test_weights_round_trip_and_the_cache_is_not_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, ids = tiny_model(), tokens(1, 4)
    model(Tensor(ids), 0).realize()  # creates the caches
    names = list(get_state_dict(model))
    assert not any("cache" in n for n in names)
    safe_save(get_state_dict(model), tmp_path / "gpt.safetensors")
    other = tiny_model(seed=1)
    load_state_dict(other, safe_load(tmp_path / "gpt.safetensors"))
    np.testing.assert_array_equal(other(Tensor(ids)).numpy(), model(Tensor(ids)).numpy())


def test_positions_outside_the_context_are_refused() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="do not fit the context"):
        model(Tensor(tokens(1, 2)), CFG.context - 1)
    with pytest.raises(ValueError, match="Variable\\('sp', 0, 10\\)"):
        model(Tensor(tokens(1, 2)), Variable("sp", 0, CFG.context - 1).bind(3))
    with pytest.raises(ValueError, match="int or a bound Variable"):
        model(Tensor(tokens(1, 1)), Variable("sp", 0, 3))  # not bound
    with pytest.raises(ValueError, match="exceed|do not fit"):
        model(Tensor(tokens(1, CFG.context + 1)))
    with pytest.raises(ValueError, match="must both be"):
        KVCache(1, 2, 8, 4).update(Tensor.zeros(1, 2, 1, 3), Tensor.zeros(1, 2, 1, 3), 0)


def test_config_and_tokenizer_errors() -> None:
    with pytest.raises(ValueError, match="multiple of n_heads"):
        GPTConfig(dim=10, n_heads=4)
    with pytest.raises(ValueError, match="must be a positive int"):
        GPTConfig(context=0)
    tok = ByteTokenizer()
    assert tok.decode(tok.encode("Zippy's brain: ünïcode")) == "Zippy's brain: ünïcode"
    with pytest.raises(ValueError, match="in \\[0, 256\\)"):
        tok.decode([300])


def test_attention_times_values_indexes_without_division() -> None:
    # the decoder's softmax(q k) @ v over the cached positions 0..start_pos: the merged (heads, positions) index
    # divides by multiples of start_pos+1, which the symbolic rules must fold away (no per-element / or %)
    heads, ctx, hd = 4, 128, 32
    n = Variable("start_pos", 0, ctx - 1).bind(9) + 1
    cache = Tensor.rand(1, heads, ctx, hd).realize()
    weights = Tensor.rand(1, heads, 1, ctx).realize()[:, :, :, :n].softmax(-1)
    out = weights @ cache[:, :, :n, :]
    srcs = [get_program(item.ast, "CPU").src for item in out.schedule()]
    body = [s for s in srcs if "start_pos" in s and "data2" in s and "exp" not in s]
    assert body, srcs
    assert not any("/" in line or "%" in line for s in body for line in s.splitlines() if "data" in line), body
    np.testing.assert_allclose(out.numpy(), weights.numpy() @ cache.numpy()[:, :, :10], atol=1e-5, rtol=1e-5)
