"""Sentence-embedding speed of all-MiniLM-L6-v2: tg (tg_nn.models) against sentence-transformers on torch CPU.

Run: python bench/embed.py [--batches 8] [--repeats 5] [--threads 2] [--warm-cache]

Both encode the same realistic sentences (8 to 40 words, about 10 to 55 tokens) in batches of 32 through
`encode(texts, batch_size=32)`: tokenization, padding, the encoder, pooling and normalization, back to numpy.
Reported, in one run:
- first-call latency: the first `encode` of one batch of 32 after loading the model; for tg that includes
  compiling its kernels (into an empty compile cache unless --warm-cache), for torch its first-call set-up;
- throughput: sentences/s over `--batches` batches after a warm-up pass (which compiles every length bucket),
  best and median of `--repeats` passes.
torch runs with `--threads` threads; tg's CPU device uses the cores this process may run on (run the script
under `taskset -c 0,1` to give both 2 cores on a larger machine). Ratios are tg over torch (above 1: tg faster).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# bench/ itself off the path: bench/kernels.py would shadow the `kernels` package that transformers imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

from tg_nn.models import SentenceEncoder, minilm_dir  # noqa: E402
from tg_runtime.device import Device  # noqa: E402

SUBJECTS = ["A man", "The young woman", "Our team", "The committee", "A small dog", "The new government",
            "My neighbour", "The research group", "A local bakery", "The orchestra"]  # fmt: skip
VERBS = ["announced", "is playing", "carefully reviewed", "quickly rejected", "has been preparing",
         "will present", "enjoyed", "described in detail"]  # fmt: skip
OBJECTS = ["the results of the annual survey", "a piece of music by Bach", "the proposal for a new bridge",
           "fresh bread and pastries", "the budget for next year", "a long walk in the park",
           "the safety rules of the factory", "an article about climate change"]  # fmt: skip
TAILS = ["", "yesterday", "after a long discussion", "in front of a large audience", "despite the heavy rain",
         "because the deadline was close", "while everyone was waiting outside in the cold morning air",
         "and then asked several questions about costs, schedules, risks and the expected benefits"]  # fmt: skip


def sentences(n: int, seed: int = 0) -> list[str]:
    """`n` realistic sentences of varied length (about 8 to 40 words)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS)]
        if rng.random() < 0.3:
            parts += ["and", rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS)]
        out.append(" ".join(p for p in parts if p) + ".")
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(name: str, encode: Callable[[list[str]], object], texts: list[str], repeats: int) -> dict[str, float]:
    first = timed(lambda: encode(texts[:32]))
    warm = timed(lambda: encode(texts))  # compiles / warms every length bucket
    rates = [len(texts) / timed(lambda: encode(texts)) for _ in range(repeats)]
    print(f"{name:>6}: first call {first:7.2f} s | warm-up pass {warm:6.2f} s | sentences/s "
          f"best {max(rates):7.1f}, median {statistics.median(rates):7.1f}, worst {min(rates):7.1f}")  # fmt: skip
    return {"first": first, "best": max(rates), "median": statistics.median(rates), "worst": min(rates)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch's threads")
    p.add_argument("--warm-cache", action="store_true", help="keep tg's compile cache (default: an empty one)")
    args = p.parse_args()
    if not args.warm_cache:  # tg-runtime reads it when it compiles
        os.environ["TG_CACHE_DIR"] = tempfile.mkdtemp(prefix="tg-bench-embed-")

    texts = sentences(32 * args.batches)
    model_dir = minilm_dir()
    tg = SentenceEncoder.from_dir(model_dir)
    lengths = tg.tokenizer.lengths(texts)
    print(f"{len(texts)} sentences, {min(lengths)}-{max(lengths)} tokens (mean {np.mean(lengths):.1f}), batches of "
          f"32; tg on {Device.DEFAULT} with {len(os.sched_getaffinity(0))} cores, torch {torch.__version__} with "
          f"{args.threads} threads")  # fmt: skip
    torch.set_num_threads(args.threads)
    st = SentenceTransformer(str(model_dir), device="cpu")
    got = measure("tg", lambda t: tg.encode(t, batch_size=32), texts, args.repeats)
    ref = measure("torch", lambda t: st.encode(t, batch_size=32, convert_to_numpy=True), texts, args.repeats)
    diff = np.abs(tg.encode(texts[:32]) - st.encode(texts[:32], convert_to_numpy=True)).max()
    speed = f"{got['best'] / ref['best']:.2f}x (best), {got['median'] / ref['median']:.2f}x (median)"
    print(f"tg / torch: throughput {speed}; first call {got['first'] / ref['first']:.1f}x torch's time; "
          f"max |tg - torch| = {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
