"""Write a large trace: `python big_trace.py out.jsonl [rewrites] [kernels]` (default 100,000 and 5,000).

The rewrites are real, traced graph_rewrite passes (1,000 passes); the kernels are records with small ASTs."""

from __future__ import annotations

import sys

from tg_uop import PatternMatcher, UOp, UPat, graph_rewrite, trace
from tg_uop.dtype import dtypes
from tg_uop.ops import Ops

drop_add_zero = PatternMatcher([(UPat.var("a") + 0, lambda a: a)])


def write(path: str, rewrites: int = 100_000, kernels: int = 5_000) -> None:
    f = trace.write_to(path)
    per_pass = 100
    for p in range(rewrites // per_pass):
        e = UOp.variable(f"v{p}", 0, 9)
        for _ in range(per_pass):
            e = e + 0
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
