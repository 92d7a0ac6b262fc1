"""One rank raises while the others wait in a collective: the job must end, non-zero, with that rank's error.

Run: mpirun -np 2 python fail.py [raise | mismatch]
- raise: rank 1 raises RuntimeError before its allreduce; rank 0 is already waiting in it.
- mismatch: the ranks pass tensors of different shapes and nobody catches the error.
"""

from __future__ import annotations

import sys

from tg_nn import distributed
from tg_tensor import Tensor


def main() -> None:
    distributed.init()
    me = distributed.rank()
    if sys.argv[1] == "raise" and me == 1:
        raise RuntimeError("rank 1 fails on purpose")
    distributed.allreduce(Tensor.ones(4 + (me if sys.argv[1] == "mismatch" else 0)), "sum")
    distributed.barrier()
    print(f"rank {me}: finished, which it must not", flush=True)


if __name__ == "__main__":
    main()
