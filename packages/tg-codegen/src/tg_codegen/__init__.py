"""tg-codegen: kernel AST -> loop program -> source text for the target device.

>>> from tg_codegen import get_program, ProgramSpec
"""

from tg_codegen.compile import Estimates, ProgramSpec, compile_kernel
from tg_codegen.kernel import kernel_name
from tg_codegen.linearize import linearize
from tg_codegen.lower import KernelAxes, LoweringError, kernel_axes, lower, merge_dims
from tg_codegen.program import get_program

__version__ = "0.1.0"

__all__ = [
    "Estimates",
    "compile_kernel",
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
