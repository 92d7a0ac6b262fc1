"""tg_nn.distributed in this process, a job of one rank: bucketing, and the errors for bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from tg_nn import Linear, distributed, optim
from tg_nn.distributed import Bucket, DataParallel, ReduceOp, plan_buckets
from tg_nn.state import get_parameters
from tg_tensor import Tensor


def setup_module() -> None:
    distributed.init()


def test_many_small_parameters_travel_in_one_bucket() -> None:
    layers = [Linear(4, 4) for _ in range(25)]  # 50 parameters
    params = get_parameters(layers)
    dp = DataParallel(optim.SGD(params, lr=0.1))
    assert len(dp.buckets) == 1 and len(dp.buckets[0].slots) == 50
    x = Tensor.ones(2, 4)
    for layer in layers:
        x = layer(x)
    x.sum().backward()
    averaged = dp.average(dp.gradients())
    assert len(averaged) == 1 and averaged[0].shape == (sum(p.numel() for p in params),)
    # one rank: the average is the gradient itself, laid out parameter after parameter
    want = np.concatenate([p.grad.numpy().ravel() for p in params])
    np.testing.assert_array_equal(averaged[0].numpy(), want)


def test_buckets_split_by_size_and_dtype() -> None:
    ts = [Tensor.ones(100), Tensor.ones(100), Tensor.ones(300), Tensor.ones(3, dtype=Tensor([1]).dtype)]
    buckets = plan_buckets(ts, bucket_bytes=1000)  # 250 float32s
    assert [[s.index for s in b.slots] for b in buckets] == [[0, 1], [2], [3]]
    assert all(isinstance(b, Bucket) for b in buckets)
    assert buckets[0].slots[1].offset == 100 and buckets[0].numel == 200


def test_step_matches_the_wrapped_optimizer() -> None:
    w1, w2 = Tensor([[1.0, -2.0]], requires_grad=True), Tensor([[1.0, -2.0]], requires_grad=True)
    dp, plain = DataParallel(optim.Adam([w1], lr=0.1)), optim.Adam([w2], lr=0.1)
    for _ in range(3):
        dp.zero_grad(), plain.zero_grad()
        (w1 * w1).sum().backward()
        (w2 * w2).sum().backward()
        dp.step()
        plain.step()
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="'avg' is not a valid ReduceOp"):
        distributed.allreduce(Tensor([1.0]), "avg")
    with pytest.raises(TypeError, match="mean of int32"):
        distributed.allreduce(Tensor([1, 2]), ReduceOp.MEAN)
    with pytest.raises(TypeError, match="sum of bool"):
        distributed.allreduce(Tensor([True]), ReduceOp.SUM)
    with pytest.raises(ValueError, match="root 3 is not a rank of this job of 1"):
        distributed.broadcast(Tensor([1.0]), root=3)
    w = Tensor([1.0], requires_grad=True)
    dp = DataParallel(optim.SGD([w], lr=0.1))
    with pytest.raises(RuntimeError, match=r"parameters \[0\] have no gradient"):
        dp.step()
    with pytest.raises(ValueError, match="bucket_mb must be > 0"):
        DataParallel(optim.SGD([w], lr=0.1), bucket_mb=0)
