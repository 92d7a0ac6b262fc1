"""Five Adam steps of a small conv net on fixed batches of 128, one process or data-parallel over the ranks
(each rank reading its shard of every batch); rank 0 writes the weights after every step to `--out` (npz).

Run: python parity.py --out single.npz [--jit]
     mpirun -np 2 python parity.py --out dp.npz --distributed [--jit]

Under --distributed every rank also checks after every step that all ranks hold bit-identical weights, and
rank 1 seeds its model differently, so the weights agree only if DataParallel broadcast rank 0's.
"""

from __future__ import annotations

import argparse

import numpy as np

from tg_nn import Conv2d, Linear, Sequential, distributed, optim
from tg_nn.state import get_parameters
from tg_tensor import Tensor, TinyJit

STEPS, BATCH = 5, 128


def make_model() -> Sequential:
    return Sequential(Conv2d(1, 4, 3, padding=1), Tensor.relu, lambda x: x.flatten(1), Linear(4 * 8 * 8, 10))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--distributed", action="store_true")
    p.add_argument("--jit", action="store_true")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((STEPS, BATCH, 1, 8, 8)).astype(np.float32)
    ys = rng.integers(0, 10, (STEPS, BATCH)).astype(np.int32)
    rank, size = 0, 1
    if args.distributed:
        distributed.init()
        rank, size = distributed.rank(), distributed.world_size()
    Tensor.manual_seed(1 + 100 * rank)  # differs between ranks: only the broadcast makes the weights agree
    model = make_model()
    params = get_parameters(model)
    opt = optim.Adam(params, lr=1e-2)
    # a tiny bucket size, so the parameters travel in several buckets
    dp = distributed.DataParallel(opt, bucket_mb=0.002) if args.distributed else None
    step = make_step(model, opt, dp, args.jit)
    shard = BATCH // size
    saved = {}
    for s in range(STEPS):
        x, y = xs[s, rank * shard : (rank + 1) * shard], ys[s, rank * shard : (rank + 1) * shard]
        step(Tensor(x), Tensor(y))
        weights = [t.numpy() for t in params]
        if dp is not None:
            check_same_everywhere(weights)
        saved.update({f"step{s}_param{i}": w for i, w in enumerate(weights)})
    if rank == 0:
        np.savez(args.out, **saved)
        print(f"parity: saved {len(saved)} arrays from {size} rank(s)")


def make_step(model: Sequential, opt: optim.Optimizer, dp: distributed.DataParallel | None, jit: bool):
    def forward_backward(x: Tensor, y: Tensor) -> list[Tensor]:
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        # the gradients are outputs, so a replay refreshes them for the update (a second TinyJit) to read
        return [loss, *(dp.gradients() if dp is not None else [p.grad for p in opt.params])]

    def update(*averaged: Tensor) -> Tensor:
        Tensor.realize(*(dp.schedule_step(averaged) if dp is not None else opt.schedule_step()))
        return opt.lr  # TinyJit's replay needs a result to hand back

    if dp is None and not jit:
        return lambda x, y: Tensor.realize(*forward_backward(x, y), *opt.schedule_step())
    if dp is not None and not jit:
        return lambda x, y: dp.step(*forward_backward(x, y)[:1])
    fb, up = TinyJit(forward_backward), TinyJit(update)

    def step(x: Tensor, y: Tensor) -> None:
        loss, *grads = fb(x, y)
        up(*(dp.average(grads) if dp is not None else []))

    return step


def check_same_everywhere(weights: list[np.ndarray]) -> None:
    everyone = distributed.MPI.COMM_WORLD.allgather(weights)
    for r, theirs in enumerate(everyone):
        for i, (a, b) in enumerate(zip(weights, theirs)):
            if a.tobytes() != b.tobytes():
                raise AssertionError(f"parameter {i} differs between rank {distributed.rank()} and rank {r}")


if __name__ == "__main__":
    main()
