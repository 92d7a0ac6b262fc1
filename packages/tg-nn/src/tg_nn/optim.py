"""Optimizers: `SGD`, `Adam`, `AdamW` and `LAMB`, with PyTorch's argument names, defaults and update rules.

`step()` writes the new values into the parameters' buffers (and the optimizer's state buffers) lazily, as
assigns, and realizes them in one schedule; `schedule_step()` returns them unrealized, so a training loop can
realize the loss and the update together: `Tensor.realize(loss, *opt.schedule_step())`.

Everything a step reads lives on the device, so a step captured by `TinyJit` keeps working when replayed:

- `lr` is a realized 0-d float32 tensor (`opt.lr`), read by the update kernels; the learning-rate schedulers of
  `tg_nn.lr_scheduler` assign into it.
- Adam-style bias correction needs the step count t: the optimizer keeps `1 - beta1^t` and `1 - beta2^t` in a
  realized 2-element tensor updated each step (with `c <- (1 - beta) + beta * c`, which stays accurate where
  computing `1 - beta^t` in float32 would lose digits).

Kernels per step over N parameters that all have gradients (already realized, as after `backward()` and a
realize; otherwise the gradient kernels come on top):

- `SGD`: N (with momentum the buffer update is a second store of the parameter's kernel).
- `Adam`, `AdamW`: N + 1: one kernel per parameter storing m, v and the parameter, plus one tiny kernel for the
  bias-correction counter (its 2 elements cannot share a loop with any parameter's elements).
- `LAMB`: 2N + 1: per parameter one kernel computing both norms (of the parameter and of its update) and one
  storing m, v and the parameter, plus the counter kernel. `LAMB(adam=True)` skips the norms: N + 1.

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

import numpy as np

from tg_tensor import Tensor
from tg_uop.dtype import dtypes


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


class LAMB(Optimizer):
    """LAMB (You et al., "Large Batch Optimization for Deep Learning"): Adam's bias-corrected moments, the update
    `u = m_hat / (sqrt(v_hat) + eps) + weight_decay * p`, scaled per parameter by the trust ratio
    `||p|| / ||u||` (1 when either norm is 0): `p <- p - lr * ratio * u`. `adam=True` leaves the ratio out.

    `b1`, `b2` (tinygrad's names) may be given instead of `betas`.
    """

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
        super().__init__(params, lr)
        self.b1 = betas[0] if b1 is None else b1
        self.b2 = betas[1] if b2 is None else b2
        self._check("betas[0]", self.b1, 0.0, 1.0)
        self._check("betas[1]", self.b2, 0.0, 1.0)
        self._check("eps", eps)
        self._check("weight_decay", weight_decay)
        self.eps, self.weight_decay, self.adam = eps, weight_decay, adam
        self.m = [_realized_zeros(p) for p in self.params]
        self.v = [_realized_zeros(p) for p in self.params]
        # [1 - b1^t, 1 - b2^t] after t steps; (1 - b) is computed in float64 here, where float32 would lose digits
        dev = self.params[0].device
        self.bias_correction = Tensor(np.zeros(2, dtype=np.float32), device=dev).realize()
        self._betas = Tensor(np.array([self.b1, self.b2], dtype=np.float32), device=dev).realize()
        self._one_minus_betas = Tensor(np.array([1.0 - self.b1, 1.0 - self.b2], dtype=np.float32), device=dev).realize()

    def _moments(self, i: int, g: Tensor) -> tuple[Tensor, Tensor]:
        """The new m and v of parameter i, unrealized."""
        m = self.b1 * self.m[i].detach() + (1.0 - self.b1) * g
        v = self.b2 * self.v[i].detach() + (1.0 - self.b2) * (g * g)
        return m, v

    def _assign_moments(self, i: int, m: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        self.m[i].assign(m)
        m_new = self.m[i].detach()
        # tg-schedule merges an elementwise kernel into the one before it only when it reads its output: reading
        # m here (a NaN check that leaves every other value alone) lets m, v and the parameter share one kernel
        self.v[i].assign(m_new.isnan().where(m_new, v))
        return m_new, self.v[i].detach()

    def _update(self, p: Tensor, m: Tensor, v: Tensor, c1: Tensor, c2: Tensor) -> Tensor:
        u = (m / c1) / ((v / c2).sqrt() + self.eps)
        return u + self.weight_decay * p.detach() if self.weight_decay else u

    def _advance_counter(self) -> tuple[Tensor, Tensor]:
        c = self.bias_correction.assign(self._one_minus_betas + self._betas * self.bias_correction.detach())
        c = c.detach()
        return c[0], c[1]

    def schedule_step(self) -> list[Tensor]:
        todo = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        if not todo:
            return []
        c1, c2 = self._advance_counter()
        out = [self.bias_correction]
        for i, p in todo:
            assert p.grad is not None
            g = p.grad.detach()
            lr = self._lr_for(p)
            if self.adam:
                m, v = self._assign_moments(i, *self._moments(i, g))
                p.assign(p.detach() - lr * self._update(p, m, v, c1, c2))
            else:
                # both norms from the old state (one reduction kernel, before m and v are overwritten), so the
                # moments and the parameter are still stored from one elementwise kernel after it
                m_val, v_val = self._moments(i, g)
                u_val = self._update(p, m_val, v_val, c1, c2)
                sq = Tensor.stack(p.detach().flatten().square(), u_val.flatten().square())
                norms = sq.sum(axis=1).sqrt()
                # broadcast the norms before computing with them: tg-schedule realizes a computed value that is
                # broadcast after a reduction as a kernel of its own, a movement straight off the reduction is free
                r1, r2 = (norms[k].reshape((1,) * p.ndim).expand(p.shape) for k in (0, 1))
                ratio = ((r1 > 0) & (r2 > 0)).where(r1 / r2, 1.0)
                m, v = self._assign_moments(i, m_val, v_val)
                p.assign(p.detach() - lr * ratio.cast(p.dtype) * self._update(p, m, v, c1, c2))
            out += [self.m[i], self.v[i], p]
        return out


class Adam(LAMB):
    """Adam (PyTorch's `torch.optim.Adam`): bias-corrected moments, `weight_decay` added to the gradient (L2).

    `b1`, `b2` (tinygrad's names) may be given instead of `betas`.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float | Tensor = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        b1: float | None = None,
        b2: float | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, 0.0, adam=True, b1=b1, b2=b2)
        self._check("weight_decay", weight_decay)
        self.l2 = weight_decay

    def schedule_step(self) -> list[Tensor]:
        todo = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        if not todo:
            return []
        c1, c2 = self._advance_counter()
        out = [self.bias_correction]
        for i, p in todo:
            assert p.grad is not None
            g = p.grad.detach()
            if self.l2:
                g = g + self.l2 * p.detach()
            m, v = self._assign_moments(i, *self._moments(i, g))
            # torch's arrangement: step size lr / (1 - b1^t), denominator sqrt(v) / sqrt(1 - b2^t) + eps
            p.assign(p.detach() - (self._lr_for(p) / c1) * m / (v.sqrt() / c2.sqrt() + self.eps))
            out += [self.m[i], self.v[i], p]
        return out


class AdamW(LAMB):
    """AdamW (PyTorch's `torch.optim.AdamW`): Adam with decoupled weight decay, `p <- p * (1 - lr * weight_decay)`
    before the Adam update. Default weight_decay 0.01, as in PyTorch.

    `b1`, `b2` (tinygrad's names) may be given instead of `betas`.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float | Tensor = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        *,
        b1: float | None = None,
        b2: float | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, 0.0, adam=True, b1=b1, b2=b2)
        self._check("weight_decay", weight_decay)
        self.decay = weight_decay

    def schedule_step(self) -> list[Tensor]:
        todo = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        if not todo:
            return []
        c1, c2 = self._advance_counter()
        out = [self.bias_correction]
        for i, p in todo:
            assert p.grad is not None
            m, v = self._assign_moments(i, *self._moments(i, p.grad.detach()))
            lr = self._lr_for(p)
            decayed = p.detach() * (1.0 - lr * self.decay) if self.decay else p.detach()
            p.assign(decayed - (lr / c1) * m / (v.sqrt() / c2.sqrt() + self.eps))
            out += [self.m[i], self.v[i], p]
        return out
