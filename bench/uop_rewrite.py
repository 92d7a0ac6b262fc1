"""tg-uop speed: building UOps and simplifying a large integer expression, next to tinygrad when installed.

Run: python bench/uop_rewrite.py [--nodes 100000] [--construct 1000000] [--compare-nodes 4000]

Two workloads, run with tg_uop and (if importable) tinygrad in this process:
- construct: N new nodes, a chain of ADDs over a few constants (every call makes one new node);
- rewrite: an integer index expression (a balanced sum of random terms like ((a*4+b)//4)%8 + c*2 + 7 over
  bounded variables), then `.simplify()`. tg simplifies one of about --nodes nodes; both libraries simplify
  the same smaller one of about --compare-nodes nodes for the side-by-side ratio (tinygrad's simplify grows
  faster than linearly on this workload, so the full size would take it very long).
Prints nodes per second and tg's ratio to tinygrad (above 1.0: tg is faster).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "tg-uop" / "src"))


def tg_api() -> dict[str, Any]:
    from tg_uop import Ops, UOp, dtypes

    return {
        "name": "tg",
        "const": lambda v: UOp.const(dtypes.int32, v),
        "add_node": lambda a, b: UOp(Ops.ADD, dtypes.int32, (a, b)),
        "variable": lambda n, lo, hi: UOp.variable(n, lo, hi),
        "count": lambda u: len(u.toposort()),
        "simplify": lambda u: u.simplify(),
    }


def tinygrad_api() -> dict[str, Any] | None:
    try:
        from tinygrad.dtype import dtypes
        from tinygrad.uop.ops import Ops, UOp
    except ImportError:
        return None
    return {
        "name": "tinygrad",
        "const": lambda v: UOp.const(v, dtypes.int32),
        "add_node": lambda a, b: UOp(Ops.ADD, dtypes.int32, (a, b)),
        "variable": lambda n, lo, hi: UOp.variable(n, lo, hi),
        "count": lambda u: len(u.toposort()),
        "simplify": lambda u: u.simplify(),
    }


def construct(api: dict[str, Any], n: int) -> float:
    """Seconds to build n new nodes."""
    consts = [api["const"](i) for i in range(7)]
    add = api["add_node"]
    gc.collect()
    start = time.perf_counter()
    u = consts[0]
    for i in range(n):
        u = add(u, consts[i % 7])
    elapsed = time.perf_counter() - start
    del u
    return elapsed


def expression(api: dict[str, Any], nodes: int, seed: int) -> Any:
    """A balanced sum of random index terms over bounded variables, about `nodes` nodes in all."""
    expr = _expression(api, max(nodes * 2 // 13, 1), seed)
    count = api["count"](expr)
    if count < 0.95 * nodes:  # terms share constants, more so in large sums: scale up once
        expr = _expression(api, max(int(nodes * 2 // 13 * nodes / count), 1), seed)
    return expr


def _expression(api: dict[str, Any], n_terms: int, seed: int) -> Any:
    rng = random.Random(seed)
    vs = [api["variable"](f"v{i}", 0, rng.randint(3, 64)) for i in range(16)]
    terms = []
    for _ in range(n_terms):
        a, b, c = rng.choice(vs), rng.choice(vs), rng.choice(vs)
        k = rng.choice([2, 4, 8, 16])
        t = ((a * k + b) // k) % rng.randint(2, 97) + c * rng.randint(1, 9) + rng.randint(0, 1000)
        terms.append(t)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


def rewrite(api: dict[str, Any], nodes: int, seed: int) -> tuple[int, float]:
    """(node count, seconds to simplify)."""
    expr = expression(api, nodes, seed)
    count = api["count"](expr)
    gc.collect()
    start = time.perf_counter()
    api["simplify"](expr)
    return count, time.perf_counter() - start


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=100_000, help="size of the expression tg simplifies")
    p.add_argument("--compare-nodes", type=int, default=4_000, help="size simplified by both libraries")
    p.add_argument("--construct", type=int, default=1_000_000, help="nodes to construct")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    apis = [api for api in (tg_api(), tinygrad_api()) if api is not None]
    rates: dict[str, dict[str, float]] = {}
    for api in apis:
        t_build = best_of(args.repeat, lambda api=api: construct(api, args.construct))
        count, t_rw = min((rewrite(api, args.compare_nodes, seed=0) for _ in range(args.repeat)), key=lambda r: r[1])
        rates[api["name"]] = {"construct": args.construct / t_build, "rewrite": count / t_rw}
        print(
            f"{api['name']:9s} construct {args.construct:>9,d} nodes: {args.construct / t_build:>10,.0f} nodes/s"
            f" | simplify {count:>7,d} nodes: {t_rw:8.3f} s, {count / t_rw:>9,.0f} nodes/s"
        )
    count, t_rw = rewrite(tg_api(), args.nodes, seed=1)
    print(f"tg        simplify {count:,d} nodes: {t_rw:.3f} s, {count / t_rw:,.0f} nodes/s")
    if "tinygrad" in rates:
        tg, ti = rates["tg"], rates["tinygrad"]
        print(
            f"tg / tinygrad (nodes per second, above 1 means tg is faster): construct "
            f"{tg['construct'] / ti['construct']:.2f}x, simplify {tg['rewrite'] / ti['rewrite']:.2f}x"
        )
    else:
        print("tinygrad is not installed: no comparison (pip install tinygrad)")


if __name__ == "__main__":
    main()
