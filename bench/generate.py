"""Generation speed of the GPT decoder with a KV cache: tg (tg_nn.models.GPT, each token one TinyJit replay with
the position a bound Variable) against the same model in torch (its own preallocated KV cache, the same weights).

Run: python bench/generate.py [--tokens 120] [--repeats 3] [--threads 1] [--load gpt_fortunes.safetensors]

Both models decode greedily (the likeliest token, chosen on the host from the logits read back) from the same
prompt, one token per forward, through the cached path; the prompt goes through the same one-token step. The
weights are tg's random initialisation (or --load, e.g. the file examples/generate.py saves), copied into torch
through a safetensors file. Reported in one run: tokens/s of each (best and median of --repeats passes of
--tokens tokens, after a warm-up pass that compiles tg's kernels), their ratio (tg over torch: above 1, tg is
faster), whether the two produced the same tokens, the largest logit difference at the first step, and tg's
kernel compiles and schedules during the timed passes (both 0: every token is a replay). torch runs with
--threads threads; tg's CPU device uses the cores this process may run on (pin both with `taskset`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from tg_nn.models import GPT, GPTConfig  # noqa: E402
from tg_nn.state import get_state_dict, load_state_dict, safe_load, safe_save  # noqa: E402
from tg_runtime.counters import COUNTERS  # noqa: E402
from tg_schedule.schedule import SCHEDULES  # noqa: E402
from tg_tensor import Tensor, TinyJit  # noqa: E402
from tg_uop import UOp, Variable  # noqa: E402


class TorchBlock(torch.nn.Module):
    """tg_nn.models.gpt's Block in torch, with the same parameter names and a preallocated KV cache."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(cfg.dim), torch.nn.LayerNorm(cfg.dim)
        self.attn = torch.nn.Module()
        self.attn.qkv, self.attn.proj = torch.nn.Linear(cfg.dim, 3 * cfg.dim), torch.nn.Linear(cfg.dim, cfg.dim)
        self.mlp = torch.nn.Module()
        self.mlp.fc = torch.nn.Linear(cfg.dim, cfg.mlp_ratio * cfg.dim)
        self.mlp.proj = torch.nn.Linear(cfg.mlp_ratio * cfg.dim, cfg.dim)
        self.cache_k = torch.zeros(1, cfg.n_heads, cfg.context, cfg.head_dim)
        self.cache_v = torch.zeros(1, cfg.n_heads, cfg.context, cfg.head_dim)

    def forward(self, x: torch.Tensor, pos: int) -> torch.Tensor:
        b, t, dim = x.shape
        q, k, v = self.attn.qkv(self.ln_1(x)).reshape(b, t, 3, self.cfg.n_heads, self.cfg.head_dim).unbind(2)
        self.cache_k[:, :, pos : pos + t] = k.transpose(1, 2)
        self.cache_v[:, :, pos : pos + t] = v.transpose(1, 2)
        keys, values = self.cache_k[:, :, : pos + t], self.cache_v[:, :, : pos + t]
        out = F.scaled_dot_product_attention(q.transpose(1, 2), keys, values, is_causal=t > 1 and pos == 0)
        x = x + self.attn.proj(out.transpose(1, 2).reshape(b, t, dim))
        return x + self.mlp.proj(F.gelu(self.mlp.fc(self.ln_2(x)), approximate="tanh"))


class TorchGPT(torch.nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(cfg.vocab_size, cfg.dim), torch.nn.Embedding(cfg.context, cfg.dim)
        self.h = torch.nn.ModuleList(TorchBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_f, self.lm_head = torch.nn.LayerNorm(cfg.dim), torch.nn.Linear(cfg.dim, cfg.vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        x = self.wte(tokens) + self.wpe.weight[pos : pos + tokens.shape[1]]
        for block in self.h:
            x = block(x, pos)
        return self.lm_head(self.ln_f(x))


def tg_decoder(model: GPT) -> Callable[[int, int], np.ndarray]:
    start = Variable("start_pos", 0, model.config.context - 1)

    @TinyJit
    def step(token: Tensor, start_pos: UOp) -> Tensor:
        return model(token, start_pos)[0, -1].realize()

    return lambda token, pos: step(Tensor([[token]]), start.bind(pos)).numpy()


def torch_decoder(model: TorchGPT) -> Callable[[int, int], np.ndarray]:
    def decode(token: int, pos: int) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.tensor([[token]]), pos)[0, -1].numpy()

    return decode


def greedy(decode: Callable[[int, int], np.ndarray], prompt: list[int], n: int) -> tuple[list[int], float]:
    """The prompt's greedy continuation of `n` tokens and the seconds it took."""
    start, out = time.perf_counter(), list(prompt)
    for pos in range(len(prompt) + n - 1):
        logits = decode(out[pos], pos)
        if pos + 1 >= len(prompt):
            out.append(int(logits.argmax()))
    return out[len(prompt) :], time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=120, help="new tokens per pass (prompt + tokens <= context)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch's intra-op threads")
    p.add_argument("--load", default=None, help="weights to load (examples/generate.py's file); default random")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=128)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = GPTConfig(256, args.context, args.dim, args.layers, args.heads)
    prompt = list(b"The ")
    if len(prompt) + args.tokens > cfg.context:
        raise SystemExit(f"--tokens {args.tokens}: the prompt and the tokens must fit the context {cfg.context}")

    Tensor.manual_seed(0)
    tg_model = GPT(cfg)
    with tempfile.TemporaryDirectory() as d:
        path = args.load or str(Path(d) / "gpt.safetensors")
        if args.load:
            load_state_dict(tg_model, safe_load(args.load))
        else:
            safe_save(get_state_dict(tg_model), path)
        torch_model = TorchGPT(cfg).eval()
        torch_model.load_state_dict(load_file(path), strict=True)
    tg_decode, torch_decode = tg_decoder(tg_model), torch_decoder(torch_model)
    diff = np.abs(tg_decode(prompt[0], 0) - torch_decode(prompt[0], 0)).max()
    print(f"{cfg}; torch {torch.__version__} with {args.threads} thread(s); first-step logits differ by {diff:.2e}")

    t0 = time.perf_counter()
    tg_tokens, _ = greedy(tg_decode, prompt, args.tokens)  # warm-up: tg compiles and captures here
    print(f"tg warm-up pass (compiles, TinyJit capture): {time.perf_counter() - t0:.1f} s")
    greedy(torch_decode, prompt, args.tokens)
    rates: dict[str, list[float]] = {"tg": [], "torch": []}
    before, misses = COUNTERS.snapshot(), SCHEDULES.misses
    for _ in range(args.repeats):  # alternating, so a change of load hits both alike
        for name, decode in (("tg", tg_decode), ("torch", torch_decode)):
            got, took = greedy(decode, prompt, args.tokens)
            rates[name].append(args.tokens / took)
            if name == "torch":
                same = sum(a == b for a, b in zip(got, tg_tokens, strict=True))
    counts = COUNTERS.since(before)
    for name, r in rates.items():
        print(f"{name:6s} {max(r):8.1f} tokens/s best, {statistics.median(r):8.1f} median of {args.repeats}")
    ratio_best, ratio_median = (
        max(rates["tg"]) / max(rates["torch"]),
        statistics.median(rates["tg"]) / statistics.median(rates["torch"]),
    )
    print(f"tg / torch: {ratio_best:.2f}x (best), {ratio_median:.2f}x (median)")
    print(f"same greedy tokens: {same} of {args.tokens}")
    print(
        f"tg during the timed passes: {counts.compiles} compiles, {SCHEDULES.misses - misses} schedules, "
        f"{counts.launches / (args.repeats * (len(prompt) + args.tokens - 1)):.0f} kernel launches per token"
    )


if __name__ == "__main__":
    main()
