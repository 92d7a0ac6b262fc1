"""Train a small GPT-style decoder on Debian's fortunes, then generate text from a prompt, token by token, with
a KV cache.

Run: python examples/generate.py [--minutes 3] [--steps 300] [--prompt "The "] [--tokens 200]
     python examples/generate.py --load gpt_fortunes.safetensors --prompt "Life is"   (no training)

The corpus is the `fortune` program's quotations (/usr/share/games/fortunes, Debian's `fortunes` package,
about 2.5 MB of text; `tg_nn.datasets.fortunes()`), each ended by a line `%` as in the data files. Tokens are
UTF-8 bytes (`tg_nn.models.ByteTokenizer`). Training uses the main job's machinery (AdamW, a one-cycle
learning rate, one TinyJit step: forward, backward and update in one schedule) until --steps steps or --minutes
minutes, whichever comes first; the weights are saved with `safe_save`. Generation runs the cached forward one
token at a time: each step is one TinyJit replay with the position as its argument, so after the first two
tokens no kernel is compiled (the script prints the count) and no graph is scheduled.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from progress import Progress  # examples/progress.py: tqdm's bar on a terminal, plain lines in a log

from tg_nn import lr_scheduler, optim
from tg_nn.datasets import fortunes
from tg_nn.models import GPT, ByteTokenizer, GPTConfig
from tg_nn.state import get_parameters, get_state_dict, load_state_dict, safe_load, safe_save
from tg_runtime.counters import COUNTERS
from tg_schedule.schedule import SCHEDULES
from tg_tensor import Tensor, TinyJit, no_grad
from tg_uop import UOp, Variable

SEPARATOR = "\n%\n"  # what ends every quotation in the data files: the model learns to end one


def corpus(tok: ByteTokenizer, held_out: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The quotations as one byte stream, split into training and validation tokens (the last `held_out`)."""
    ids = np.array(tok.encode("".join(f + SEPARATOR for f in fortunes())), dtype=np.int32)
    cut = int(len(ids) * (1 - held_out))
    return ids[:cut], ids[cut:]


def windows(ids: np.ndarray, batch: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`batch` random windows of `length` tokens and the tokens that follow each (the targets)."""
    start = rng.integers(0, len(ids) - length - 1, batch)
    rows = start[:, None] + np.arange(length + 1)
    return ids[rows[:, :-1]], ids[rows[:, 1:]]


def make_train_step(model: GPT, opt: optim.Optimizer, sched: lr_scheduler.LR_Scheduler) -> Callable[..., Tensor]:
    vocab = model.config.vocab_size

    @TinyJit
    def train_step(x: Tensor, y: Tensor) -> Tensor:
        opt.zero_grad()
        loss = model(x).reshape(-1, vocab).sparse_categorical_crossentropy(y.reshape(-1))
        loss.backward()
        Tensor.realize(loss, *opt.schedule_step())
        sched.step()
        return loss

    return train_step


def validation_loss(model: GPT, ids: np.ndarray, batch: int, steps: int = 4) -> float:
    """Mean cross-entropy (nats per byte) on `steps` batches of fixed windows of the held-out tokens."""
    rng, vocab, length = np.random.default_rng(1), model.config.vocab_size, model.config.context
    losses = []
    with no_grad():
        for _ in range(steps):
            x, y = windows(ids, batch, length, rng)
            logits = model(Tensor(x)).reshape(-1, vocab)
            losses.append(logits.sparse_categorical_crossentropy(Tensor(y.reshape(-1))).item())
    return float(np.mean(losses))


def train(model: GPT, train_ids: np.ndarray, args: argparse.Namespace) -> None:
    params = get_parameters(model)
    opt = optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    step_fn = make_train_step(model, opt, sched)
    rng, length = np.random.default_rng(args.seed), model.config.context
    start, deadline = time.perf_counter(), time.perf_counter() + args.minutes * 60
    bar = Progress(args.steps, "train", "step")
    with Tensor.train():
        for step in range(1, args.steps + 1):
            x, y = windows(train_ids, args.batch, length, rng)
            loss = step_fn(Tensor(x), Tensor(y))
            if step % 10 == 0 or step == args.steps:
                rate = step * args.batch * length / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{rate:.0f}")
                bar.update(step - bar.n)
            if time.perf_counter() > deadline:
                print(f"\n--minutes {args.minutes}: stopping after {step} of {args.steps} steps")
                break
    bar.close()
    print(f"trained {step} steps in {time.perf_counter() - start:.1f} s, last loss {loss.item():.3f}")


def make_decode_step(model: GPT) -> Callable[[int, int], np.ndarray]:
    """(token, position) -> the next token's logits (vocab,): one TinyJit replay per call once warm, the position
    a bound Variable (the kernels take it as an argument: no new kernel, no new schedule for a new position)."""
    start = Variable("start_pos", 0, model.config.context - 1)

    @TinyJit
    def step(token: Tensor, start_pos: UOp) -> Tensor:
        return model(token, start_pos)[0, -1].realize()

    def decode(token: int, pos: int) -> np.ndarray:
        return step(Tensor([[token]]), start.bind(pos)).numpy()

    return decode


def generate(
    model: GPT, prompt: list[int], n: int, temperature: float, rng: np.random.Generator, stop: list[int]
) -> list[int]:
    """The prompt's continuation: up to `n` tokens (or the context's end), ending early after `stop`. Prints what
    was compiled and scheduled after the first two tokens (nothing: every later token is a TinyJit replay)."""
    if not 0 < len(prompt) < model.config.context:
        raise SystemExit(f"the prompt must have 1 to {model.config.context - 1} tokens, got {len(prompt)}")
    decode, out, calls = make_decode_step(model), list(prompt), 0
    before, misses = COUNTERS.snapshot(), SCHEDULES.misses

    def logits_after(token: int, pos: int) -> np.ndarray:
        nonlocal calls, before, misses
        calls += 1
        if calls == 3:  # the first call compiles, the second captures
            before, misses, start[0] = COUNTERS.snapshot(), SCHEDULES.misses, time.perf_counter()
        return decode(token, pos)

    start = [time.perf_counter()]
    logits = np.zeros(model.config.vocab_size, np.float32)
    for pos, token in enumerate(prompt):  # the prompt goes through the same step, one token at a time
        logits = logits_after(token, pos)
    while len(out) - len(prompt) < n and len(out) < model.config.context:
        if temperature > 0:
            p = np.exp((logits - logits.max()) / temperature)
            token = int(rng.choice(len(p), p=p / p.sum()))
        else:
            token = int(logits.argmax())
        out.append(token)
        if out[-len(stop) :] == stop or len(out) == model.config.context:
            break
        logits = logits_after(token, len(out) - 1)
    counts, took = COUNTERS.since(before), time.perf_counter() - start[0]
    print(
        f"after the first two steps: {calls - 2} steps in {took:.2f} s ({(calls - 2) / took:.1f} tokens/s), "
        f"{counts.compiles} kernels compiled, {SCHEDULES.misses - misses} graphs scheduled, "
        f"{counts.launches} kernel launches"
    )
    return out[len(prompt) :]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="training steps (the learning-rate schedule's length)")
    p.add_argument("--minutes", type=float, default=3.0, help="stop training after this many minutes")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default="gpt_fortunes.safetensors", help="where the trained weights go")
    p.add_argument("--load", default=None, help="load these weights and skip training")
    p.add_argument("--prompt", default="The ")
    p.add_argument("--tokens", type=int, default=200, help="at most this many new tokens")
    p.add_argument("--temperature", type=float, default=0.8, help="0: always the likeliest token")
    args = p.parse_args()

    tok = ByteTokenizer()
    Tensor.manual_seed(args.seed)
    cfg = GPTConfig(tok.vocab_size, args.context, args.dim, args.layers, args.heads)
    model = GPT(cfg)
    n_params = sum(t.numel() for t in get_parameters(model))
    if args.load:
        load_state_dict(model, safe_load(args.load))
        print(f"loaded {args.load}: {cfg}, {n_params} parameters")
    else:
        train_ids, val_ids = corpus(tok)
        print(f"fortunes: {len(train_ids)} training / {len(val_ids)} validation bytes; {cfg}, {n_params} parameters")
        print(f"validation loss before training: {validation_loss(model, val_ids, args.batch):.3f} nats/byte")
        train(model, train_ids, args)
        print(f"validation loss after training: {validation_loss(model, val_ids, args.batch):.3f} nats/byte")
        safe_save(get_state_dict(model), args.save)
        print(f"saved {args.save}")

    new = generate(
        model,
        tok.encode(args.prompt),
        args.tokens,
        args.temperature,
        np.random.default_rng(args.seed),
        tok.encode(SEPARATOR),
    )
    print(f"\n{args.prompt}{tok.decode(new)}")


if __name__ == "__main__":
    main()
