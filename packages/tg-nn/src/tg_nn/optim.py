"""Optimizers. `step()` writes the new values into the parameters' buffers: one kernel per parameter, plus
one per momentum buffer when there is momentum.

>>> from tg_tensor import Tensor
>>> w = Tensor([1.0, 2.0], requires_grad=True)
>>> opt = SGD([w], lr=0.5)
>>> _ = (w * w).sum().backward()
>>> opt.step()
>>> w.tolist()
[0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

from tg_tensor import Tensor


class Optimizer:
    """Base: holds the parameters (realized on construction, so they have buffers to write into).

    Parameters whose `requires_grad` is None (undecided) are switched on; those set to False are skipped.
    """

    def __init__(self, params: Sequence[Tensor], lr: float) -> None:
        for p in params:
            if p.requires_grad is None:
                p.requires_grad = True
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("optimizer: no parameters with requires_grad=True")
        self.lr = lr
        Tensor.realize(*self.params)

    def zero_grad(self) -> None:
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
    """Stochastic gradient descent with optional momentum (PyTorch's formulation), Nesterov and weight decay."""

    def __init__(
        self,
        params: Sequence[Tensor],
        lr: float = 0.001,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        self.bufs = (
            [Tensor.zeros(*p.shape, dtype=p.dtype, device=p.device).realize() for p in self.params] if momentum else []
        )

    def schedule_step(self) -> list[Tensor]:
        out: list[Tensor] = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.detach()
            if self.weight_decay:
                g = g + self.weight_decay * p.detach()
            if self.momentum:
                buf = self.bufs[i].assign(self.momentum * self.bufs[i].detach() + g)
                out.append(buf)
                g = g + self.momentum * buf.detach() if self.nesterov else buf.detach()
            p.assign(p.detach() - self.lr * g)
            out.append(p)
        return out
