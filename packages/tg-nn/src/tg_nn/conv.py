"""Convolution layers with PyTorch's signatures and parameter names: `Conv1d`, `Conv2d`, `ConvTranspose1d`,
`ConvTranspose2d`.

>>> from tg_tensor import Tensor
>>> from tg_nn.conv import Conv2d
>>> Conv2d(3, 8, 3, padding="same")(Tensor.ones(2, 3, 5, 5)).shape
(2, 8, 5, 5)

Weights are initialised as in PyTorch: kaiming-uniform with `a=sqrt(5)` (bound `1/sqrt(fan_in)`), bias uniform
in `+-1/sqrt(fan_in)`, where fan_in is `weight.shape[1] * prod(kernel_size)`. A convolution's weight is
(out_channels, in_channels / groups, *kernel_size), a transposed convolution's (in_channels,
out_channels / groups, *kernel_size). An input without the batch dimension (C, *spatial) is accepted, as in
PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tg_tensor import Tensor
from tg_uop.helpers import prod

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(v: int | Sequence[int], nd: int, what: str, layer: str, low: int) -> tuple[int, ...]:
    """An int or nd ints as a tuple of nd ints, each >= low."""
    vals = (v,) * nd if isinstance(v, int) else tuple(v)
    if len(vals) != nd or not all(isinstance(i, int) and not isinstance(i, bool) and i >= low for i in vals):
        raise ValueError(f"{layer}: {what} must be an int >= {low} or {nd} of them, got {v!r}")
    return vals


class _ConvBase:
    """What the convolutions and transposed convolutions share: arguments, parameters, input checks."""

    nd = 0  # spatial dimensions, set by each subclass
    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | str | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        name, nd = type(self).__name__, self.nd
        for what, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if what == "groups" else 0):
                raise ValueError(f"{name}: {what} must be a non-negative int (groups >= 1), got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels={in_channels} and out_channels={out_channels} "
                f"must be divisible by groups={groups}"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups, self.padding_mode = (
            in_channels,
            out_channels,
            groups,
            padding_mode,
        )
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", name, 1)
        self.stride = _tuple(stride, nd, "stride", name, 1)
        self.dilation = _tuple(dilation, nd, "dilation", name, 1)
        self.padding: tuple[int, ...] | str
        if isinstance(padding, str):
            if padding not in ("same", "valid") or self.transposed:
                raise ValueError(f"{name}: padding must be an int, {nd} ints, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = _tuple(padding, nd, "padding", name, 0)
        shape = (
            (in_channels, out_channels // groups, *self.kernel_size)
            if self.transposed
            else (out_channels, in_channels // groups, *self.kernel_size)
        )
        self.weight = Tensor.kaiming_uniform(*shape, a=math.sqrt(5))
        fan_in = prod(shape[1:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.bias = Tensor.uniform(out_channels, low=-bound, high=bound) if bias else None

    def _args(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()})"

    def _check_input(self, x: Tensor) -> None:
        nd = self.nd
        if x.ndim not in (nd + 1, nd + 2):
            raise ValueError(
                f"{self!r}: expected an input of {nd + 2} dims (N, C, *spatial) or {nd + 1} (C, *spatial), "
                f"got shape {x.shape}"
            )
        channels = x.shape[x.ndim - nd - 1]
        if channels != self.in_channels:
            raise ValueError(
                f"{self!r}: input of shape {x.shape} has {channels} channels, expected in_channels={self.in_channels}"
            )


class _ConvNd(_ConvBase):
    """A convolution of `nd` spatial dims (the arguments are `_ConvBase`'s, in PyTorch's order)."""

    def _pad_pairs(self) -> list[tuple[int, int]]:
        """(before, after) padding of each spatial dim, first dim first."""
        if self.padding == "valid":
            return [(0, 0)] * self.nd
        if self.padding == "same":
            total = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation, strict=True)]
            return [(t // 2, t - t // 2) for t in total]  # the odd element goes after, as in PyTorch
        assert not isinstance(self.padding, str)
        return [(p, p) for p in self.padding]

    def __call__(self, x: Tensor) -> Tensor:
        """Convolve `x` of shape (N, in_channels, *spatial) or (in_channels, *spatial)."""
        self._check_input(x)
        # F.pad order: last spatial dim first
        flat = [p for pair in reversed(self._pad_pairs()) for p in pair]
        pad: list[int] | int = flat
        if self.padding_mode != "zeros":
            x, pad = x.pad(flat, mode=self.padding_mode), 0
        return x.conv(self.weight, self.bias, self.stride, pad, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-d convolution over an input (N, C_in, L), as `torch.nn.Conv1d`; weight (C_out, C_in / groups, K).

    `padding` is an int, a 1-tuple, 'same' (stride 1 only) or 'valid'; `padding_mode` is 'zeros', 'reflect',
    'replicate' or 'circular'."""

    nd = 1


class Conv2d(_ConvNd):
    """2-d convolution over an input (N, C_in, H, W), as `torch.nn.Conv2d`; weight (C_out, C_in / groups, KH, KW).

    `kernel_size`, `stride`, `padding` and `dilation` are ints or pairs; `padding` may also be 'same' (stride 1
    only) or 'valid'; `padding_mode` is 'zeros', 'reflect', 'replicate' or 'circular'."""

    nd = 2


class _ConvTransposeNd(_ConvBase):
    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode)
        self.output_padding = _tuple(output_padding, self.nd, "output_padding", type(self).__name__, 0)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= max(s, d):
                raise ValueError(
                    f"{type(self).__name__}: output_padding {self.output_padding} must be smaller than stride "
                    f"{self.stride} or dilation {self.dilation}"
                )

    def _args(self) -> str:
        s = super()._args()
        return s + (f", output_padding={self.output_padding}" if any(self.output_padding) else "")

    def __call__(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        """Transposed convolution of `x` of shape (N, in_channels, *spatial) or (in_channels, *spatial).

        `output_size` (the spatial sizes wanted, or the whole output shape) picks `output_padding` for this call,
        as in PyTorch, where a strided convolution's input size is ambiguous."""
        self._check_input(x)
        out_pad = self.output_padding if output_size is None else self._output_padding_for(x, output_size)
        assert not isinstance(self.padding, str)  # refused at construction
        return x.conv_transpose(self.weight, self.bias, self.stride, self.padding, out_pad, self.groups, self.dilation)

    def _output_padding_for(self, x: Tensor, output_size: Sequence[int]) -> tuple[int, ...]:
        want = tuple(output_size)[-self.nd :]
        spatial = x.shape[-self.nd :]
        assert not isinstance(self.padding, str)
        pads = []
        for i in range(self.nd):
            smallest = (
                (spatial[i] - 1) * self.stride[i]
                - 2 * self.padding[i]
                + self.dilation[i] * (self.kernel_size[i] - 1)
                + 1
            )
            extra = want[i] - smallest if len(want) == self.nd else -1
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ValueError(
                    f"{self!r}: output_size {tuple(output_size)} cannot be reached from an input of shape {x.shape}"
                )
            pads.append(extra)
        return tuple(pads)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution, as `torch.nn.ConvTranspose1d`: input (N, C_in, L), weight
    (C_in, C_out / groups, K); output length (L - 1) * stride - 2 * padding + dilation * (K - 1) +
    output_padding + 1."""

    nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution, as `torch.nn.ConvTranspose2d`: input (N, C_in, H, W), weight
    (C_in, C_out / groups, KH, KW); each output size is (in - 1) * stride - 2 * padding + dilation * (k - 1) +
    output_padding + 1."""

    nd = 2
