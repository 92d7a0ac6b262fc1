"""Optimizers: `SGD`, `Adam`, `AdamW` and `LAMB`, with PyTorch's argument names, defaults and update rules.

`step()` writes the new values into the parameters' buffers (and the optimizer's state buffers) lazily, as
assigns, and realizes them in one schedule; `schedule_step()` returns them unrealized, so a training loop can
realize the loss and the update together: `Tensor.realize(loss, *opt.schedule_step())`.

Everything a step reads lives on the device, so a step captured by `TinyJit` keeps working when replayed:

- `lr` is a realized 0-d float32 tensor (`opt.lr`), read by the update kernels; the learning-rate schedulers of
  `tg_nn.lr_scheduler` assign into it.
- Adam-style bias correction needs the step count t: the optimizer keeps `1 - beta1^t` and `1 - beta2^t` on the
  device (`opt.bias_correction` reads them), advanced each step with `c <- (1 - beta) + beta * c`, which stays
  accurate where computing `1 - beta^t` in float32 would lose digits. So that advancing them costs no kernel of
  its own, they are stored shaped like the smallest parameter (every element alike) and updated in that
  parameter's kernel; the other parameters' kernels read one element.

Kernels per step over N parameters that all have gradients (already realized, as after `backward()` and a
realize; otherwise the gradient kernels come on top):

- `SGD`: N (with momentum the buffer update is a second store of the parameter's kernel).
- `Adam`, `AdamW`: N: one kernel per parameter storing m, v and the parameter (the smallest parameter's kernel
  also stores the bias-correction counter). In a step where the smallest parameter has no gradient the counter
  takes a kernel of its own, so a step updating K < N parameters takes K + 1.
- `LAMB`: 2N: per parameter one kernel computing both norms (of the parameter and of its update) and one storing
  m, v and the parameter. `LAMB(adam=True)` skips the norms: N.

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


def _tied(value: Tensor, other: Tensor) -> Tensor:
    """`value`, written so that its kernel reads `other` (of the same shape) at the element it computes.

    tg-schedule stores two elementwise kernels of one shape from one loop only when the second reads what the first
    wrote; the tie is that read. `where(c, x, x)` is folded to `x` when the kernel is compiled, so it costs nothing.
    """
    return other.isnan().where(value, value)


def _cast_pair(pair: tuple[Tensor, Tensor], dtype: DType) -> tuple[Tensor, Tensor]:
    return pair[0].cast(dtype), pair[1].cast(dtype)


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
        # The counter, 1 - b1^t and 1 - b2^t, is kept in two tensors shaped like one parameter, the smallest
        # non-empty one (the carrier), every element holding the same value. The carrier's update kernel advances
        # it in the same loop; the other kernels read its first element. A counter of its own shape would need a
        # kernel of its own each step.
        sizes = [(p.numel(), i) for i, p in enumerate(self.params) if p.numel() > 0]
        self._carrier = min(sizes)[1] if sizes else None
        carrier = self.params[self._carrier if self._carrier is not None else 0]
        shape = carrier.shape if self._carrier is not None else (1,)
        dev = carrier.device
        self._counter = [Tensor(np.zeros(shape, dtype=np.float32), device=dev).realize() for _ in range(2)]

    @property
    def bias_correction(self) -> Tensor:
        """`[1 - b1^t, 1 - b2^t]` after t steps (a 2-element float32 tensor, read from the counter)."""
        return Tensor.stack(*(c.detach().reshape(-1)[0] for c in self._counter))

    def _counter_ahead(self) -> tuple[Tensor, Tensor]:
        """This step's `1 - b1^t`, `1 - b2^t` (0-d), computed from the counter as it was before the step.

        `c <- (1 - b) + b * c` stays accurate where computing `1 - b^t` in float32 would lose digits; `1 - b` is
        computed in float64 here. Reading the old value lets these kernels run before the carrier's kernel stores
        the new one.
        """
        c1, c2 = (c.detach().reshape(-1)[0] for c in self._counter)
        return (1.0 - self.b1) + self.b1 * c1, (1.0 - self.b2) + self.b2 * c2

    def _store_counter(self, grad: Tensor | None) -> tuple[Tensor, Tensor]:
        """Advance the counter in place (lazily); its new values, with the carrier's shape.

        Tied to the carrier's gradient when given: an unrealized gradient is then computed before the counter's
        store rather than between it and the stores of m, v and the carrier, which would split their kernel.
        """
        c1, c2 = self._counter
        c1_new = (1.0 - self.b1) + self.b1 * c1.detach()
        c1.assign(c1_new if grad is None else _tied(c1_new, grad))
        c2.assign(_tied((1.0 - self.b2) + self.b2 * c2.detach(), c1.detach()))
        return c1.detach(), c2.detach()

    def _moments(self, i: int, g: Tensor) -> tuple[Tensor, Tensor]:
        """The new m and v of parameter i, unrealized."""
        m = self.b1 * self.m[i].detach() + (1.0 - self.b1) * g
        v = self.b2 * self.v[i].detach() + (1.0 - self.b2) * (g * g)
        return m, v

    def _assign_moments(self, i: int, m: Tensor, v: Tensor, after: Tensor | None) -> tuple[Tensor, Tensor]:
        """Store m and v (tied to `after`, the carrier's new counter, when given); their new values."""
        self.m[i].assign(m if after is None else _tied(m, after))
        m_new = self.m[i].detach()
        self.v[i].assign(_tied(v, m_new))
        return m_new, self.v[i].detach()

    def _direction(self, p: Tensor, m: Tensor, v: Tensor, c1: Tensor, c2: Tensor) -> Tensor:
        u = (m / c1) / ((v / c2).sqrt() + self.eps)
        return u + self.weight_decay * p.detach() if self.weight_decay else u

    def _update(
        self, i: int, c: tuple[Tensor, Tensor], c_ahead: tuple[Tensor, Tensor], after: Tensor | None
    ) -> list[Tensor]:
        """Assign parameter i's new m, v and value, using the counter values `c` (for LAMB's norms, which run
        before the counter is stored, `c_ahead`); the tensors to realize."""
        p = self.params[i]
        assert p.grad is not None
        g, lr = p.grad.detach(), self._lr_for(p)
        if self.adam:
            m, v = self._assign_moments(i, *self._moments(i, g), after)
            p.assign(p.detach() - lr * self._direction(p, m, v, *c))
            return [self.m[i], self.v[i], p]
        # both norms from the old state (one reduction kernel, before m and v are overwritten), so the moments
        # and the parameter are still stored from one elementwise kernel after it
        m_val, v_val = self._moments(i, g)
        u_val = self._direction(p, m_val, v_val, *c_ahead)
        sq = Tensor.stack(p.detach().flatten().square(), u_val.flatten().square())
        norms = sq.sum(axis=1).sqrt()
        # broadcast the norms before computing with them: tg-schedule realizes a computed value that is
        # broadcast after a reduction as a kernel of its own, a movement straight off the reduction is free
        r1, r2 = (norms[k].reshape((1,) * p.ndim).expand(p.shape) for k in (0, 1))
        ratio = ((r1 > 0) & (r2 > 0)).where(r1 / r2, 1.0)
        m, v = self._assign_moments(i, m_val, v_val, after)
        p.assign(p.detach() - lr * ratio.cast(p.dtype) * self._direction(p, m, v, *c))
        return [self.m[i], self.v[i], p]

    def schedule_step(self) -> list[Tensor]:
        todo = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not todo:
            return []
        ahead = self._counter_ahead()  # before any assign to the counter: these read its old value
        out: list[Tensor] = []
        if self._carrier not in todo:
            # the carrier has no gradient this step: the counter is advanced by a kernel of its own
            self._store_counter(None)
            out += self._counter
        for i in todo:
            # the counter is float32; a parameter of another float type computes its update in its own
            dtype = self.params[i].dtype
            if i == self._carrier:
                stored = self._store_counter(self.params[i].grad)
                update = self._update(i, _cast_pair(stored, dtype), _cast_pair(ahead, dtype), after=stored[1])
                out += [*self._counter, *update]
            else:
                out += self._update(i, _cast_pair(ahead, dtype), _cast_pair(ahead, dtype), after=None)
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
        self.weight_decay = weight_decay

    def _grad(self, p: Tensor, g: Tensor) -> Tensor:
        """The gradient the moments see: with L2 decay added."""
        return g + self.weight_decay * p.detach() if self.weight_decay else g

    def _decayed(self, p: Tensor, lr: Tensor) -> Tensor:
        """The parameter the Adam step starts from (AdamW decays it first)."""
        return p.detach()

    def _update(
        self, i: int, c: tuple[Tensor, Tensor], c_ahead: tuple[Tensor, Tensor], after: Tensor | None
    ) -> list[Tensor]:
        p = self.params[i]
        assert p.grad is not None
        m, v = self._assign_moments(i, *self._moments(i, self._grad(p, p.grad.detach())), after)
        lr = self._lr_for(p)
        c1, c2 = c
        # torch's arrangement: step size lr / (1 - b1^t), denominator sqrt(v) / sqrt(1 - b2^t) + eps
        p.assign(self._decayed(p, lr) - (lr / c1) * m / (v.sqrt() / c2.sqrt() + self.eps))
        return [self.m[i], self.v[i], p]


class AdamW(Adam):
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
        super().__init__(params, lr, betas, eps, weight_decay, b1=b1, b2=b2)

    @property
    def decay(self) -> float:
        """The decoupled weight decay (`weight_decay`)."""
        return self.weight_decay

    def _grad(self, p: Tensor, g: Tensor) -> Tensor:
        return g

    def _decayed(self, p: Tensor, lr: Tensor) -> Tensor:
        return p.detach() * (1.0 - lr * self.weight_decay) if self.weight_decay else p.detach()
