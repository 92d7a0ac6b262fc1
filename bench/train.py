"""Training speed of the main job's CNN (examples/fashion_mnist.py) in tg, torch and tinygrad, side by side.

Run: python bench/train.py [--steps 60] [--batch 128] [--threads 0]

Each framework trains the same model (conv 3x3 1->16, batch norm, relu, 2x2 max pool, conv 3x3 16->32, batch
norm, relu, max pool, linear 1568->10) with Adam on the same Fashion-MNIST batches: a few warm-up steps (tg and
tinygrad capture their JIT there), then `--steps` timed steps, wall time including copying each batch in. The
time per epoch is extrapolated to 60000 images. Ratios are speeds, tg over the other (above 1: tg is faster).
tg's kernels per training step are counted from the schedule of one step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))
sys.path.insert(0, str(ROOT / "examples"))

from fashion_mnist import make_model  # noqa: E402

from tg_nn import optim  # noqa: E402
from tg_nn.datasets import fashion_mnist  # noqa: E402
from tg_nn.state import get_parameters  # noqa: E402
from tg_tensor import Tensor, TinyJit  # noqa: E402

EPOCH = 60000


def timed(
    step: Callable[[np.ndarray, np.ndarray], float], batches: list[tuple[np.ndarray, np.ndarray]], warm: int
) -> float:
    """Seconds per step over the batches after the first `warm` (the last step's loss is fetched, so all ran)."""
    for x, y in batches[:warm]:
        step(x, y)
    start = time.perf_counter()
    loss = 0.0
    for x, y in batches[warm:]:
        loss = step(x, y)
    assert np.isfinite(loss)
    return (time.perf_counter() - start) / (len(batches) - warm)


def tg_steps(batches: list[tuple[np.ndarray, np.ndarray]], warm: int, lr: float) -> tuple[float, int]:
    Tensor.manual_seed(0)
    model = make_model()
    opt = optim.Adam(get_parameters(model), lr=lr)

    def graph(x: Tensor, y: Tensor) -> Tensor:
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        return loss

    with Tensor.train():
        x0, y0 = batches[0]
        loss = graph(Tensor(x0), Tensor(y0))
        updated = opt.schedule_step()
        kernels = sum(si.kind == "kernel" for si in loss.schedule(*updated))
        Tensor.realize(loss, *updated)

        @TinyJit
        def jit_step(x: Tensor, y: Tensor) -> Tensor:
            loss = graph(x, y)
            Tensor.realize(loss, *opt.schedule_step())
            return loss

        per_step = timed(lambda x, y: jit_step(Tensor(x), Tensor(y)).item(), batches, warm)
    return per_step, kernels


def torch_steps(batches: list[tuple[np.ndarray, np.ndarray]], warm: int, lr: float) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step(x: np.ndarray, y: np.ndarray) -> float:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y).long())
        loss.backward()
        opt.step()
        return float(loss.item())

    return timed(step, batches, warm)


def tinygrad_steps(batches: list[tuple[np.ndarray, np.ndarray]], warm: int, lr: float) -> float:
    from tinygrad import Tensor as TT
    from tinygrad import TinyJit as TJ
    from tinygrad import nn as tnn
    from tinygrad.helpers import Context

    # its default device is CL where PoCL is installed: the CPU one is the comparison; its optimizers want TRAINING
    with Context(DEV="CPU", TRAINING=1):
        TT.manual_seed(0)
        convs = [tnn.Conv2d(1, 16, 3, padding=1), tnn.Conv2d(16, 32, 3, padding=1)]
        norms = [tnn.BatchNorm(16), tnn.BatchNorm(32)]
        head = tnn.Linear(32 * 7 * 7, 10)

        def model(x: TT) -> TT:
            for conv, bn in zip(convs, norms):
                x = bn(conv(x)).relu().max_pool2d(2)
            return head(x.flatten(1))

        opt = tnn.optim.Adam(tnn.state.get_parameters([convs, norms, head]), lr=lr)

        @TJ
        def step(x: TT, y: TT) -> TT:
            opt.zero_grad()
            loss = model(x).sparse_categorical_crossentropy(y).backward()
            opt.step()
            return loss

        return timed(lambda x, y: step(TT(x), TT(y)).item(), batches, warm)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60, help="timed steps per framework")
    p.add_argument("--warm", type=int, default=4, help="untimed steps first (JIT capture)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    x_train, y_train, _, _ = fashion_mnist()
    xs = x_train.numpy().astype(np.float32) / 255.0
    ys = y_train.numpy().astype(np.int32)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(args.warm + args.steps):
        idx = rng.integers(0, len(xs), args.batch)
        batches.append((np.ascontiguousarray(xs[idx]), np.ascontiguousarray(ys[idx])))

    import torch

    print(f"machine: {os.cpu_count()} cores; torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"batch {args.batch}, {args.steps} timed steps after {args.warm} warm-up steps; epoch = {EPOCH} images")
    results: dict[str, float] = {}
    tg_t, kernels = tg_steps(batches, args.warm, args.lr)
    results["tg"] = tg_t
    results["torch"] = torch_steps(batches, args.warm, args.lr)
    try:
        results["tinygrad"] = tinygrad_steps(batches, args.warm, args.lr)
    except ImportError:
        print("tinygrad: not installed")
    except Exception as e:  # its internals move between versions: report, do not hide the other rows
        print(f"tinygrad: failed ({type(e).__name__}: {e})")
    steps_per_epoch = EPOCH // args.batch
    print(f"\n{'framework':<10} {'ms/step':>9} {'s/epoch':>9} {'images/s':>10} {'tg speed ratio':>15}")
    for name, t in results.items():
        ratio = t / results["tg"]
        print(f"{name:<10} {t * 1e3:9.1f} {t * steps_per_epoch:9.1f} {args.batch / t:10.0f} {ratio:15.2f}")
    print(f"\ntg kernels per training step (forward, backward, Adam update): {kernels}")


if __name__ == "__main__":
    main()
