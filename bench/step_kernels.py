"""Where the main job's training step spends its kernel time: each kernel of one step, slowest first.

Run: python bench/step_kernels.py [--repeat 3] [--top 15] [--cpu-time]

Builds the CNN of examples/fashion_mnist.py with Adam on a random batch of 128 in training mode (batch norm on
batch statistics), runs a few steps to warm up, then runs the schedule of one step `--repeat` times and prints
each kernel's mean time (kernels with the same name are added together) and the total. Compare the total with
torch's whole step in `bench/train.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))
sys.path.insert(0, str(ROOT / "examples"))

from fashion_mnist import make_model  # noqa: E402

from tg_codegen.program import get_program  # noqa: E402
from tg_nn import optim  # noqa: E402
from tg_nn.state import get_parameters  # noqa: E402
from tg_schedule.run import run_item  # noqa: E402
from tg_tensor import Tensor  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="timed runs of the step's schedule")
    p.add_argument("--top", type=int, default=15, help="how many kernels to list")
    p.add_argument("--best", action="store_true", help="each kernel's best run instead of its mean (busy machines)")
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="each kernel's best thread CPU time over the runs instead of its mean wall time: on a loaded machine,"
        " pinned to one core (`taskset -c 1`, so one thread), time other processes take is not counted",
    )
    args = p.parse_args()
    Tensor.manual_seed(0)
    rng = np.random.default_rng(0)
    model = make_model()
    opt = optim.Adam(get_parameters(model), lr=1e-3)
    x = Tensor(rng.random((128, 1, 28, 28), dtype=np.float32)).realize()
    y = Tensor(rng.integers(0, 10, 128).astype(np.int32)).realize()

    def step() -> list[Tensor]:
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y)
        loss.backward()
        return [loss, *opt.schedule_step()]

    with Tensor.train():  # batch norm on batch statistics, as in training
        for _ in range(3):
            Tensor.realize(*step())
        outs = step()
        sched = outs[0].schedule(*outs[1:])
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        run: dict[str, float] = defaultdict(float)
        for si in sched:
            start = time.thread_time()
            sec = run_item(si)
            if args.cpu_time:
                sec = time.thread_time() - start
            if si.kind == "kernel":
                run[get_program(si.ast, si.bufs[0].device).name] += sec or 0.0
        runs.append(run)
    pick = min if args.cpu_time or args.best else (lambda xs: sum(xs) / len(xs))
    times = {name: pick([r[name] for r in runs]) for name in runs[0]}
    kernels = sum(si.kind == "kernel" for si in sched)
    print(f"one training step: {kernels} kernels, {sum(times.values()) * 1e3:.1f} ms of kernel time")
    for name, sec in sorted(times.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{sec * 1e3:8.2f} ms  {name}")


if __name__ == "__main__":
    main()
