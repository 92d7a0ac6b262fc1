"""`Sequential`: layers called one after the other, named "0", "1", ... in the state dict as in PyTorch.

>>> from tg_tensor import Tensor
>>> from tg_nn import Linear
>>> from tg_nn.sequential import Sequential
>>> from tg_nn.state import get_state_dict
>>> model = Sequential(Linear(4, 8), Tensor.relu, Linear(8, 2))
>>> model(Tensor.ones(3, 4)).shape, len(model)
((3, 2), 3)
>>> list(get_state_dict(model))
['0.weight', '0.bias', '2.weight', '2.bias']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, overload

from tg_tensor import Tensor


class Sequential:
    """`Sequential(*layers)(x)` is `layers[-1](...layers[0](x))`. A layer is any callable: a tg_nn layer, a
    function such as `Tensor.relu`, a lambda. Supports `len`, iteration, indexing (a slice gives a new
    Sequential over the same layers) and `append`."""

    def __init__(self, *layers: Callable[..., Any]) -> None:
        for layer in layers:
            self.append(layer)

    # the layers are the instance's only attributes, under "0", "1", ...: so get_state_dict names their tensors
    # "0.weight" like PyTorch, and nothing else is ever stored on the instance
    def _layers(self) -> list[Callable[..., Any]]:
        return list(vars(self).values())

    def append(self, layer: Callable[..., Any]) -> Sequential:
        """Add a layer at the end; returns self."""
        if not callable(layer):
            raise TypeError(f"Sequential: layer {len(self)} is not callable: {layer!r}")
        vars(self)[str(len(self))] = layer
        return self

    def __len__(self) -> int:
        return len(vars(self))

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter(self._layers())

    @overload
    def __getitem__(self, i: int) -> Callable[..., Any]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequential: ...
    def __getitem__(self, i: int | slice) -> Callable[..., Any] | Sequential:
        if isinstance(i, slice):
            return Sequential(*self._layers()[i])
        return self._layers()[i]

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self))
        return f"Sequential({inner}\n)" if inner else "Sequential()"

    def __call__(self, x: Tensor) -> Tensor:
        """Pass `x` through every layer in order."""
        for layer in self._layers():
            x = layer(x)
        return x
