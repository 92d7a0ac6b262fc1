"""Optimizers: `SGD` and the Adam family (`Adam`, `AdamW`, `LAMB`: configurations of `AdamFamily`), with
PyTorch's argument names, defaults and update rules.

`step()` writes the new values into the parameters' buffers (and the optimizer's state buffers) lazily, as
assigns, and realizes them in one schedule; `schedule_step()` returns them unrealized, so a training loop can
realize the loss and the update together: `Tensor.realize(loss, *opt.schedule_step())`.

Everything a step reads lives on the device, so a step captured by `TinyJit` keeps working when replayed:

- `lr` is a realized 0-d float32 tensor (`opt.lr`), read by the update kernels; the learning-rate schedulers of
  `tg_nn.lr_scheduler` assign into it.
- Adam-style bias correction needs the step count t: the optimizer keeps `1 - beta1^t` and `1 - beta2^t` on the
  device (`opt.bias_correction` reads them), advanced each step with `c <- (1 - beta) + beta * c`, which stays
  accurate where computing `1 - beta^t` in float32 would lose digits. They are stored shaped like the smallest
  parameter (every element alike), so tg-schedule advances them in the kernel of that parameter's shape; the
  other parameters' kernels read one element.

Kernels per step over N parameters that all have gradients (already realized, as after `backward()` and a
realize; otherwise the gradient kernels come on top). tg-schedule stores the elementwise updates of one shape
from one loop, so parameters of one shape (a norm layer's weight and bias) share a kernel, and S below is the
number of distinct parameter shapes:

- `SGD`: S (with momentum the buffer update is another store of the parameter's kernel).
- `Adam`, `AdamW`: S: one kernel per shape storing m, v and the parameters (the kernel of the smallest
  parameter's shape also stores the bias-correction counter). In a step where no parameter of that shape has a
  gradient the counter takes a kernel of its own: S + 1.
- `LAMB`: N + S: per parameter one kernel computing both norms (of the parameter and of its update), and per
  shape one storing m, v and the parameters. `LAMB(adam=True)` skips the norms: S.

>>> from tg_tensor import Tensor
>>> w = Tensor([1.0, 2.0], requires_grad=True)
>>> opt = SGD([w], lr=0.5)
>>> _ = (w * w).sum().backward()
>>> opt.step()
>>> w.tolist()
[0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

import numpy as np

from tg_tensor import Tensor
from tg_uop.dtype import DType, dtypes


def _realized_zeros(p: Tensor) -> Tensor:
    return Tensor.zeros_like(p).contiguous().realize()


class Optimizer:
    """Base: holds the parameters (realized on construction, so they have buffers to write into) and `lr`.

    Parameters whose `requires_grad` is None (undecided) are switched on; those set to False are skipped.
    `lr` may be a float or a 1-element tensor; the optimizer keeps it as a realized 0-d float32 tensor of its own.
    """

    def __init__(self, params: Iterable[Tensor], lr: float | Tensor) -> None:
        name = type(self).__name__
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise ValueError(f"{name}: params must be Tensors, got a {type(p).__name__}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: params contains a tensor more than once")
        for p in params:
            if p.requires_grad is None:
                p.requires_grad = True
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError(f"{name}: no parameters with requires_grad=True")
        self.lr = self._lr_tensor(lr)
        Tensor.realize(*self.params)

    def _lr_tensor(self, lr: float | Tensor) -> Tensor:
        name = type(self).__name__
        if isinstance(lr, Tensor):
            if lr.numel() != 1:
                raise ValueError(f"{name}: lr must be a number or a 1-element tensor, got shape {lr.shape}")
            value = float(lr.item())
        elif isinstance(lr, (int, float)) and not isinstance(lr, bool):
            value = float(lr)
        else:
            raise ValueError(f"{name}: lr must be a number or a 1-element tensor, got a {type(lr).__name__}")
        if not value >= 0.0:  # also refuses nan
            raise ValueError(f"{name}: lr must be >= 0, got {value}")
        return Tensor(np.array(value, dtype=np.float32), device=self.params[0].device).realize()

    def _check(self, arg: str, value: float, low: float = 0.0, high: float | None = None) -> None:
        """Refuse `value` outside [low, high) (or below `low` when there is no high), naming the argument."""
        ok = value >= low and (high is None or value < high)
        if not ok:
            bound = f"in [{low}, {high})" if high is not None else f">= {low}"
            raise ValueError(f"{type(self).__name__}: {arg} must be {bound}, got {value}")

    def _lr_for(self, p: Tensor) -> Tensor:
        return self.lr if p.dtype == dtypes.float32 else self.lr.cast(p.dtype)

    def zero_grad(self) -> None:
        """Forget the gradients (set `.grad` of every parameter to None)."""
        for p in self.params:
            p.grad = None

    def schedule_step(self) -> list[Tensor]:
        """Assign the updated values lazily; the tensors to realize to apply them."""
        raise NotImplementedError

    def step(self) -> None:
        """One update of every parameter that has a gradient, realized together in one schedule."""
        if updated := self.schedule_step():
            Tensor.realize(*updated)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's formulation, dampening 0), Nesterov and
    weight decay (L2, added to the gradient)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float | Tensor = 0.001,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self._check("momentum", momentum)
        self._check("weight_decay", weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        self.bufs = [_realized_zeros(p) for p in self.params] if momentum else []

    def schedule_step(self) -> list[Tensor]:
        out: list[Tensor] = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.detach()
            if self.weight_decay:
                g = g + self.weight_decay * p.detach()
            if self.momentum:
                # torch starts the buffer at the first gradient: the same as momentum * 0 + g
                buf = self.bufs[i].assign(self.momentum * self.bufs[i].detach() + g)
                out.append(buf)
                g = g + self.momentum * buf.detach() if self.nesterov else buf.detach()
            p.assign(p.detach() - self._lr_for(p) * g)
            out.append(p)
        return out


def _cast_pair(pair: tuple[Tensor, Tensor], dtype: DType) -> tuple[Tensor, Tensor]:
    return pair[0].cast(dtype), pair[1].cast(dtype)


class Decay(Enum):
    """Where an Adam-style optimizer applies `weight_decay`."""

    L2 = "l2"  # added to the gradient the moments see (Adam)
    DECOUPLED = "decoupled"  # the parameter shrinks by `lr * weight_decay` before the update (AdamW)
    UPDATE = "update"  # added to the update direction, before the trust ratio (LAMB)


class AdamFamily(Optimizer):
    """Adam-style optimizers: bias-corrected moments `m`, `v` and the direction `u = m_hat / (sqrt(v_hat) + eps)`.

    A configuration (the class attributes a subclass sets) says where `weight_decay` applies (`decay_mode`, see
    `Decay`), whether the step is scaled per parameter by the trust ratio `||p|| / ||u||` (1 when either norm is
    0), as in LAMB: `p <- p - lr * ratio * u`, and the defaults of `eps` and `weight_decay`. `Adam`, `AdamW` and
    `LAMB` are such configurations. `b1`, `b2` (tinygrad's names) may be given instead of `betas`.

    >>> from tg_tensor import Tensor
    >>> w = Tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> w.grad = Tensor([2.0, -3.0])
    >>> opt.step()
    >>> [round(x, 4) for x in w.tolist()]
    [0.9, -0.9]
    """

    decay_mode: Decay = Decay.L2
    trust_ratio: bool = False
    default_eps: float = 1e-8
    default_weight_decay: float = 0.0

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float | Tensor = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float | None = None,
        weight_decay: float | None = None,
        *,
        b1: float | None = None,
        b2: float | None = None,
    ) -> None:
        eps = self.default_eps if eps is None else eps
        weight_decay = self.default_weight_decay if weight_decay is None else weight_decay
        super().__init__(params, lr)
        self.b1 = betas[0] if b1 is None else b1
        self.b2 = betas[1] if b2 is None else b2
        self._check("betas[0]", self.b1, 0.0, 1.0)
        self._check("betas[1]", self.b2, 0.0, 1.0)
        self._check("eps", eps)
        self._check("weight_decay", weight_decay)
        self.eps, self.weight_decay = eps, weight_decay
        self.m = [_realized_zeros(p) for p in self.params]
        self.v = [_realized_zeros(p) for p in self.params]
        # The counter, 1 - b1^t and 1 - b2^t, is kept in two tensors shaped like the smallest non-empty parameter,
        # every element holding the same value: tg-schedule stores elementwise kernels of one shape from one loop,
        # so advancing it costs no kernel of its own. Parameters of that shape read the new value at their own
        # element; the others read the old one's first element.
        sizes = [(p.numel(), i) for i, p in enumerate(self.params) if p.numel() > 0]
        shape = self.params[min(sizes)[1]].shape if sizes else (1,)
        dev = self.params[0].device
        self._counter = [Tensor(np.zeros(shape, dtype=np.float32), device=dev).realize() for _ in range(2)]

    @property
    def decay(self) -> float:
        """The decoupled weight decay applied to the parameters (`weight_decay` under `Decay.DECOUPLED`, else 0)."""
        return self.weight_decay if self.decay_mode is Decay.DECOUPLED else 0.0

    @property
    def bias_correction(self) -> Tensor:
        """`[1 - b1^t, 1 - b2^t]` after t steps (a 2-element float32 tensor, read from the counter)."""
        return Tensor.stack(*(c.detach().reshape(-1)[0] for c in self._counter))

    def _counter_ahead(self) -> tuple[Tensor, Tensor]:
        """This step's `1 - b1^t`, `1 - b2^t` (0-d), computed from the counter as it was before the step.

        `c <- (1 - b) + b * c` stays accurate where computing `1 - b^t` in float32 would lose digits; `1 - b` is
        computed in float64 here.
        """
        c1, c2 = (c.detach().reshape(-1)[0] for c in self._counter)
        return (1.0 - self.b1) + self.b1 * c1, (1.0 - self.b2) + self.b2 * c2

    def _advance_counter(self) -> tuple[Tensor, Tensor]:
        """Advance the counter in place (lazily); its new values, with the carrier's shape."""
        for c, b in zip(self._counter, (self.b1, self.b2), strict=True):
            c.assign((1.0 - b) + b * c.detach())
        return self._counter[0].detach(), self._counter[1].detach()

    def _trust_ratio(self, p: Tensor, u: Tensor) -> Tensor:
        """`||p|| / ||u||` (1 when either is 0), broadcast to p's shape."""
        # both norms in one reduction kernel, from the old state (before m and v are overwritten)
        norms = Tensor.stack(p.detach().flatten().square(), u.flatten().square()).sum(axis=1).sqrt()
        # broadcast the norms before computing with them: tg-schedule realizes a computed value that is
        # broadcast after a reduction as a kernel of its own, a movement straight off the reduction is free
        r1, r2 = (norms[k].reshape((1,) * p.ndim).expand(p.shape) for k in (0, 1))
        return ((r1 > 0) & (r2 > 0)).where(r1 / r2, 1.0).cast(p.dtype)

    def _direction(self, p: Tensor, m: Tensor, v: Tensor, c: tuple[Tensor, Tensor]) -> Tensor:
        u = (m / c[0]) / (v.sqrt() / c[1].sqrt() + self.eps)
        return u + self.weight_decay * p.detach() if self.weight_decay and self.decay_mode is Decay.UPDATE else u

    def _update(self, i: int, c: tuple[Tensor, Tensor], c_ahead: tuple[Tensor, Tensor]) -> list[Tensor]:
        """Assign parameter i's new m, v and value, using the counter values `c` (for the trust ratio, which is
        computed before the counter is stored, `c_ahead`); the tensors to realize."""
        p = self.params[i]
        assert p.grad is not None
        g, lr, wd = p.grad.detach(), self._lr_for(p), self.weight_decay
        if wd and self.decay_mode is Decay.L2:
            g = g + wd * p.detach()
        m = self.b1 * self.m[i].detach() + (1.0 - self.b1) * g
        v = self.b2 * self.v[i].detach() + (1.0 - self.b2) * (g * g)
        ratio = self._trust_ratio(p, self._direction(p, m, v, c_ahead)) if self.trust_ratio else None
        self.m[i].assign(m)
        self.v[i].assign(v)
        u = self._direction(p, self.m[i].detach(), self.v[i].detach(), c)
        start = p.detach() * (1.0 - lr * wd) if wd and self.decay_mode is Decay.DECOUPLED else p.detach()
        p.assign(start - lr * (u if ratio is None else ratio * u))
        return [self.m[i], self.v[i], p]

    def schedule_step(self) -> list[Tensor]:
        todo = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not todo:
            return []
        ahead = self._counter_ahead()  # before the counter's assign: these read its old value
        new = self._advance_counter()
        out = list(self._counter)
        for i in todo:
            p = self.params[i]
            c = new if p.shape == new[0].shape else ahead
            # the counter is float32; a parameter of another float type computes its update in its own
            out += self._update(i, _cast_pair(c, p.dtype), _cast_pair(ahead, p.dtype))
        return out


class Adam(AdamFamily):
    """Adam (PyTorch's `torch.optim.Adam`): bias-corrected moments, `weight_decay` (default 0) added to the
    gradient (L2); `eps` default 1e-8. Arguments: `params, lr=0.001, betas=(0.9, 0.999), eps, weight_decay, *, b1,
    b2` (tinygrad's names for the betas)."""

    decay_mode = Decay.L2


class AdamW(AdamFamily):
    """AdamW (PyTorch's `torch.optim.AdamW`): Adam with decoupled weight decay, `p <- p * (1 - lr * weight_decay)`
    before the Adam update. Default weight_decay 0.01, as in PyTorch; the arguments are Adam's."""

    decay_mode = Decay.DECOUPLED
    default_weight_decay = 0.01


class LAMB(AdamFamily):
    """LAMB (You et al., "Large Batch Optimization for Deep Learning"): Adam's bias-corrected moments, the update
    `u = m_hat / (sqrt(v_hat) + eps) + weight_decay * p`, scaled per parameter by the trust ratio
    `||p|| / ||u||` (1 when either norm is 0): `p <- p - lr * ratio * u`. `adam=True` leaves the ratio out.
    Default eps 1e-6. `b1`, `b2` (tinygrad's names) may be given instead of `betas`.
    """

    decay_mode = Decay.UPDATE

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float | Tensor = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        adam: bool = False,
        *,
        b1: float | None = None,
        b2: float | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, b1=b1, b2=b2)
        self.adam, self.trust_ratio = adam, not adam
