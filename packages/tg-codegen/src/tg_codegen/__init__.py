"""tg-codegen: kernel AST -> loop program -> source text for the target device.

>>> from tg_codegen import get_program, ProgramSpec
"""

from tg_codegen.linearize import linearize
from tg_codegen.lower import KernelAxes, LoweringError, kernel_axes, lower, merge_dims
from tg_codegen.program import Estimates, ProgramSpec, get_program, kernel_name

__version__ = "0.1.0"

__all__ = [
    "Estimates",
    "KernelAxes",
    "LoweringError",
    "ProgramSpec",
    "get_program",
    "kernel_axes",
    "kernel_name",
    "linearize",
    "lower",
    "merge_dims",
]
