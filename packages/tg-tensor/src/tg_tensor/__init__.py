"""tg-tensor: the lazy `Tensor` with autograd.

>>> from tg_tensor import Tensor
>>> Tensor([1, 2, 3]).sum().item()
6
"""

from tg_tensor.jit import TinyJit
from tg_tensor.tensor import Tensor, no_grad
from tg_uop.dtype import dtypes

__version__ = "0.1.0"

__all__ = ["Tensor", "TinyJit", "dtypes", "no_grad"]
