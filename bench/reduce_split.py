"""Long reductions over few outputs (tg-schedule's split rule): kernel time and accuracy of full sums and of
batch-norm statistics over few channels, next to torch's and numpy's.

Run: python bench/reduce_split.py [--root TREE] [--repeat 50]

For each reduction prints the kernels its schedule has, the best and median time of the whole schedule over
`--repeat` runs (the median shows how often a busy machine stalls a threaded kernel), torch's best time for
the same reduction, and the relative error of the float32 result against float64. `--root` imports the
packages of another tree (a worktree of main) to compare before and after in one session.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

CASES = [
    ("full sum, 2^18", (1 << 18,), None),
    ("full sum, 2^22", (1 << 22,), None),
    ("full sum, 10^7", (10**7,), None),
    ("3 channels, 32x3x64x64", (32, 3, 64, 64), (0, 2, 3)),
    ("3 channels, 128x3x112x112", (128, 3, 112, 112), (0, 2, 3)),
    ("16 channels, 128x16x28x28 (main job)", (128, 16, 28, 28), (0, 2, 3)),
]


def best_and_median(fn, repeat: int) -> tuple[float, float]:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="tree whose packages to time")
    p.add_argument("--repeat", type=int, default=50)
    args = p.parse_args()
    for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor"):
        sys.path.insert(0, str(Path(args.root) / "packages" / pkg / "src"))
    import torch

    from tg_schedule.run import run_item
    from tg_tensor import Tensor

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"{'reduction':38s} {'kernels':>7s} {'best us':>9s} {'median us':>10s} {'torch us':>9s} {'rel err':>8s}")
    for name, shape, axes in CASES:
        x = rng.random(shape, dtype=np.float32)
        t, tx = Tensor(x).realize(), torch.from_numpy(x)
        sched = (t.sum(axes) if axes else t.sum()).schedule()
        for si in sched:
            run_item(si)
        best, median = best_and_median(lambda s=sched: [run_item(si) for si in s], args.repeat)
        tbest, _ = best_and_median(lambda tx=tx, axes=axes: tx.sum(axes) if axes else tx.sum(), args.repeat)
        want = x.astype(np.float64).sum(axes)
        got = (t.sum(axes) if axes else t.sum()).numpy()
        err = float(np.max(np.abs(got - want) / np.abs(want)))
        print(f"{name:38s} {len(sched):7d} {best * 1e6:9.1f} {median * 1e6:10.1f} {tbest * 1e6:9.1f} {err:8.1e}")
    ones = Tensor.ones(2**32 + 5).sum().item()
    print(f"Tensor.ones(2**32 + 5).sum() = {ones} (torch: 4294967296.0)")


if __name__ == "__main__":
    main()
