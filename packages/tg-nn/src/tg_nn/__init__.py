"""tg-nn: layers, optimizers (`tg_nn.optim`) and learning-rate schedules (`tg_nn.lr_scheduler`), state dicts
and safetensors files (`tg_nn.state`), data sets (`tg_nn.datasets`).

>>> from tg_tensor import Tensor
>>> from tg_nn import Linear
>>> Linear(3, 2)(Tensor.ones(4, 3)).shape
(4, 2)
"""

from __future__ import annotations

from tg_nn import datasets, lr_scheduler, optim, state
from tg_nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from tg_nn.embedding import Embedding
from tg_nn.linear import Linear
from tg_nn.norm import (
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    RMSNorm,
)
from tg_nn.sequential import Sequential

__version__ = "0.1.0"

__all__ = [
    "BatchNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "Embedding",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "LayerNorm",
    "Linear",
    "RMSNorm",
    "Sequential",
    "datasets",
    "lr_scheduler",
    "optim",
    "state",
]
