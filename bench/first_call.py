"""First-call latency of the main job's training step: schedule, lower, render and compile, cold and warm.

Run: python bench/first_call.py [--tree DIR ...] [--rounds 2] [--src DIR] [--profile FILE] [--cpu N]

For each tree (default: this one; `--tree /work/wt/base` adds another checkout to compare against), two fresh
processes run the first call of examples/fashion_mnist.py's TinyJit training step (the CNN, Adam, cosine
learning rate, batch 128, training mode): one with an empty compile cache (`TG_CACHE_DIR` a new folder: every
kernel is compiled), then one with the cache it filled (warm: nothing compiled, but scheduling and code
generation are new to the process). Printed per run: the whole first call, its code generation
(`get_program`: optimize, lower, expand, linearize, render), the lowering inside that, the build (compile or
cache read, and load), and the kernel count. Trees alternate round by round (`--rounds`) so that load on the
machine falls on both; `--cpu N` pins the children to core N. `--src DIR` writes every kernel's source to
DIR/<tree number>/ (compare them with `diff -r`); `--profile FILE` writes cProfile statistics of the cold
first call of the first tree (read them with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
PACKAGES = ("tg-uop", "tg-runtime", "tg-codegen", "tg-schedule", "tg-tensor", "tg-nn")


def timed(fn: Any, totals: dict[str, float], key: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start

    return wrapper


def child(tree: Path, src_dir: str, profile: str) -> dict[str, Any]:
    """One first call in this process, with the tree's packages; its figures."""
    for pkg in reversed(PACKAGES):
        sys.path.insert(0, str(tree / "packages" / pkg / "src"))
    sys.path.insert(0, str(tree / "examples"))
    import numpy as np
    from fashion_mnist import make_model, make_train_step

    import tg_codegen.compile
    import tg_schedule.run
    from tg_nn import lr_scheduler, optim
    from tg_nn.state import get_parameters
    from tg_runtime.device import Compiled
    from tg_tensor import Tensor

    totals = {"codegen": 0.0, "lower": 0.0, "build": 0.0}
    sources: list[tuple[str, str]] = []
    get_program = tg_schedule.run.get_program

    def codegen(ast: Any, device: str) -> Any:
        spec = get_program(ast, device)
        sources.append((spec.name, spec.src))
        return spec

    # the bench wraps the stages it times (module globals looked up at call time)
    tg_schedule.run.get_program = timed(codegen, totals, "codegen")
    tg_codegen.compile.lower = timed(tg_codegen.compile.lower, totals, "lower")
    Compiled.build = timed(Compiled.build, totals, "build")

    Tensor.manual_seed(0)
    rng = np.random.default_rng(0)
    model = make_model()
    opt = optim.Adam(get_parameters(model), lr=1e-3)
    step = make_train_step(model, opt, lr_scheduler.CosineAnnealingLR(opt, T_max=100), None)
    x = Tensor(rng.random((128, 1, 28, 28), dtype=np.float32)).realize()
    y = Tensor(rng.integers(0, 10, 128).astype(np.int32)).realize()
    before = dict(totals)
    sources.clear()  # the first call's kernels only (not those that made the weights and the batch)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    start = time.perf_counter()
    with Tensor.train():
        step(x, y).item()
    total = time.perf_counter() - start
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    if src_dir:
        Path(src_dir).mkdir(parents=True, exist_ok=True)
        for i, (name, src) in enumerate(sources):  # in the order the kernels were generated
            (Path(src_dir) / f"{i:03d}_{name}.src").write_text(src)
    out = {k: v - before[k] for k, v in totals.items()}
    return {"total": total, **out, "kernels": len(sources), "distinct": len(set(sources))}


def run_child(tree: Path, cache: str, args: argparse.Namespace, src_dir: str, profile: str) -> dict[str, Any]:
    env = {**os.environ, "TG_CACHE_DIR": cache, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HERE), "--child", str(tree), "--src", src_dir, "--profile", profile]
    if args.cpu is not None:
        cmd = ["taskset", "-c", str(args.cpu), *cmd]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: the first call failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", action="append", default=[], help="a checkout to time (repeatable; default: this one)")
    p.add_argument("--rounds", type=int, default=2, help="cold + warm runs of every tree, alternating")
    p.add_argument("--src", default="", help="write each tree's kernel sources under this folder")
    p.add_argument("--profile", default="", help="cProfile statistics of the first cold call go to this file")
    p.add_argument("--cpu", type=int, default=None, help="pin the runs to this core (taskset)")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.src, args.profile)))
        return
    trees = [Path(t).resolve() for t in args.tree] or [ROOT]
    heads = ("first call", 10), ("codegen", 9), ("lower", 8), ("build", 9), ("kernels", 7), ("sources", 7)
    print(f"{'tree':40s} {'cache':5s} " + " ".join(f"{h:>{w}s}" for h, w in heads))
    for r in range(args.rounds):
        for i, tree in enumerate(trees):
            with tempfile.TemporaryDirectory(prefix="tg-first-call-") as cache:
                for mode in ("cold", "warm"):
                    first = r == 0 and mode == "cold"
                    src = str(Path(args.src) / str(i)) if args.src and first else ""
                    prof = args.profile if args.profile and first and i == 0 else ""
                    f = run_child(tree, cache, args, src, prof)
                    print(
                        f"{str(tree):40s} {mode:5s} {f['total'] * 1e3:8.0f}ms {f['codegen'] * 1e3:7.0f}ms"
                        f" {f['lower'] * 1e3:6.0f}ms {f['build'] * 1e3:7.0f}ms {f['kernels']:7d} {f['distinct']:7d}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
