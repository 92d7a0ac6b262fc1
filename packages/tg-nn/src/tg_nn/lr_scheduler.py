"""Learning-rate schedulers (PyTorch's `torch.optim.lr_scheduler` and tinygrad's names): `StepLR`,
`CosineAnnealingLR`, `OneCycleLR`, on the `LR_Scheduler` base.

The step count lives on the device (`epoch_counter`, a realized 0-d int32 tensor) and the new learning rate is
computed there and assigned into the optimizer's `lr` tensor, which the update kernels read. So `step()` works
inside a `TinyJit`-captured training step too: a replay advances the counter and the learning rate.
Values are computed in float32 (PyTorch computes them in float64 on the host): they agree to about 1e-6 of the
largest learning rate of the schedule.

>>> from tg_tensor import Tensor
>>> from tg_nn.optim import SGD
>>> opt = SGD([Tensor([1.0], requires_grad=True)], lr=1.0)
>>> sched = StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for _ in range(4):
...     sched.step()
...     lrs.append(opt.lr.item())
>>> lrs
[1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math

import numpy as np

from tg_nn.optim import Optimizer
from tg_tensor import Tensor
from tg_uop.dtype import dtypes


class LR_Scheduler:  # noqa: N801 (tinygrad's name)
    """Base: `step()` advances `epoch_counter` by one and sets the optimizer's lr to `get_lr()` of the new count.

    A subclass defines `get_lr()`: the learning rate after `epoch_counter` steps, as a 0-d float32 tensor
    computed from `self.epoch_counter` (not from a Python number, which a TinyJit replay would not update).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"{type(self).__name__}: optimizer must be a tg_nn.optim.Optimizer")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr.item())
        self.epoch_counter = Tensor(np.array(0, dtype=np.int32), device=optimizer.lr.device).realize()

    def get_lr(self) -> Tensor:
        """The learning rate after `epoch_counter` steps (unrealized)."""
        raise NotImplementedError

    def _set_initial_lr(self) -> None:
        self.optimizer.lr.assign(self.get_lr().cast(dtypes.float32)).realize()

    def _epoch(self) -> Tensor:
        return self.epoch_counter.detach().cast(dtypes.float32)

    def schedule_step(self) -> list[Tensor]:
        """Assign the next count and learning rate lazily; the tensors to realize to apply them."""
        self.epoch_counter.assign(self.epoch_counter.detach() + 1)
        self.optimizer.lr.assign(self.get_lr().cast(dtypes.float32))
        return [self.epoch_counter, self.optimizer.lr]

    def step(self) -> None:
        """Advance one step (call it after `optimizer.step()`, as in PyTorch)."""
        Tensor.realize(*self.schedule_step())


def _check(cls: str, arg: str, ok: bool, value: object, need: str) -> None:
    if not ok:
        raise ValueError(f"{cls}: {arg} must be {need}, got {value}")


class StepLR(LR_Scheduler):
    """lr = base_lr * gamma ** (steps // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        _check("StepLR", "step_size", isinstance(step_size, int) and step_size >= 1, step_size, "an int >= 1")
        _check("StepLR", "gamma", gamma >= 0, gamma, ">= 0")
        self.step_size, self.gamma = step_size, gamma

    def get_lr(self) -> Tensor:
        k = (self.epoch_counter.detach() // self.step_size).cast(dtypes.float32)
        # gamma ** 0 is 1 even for gamma 0, where exp2(0 * log2(0)) would be nan
        return (k == 0).where(self.base_lr, self.base_lr * (self.gamma**k))


class CosineAnnealingLR(LR_Scheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * steps / T_max)) / 2 (PyTorch's closed form; past T_max
    the cosine goes on, back up to base_lr at 2 * T_max, as PyTorch's values do)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803 (torch's name)
        super().__init__(optimizer)
        _check("CosineAnnealingLR", "T_max", isinstance(T_max, int) and T_max >= 1, T_max, "an int >= 1")
        _check("CosineAnnealingLR", "eta_min", eta_min >= 0, eta_min, ">= 0")
        self.T_max, self.eta_min = T_max, eta_min

    def get_lr(self) -> Tensor:
        cos = (self._epoch() * (math.pi / self.T_max)).cos()
        return self.eta_min + (self.base_lr - self.eta_min) * 0.5 * (1.0 + cos)


class OneCycleLR(LR_Scheduler):
    """The 1cycle policy (PyTorch's two-phase `OneCycleLR`): from max_lr / div_factor up to max_lr over the first
    `pct_start` of `total_steps`, then down to max_lr / div_factor / final_div_factor at step total_steps - 1;
    `anneal_strategy` 'cos' or 'linear'. Construction sets the optimizer's lr to the initial value.

    Differences from PyTorch: momentum is not cycled (as `cycle_momentum=False`), and stepping past total_steps
    keeps the final lr instead of raising (the count is on the device, where nothing can raise).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        super().__init__(optimizer)
        _check("OneCycleLR", "max_lr", max_lr >= 0, max_lr, ">= 0")
        _check(
            "OneCycleLR", "total_steps", isinstance(total_steps, int) and total_steps >= 1, total_steps, "an int >= 1"
        )
        _check("OneCycleLR", "pct_start", 0 <= pct_start <= 1, pct_start, "in [0, 1]")
        _check(
            "OneCycleLR", "anneal_strategy", anneal_strategy in ("cos", "linear"), anneal_strategy, "'cos' or 'linear'"
        )
        _check("OneCycleLR", "div_factor", div_factor > 0, div_factor, "> 0")
        _check("OneCycleLR", "final_div_factor", final_div_factor > 0, final_div_factor, "> 0")
        self.max_lr, self.total_steps, self.anneal_strategy = max_lr, total_steps, anneal_strategy
        self.initial_lr = max_lr / div_factor
        self.min_lr = self.initial_lr / final_div_factor
        # the step at which each phase ends, as PyTorch counts them
        self.warmup_end = float(pct_start * total_steps) - 1
        self.last_step = float(total_steps - 1)
        self._set_initial_lr()

    def _anneal(self, start: float, end: float, pct: Tensor) -> Tensor:
        if self.anneal_strategy == "cos":
            return end + (start - end) * 0.5 * ((pct * math.pi).cos() + 1.0)
        return start + (end - start) * pct

    @staticmethod
    def _fraction(done: Tensor, length: float) -> Tensor:
        # a phase of length 0 is already over; PyTorch would divide by zero there
        return (done / length).clip(0.0, 1.0) if length > 0 else done * 0.0 + 1.0

    def get_lr(self) -> Tensor:
        e = self._epoch()
        up = self._anneal(self.initial_lr, self.max_lr, self._fraction(e, self.warmup_end))
        down_pct = self._fraction(e - self.warmup_end, self.last_step - self.warmup_end)
        down = self._anneal(self.max_lr, self.min_lr, down_pct)
        return (e <= self.warmup_end).where(up, down)
