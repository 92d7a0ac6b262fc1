"""A small training step for the viewer's browser tests: an MLP trained by SGD under TinyJit, three calls."""

from tg_tensor import Tensor, TinyJit

w1 = Tensor.rand(16, 32, requires_grad=True).realize()
w2 = Tensor.rand(32, 4, requires_grad=True).realize()


@TinyJit
def step(x: Tensor, y: Tensor) -> Tensor:
    loss = ((x @ w1).relu() @ w2 - y).square().mean()
    loss.backward()
    for w in (w1, w2):
        w.assign((w - w.grad * 0.01).detach())
    return loss.realize()


for _ in range(3):
    print(step(Tensor.rand(8, 16).realize(), Tensor.rand(8, 4).realize()).item())
