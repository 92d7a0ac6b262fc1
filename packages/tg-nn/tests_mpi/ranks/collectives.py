"""allreduce and broadcast of tensors of 1 to 10^7 elements (odd sizes too) against numpy, on every rank, and
the clear error when the ranks pass tensors of different shapes or dtypes. Prints `collectives OK` per rank.

Run: mpirun -np 2 python collectives.py
"""

from __future__ import annotations

import numpy as np

from tg_nn import distributed, optim
from tg_nn.distributed import CollectiveMismatchError, ReduceOp
from tg_tensor import Tensor

SIZES = (1, 2, 3, 7, 31, 255, 1000, 4097, 65537, 1_000_003, 10**7)
NUMPY_OF = {ReduceOp.SUM: np.sum, ReduceOp.MAX: np.max, ReduceOp.MIN: np.min, ReduceOp.PROD: np.prod}


def data(r: int, size: int, dtype: str) -> np.ndarray:
    rng = np.random.default_rng(size * 7 + r)
    if dtype.startswith("int"):
        return rng.integers(-1000, 1000, size).astype(dtype)
    return rng.standard_normal(size).astype(dtype)


def expect(size: int, dtype: str, op: ReduceOp, n: int) -> np.ndarray:
    every = np.stack([data(r, size, dtype) for r in range(n)])
    if op is ReduceOp.MEAN:
        return every.sum(axis=0) / n
    return NUMPY_OF[op](every, axis=0).astype(dtype)


def check(got: np.ndarray, want: np.ndarray, what: str) -> None:
    if got.shape != want.shape or got.dtype != want.dtype:
        raise AssertionError(f"{what}: got {got.shape} {got.dtype}, want {want.shape} {want.dtype}")
    if not np.allclose(got, want, rtol=1e-6, atol=1e-6):
        raise AssertionError(f"{what}: values differ, worst by {np.abs(got - want).max()}")


def reductions(me: int, n: int) -> None:
    cases = [(s, "float32", op) for s in SIZES for op in (ReduceOp.SUM, ReduceOp.MEAN)]
    cases += [(s, "float32", op) for s in SIZES[:9] for op in (ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PROD)]
    cases += [(s, dt, ReduceOp.SUM) for s in SIZES[:9] for dt in ("int32", "float64", "int64")]
    for size, dtype, op in cases:
        got = distributed.allreduce(Tensor(data(me, size, dtype)), op).numpy()
        check(got, expect(size, dtype, op, n), f"allreduce {op.value} of {size} {dtype}")
    # half precision travels as float32 and comes back as float16
    got = distributed.allreduce(Tensor(data(me, 1001, "float16")), "sum")
    halves = [data(r, 1001, "float16").astype(np.float32) for r in range(n)]
    check(got.numpy(), np.sum(halves, axis=0).astype(np.float16), "float16 sum")
    assert got.dtype == Tensor([1.0]).half().dtype
    # other shapes: 0-d and 2-d come back with their shape
    scalar = distributed.allreduce(Tensor(np.array(me + 1, dtype=np.float32)), "max")
    check(scalar.numpy(), np.array(n, dtype=np.float32), "0-d max")
    block = np.arange(15, dtype=np.int32).reshape(3, 5)
    check(distributed.allreduce(Tensor(block + me), "sum").numpy(), block * n + sum(range(n)), "3x5 sum")


def broadcasts(me: int, n: int) -> None:
    for root in range(n):
        for size in (1, 3, 4097, 1_000_003):
            got = distributed.broadcast(Tensor(data(me, size, "float32")), root).numpy()
            check(got, data(root, size, "float32"), f"broadcast of {size} from rank {root}")


def mismatches(me: int, n: int) -> None:
    cases = {
        "shape": Tensor.ones(3 + me),
        "dtype": Tensor.ones(3, dtype=Tensor([1]).dtype if me else Tensor([1.0]).dtype),
    }
    for what, t in cases.items():
        try:
            distributed.allreduce(t, "sum")
        except CollectiveMismatchError as e:
            if "rank 0" not in str(e) or "rank 1" not in str(e):
                raise AssertionError(f"{what} mismatch: the error does not name the ranks: {e}") from e
        else:
            raise AssertionError(f"ranks passing tensors of different {what} got no error")
    # DataParallel over different parameters: refused at construction, before any weight moves
    params = [Tensor.ones(3, requires_grad=True), *([Tensor.ones(2, requires_grad=True)] if me else [])]
    try:
        distributed.DataParallel(optim.SGD(params, lr=0.1))
    except CollectiveMismatchError as e:
        if "rank 0: DataParallel of shape (1, 0)" not in str(e) or "rank 1: DataParallel of shape (2, 0)" not in str(e):
            raise AssertionError(f"DataParallel mismatch: unclear error {e}") from e
    else:
        raise AssertionError("ranks wrapping different parameters got no error")


def main() -> None:
    distributed.init()
    me, n = distributed.rank(), distributed.world_size()
    reductions(me, n)
    broadcasts(me, n)
    if n > 1:
        mismatches(me, n)
    print(f"rank {me}: collectives OK")


if __name__ == "__main__":
    main()
