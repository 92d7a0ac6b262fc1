"""Train a small CNN on Fashion-MNIST with tg on the CPU device: the main job.

Run: python examples/fashion_mnist.py [--epochs 3] [--batch 128]   (DEBUG=2 shows every kernel)
Data-parallel over MPI (extra tg-nn[mpi]): mpirun -np 2 python examples/fashion_mnist.py --distributed
(each rank trains on its share of every batch of --batch images; rank 0 prints and saves)
Data-parallel over device instances of one process: python examples/fashion_mnist.py --devices CPU:0,CPU:1
(weights replicated on every device, each batch sharded over them, gradients all-reduced in the same schedule)

The data comes from `tg_nn.datasets.fashion_mnist()`: Debian's dataset-fashion-mnist package, $TG_DATASETS,
the cache, or a download. The trained weights are saved with `safe_save` (a safetensors file).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from progress import Progress  # examples/progress.py: tqdm's bar on a terminal, plain lines in a log

from tg_nn import BatchNorm2d, Conv2d, Linear, Sequential, distributed, lr_scheduler, optim
from tg_nn.datasets import fashion_mnist
from tg_nn.state import get_parameters, get_state_dict, safe_save
from tg_tensor import Tensor, TinyJit, no_grad


def make_model() -> Sequential:
    """Two 3x3 conv blocks (conv, batch norm, relu, 2x2 max pool) and a linear classifier: 28x28 -> 10."""
    return Sequential(
        Conv2d(1, 16, 3, padding=1),
        BatchNorm2d(16),
        Tensor.relu,
        lambda x: x.max_pool2d(2),
        Conv2d(16, 32, 3, padding=1),
        BatchNorm2d(32),
        Tensor.relu,
        lambda x: x.max_pool2d(2),
        lambda x: x.flatten(1),
        Linear(32 * 7 * 7, 10),
    )


def batches(n: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index batches covering `n` samples; the last partial batch is dropped (one JIT shape)."""
    order = rng.permutation(n)
    for start in range(0, n - size + 1, size):
        yield order[start : start + size]


def place(model: Sequential, devices: tuple[str, ...]) -> None:
    """Replicate every weight and running statistic of `model` on each of `devices` (in place)."""
    for t in get_state_dict(model).values():
        t.to_(devices).realize()


def as_input(a: np.ndarray, devices: tuple[str, ...]) -> Tensor:
    """A batch as a tensor: sharded on its first axis over `devices` when there are several."""
    return Tensor(a).shard(devices, 0) if len(devices) > 1 else Tensor(a)


def evaluate(
    model: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    batch: int = 1000,
    dp: Any = None,
    devices: tuple[str, ...] = (),
) -> float:
    """Accuracy on (x, y) in eval mode (batch norm uses its running statistics), without gradients. With `dp`
    (a DataParallel) the ranks average their running statistics and each counts its own share of (x, y); with
    several `devices` each batch is sharded over them."""
    total = len(x)
    if dp is not None:
        dp.sync_buffers()
        me, n = distributed.rank(), distributed.world_size()
        x, y = x[me * total // n : (me + 1) * total // n], y[me * total // n : (me + 1) * total // n]
    correct = 0
    with Tensor.train(False), no_grad():
        for start in range(0, len(x), batch):
            logits = model(as_input(x[start : start + batch], devices))
            correct += int((logits.argmax(axis=1).numpy() == y[start : start + batch]).sum())
    if dp is not None:
        correct = int(distributed.allreduce(Tensor([correct]), "sum").item())
    return correct / total


def make_train_step(
    model: Sequential, opt: optim.Optimizer, sched: Any, dp: Any, jit: bool = True
) -> Callable[[Tensor, Tensor], Tensor]:
    """The training step: forward, backward and update in one TinyJit schedule; with `dp` (a DataParallel), two
    JITs around the host-side exchange that averages the gradients over the ranks. `jit=False`: the step as it
    is, without TinyJit (for tensors on several devices, which TinyJit does not capture)."""

    def step(x: Tensor, y: Tensor) -> Tensor:
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        Tensor.realize(loss, *opt.schedule_step())  # forward, backward and the update: one schedule
        sched.step()  # the next learning rate, computed on the device (replays advance it too)
        return loss

    @TinyJit
    def forward_backward(x: Tensor, y: Tensor) -> list[Tensor]:
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        return [loss, *dp.gradients()]  # outputs, so each replay refreshes them

    @TinyJit
    def update(*averaged: Tensor) -> Tensor:
        Tensor.realize(*dp.schedule_step(averaged))
        sched.step()
        return opt.lr  # TinyJit's replay needs a result to hand back

    def data_parallel_step(x: Tensor, y: Tensor) -> Tensor:
        loss, *grads = forward_backward(x, y)
        update(*dp.average(grads))
        return loss

    if dp is not None:
        return data_parallel_step
    return TinyJit(step) if jit else step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (a quick try)")
    p.add_argument("--save", default="fashion_mnist.safetensors", help="where the trained weights go")
    p.add_argument("--target", type=float, default=0.90, help="exit with an error below this test accuracy")
    p.add_argument("--distributed", action="store_true", help="data-parallel over the ranks of mpirun")
    p.add_argument("--devices", default="", help="data-parallel over these devices of this process: CPU:0,CPU:1")
    args = p.parse_args()
    devices = tuple(d for d in args.devices.split(",") if d)
    if len(devices) > 1 and args.batch % len(devices):
        raise SystemExit(f"--batch {args.batch} does not split evenly over {len(devices)} devices")
    me, ranks = 0, 1
    if args.distributed:
        distributed.init()
        me, ranks = distributed.rank(), distributed.world_size()
        if args.batch % ranks:
            raise SystemExit(f"--batch {args.batch} does not split evenly over {ranks} ranks")
    shard = args.batch // ranks  # this rank's share of every batch
    say = print if me == 0 else lambda *a, **k: None

    start = time.perf_counter()
    x_train, y_train, x_test, y_test = fashion_mnist()
    # images to float in [0, 1] once, on the host: each step then copies in just its batch
    xtr = x_train.numpy().astype(np.float32) / 255.0
    ytr = y_train.numpy().astype(np.int32)
    xte = x_test.numpy().astype(np.float32) / 255.0
    yte = y_test.numpy().astype(np.int32)
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]

    Tensor.manual_seed(args.seed)
    model = make_model()
    if len(devices) > 1:
        place(model, devices)
    params = get_parameters(model)
    opt = optim.Adam(params, lr=args.lr)
    # under mpirun: rank 0's initial weights and running statistics go to every rank, gradients get averaged
    buffers = [t for t in get_state_dict(model).values() if all(t is not q for q in opt.params)]
    dp = distributed.DataParallel(opt, buffers=buffers) if args.distributed else None
    steps_per_epoch = len(xtr) // args.batch
    # the learning rate falls along a half cosine to 0 over the whole run: the last steps refine
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * steps_per_epoch)
    n_params = sum(t.numel() for t in params)
    say(
        f"Fashion-MNIST: {len(xtr)} train / {len(xte)} test images; CNN with {n_params} parameters; "
        f"Adam, lr {args.lr} with cosine decay; batch {args.batch}"
        + (f" over {ranks} ranks ({shard} images each)" if args.distributed else "")
        + (f" sharded over {', '.join(devices)}" if len(devices) > 1 else "")
    )
    train_step = make_train_step(model, opt, sched, dp, jit=len(devices) < 2)

    rng = np.random.default_rng(args.seed)
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        with Tensor.train():
            bar = Progress(steps_per_epoch, f"epoch {epoch}", "step") if me == 0 else None
            for step, idx in enumerate(batches(len(xtr), args.batch, rng), 1):
                idx = idx[me * shard : (me + 1) * shard]  # every rank shuffles alike and takes its own share
                loss = train_step(as_input(xtr[idx], devices), as_input(ytr[idx], devices))
                if step % 10 == 0 or step == steps_per_epoch:
                    rate = step * args.batch / (time.perf_counter() - epoch_start)
                    shown = distributed.allreduce(loss, "mean") if dp is not None else loss  # every rank calls it
                    if bar is not None:
                        bar.set_postfix(loss=f"{shown.item():.3f}", img_s=f"{rate:.0f}")
                        bar.update(step - bar.n)
            if bar is not None:
                bar.close()
        train_time = time.perf_counter() - epoch_start
        accuracy = evaluate(model, xte, yte, dp=dp, devices=devices)
        last = distributed.allreduce(loss, "mean") if dp is not None else loss
        say(f"epoch {epoch}: loss {last.item():.4f}, test accuracy {accuracy * 100:.2f}%, {train_time:.1f} s training")

    if me == 0:
        safe_save(get_state_dict(model), args.save)
    say(f"saved {args.save}")
    say(f"final test accuracy {accuracy * 100:.2f}% in {time.perf_counter() - start:.1f} s wall time")
    if accuracy < args.target:
        raise SystemExit(f"test accuracy {accuracy:.4f} is below the {args.target} target")


if __name__ == "__main__":
    main()
