"""tg-nn: layers, optimizers (`tg_nn.optim`), state dicts and safetensors files (`tg_nn.state`), data sets
(`tg_nn.datasets`).

>>> from tg_tensor import Tensor
>>> from tg_nn import Linear
>>> Linear(3, 2)(Tensor.ones(4, 3)).shape
(4, 2)
"""

from __future__ import annotations

import math

from tg_nn import datasets, optim, state
from tg_tensor import Tensor

__version__ = "0.1.0"

__all__ = ["Linear", "datasets", "optim", "state"]


class Linear:
    """y = x @ weight.T + bias, weight of shape (out_features, in_features), initialised as in PyTorch:
    kaiming-uniform weight, bias uniform in +-1/sqrt(in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        self.weight = Tensor.kaiming_uniform(out_features, in_features, a=math.sqrt(5))
        bound = 1 / math.sqrt(in_features)
        self.bias = Tensor.uniform(out_features, low=-bound, high=bound) if bias else None

    def __call__(self, x: Tensor) -> Tensor:
        return x.linear(self.weight, self.bias)
