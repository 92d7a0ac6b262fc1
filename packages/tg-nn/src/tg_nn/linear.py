"""`Linear`: the fully connected layer, `y = x @ weight.T + bias`.

>>> from tg_tensor import Tensor
>>> from tg_nn.linear import Linear
>>> Linear(3, 2)(Tensor.ones(4, 3)).shape
(4, 2)
"""

from __future__ import annotations

import math

from tg_tensor import Tensor
from tg_uop.ops import Ops


class Linear:
    """y = x @ weight.T + bias, weight of shape (out_features, in_features), initialised as in PyTorch:
    kaiming-uniform weight, bias uniform in +-1/sqrt(in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        self.in_features, self.out_features = in_features, out_features
        self.weight = Tensor.kaiming_uniform(out_features, in_features, a=math.sqrt(5))
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.bias = Tensor.uniform(out_features, low=-bound, high=bound) if bias else None

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None})"

    def __call__(self, x: Tensor) -> Tensor:
        """Apply the layer to `x` of shape (..., in_features); the result has shape (..., out_features)."""
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r}: cannot matmul an input of shape {x.shape} with weight.T of shape "
                f"{(self.in_features, self.out_features)}: the input's last dimension must be {self.in_features}"
            )
        return x.linear(self.weight, self.bias)


def store_transposed(layers: list[Linear]) -> None:
    """Keep each layer's weight (out, in) as a transposed view of an (in, out) buffer, realized: the same Tensor
    objects, shapes and values. `x @ weight.T` then reads the weight along its rows, which tg's kernels do several
    times faster on the CPU (a one-row x, as in decoding, most of all: the lanes run over the outputs). Loading or
    updating (optimizers `assign`) writes through the view, so the layout stays; the state dict keeps (out, in)."""
    todo = [d for d in layers if d.weight.uop.op is not Ops.PERMUTE]  # not already stored so
    transposed = [d.weight.T.contiguous() for d in todo]
    Tensor.realize(*transposed)
    for d, t in zip(todo, transposed, strict=True):
        d.weight.replace_uop(t.uop.permute((1, 0)))
