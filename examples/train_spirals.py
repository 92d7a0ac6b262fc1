"""Train a small MLP with tg to separate two interleaved spirals (the main job for now).

Run: python examples/train_spirals.py   (DEBUG=2 shows every kernel; DEVICE=PYTHON uses the interpreter)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tg_nn import Linear, optim
from tg_nn.state import get_parameters
from tg_tensor import Tensor, TinyJit


def make_spirals(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` points per class on two interleaved spirals, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi  # more points further out, where the arms are longer
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(scale=noise, size=(2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int32)
    return x.astype(np.float32), y


class MLP:
    def __init__(self, hidden: int) -> None:
        self.l1, self.l2, self.l3 = Linear(2, hidden), Linear(hidden, hidden), Linear(hidden, 2)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l3(self.l2(self.l1(x).relu()).relu())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--points", type=int, default=1000, help="points per class")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    Tensor.manual_seed(args.seed)
    x_np, y_np = make_spirals(args.points, noise=0.02, seed=args.seed)
    x, y = Tensor(x_np), Tensor(y_np)
    model = MLP(args.hidden)
    opt = optim.SGD(get_parameters(model), lr=args.lr, momentum=0.9)
    print(f"two spirals: {len(y_np)} points, MLP 2-{args.hidden}-{args.hidden}-2, SGD momentum 0.9, lr {args.lr}")

    @TinyJit
    def train_step(x: Tensor, y: Tensor) -> Tensor:
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        Tensor.realize(loss, *opt.schedule_step())  # the loss and the update in one schedule
        return loss

    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        loss = train_step(x, y)  # from the third step on, the captured kernels run again directly
        if step % 50 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.perf_counter() - start:.1f} s)")

    pred = model(x).numpy().argmax(axis=1)
    accuracy = float((pred == y_np).mean())
    elapsed = time.perf_counter() - start
    print(f"final training accuracy: {accuracy * 100:.2f}% after {args.steps} steps in {elapsed:.1f} s")
    if accuracy < 0.95:
        raise SystemExit(f"accuracy {accuracy:.3f} is below the 0.95 target")


if __name__ == "__main__":
    main()
