"""`Linear`: the fully connected layer, `y = x @ weight.T + bias`.

>>> from tg_tensor import Tensor
>>> from tg_nn.linear import Linear
>>> Linear(3, 2)(Tensor.ones(4, 3)).shape
(4, 2)
"""

from __future__ import annotations

import math

from tg_tensor import Tensor


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
