"""tg-uop: the IR of tg. dtypes, Ops, hash-consed UOps, pattern rewriting, symbolic integer math and shape views.

>>> from tg_uop import UOp, UPat, PatternMatcher, graph_rewrite
>>> x = UOp.variable("x", 0, 100)
>>> fold = PatternMatcher([(UPat.var("a") * 1, lambda a: a)])
>>> graph_rewrite(x * 1 + 2, fold).render(simplify=False)
'(x+2)'
"""

from tg_uop import trace
from tg_uop.dtype import DType, PtrDType, dtypes, least_upper_dtype, least_upper_float
from tg_uop.helpers import BEAM, DEBUG, JIT, NOOPT, SPEC, VIZ, Context, ContextVar, getenv
from tg_uop.ops import AxisType, CustomKernel, GroupOp, Ops, RangeArg, exec_alu
from tg_uop.rewrite import PatternMatcher, RewriteRecord, UPat, graph_rewrite, substitute, track_rewrites
from tg_uop.symbolic import pm_symbolic, render, sym_infer, symbolic
from tg_uop.uop import UOp, toposort
from tg_uop.view import ShapeTracker, View

__version__ = "0.1.0"

Variable = UOp.variable

if VIZ:  # the live viewer only when asked for (its HTTP server costs 20 ms of import time)
    from tg_uop.viz.server import serve_live

    serve_live()

__all__ = [
    "AxisType",
    "BEAM",
    "DEBUG",
    "JIT",
    "NOOPT",
    "SPEC",
    "VIZ",
    "Context",
    "ContextVar",
    "CustomKernel",
    "DType",
    "GroupOp",
    "Ops",
    "PatternMatcher",
    "PtrDType",
    "RangeArg",
    "RewriteRecord",
    "ShapeTracker",
    "UOp",
    "UPat",
    "Variable",
    "View",
    "dtypes",
    "exec_alu",
    "getenv",
    "graph_rewrite",
    "least_upper_dtype",
    "least_upper_float",
    "pm_symbolic",
    "render",
    "substitute",
    "sym_infer",
    "symbolic",
    "toposort",
    "trace",
    "track_rewrites",
]
