"""Normalization layers with PyTorch's signatures and state dict names: `BatchNorm` (`BatchNorm1d`,
`BatchNorm2d`, `BatchNorm3d`), `LayerNorm`, `GroupNorm`, `InstanceNorm1d`, `InstanceNorm2d`, `RMSNorm`.

>>> from tg_tensor import Tensor, dtypes
>>> from tg_nn.norm import BatchNorm2d
>>> bn = BatchNorm2d(3)
>>> x = Tensor.arange(24, dtype=dtypes.float32).reshape(2, 3, 2, 2)
>>> with Tensor.train():
...     out = bn(x)
>>> bn.num_batches_tracked.item(), [round(v, 3) for v in bn.running_mean.tolist()]
(1, [0.75, 1.15, 1.55])

Decisions:

- While `Tensor.training` is True (`with Tensor.train():`), BatchNorm and InstanceNorm with
  `track_running_stats` normalise with the batch's statistics (biased variance) and update `running_mean`,
  `running_var` (from the unbiased variance, as PyTorch) and `num_batches_tracked` with `assign`: the updates
  are pending until realized, and TinyJit captures them with the step. `momentum=None` is PyTorch's cumulative
  average. Otherwise they normalise with the running statistics; without `track_running_stats`, always with
  the batch's (or the instance's).
- Running statistics and `num_batches_tracked` (int64, 0-d, as PyTorch's) have `requires_grad=False`, so an
  optimizer given `get_parameters(model)` leaves them alone. Weights start at ones, biases at zeros.
- A training step with one value per channel raises, as in PyTorch (its variance would be undefined).
"""

from __future__ import annotations

from collections.abc import Sequence

from tg_tensor import Tensor
from tg_uop.dtype import dtypes
from tg_uop.helpers import prod


def _shape(s: int | Sequence[int], layer: str) -> tuple[int, ...]:
    shape = (s,) if isinstance(s, int) else tuple(s)
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in shape):
        raise ValueError(f"{layer}: normalized_shape must be an int or a sequence of non-negative ints, got {s!r}")
    return shape


class _RunningStats:
    """BatchNorm's and InstanceNorm's shared parts: per-channel affine parameters and running statistics.

    `affine` and `track_running_stats` default to the class's `default_affine` (None: not given)."""

    default_affine = True  # the default of both affine and track_running_stats

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool | None = None,
        track_running_stats: bool | None = None,
    ) -> None:
        affine = self.default_affine if affine is None else affine
        track_running_stats = self.default_affine if track_running_stats is None else track_running_stats
        if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be an int >= 1, got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Tensor.ones(num_features) if affine else None
        self.bias = Tensor.zeros(num_features) if affine else None
        self.running_mean: Tensor | None = None
        self.running_var: Tensor | None = None
        self.num_batches_tracked: Tensor | None = None
        if track_running_stats:
            # realized now: they are written in place with assign
            self.running_mean = Tensor.zeros(num_features).contiguous().realize().requires_grad_(False)
            self.running_var = Tensor.ones(num_features).contiguous().realize().requires_grad_(False)
            nbt = Tensor.zeros((), dtype=dtypes.int64).contiguous().realize()
            self.num_batches_tracked = nbt.requires_grad_(False)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats})"
        )

    def _stats(self) -> list[Tensor]:
        return [t for t in (self.running_mean, self.running_var, self.num_batches_tracked) if t is not None]

    def _check_channels(self, x: Tensor) -> None:
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r}: input of shape {x.shape} has {x.shape[1]} channels, "
                f"expected num_features={self.num_features}"
            )

    def _settle(self) -> None:
        # an update still pending (an ASSIGN node) must run once, here: a graph built on top of it would run it
        # again when realized on its own
        pending = [t for t in self._stats() if not t.is_contiguous_buffer()]
        if pending:
            Tensor.realize(*pending)

    def _update(self, mean: Tensor, var: Tensor, n: int, count_batches: bool = True) -> None:
        """Move the running statistics towards a batch's per-channel mean and biased variance over n values.

        Without `count_batches` (InstanceNorm, as PyTorch's) num_batches_tracked stays 0 and momentum=None means
        no update."""
        assert self.running_mean is not None and self.running_var is not None and self.num_batches_tracked is not None
        rm, rv, count = self.running_mean, self.running_var, self.num_batches_tracked
        count_next = count + 1
        if self.momentum is None and not count_batches:
            return
        if self.momentum is None:  # a cumulative average: weight 1 / (batches seen, this one included)
            factor: Tensor | float = count_next.cast(rm.dtype).reciprocal()
        else:
            factor = self.momentum
        unbiased = var.detach() * (n / (n - 1))
        rm.assign((rm * (1 - factor) + mean.detach() * factor).cast(rm.dtype))
        rv.assign((rv * (1 - factor) + unbiased * factor).cast(rv.dtype))
        if count_batches:
            count.assign(count_next)


class BatchNorm(_RunningStats):
    """Batch normalization over the channel axis 1 of an input (N, C, *spatial), as PyTorch's BatchNorm1d/2d/3d
    (tinygrad's `BatchNorm`/`BatchNorm2d`, which take any rank >= 2).

    State dict names as PyTorch's: weight, bias, running_mean, running_var, num_batches_tracked."""

    _ranks: tuple[int, ...] = ()  # accepted input ranks; empty: any rank >= 2

    def __call__(self, x: Tensor) -> Tensor:
        """Normalize `x` per channel: with the batch's statistics while training (updating the running ones),
        with the running statistics otherwise."""
        ranks = self._ranks or tuple(range(2, max(x.ndim, 2) + 1))
        if x.ndim not in ranks:
            want = " or ".join(f"{r}-d" for r in ranks) if self._ranks else "at least 2-d"
            raise ValueError(f"{self!r}: expected a {want} input (N, C, ...), got shape {x.shape}")
        self._check_channels(x)
        self._settle()
        if Tensor.training or self.running_mean is None:
            axes = (0, *range(2, x.ndim))
            n = prod(x.shape[a] for a in axes)
            if Tensor.training and n <= 1:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when training, got shape {x.shape}")
            var, mean = x.var_mean(axes, correction=0)
            if Tensor.training and self.running_mean is not None:
                self._update(mean, var, n)
        else:
            assert self.running_var is not None
            mean, var = self.running_mean, self.running_var
        return x.batchnorm(self.weight, self.bias, mean, (var + self.eps).rsqrt())


class BatchNorm1d(BatchNorm):
    """`BatchNorm` for an input (N, C) or (N, C, L), as `torch.nn.BatchNorm1d`."""

    _ranks = (2, 3)


class BatchNorm2d(BatchNorm):
    """`BatchNorm` for an input (N, C, H, W), as `torch.nn.BatchNorm2d`."""

    _ranks = (4,)


class BatchNorm3d(BatchNorm):
    """`BatchNorm` for an input (N, C, D, H, W), as `torch.nn.BatchNorm3d`."""

    _ranks = (5,)


class _InstanceNorm(_RunningStats):
    nd = 0  # spatial dims, set by each subclass
    default_affine = False

    def __call__(self, x: Tensor) -> Tensor:
        """Normalize each channel of each sample over its spatial positions (with the running statistics in
        evaluation when they are tracked)."""
        nd = self.nd
        if x.ndim not in (nd + 1, nd + 2):
            raise ValueError(
                f"{self!r}: expected an input of {nd + 2} dims (N, C, *spatial) or {nd + 1} (C, *spatial), "
                f"got shape {x.shape}"
            )
        if x.ndim == nd + 1:  # unbatched
            return self(x.unsqueeze(0)).squeeze(0)
        self._check_channels(x)
        self._settle()
        axes = tuple(range(2, x.ndim))
        if Tensor.training or self.running_mean is None:
            n = prod(x.shape[a] for a in axes)
            if Tensor.training and n <= 1:
                raise ValueError(f"{self!r}: expected more than 1 spatial element when training, got shape {x.shape}")
            var, mean = x.var_mean(axes, keepdim=True, correction=0)
            if Tensor.training and self.running_mean is not None:
                # PyTorch's running statistics average the per-instance ones over the batch
                self._update(mean.mean((0, *axes)), var.mean((0, *axes)), n, count_batches=False)
            out = (x - mean) * (var + self.eps).rsqrt()
        else:
            assert self.running_var is not None
            out = x.batchnorm(None, None, self.running_mean, (self.running_var + self.eps).rsqrt())
        if self.weight is None or self.bias is None:
            return out
        per_channel = (self.num_features,) + (1,) * nd
        return out * self.weight.reshape(per_channel) + self.bias.reshape(per_channel)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of an input (N, C, L) or (C, L), as `torch.nn.InstanceNorm1d` (affine=False and
    track_running_stats=False by default)."""

    nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of an input (N, C, H, W) or (C, H, W), as `torch.nn.InstanceNorm2d` (affine=False
    and track_running_stats=False by default)."""

    nd = 2


class _LastDimsNorm:
    """LayerNorm's and RMSNorm's shared parts: the repr and the check that an input ends with normalized_shape."""

    normalized_shape: tuple[int, ...]
    eps: float | None
    elementwise_affine: bool

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine})"
        )

    def _checked(self, x: Tensor) -> tuple[int, ...]:
        """normalized_shape, once `x` is known to end with it."""
        ns = self.normalized_shape
        if x.shape[x.ndim - len(ns) :] != ns or x.ndim < len(ns):
            raise ValueError(f"{self!r}: input of shape {x.shape} does not end with normalized_shape {ns}")
        return ns


class LayerNorm(_LastDimsNorm):
    """Layer normalization over the last `len(normalized_shape)` dims, as `torch.nn.LayerNorm`: weight (ones) and
    bias (zeros) of shape normalized_shape when `elementwise_affine` (bias only if `bias`)."""

    eps: float

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        self.normalized_shape = _shape(normalized_shape, "LayerNorm")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Tensor.ones(self.normalized_shape) if elementwise_affine else None
        self.bias = Tensor.zeros(self.normalized_shape) if elementwise_affine and bias else None

    def __call__(self, x: Tensor) -> Tensor:
        """Normalize `x` of shape (..., *normalized_shape) over its last dims."""
        return x.layer_norm(self._checked(x), self.weight, self.bias, self.eps)


class RMSNorm(_LastDimsNorm):
    """Root-mean-square normalization over the last `len(normalized_shape)` dims, as `torch.nn.RMSNorm`:
    `x / sqrt(mean(x**2) + eps) * weight`; `eps=None` is the machine epsilon of x's dtype."""

    def __init__(
        self, normalized_shape: int | Sequence[int], eps: float | None = None, elementwise_affine: bool = True
    ) -> None:
        self.normalized_shape = _shape(normalized_shape, "RMSNorm")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Tensor.ones(self.normalized_shape) if elementwise_affine else None

    def __call__(self, x: Tensor) -> Tensor:
        """Normalize `x` of shape (..., *normalized_shape) over its last dims."""
        return x.rms_norm(self._checked(x), self.weight, self.eps)


class GroupNorm:
    """Group normalization, as `torch.nn.GroupNorm`: the channels of an input (N, C, ...) in `num_groups`
    groups, each normalized over its channels and positions; per-channel weight (ones) and bias (zeros)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        if not isinstance(num_groups, int) or num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Tensor.ones(num_channels) if affine else None
        self.bias = Tensor.zeros(num_channels) if affine else None

    def __repr__(self) -> str:
        return f"GroupNorm({self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine})"

    def __call__(self, x: Tensor) -> Tensor:
        """Normalize `x` of shape (N, num_channels, ...) by groups of channels."""
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"{self!r}: expected an input (N, {self.num_channels}, ...) of 2 or more dims, got shape {x.shape}"
            )
        return x.group_norm(self.num_groups, self.weight, self.bias, self.eps)
