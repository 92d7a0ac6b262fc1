"""Neural-network functions on tensors: normalization, dropout, one-hot, attention, losses.

Everything here is composed from elementwise ops, reductions and movement ops, so gradients come from the
existing rules and the pieces fuse with their neighbours (a layer norm over the last axis is one kernel on
the CPU: mean, variance and the normalized row, per row).

>>> from tg_tensor import Tensor
>>> [round(v, 3) for v in Tensor([1.0, 3.0]).layernorm().tolist()]
[-1.0, 1.0]
>>> Tensor([0, 2]).one_hot(3).tolist()
[[1, 0, 0], [0, 0, 1]]
>>> round(Tensor([[2.0, 0.0]]).cross_entropy(Tensor([0])).item(), 4)
0.1269
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Self, TypeVar

import numpy as np

from tg_tensor.errors import ArgumentError
from tg_tensor.functional import FunctionalMixin
from tg_tensor.helpers import broadcast_shape, to_np_dtype
from tg_tensor.indexing import check_indices
from tg_uop.dtype import dtypes, least_upper_float
from tg_uop.helpers import normalize_axis, prod

T = TypeVar("T", bound="NNOpsMixin")  # the tensor type the module's helper functions take and return


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_running_stats(shape: tuple[int, ...], mean: T | None, var: T | None, op: str) -> None:
    """Running statistics hold one value per channel (axis 1 of the input)."""
    for name, stat in (("running_mean", mean), ("running_var", var)):
        if stat is not None and stat.shape != (shape[1],):
            raise ArgumentError(
                f"{op}: {name} has shape {stat.shape}, expected {(shape[1],)} for an input of shape {shape}"
            )


def _update_running(running: T, batch: T, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * batch, in place (lazily, by `assign`)."""
    running.assign((running * (1 - momentum) + batch * momentum).cast(running.dtype))


def _check_smoothing(label_smoothing: float, op: str) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether `shape` broadcasts to exactly `target` (a parameter must not grow the result)."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


def _normalized_shape(shape: int | Sequence[int], op: str) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


class NNOpsMixin(FunctionalMixin):
    """Normalization, dropout, one-hot, attention and losses; mixed into `Tensor`."""

    __slots__ = ()

    # ---- normalization ----

    def _as_float(self) -> Self:
        return self.cast(least_upper_float(self.dtype))

    def _param_along(self, p: Self, axes: tuple[int, ...], name: str, op: str) -> Self:
        """A per-channel parameter reshaped to broadcast against self: its shape is self's along `axes`."""
        want = tuple(self.shape[a] for a in axes)
        full = tuple(s if i in axes else 1 for i, s in enumerate(self.shape))
        if p.shape not in (want, full):
            raise ArgumentError(f"{op}: {name} has shape {p.shape}, expected {want} for an input of shape {self.shape}")
        return p.reshape(full)

    def batchnorm(
        self,
        weight: Self | None,
        bias: Self | None,
        mean: Self,
        invstd: Self,
        axis: int | Sequence[int] = 1,
    ) -> Self:
        """Batch normalization given its statistics: `(self - mean) * invstd * weight + bias`.

        `axis` is the channel axis (or axes): `mean`, `invstd` (that is 1 / sqrt(var + eps)), `weight` and
        `bias` have self's shape along it and are broadcast over every other axis. In training a BatchNorm
        layer passes the batch's statistics (mean and biased variance over all axes but the channel axis), in
        evaluation its running ones. `weight` and `bias` may be None.

        >>> from tg_tensor import Tensor
        >>> x = Tensor([[1.0, 10.0], [3.0, 30.0]])
        >>> x.batchnorm(None, None, Tensor([2.0, 20.0]), Tensor([1.0, 0.1])).tolist()
        [[-1.0, -1.0], [1.0, 1.0]]
        """
        op = "batchnorm"
        axes = tuple(sorted({normalize_axis(a, self.ndim, op) for a in ((axis,) if isinstance(axis, int) else axis)}))
        scale = self._param_along(invstd, axes, "invstd", op)
        if weight is not None:
            scale = scale * self._param_along(weight, axes, "weight", op)
        out = (self - self._param_along(mean, axes, "mean", op)) * scale
        return out + self._param_along(bias, axes, "bias", op) if bias is not None else out

    def batch_norm(
        self,
        running_mean: Self | None,
        running_var: Self | None,
        weight: Self | None = None,
        bias: Self | None = None,
        training: bool = False,
        momentum: float = 0.1,
        eps: float = 1e-5,
    ) -> Self:
        """Batch normalization of an input (N, C, ...) over every axis but the channel axis 1, as
        `torch.nn.functional.batch_norm`.

        With `training`, the batch's mean and biased variance normalize, and the running statistics (if given)
        are updated in place (lazily, by `assign`): `running = (1 - momentum) * running + momentum * batch`, with
        the unbiased variance for `running_var`. Otherwise the running statistics normalize.

        >>> from tg_tensor import Tensor
        >>> x = Tensor([[1.0], [3.0]])
        >>> [round(v, 3) for v in x.batch_norm(None, None, training=True).reshape(2).tolist()]
        [-1.0, 1.0]
        """
        op = "batch_norm"
        if self.ndim < 2:
            raise ArgumentError(f"{op}: need an input (N, C, ...) of 2 or more dimensions, got shape {self.shape}")
        _check_running_stats(self.shape, running_mean, running_var, op)
        if not training:
            if running_mean is None or running_var is None:
                raise ArgumentError(f"{op}: running_mean and running_var are needed when not training")
            mean, invstd = running_mean, (running_var + eps).rsqrt()
            return self._as_float().batchnorm(weight, bias, mean, invstd)
        axes = tuple(i for i in range(self.ndim) if i != 1)
        count = self.numel() // self.shape[1] if self.shape[1] else 0
        if count <= 1:
            raise ArgumentError(
                f"{op}: training needs more than one value per channel, got an input of shape {self.shape}"
            )
        # normalizing the centred values (rather than passing the statistics to `batchnorm`) reads the mean once:
        # three kernels, as for a layer norm
        x = self._as_float()
        mean = x.mean(axes, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(axes, keepdim=True)
        out = centred * (var + eps).rsqrt()
        if weight is not None:
            out = out * self._param_along(weight, (1,), "weight", op)
        if bias is not None:
            out = out + self._param_along(bias, (1,), "bias", op)
        # after the output is built, so a bad weight or bias raises before any running statistic is touched
        if running_mean is not None:
            _update_running(running_mean, mean.detach().reshape(running_mean.shape), momentum)
        if running_var is not None:
            _update_running(running_var, var.detach().reshape(running_var.shape) * (count / (count - 1)), momentum)
        return out

    def normalize(self, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Self:
        """self / max(||self||_p along `dim`, eps), as `torch.nn.functional.normalize`; a zero vector stays
        zero with a finite gradient.

        >>> from tg_tensor import Tensor
        >>> [round(v, 4) for v in Tensor([[3.0, 4.0]]).normalize()[0].tolist()]
        [0.6, 0.8]
        """
        if p <= 0:
            raise ArgumentError(f"normalize: p must be > 0, got {p}")
        ax = normalize_axis(dim, max(self.ndim, 1), "normalize")
        x = self.cast(least_upper_float(self.dtype))
        powered = x.abs() if p == 1 else x.square() if p == 2 else x.abs() ** p
        total = powered.sum(ax if x.ndim else None, keepdim=True)
        # the root at 0 has an infinite slope: take it of 1 there (the norm is clamped to eps anyway)
        positive = total > 0
        safe = positive.where(total, 1.0)
        norm = safe if p == 1 else safe.sqrt() if p == 2 else safe ** (1 / p)
        return x / positive.where(norm, 0.0).maximum(eps)

    def layernorm(self, axis: int | Sequence[int] = -1, eps: float = 1e-5) -> Self:
        """Normalize to mean 0 and (biased) variance 1 over `axis` (tinygrad's name; no weight or bias).

        One kernel on the CPU (each row's mean and variance computed before the row is stored); three where
        kernels run on work-groups (the mean, the variance of the centred values, and the normalization).
        """
        x = self._as_float()
        centred = x - x.mean(axis, keepdim=True)
        var = (centred * centred).mean(axis, keepdim=True)
        return centred * (var + eps).sqrt().reciprocal()

    def _check_normalized(self, ns: tuple[int, ...], params: dict[str, Self | None], op: str) -> None:
        if len(ns) > self.ndim or self.shape[self.ndim - len(ns) :] != ns:
            raise ArgumentError(f"{op}: normalized_shape {ns} does not match the last dimensions of shape {self.shape}")
        for name, p in params.items():
            if p is not None and p.shape != ns:
                raise ArgumentError(f"{op}: {name} has shape {p.shape}, expected normalized_shape {ns}")

    def layer_norm(
        self,
        normalized_shape: int | Sequence[int],
        weight: Self | None = None,
        bias: Self | None = None,
        eps: float = 1e-5,
    ) -> Self:
        """Layer normalization over the last `len(normalized_shape)` axes, as `torch.nn.functional.layer_norm`.

        >>> from tg_tensor import Tensor
        >>> x = Tensor([[1.0, 3.0]])
        >>> [round(v, 3) for v in x.layer_norm(2, weight=Tensor([1.0, 2.0]), bias=Tensor([0.0, 1.0])).tolist()[0]]
        [-1.0, 3.0]
        """
        ns = _normalized_shape(normalized_shape, "layer_norm")
        self._check_normalized(ns, {"weight": weight, "bias": bias}, "layer_norm")
        out = self.layernorm(tuple(range(self.ndim - len(ns), self.ndim)), eps)
        if weight is not None:
            out = out * weight
        return out + bias if bias is not None else out

    def rms_norm(
        self, normalized_shape: int | Sequence[int], weight: Self | None = None, eps: float | None = None
    ) -> Self:
        """`self / sqrt(mean(self**2) + eps) * weight` over the last axes, as `torch.nn.functional.rms_norm`.

        `eps=None` means the machine epsilon of the (float) dtype, as in PyTorch.
        """
        ns = _normalized_shape(normalized_shape, "rms_norm")
        self._check_normalized(ns, {"weight": weight}, "rms_norm")
        x = self._as_float()
        if eps is None:
            eps = float(np.finfo(to_np_dtype(x.dtype)).eps)
        axes = tuple(range(self.ndim - len(ns), self.ndim))
        out = x * ((x * x).mean(axes, keepdim=True) + eps).sqrt().reciprocal()
        return out * weight if weight is not None else out

    def group_norm(
        self, num_groups: int, weight: Self | None = None, bias: Self | None = None, eps: float = 1e-5
    ) -> Self:
        """Group normalization of an input (N, C, ...), as `torch.nn.functional.group_norm`: the C channels are
        split into `num_groups` groups, each normalized over its channels and all spatial positions; `weight`
        and `bias` are per channel (C,). `num_groups=C` is instance normalization, `num_groups=1` a layer norm
        over (C, ...)."""
        op = "group_norm"
        if self.ndim < 2:
            raise ArgumentError(
                f"group_norm: need an input (N, C, ...) of 2 or more dimensions, got shape {self.shape}"
            )
        n, c = self.shape[:2]
        if not isinstance(num_groups, int) or num_groups <= 0 or c % num_groups:
            raise ArgumentError(
                f"group_norm: {c} channels of shape {self.shape} cannot be split into {num_groups} groups"
            )
        per_group = prod(self.shape[1:]) // num_groups
        out = self.reshape(n, num_groups, per_group).layernorm(-1, eps).reshape(self.shape)
        if weight is not None:
            out = out * self._param_along(weight, (1,), "weight", op)
        return out + self._param_along(bias, (1,), "bias", op) if bias is not None else out

    # ---- dropout, one-hot ----

    def _drop(self, p: float) -> Self:
        """Zero each element with probability p and scale the rest by 1 / (1 - p), whatever `training` says.

        The mask is one tensor used by the forward graph, so the gradient goes through the same mask."""
        if p == 0:
            return self
        if p == 1:
            return self * 0  # 1 / (1 - p) would be inf, and inf * 0 a NaN gradient
        dt = self.dtype if self.dtype.is_float else dtypes.default_float
        keep = self.rand(self.shape, dtype=dt, device=self.device) >= p
        return keep.where(self, 0) * (1.0 / (1.0 - p))

    def dropout(self, p: float = 0.5) -> Self:
        """While `Tensor.training` is True, zero each element with probability `p` and scale the others by
        1 / (1 - p); otherwise return self unchanged.

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 2.0]).dropout(0.5).tolist()  # Tensor.training is False
        [1.0, 2.0]
        """
        if not 0.0 <= p <= 1.0:
            raise ArgumentError(f"dropout: probability p must be in [0, 1], got {p}")
        return self._drop(p) if type(self).training else self

    def one_hot(self, num_classes: int) -> Self:
        """One-hot encoding of an integer tensor: shape (..., num_classes), dtype int32 (PyTorch gives int64).

        `num_classes` is required: inferring it (PyTorch's -1) would need to read the values from the device.
        Values outside [0, num_classes) raise IndexError (all-zero rows under `Context(CHECK_INDEX=0)`).
        """
        if not (self.dtype.is_int or self.dtype.is_bool):
            raise TypeError(f"one_hot: needs an integer tensor, got dtype {self.dtype!r} of shape {self.shape}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ArgumentError(
                f"one_hot: num_classes must be an int >= 0 (it is required, no -1), got {num_classes!r}"
            )
        if num_classes > 0:  # no classes: an empty result, nothing to select wrongly
            check_indices(self, num_classes, "one_hot", "num_classes", negative=False)
        classes = self.arange(num_classes, device=self.device)
        return (self.unsqueeze(-1) == classes).cast(dtypes.default_int)

    # ---- attention ----

    def scaled_dot_product_attention(
        self,
        key: Self,
        value: Self,
        attn_mask: Self | None = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> Self:
        """softmax(self @ key^T * scale + mask) @ value, as `torch.nn.functional.scaled_dot_product_attention`.

        self (the query) is (..., L, E), key (..., S, E), value (..., S, Ev); batch dimensions broadcast.
        `scale` defaults to 1 / sqrt(E). A bool `attn_mask` keeps the positions where it is True; a float one is
        added to the scores. `is_causal` keeps position j for query i when j <= i (and applies with `attn_mask`). As in
        PyTorch, `dropout_p` is applied whatever `Tensor.training` says: pass 0 in evaluation. With `enable_gqa`
        (grouped-query attention), key and value may have fewer heads (axis -3) than the query, each of their
        heads serving a group of consecutive query heads.

        >>> from tg_tensor import Tensor
        >>> q, k, v = Tensor([[1.0, 0.0]]), Tensor([[1.0, 0.0], [0.0, 1.0]]), Tensor([[2.0], [4.0]])
        >>> q.scaled_dot_product_attention(k, v, attn_mask=Tensor([[False, True]])).tolist()
        [[4.0]]
        """
        op = "scaled_dot_product_attention"
        q = self
        if q.ndim < 2 or key.ndim < 2 or value.ndim < 2:
            raise ArgumentError(
                f"{op}: query, key and value need 2 or more dimensions, got {q.shape}, {key.shape}, {value.shape}"
            )
        if q.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
            raise ArgumentError(f"{op}: query {q.shape}, key {key.shape} and value {value.shape} do not match")
        if enable_gqa and min(q.ndim, key.ndim, value.ndim) >= 3:
            key, value = q._gqa_heads(key, "key", op), q._gqa_heads(value, "value", op)
        broadcast_shape(broadcast_shape(q.shape[:-2], key.shape[:-2], op), value.shape[:-2], op)
        if not 0.0 <= dropout_p <= 1.0:
            raise ArgumentError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
        n_q, n_k, emb = q.shape[-2], key.shape[-2], q.shape[-1]
        if scale is None:
            scale = 1.0 / math.sqrt(emb) if emb else 1.0
        scores = (q @ key.transpose(-1, -2)) * scale
        if attn_mask is not None:
            if not (attn_mask.dtype.is_bool or attn_mask.dtype.is_float):
                raise TypeError(f"{op}: attn_mask must be bool or float, got {attn_mask.dtype!r}")
            if not _broadcasts_to(attn_mask.shape, scores.shape):
                raise ArgumentError(
                    f"{op}: attn_mask {attn_mask.shape} does not broadcast to the scores {scores.shape}"
                )
            scores = attn_mask.where(scores, -math.inf) if attn_mask.dtype.is_bool else scores + attn_mask
        if is_causal:  # on top of attn_mask when both are given (tinygrad takes both; PyTorch refuses that)
            rows = self.arange(n_q, device=self.device).reshape(n_q, 1)
            scores = (rows >= self.arange(n_k, device=self.device).reshape(1, n_k)).where(scores, -math.inf)
        return scores.softmax(-1)._drop(dropout_p) @ value

    def _gqa_heads(self, kv: Self, name: str, op: str) -> Self:
        """`kv` with each of its heads (axis -3) repeated for the group of query heads it serves."""
        n_q, n_kv = self.shape[-3], kv.shape[-3]
        if n_kv == 0 or n_q % n_kv:
            raise ArgumentError(
                f"{op}: the {n_kv} heads of {name} {kv.shape} must divide the {n_q} of query {self.shape}"
            )
        if n_q == n_kv:
            return kv
        group = n_q // n_kv
        grown = kv.unsqueeze(-3).expand(*kv.shape[:-2], group, *kv.shape[-2:])
        return grown.reshape(*kv.shape[:-3], n_q, *kv.shape[-2:])

    # ---- losses ----

    def _class_index_loss(
        self,
        target: Self,
        cdim: int,
        weight: Self | None,
        ignore_index: int,
        label_smoothing: float,
        reduction: str,
        op: str,
    ) -> Self:
        """The negative log-likelihood of log-probabilities `self` (classes along `cdim`) at integer `target`,
        PyTorch's way: the 'mean' divides by the summed class weights of the targets not ignored, and label
        smoothing mixes in the (weighted) mean over all classes with the same normalization. A target outside
        [0, classes) other than `ignore_index` raises IndexError (the index rule of `tg_tensor.indexing`)."""
        n_cls = self.shape[cdim]
        check_indices(target, n_cls, op, f"the classes (axis {cdim})", negative=False, ignore=ignore_index)
        cls_shape = tuple(n_cls if i == cdim else 1 for i in range(self.ndim))
        hit = target.unsqueeze(cdim) == self.arange(n_cls, device=self.device).reshape(cls_shape)
        keep = (target != ignore_index).unsqueeze(cdim)
        w = weight.reshape(cls_shape).cast(self.dtype) if weight is not None else None
        logp = self if w is None else self * w
        # Each (sample, class) term, so that one reduction over every axis gives the 'sum' or 'mean' (a per-sample
        # sum first would be a kernel more). `where`, not a product with the one-hot: a -inf log-probability of
        # another class must not give 0 * -inf = NaN.
        if label_smoothing > 0:
            off = label_smoothing / n_cls
            term = hit.where(logp * -(1.0 - label_smoothing + off), logp * -off)
        else:
            term = hit.where(-logp, 0)
        term = keep.where(term, 0)
        if reduction == "none":
            return term.sum(cdim)
        if reduction == "sum":
            return term.sum()
        kept = keep.where(hit, False)
        count = kept.sum() if w is None else kept.where(w, 0).sum()
        if term.numel() == 0:
            return term.sum() / count  # 0 / 0: NaN for an empty batch, as in PyTorch
        return (term / count).sum()  # dividing inside the reduction saves a kernel for the division

    def _prob_target_loss(
        self, target: Self, cdim: int, weight: Self | None, label_smoothing: float, reduction: str
    ) -> Self:
        """Cross-entropy of log-probabilities `self` against class probabilities `target` of the same shape; the
        'mean' divides by the number of samples (elements / classes), as in PyTorch."""
        n_cls = self.shape[cdim]
        p = target.cast(self.dtype)
        if label_smoothing > 0:
            p = p * (1.0 - label_smoothing) + label_smoothing / n_cls
        if weight is not None:
            p = p * weight.reshape(tuple(n_cls if i == cdim else 1 for i in range(self.ndim))).cast(self.dtype)
        term = -(self * p)
        if reduction == "none":
            return term.sum(cdim)
        total = term.sum()  # one reduction over every axis, not a per-sample sum and then another
        return total / (self.numel() // n_cls) if reduction == "mean" else total

    def _check_class_weight(self, weight: Self | None, cdim: int, op: str) -> None:
        if weight is not None and weight.shape != (self.shape[cdim],):
            raise ArgumentError(
                f"{op}: weight has shape {weight.shape}, expected ({self.shape[cdim]},) for input {self.shape}"
            )

    def _class_losses(
        self,
        target: Self,
        weight: Self | None,
        ignore_index: int,
        reduction: str,
        label_smoothing: float,
        op: str,
        log_softmax: bool,
    ) -> Self:
        # PyTorch's layouts: (C,), (N, C) or (N, C, d1, ...) with classes along axis 1 (axis 0 unbatched)
        _check_reduction(reduction, op)
        _check_smoothing(label_smoothing, op)
        if self.ndim == 0:
            raise ArgumentError(f"{op}: input needs a class dimension, got shape {self.shape}")
        cdim = 0 if self.ndim == 1 else 1
        self._check_class_weight(weight, cdim, op)
        logp = self.log_softmax(cdim) if log_softmax else self
        if target.dtype.is_float:
            if target.shape != self.shape:
                raise ArgumentError(f"{op}: probability target {target.shape} must have the input's shape {self.shape}")
            return logp._prob_target_loss(target, cdim, weight, label_smoothing, reduction)
        want = self.shape[:cdim] + self.shape[cdim + 1 :]
        if target.shape != want:
            raise ArgumentError(
                f"{op}: input {self.shape} and target {target.shape} do not match (class indices need shape {want})"
            )
        if not target.dtype.is_int:
            raise TypeError(f"{op}: class-index target needs an integer dtype, got {target.dtype!r}")
        return logp._class_index_loss(target, cdim, weight, ignore_index, label_smoothing, reduction, op)

    def cross_entropy(
        self,
        target: Self,
        *,
        weight: Self | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> Self:
        """Cross-entropy of logits `self` against `target`, as `torch.nn.functional.cross_entropy`.

        self is (C,), (N, C) or (N, C, d1, ...) (classes along axis 1). `target` holds class indices, an integer
        tensor of self's shape without the class axis, or class probabilities, a float tensor of self's shape.
        `weight` (C,) weighs the classes; targets equal to `ignore_index` add nothing and are not counted by
        'mean'. A class index outside [0, C) other than `ignore_index` raises IndexError, as in PyTorch (under
        `Context(CHECK_INDEX=0)` it is not checked and selects no class).
        """
        return self._class_losses(target, weight, ignore_index, reduction, label_smoothing, "cross_entropy", True)

    def nll_loss(
        self, target: Self, *, weight: Self | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> Self:
        """Negative log-likelihood of log-probabilities `self` at class indices `target`, as
        `torch.nn.functional.nll_loss` (same layouts as `cross_entropy`, which is log_softmax then this)."""
        if target.dtype.is_float:
            raise TypeError(f"nll_loss: target needs an integer dtype (class indices), got {target.dtype!r}")
        return self._class_losses(target, weight, ignore_index, reduction, 0.0, "nll_loss", False)

    def sparse_categorical_crossentropy(
        self, Y: Self, ignore_index: int = -1, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> Self:
        """Cross-entropy of logits `self` (..., C) against integer labels `Y` (...), tinygrad's form: classes
        along the LAST axis, labels equal to `ignore_index` add nothing and are not counted by 'mean'.

        >>> from tg_tensor import Tensor
        >>> round(Tensor([[2.0, 0.0], [0.0, 2.0]]).sparse_categorical_crossentropy(Tensor([0, 0])).item(), 4)
        1.1269
        """
        op = "sparse_categorical_crossentropy"
        _check_reduction(reduction, op)
        _check_smoothing(label_smoothing, op)
        if self.ndim == 0 or Y.shape != self.shape[:-1]:
            raise ArgumentError(
                f"{op}: logits {self.shape} and labels {Y.shape} do not match (labels need {self.shape[:-1]})"
            )
        if not Y.dtype.is_int:
            raise TypeError(f"{op}: labels need an integer dtype, got {Y.dtype!r}")
        cdim = self.ndim - 1
        logp = self.log_softmax(cdim)
        return logp._class_index_loss(Y, cdim, None, ignore_index, label_smoothing, reduction, op)

    def _check_same_shape(self, target: Self, op: str) -> None:
        if target.shape != self.shape:
            raise ArgumentError(f"{op}: input {self.shape} and target {target.shape} must have the same shape")

    @staticmethod
    def _weighted(loss: T, weight: T | None, reduction: str, op: str) -> T:
        if weight is not None:
            if not _broadcasts_to(weight.shape, loss.shape):
                raise ArgumentError(f"{op}: weight {weight.shape} does not broadcast to the input's shape {loss.shape}")
            loss = loss * weight
        return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss

    def binary_crossentropy(self, Y: Self, reduction: str = "mean", weight: Self | None = None) -> Self:
        """Binary cross-entropy of probabilities `self` against targets `Y` of the same shape, as
        `torch.nn.functional.binary_cross_entropy`: each log is clamped at -100, so p = 0 or 1 gives a finite
        loss. `weight` (broadcast to self's shape) rescales each element's loss."""
        op = "binary_crossentropy"
        _check_reduction(reduction, op)
        self._check_same_shape(Y, op)
        p, y = self._as_float(), Y.cast(least_upper_float(self.dtype))
        loss = -(y * p.log().maximum(-100.0) + (1 - y) * (1 - p).log().maximum(-100.0))
        return self._weighted(loss, weight, reduction, op)

    def binary_crossentropy_logits(
        self, Y: Self, reduction: str = "mean", pos_weight: Self | None = None, weight: Self | None = None
    ) -> Self:
        """Binary cross-entropy of logits `self` against targets `Y` of the same shape, computed stably (never
        exp of a large positive number), as `torch.nn.functional.binary_cross_entropy_with_logits`.
        `pos_weight` (broadcast along the last axis, e.g. one per class) weighs the positive term.

        >>> from tg_tensor import Tensor
        >>> round(Tensor([0.0]).binary_crossentropy_logits(Tensor([1.0])).item(), 4)
        0.6931
        """
        op = "binary_crossentropy_logits"
        _check_reduction(reduction, op)
        self._check_same_shape(Y, op)
        x, y = self._as_float(), Y.cast(least_upper_float(self.dtype))
        # softplus(-x) = log(1 + exp(-x)) = max(-x, 0) + log(1 + exp(-|x|)): the exp never overflows
        # (where, not maximum: at x = 0 maximum's shared gradient would be wrong by half)
        negative = x < 0
        softplus_neg = negative.where(-x, 0) + (1 + (-negative.where(-x, x)).exp()).log()
        if pos_weight is not None:
            if not _broadcasts_to(pos_weight.shape, x.shape):
                raise ArgumentError(
                    f"{op}: pos_weight {pos_weight.shape} does not broadcast to the input's shape {x.shape}"
                )
            softplus_neg = softplus_neg * ((pos_weight - 1) * y + 1)
        loss = (1 - y) * x + softplus_neg
        return self._weighted(loss, weight, reduction, op)

    def binary_cross_entropy(self, target: Self, weight: Self | None = None, reduction: str = "mean") -> Self:
        """PyTorch's name (and argument order) for `binary_crossentropy`."""
        return self.binary_crossentropy(target, reduction, weight)

    def binary_cross_entropy_with_logits(
        self, target: Self, weight: Self | None = None, reduction: str = "mean", pos_weight: Self | None = None
    ) -> Self:
        """PyTorch's name (and argument order) for `binary_crossentropy_logits`."""
        return self.binary_crossentropy_logits(target, reduction, pos_weight, weight)

    # ---- regression losses, KL divergence ----

    def _pointwise_pair(self, target: Self, reduction: str, op: str) -> tuple[Self, Self]:
        """Input and target cast to a common float dtype, after checking the reduction and the shapes.

        Unlike PyTorch, which broadcasts a target of another shape with only a warning, a shape mismatch raises:
        it is nearly always a bug, e.g. (N, 1) predictions against (N,) targets giving an (N, N) loss."""
        _check_reduction(reduction, op)
        self._check_same_shape(target, op)
        dt = least_upper_float(self.dtype)
        return self.cast(dt), target.cast(dt)

    @staticmethod
    def _reduce_loss(loss: T, reduction: str) -> T:
        return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss

    def mse_loss(self, target: Self, reduction: str = "mean") -> Self:
        """Squared error `(self - target)**2`, as `torch.nn.functional.mse_loss` (target of self's shape).

        >>> from tg_tensor import Tensor
        >>> Tensor([1.0, 2.0]).mse_loss(Tensor([1.0, 4.0])).item()
        2.0
        """
        x, y = self._pointwise_pair(target, reduction, "mse_loss")
        d = x - y
        return self._reduce_loss(d * d, reduction)

    def l1_loss(self, target: Self, reduction: str = "mean") -> Self:
        """Absolute error `|self - target|`, as `torch.nn.functional.l1_loss` (target of self's shape)."""
        x, y = self._pointwise_pair(target, reduction, "l1_loss")
        return self._reduce_loss((x - y).abs(), reduction)

    def huber_loss(self, target: Self, reduction: str = "mean", delta: float = 1.0) -> Self:
        """`0.5 * d**2` where `|d| < delta`, else `delta * (|d| - 0.5 * delta)`, for `d = self - target`, as
        `torch.nn.functional.huber_loss`."""
        op = "huber_loss"
        if not delta > 0:
            raise ArgumentError(f"{op}: delta must be > 0, got {delta}")
        x, y = self._pointwise_pair(target, reduction, op)
        d = x - y
        ad = d.abs()
        return self._reduce_loss((ad < delta).where(d * d * 0.5, (ad - 0.5 * delta) * delta), reduction)

    def smooth_l1_loss(self, target: Self, reduction: str = "mean", beta: float = 1.0) -> Self:
        """`0.5 * d**2 / beta` where `|d| < beta`, else `|d| - 0.5 * beta`, for `d = self - target`, as
        `torch.nn.functional.smooth_l1_loss`: the Huber loss divided by beta; `beta=0` is the L1 loss."""
        op = "smooth_l1_loss"
        if not beta >= 0:
            raise ArgumentError(f"{op}: beta must be >= 0, got {beta}")
        if beta == 0:
            # the quadratic branch would divide by 0, and its masked-out gradient be 0 * inf = NaN
            return self.l1_loss(target, reduction)
        x, y = self._pointwise_pair(target, reduction, op)
        d = x - y
        ad = d.abs()
        return self._reduce_loss((ad < beta).where(d * d * (0.5 / beta), ad - 0.5 * beta), reduction)

    def kl_div(self, target: Self, reduction: str = "mean", log_target: bool = False) -> Self:
        """Kullback-Leibler divergence of log-probabilities `self` from `target`, as
        `torch.nn.functional.kl_div`: each element is `target * (log(target) - self)` (0 where target is 0), or
        `exp(target) * (target - self)` with `log_target`. `reduction` is 'none', 'sum', 'mean' (over every
        element, as PyTorch's default) or 'batchmean' (the sum divided by the batch size: the true KL
        divergence per sample)."""
        op = "kl_div"
        if reduction not in _REDUCTIONS + ("batchmean",):
            raise ArgumentError(f"{op}: reduction must be one of {_REDUCTIONS + ('batchmean',)}, got {reduction!r}")
        x, y = self._pointwise_pair(target, "none", op)
        if log_target:
            loss = y.exp() * (y - x)
        else:
            # 0 * log(0) is 0; log of a placeholder 1 there keeps -inf (and a NaN gradient) out of the graph
            positive = y > 0
            loss = positive.where(y * positive.where(y, 1).log(), 0) - y * x
        if reduction == "batchmean":
            return loss.sum() / self.shape[0] if self.ndim else loss.sum()
        return self._reduce_loss(loss, reduction)
