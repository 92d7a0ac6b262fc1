"""Placing a tensor on several devices: `shard` (split along an axis), `to` with a tuple (replicate), and their
in-place forms. The graphs over the parts and their all-reduces live in `tg_tensor.multi`.

>>> from tg_tensor import Tensor
>>> x = Tensor([[1.0, 2.0], [3.0, 4.0]]).shard(("CPU:0", "CPU:1"), axis=0)
>>> x.devices, x.shape
(('CPU', 'CPU:1'), (2, 2))
>>> (x * 2).sum().item()
20.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from tg_runtime.device import canonicalize, split_devices
from tg_tensor import multi
from tg_tensor.custom import CustomKernelMixin
from tg_tensor.errors import ArgumentError


def device_tuple(devices: str | Sequence[str], op: str) -> tuple[str, ...]:
    """Canonical device names of a tuple of devices (or of a name "A,B"); ArgumentError for none or a repeat."""
    names = devices if isinstance(devices, str) else ",".join(devices)
    if not names:
        raise ArgumentError(f"{op}: no devices given")
    try:
        return split_devices(canonicalize(names))
    except KeyError as e:
        raise ArgumentError(f"{op}: {e.args[0]}") from None


class ShardingMixin(CustomKernelMixin):
    """`shard`, `shard_`, `to_` and `devices` (`to` with a tuple of devices is in core.py)."""

    __slots__ = ()

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices this tensor is on: one, or each of its device tuple."""
        return split_devices(self.device)

    def shard(self, devices: Sequence[str], axis: int = 0) -> Self:
        """This tensor split evenly along `axis` over `devices` (one part per device, in order). Ops on it run
        part by part; a reduction over `axis` adds the parts up on every device (an all-reduce). Gradients
        flow back to the tensor it was made from.

        >>> from tg_tensor import Tensor
        >>> x = Tensor.arange(6).reshape(2, 3).shard(("CPU:0", "CPU:1"), axis=0)
        >>> x.sum(axis=0).tolist()
        [3, 5, 7]
        """
        devs = device_tuple(devices, "shard")
        if not isinstance(axis, int):
            raise ArgumentError(f"shard: axis must be an int, got {axis!r}")
        return self._apply(lambda u: multi.shard(u, devs, axis))

    def shard_(self, devices: Sequence[str], axis: int = 0) -> Self:
        """`shard` in place: this tensor becomes its sharded self (a leaf stays a leaf)."""
        self.uop = self.shard(devices, axis).uop
        return self

    def to_(self, device: str | tuple[str, ...]) -> Self:
        """`to` in place: this tensor moves (or, given a tuple of devices, is replicated); a leaf stays a leaf.

        >>> from tg_tensor import Tensor
        >>> w = Tensor([1.0, 2.0], requires_grad=True).to_(("CPU:0", "CPU:1"))
        >>> w.device, w.requires_grad
        ('CPU,CPU:1', True)
        """
        self.uop = self.to(device).uop
        return self
