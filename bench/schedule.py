"""tg-schedule speed: Python time to build and schedule a training step, per kernel, next to tinygrad.

Run: python bench/schedule.py [--layers 20] [--width 64] [--batch 32] [--steps 5]

A --layers deep MLP (Linear + relu), forward, cross-entropy, backward and an SGD update. For each step:
the time to build the graph (forward, loss, backward, optimizer assigns) and the time to turn it into a
schedule (`create_schedule` for tg, `Tensor.schedule` for tinygrad), divided by the kernel count. Step 1 is
a cold schedule (tg: kernelize, fuse, plan memory); later steps hit tg's schedule cache. Kernels are run
between steps so the parameters change as in real training. Prints microseconds per kernel and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))


def tg_steps(args: argparse.Namespace) -> list[tuple[float, float, int]]:
    import numpy as np

    from tg_nn import Linear, optim
    from tg_nn.state import get_parameters
    from tg_schedule import create_schedule, run_schedule
    from tg_tensor import Tensor

    Tensor.manual_seed(0)
    layers = [Linear(args.width, args.width) for _ in range(args.layers)] + [Linear(args.width, 10)]
    opt = optim.SGD(get_parameters(layers), lr=0.01, momentum=0.9)
    x = Tensor(np.random.default_rng(0).standard_normal((args.batch, args.width)).astype(np.float32)).realize()
    y = Tensor(np.random.default_rng(1).integers(0, 10, args.batch).astype(np.int32)).realize()
    out = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        h = x
        for layer in layers[:-1]:
            h = layer(h).relu()
        loss = layers[-1](h).sparse_categorical_crossentropy(y)
        opt.zero_grad()
        loss.backward()
        todo = [loss, *opt.schedule_step()]
        t1 = time.perf_counter()
        sched, becomes = create_schedule([t.uop for t in todo])
        t2 = time.perf_counter()
        run_schedule(sched)
        for t in todo:
            t.uop = becomes[t.uop]
        out.append((t1 - t0, t2 - t1, sum(si.kind == "kernel" for si in sched)))
    return out


def tinygrad_steps(args: argparse.Namespace) -> list[tuple[float, float, int]] | None:
    try:
        import numpy as np
        from tinygrad import Tensor, nn
        from tinygrad.helpers import Context
        from tinygrad.nn.state import get_parameters
    except ImportError:
        return None
    Tensor.manual_seed(0)
    layers = [nn.Linear(args.width, args.width) for _ in range(args.layers)] + [nn.Linear(args.width, 10)]
    opt = nn.optim.SGD(get_parameters(layers), lr=0.01, momentum=0.9)
    x = Tensor(np.random.default_rng(0).standard_normal((args.batch, args.width)).astype(np.float32)).realize()
    y = Tensor(np.random.default_rng(1).integers(0, 10, args.batch).astype(np.int32)).realize()
    out: list[tuple[float, float, int]] = []
    with Context(TRAINING=1):
        for _ in range(args.steps):
            t0 = time.perf_counter()
            h = x
            for layer in layers[:-1]:
                h = layer(h).relu()
            loss = layers[-1](h).sparse_categorical_crossentropy(y)
            opt.zero_grad()
            loss.backward()
            todo: list[Any] = [loss, *opt.schedule_step()]
            t1 = time.perf_counter()
            # tinygrad 0.14 schedules into a LINEAR UOp, one source per kernel or copy
            linear = todo[0].schedule_linear(*todo[1:])
            t2 = time.perf_counter()
            Tensor.realize(*todo)
            out.append((t1 - t0, t2 - t1, max(len(linear.src), 1)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=20)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    ours = tg_steps(args)
    try:
        theirs = tinygrad_steps(args)
    except Exception as e:  # a tinygrad version whose API differs: report, do not fail the run
        print(f"tinygrad: could not run ({type(e).__name__}: {e})")
        theirs = None
    print(f"{args.layers}-layer MLP (width {args.width}, batch {args.batch}), forward + backward + SGD momentum")
    print(f"{'step':>4s} {'tg kernels':>10s} {'tg build':>10s} {'tg sched':>10s} {'tg us/kernel':>13s}", end="")
    print(f" {'tinygrad items':>14s} {'tinygrad us/item':>16s} {'ratio':>6s}" if theirs else "")
    for i, (build, sched, n) in enumerate(ours):
        line = f"{i + 1:4d} {n:10d} {build * 1e3:8.1f}ms {sched * 1e3:8.1f}ms {(build + sched) / n * 1e6:13.1f}"
        if theirs:
            tb, ts, tn = theirs[i]
            ours_per, theirs_per = (build + sched) / n, (tb + ts) / tn
            line += f" {tn:14d} {theirs_per * 1e6:16.1f} {theirs_per / ours_per:5.2f}x"
        print(line)
    first, last = ours[0], ours[-1]
    print(f"tg: cached step schedules in {last[1] / first[1] * 100:.1f}% of step 1's scheduling time")


if __name__ == "__main__":
    main()
