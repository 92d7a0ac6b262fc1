"""Write a large trace: `python big_trace.py out.jsonl [rewrites] [kernels]` (default 100,000 and 5,000).

The rewrites are real, traced graph_rewrite passes (999 passes: one of 5,000 rewrites on a graph too large to draw
whole, the rest of about 100 each); the kernels are records with small ASTs."""

from __future__ import annotations

import sys

from tg_uop import PatternMatcher, UOp, UPat, graph_rewrite, trace
from tg_uop.dtype import dtypes
from tg_uop.ops import Ops

drop_add_zero = PatternMatcher([(UPat.var("a") + 0, lambda a: a)])


def write(path: str, rewrites: int = 100_000, kernels: int = 5_000) -> None:
    f = trace.write_to(path)
    big = min(5_000, rewrites)
    sizes = [big] + [(rewrites - big) // 998 + (i < (rewrites - big) % 998) for i in range(998)]
    for p, size in enumerate(sizes):
        e = UOp.variable(f"v{p}", 0, 9)
        for i in range(size):
            # the big pass adds a new variable at each level, so no two levels are the same node
            e = (e + 0) + UOp.variable(f"w{i}", 0, 9) if p == 0 else e + 0
        graph_rewrite(e * 2, drop_add_zero)
    for k in range(kernels):
        g = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), arg=0)
        ast = UOp.sink(UOp(Ops.STORE, dtypes.void, (g, UOp.const(dtypes.float32, float(k)))))
        trace.emit("kernel", ref=trace.Ref(ast), name=f"E_{k}", device="CPU", opts=[], ast=ast, program=[ast], src="")
        trace.emit("launch", ref=trace.Ref(ast), name=f"E_{k}", device="CPU", dt=1e-6)
    f.flush()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[2:]]
    write(sys.argv[1], *args)
