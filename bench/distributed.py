"""Data-parallel training over MPI on this machine: the main job's speed in 1 process and over 2 MPI ranks, the
all-reduce bandwidth between 2 ranks next to the memory bandwidth, and, on paper, the step time on N machines.

Run: python bench/distributed.py [--steps 20] [--ranks 2]   (needs mpi4py and mpirun: tg-nn[mpi], openmpi-bin)

- images/s: the training step of examples/fashion_mnist.py (CNN, Adam, global batch 128, TinyJit), a few
  warm-up steps then `--steps` timed ones, wall time including copying each batch in; under MPI each rank takes
  64 images of every batch and the step includes averaging the gradients (its share is printed too).
- all-reduce: float32 tensors of 1, 10 and 100 MB summed over the ranks, raw `MPI.Allreduce` on host arrays and
  `tg_nn.distributed.allreduce` on tensors (adds the copies out of and back into the device); algorithm bandwidth
  is bytes / time, bus bandwidth 2(N-1)/N x bytes / time (what each rank's link carries in a ring).
- memory bandwidth: numpy copying a 100 MB array (read + write counted).
- on paper: step time on N machines = compute / N + 2(N-1)/N x gradient bytes / link bandwidth (ring all-reduce,
  global batch fixed, so each machine computes 1/N of it), for the main job and for a model with 100x its
  parameters (compute assumed to grow with the parameters), on the measured link and on 10 and 100 Gb/s networks.

- 2 device instances: the same step in one process on `CPU:0,CPU:1` (one thread each, `Device.set_threads`), the
  weights replicated and each batch sharded (`Tensor.shard`), without TinyJit (it does not capture tensors on
  several devices); next to 1 device with one thread. The two devices' kernels run one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn"):
    sys.path.insert(0, str(ROOT / "packages" / pkg / "src"))
sys.path.insert(0, str(ROOT / "examples"))

from fashion_mnist import as_input, batches, make_model, make_train_step, place  # noqa: E402

from tg_nn import distributed, lr_scheduler, optim  # noqa: E402
from tg_nn.datasets import fashion_mnist  # noqa: E402
from tg_nn.state import get_parameters, get_state_dict  # noqa: E402
from tg_runtime import Device  # noqa: E402
from tg_tensor import Tensor  # noqa: E402

BATCH, WARM = 128, 3
SIZES_MB = (1, 10, 100)


def train_worker(steps: int, use_mpi: bool, devices: tuple[str, ...] = ()) -> dict[str, float]:
    """Time the main job's step; under MPI each rank trains on its share of every batch; with `devices` (one thread
    each) the batch is sharded over them."""
    for d in devices:
        Device.set_threads(d, 1)
    me, n = 0, 1
    if use_mpi:
        distributed.init()
        me, n = distributed.rank(), distributed.world_size()
    x_train, y_train, _, _ = fashion_mnist()
    xtr, ytr = x_train.numpy().astype(np.float32) / 255.0, y_train.numpy().astype(np.int32)
    Tensor.manual_seed(0)
    model = make_model()
    if len(devices) > 1:
        place(model, devices)
    opt = optim.Adam(get_parameters(model), lr=3e-3)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=WARM + steps)
    buffers = [t for t in get_state_dict(model).values() if all(t is not q for q in opt.params)]
    dp = distributed.DataParallel(opt, buffers=buffers) if use_mpi else None
    exchange = [0.0]
    if dp is not None:
        average = dp.average

        def timed_average(grads: list[Tensor]) -> list[Tensor]:
            start = time.perf_counter()
            out = average(grads)
            exchange[0] += time.perf_counter() - start
            return out

        dp.average = timed_average  # type: ignore[method-assign]
    step = make_train_step(model, opt, sched, dp, jit=len(devices) < 2)
    shard = BATCH // n
    order = list(batches(len(xtr), BATCH, np.random.default_rng(0)))[: WARM + steps]
    with Tensor.train():
        for i, idx in enumerate(order):
            if i == WARM:
                exchange[0], start = 0.0, time.perf_counter()
            idx = idx[me * shard : (me + 1) * shard]
            loss = step(as_input(xtr[idx], devices), as_input(ytr[idx], devices))
        loss.item()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in opt.params)
    return {
        "ranks": n,
        "step_s": seconds / steps,
        "img_s": steps * BATCH / seconds,
        "exchange_s": exchange[0] / steps,
        "grad_bytes": 4 * params,
        "params": params,
    }


def allreduce_worker(repeat: int = 5) -> dict[str, float]:
    """Best-of-`repeat` time of a float32 sum over the ranks, raw MPI and through tg tensors, per size."""
    distributed.init()
    comm = distributed.MPI.COMM_WORLD
    out: dict[str, float] = {"ranks": comm.Get_size()}
    for mb in SIZES_MB:
        a = np.ones(mb * 2**20 // 4, dtype=np.float32)
        t = Tensor(a).realize()
        calls = {
            "mpi": lambda a=a: comm.Allreduce(distributed.MPI.IN_PLACE, a),
            "tg": lambda t=t: distributed.allreduce(t).realize(),
        }
        for name, fn in calls.items():
            best = float("inf")
            for _ in range(repeat):
                comm.Barrier()
                start = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - start)
            out[f"{name}_{mb}"] = best
    return out


def mpirun(ranks: int) -> list[str]:
    exe = shutil.which("mpirun")
    if exe is None:
        raise SystemExit("mpirun not found: install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev)")
    return [exe, "-np", str(ranks), "--oversubscribe", "--allow-run-as-root"]


def launch(args: list[str], ranks: int | None) -> dict[str, float]:
    """Run this script as a worker (under mpirun with `ranks`), return the JSON line rank 0 printed."""
    cmd = [*(mpirun(ranks) if ranks else []), sys.executable, __file__, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[0])


def memory_bandwidth() -> float:
    """GB/s of numpy copying 100 MB (read + write), best of 5."""
    src, dst = np.ones(100 * 2**20 // 4, dtype=np.float32), np.empty(100 * 2**20 // 4, dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def on_paper(compute_s: float, grad_bytes: float, link_gb_s: float, n: int) -> float:
    """Step seconds on n machines: the batch split n ways, then a ring all-reduce of the gradients."""
    return compute_s / n + (2 * (n - 1) / n * grad_bytes / (link_gb_s * 1e9) if n > 1 else 0.0)


def report(
    one: dict[str, float], many: dict[str, float], red: dict[str, float], mem: float, devs: list[dict[str, float]]
) -> None:
    n = int(many["ranks"])
    print(f"main job (batch {BATCH}), CPU device:")
    print(f"  1 process : {one['img_s']:8.1f} images/s, {one['step_s'] * 1e3:7.1f} ms/step")
    print(
        f"  {n} MPI ranks: {many['img_s']:8.1f} images/s, {many['step_s'] * 1e3:7.1f} ms/step "
        f"({many['exchange_s'] * 1e3:.1f} ms of it averaging {many['grad_bytes'] / 1e3:.0f} kB of gradients); "
        f"speed-up {many['img_s'] / one['img_s']:.2f}x"
    )
    one_thread, two = devs
    print(f"  1 device, 1 thread : {one_thread['img_s']:8.1f} images/s, {one_thread['step_s'] * 1e3:7.1f} ms/step")
    print(
        f"  2 device instances, 1 thread each (one process, no TinyJit): {two['img_s']:8.1f} images/s, "
        f"{two['step_s'] * 1e3:7.1f} ms/step; {two['img_s'] / one_thread['img_s']:.2f}x the 1-thread device"
    )
    print(f"all-reduce (sum of float32) between {int(red['ranks'])} ranks; memory bandwidth {mem:.1f} GB/s (copy)")
    bus = 2 * (red["ranks"] - 1) / red["ranks"]
    for mb in SIZES_MB:
        nbytes = mb * 2**20
        for name in ("mpi", "tg"):
            s = red[f"{name}_{mb}"]
            print(
                f"  {mb:4d} MB {name:3s}: {s * 1e3:8.2f} ms, algorithm {nbytes / s / 1e9:6.2f} GB/s, "
                f"bus {bus * nbytes / s / 1e9:6.2f} GB/s"
            )
    # the measured link: the best bus bandwidth of the raw MPI sums (shared memory between 2 processes here)
    link = max(bus * mb * 2**20 / red[f"mpi_{mb}"] / 1e9 for mb in SIZES_MB)
    print("on paper: ms per step on N machines (speed-up over 1), ring all-reduce, global batch fixed:")
    print("  compute / N + overhead + 2(N-1)/N x gradient bytes / link bandwidth")
    compute, grads, overhead = one["step_s"], one["grad_bytes"], many["exchange_s"]
    models = (
        ("main job", compute, grads, 0.0),
        (f"main job, {overhead * 1e3:.0f} ms overhead", compute, grads, overhead),
        ("100x params, 100x compute", 100 * compute, 100 * grads, 0.0),
        ("100x params, same compute", compute, 100 * grads, 0.0),
    )
    for label, c, g, o in models:
        links = ((f"{link:.1f} GB/s (measured)", link), ("10 Gb/s", 1.25), ("100 Gb/s", 12.5))
        for name, gb_s in links[: 1 if o else 3]:  # a fixed overhead swamps the link: one row says it
            cells = [(k, on_paper(c, g, gb_s, k) + (o if k > 1 else 0.0)) for k in (2, 4, 8, 16)]
            row = "  ".join(f"N={k}: {t * 1e3:.0f} ({c / t:.1f}x)" for k, t in cells)
            print(f"  {label:26s} {name:20s} N=1: {c * 1e3:.0f}  {row}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--worker", choices=["train", "allreduce"], help=argparse.SUPPRESS)
    p.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--devices", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        devices = tuple(d for d in args.devices.split(",") if d)
        result = train_worker(args.steps, args.mpi, devices) if args.worker == "train" else allreduce_worker()
        if not args.mpi or distributed.rank() == 0:
            print(json.dumps(result), flush=True)
        return
    one = launch(["--worker", "train", "--steps", str(args.steps)], None)
    many = launch(["--worker", "train", "--steps", str(args.steps), "--mpi"], args.ranks)
    red = launch(["--worker", "allreduce", "--mpi"], args.ranks)
    train = ["--worker", "train", "--steps", str(args.steps), "--devices"]
    devs = [launch([*train, d], None) for d in ("CPU", "CPU:0,CPU:1")]
    report(one, many, red, memory_bandwidth(), devs)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the figures are one run)")


if __name__ == "__main__":
    main()
