"""Data-parallel training across processes and machines over MPI (the optional extra `tg-nn[mpi]`: mpi4py on the
system's MPI library, e.g. Debian's `openmpi-bin` and `libopenmpi-dev`).

Start every process with `mpirun -np N python train.py`; each calls `init()`, reads its own shard of every
batch, and wraps its optimizer in `DataParallel`, which broadcasts the weights from rank 0 and, at each step,
averages the gradients over the ranks before the update, so every rank holds the same weights after every step.

- `allreduce(t, op)` and `broadcast(t, root)` are collectives: every rank must call them, in the same order,
  with tensors of the same shape and dtype. The ranks first exchange what they pass (a few bytes), and a
  mismatch raises `CollectiveMismatchError` on every rank, naming each rank's shape and dtype, instead of
  reducing misaligned memory.
- Gradients travel in buckets: the gradients of one wire dtype are copied into one host array of at most
  `bucket_mb` megabytes, reduced in place by one MPI call, and read back as views, so a model of many small
  parameters makes one call per bucket, not one per tensor.
- Faults: after `init()` in a job of several ranks, an exception nobody catches prints its traceback with the
  rank and aborts the whole job (`MPI_Abort`), so `mpirun` exits non-zero at once instead of the other ranks
  waiting forever in their next collective.

Without mpirun the process is a job of one rank and the collectives return their input's values:

>>> from tg_tensor import Tensor
>>> init()
>>> rank(), world_size()
(0, 1)
>>> allreduce(Tensor([1.0, 2.0]), "sum").tolist()
[1.0, 2.0]
"""

from __future__ import annotations

import atexit
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any

import numpy as np

from tg_nn.optim import Optimizer
from tg_tensor import Tensor
from tg_uop.dtype import DType, dtypes

MPI_MISSING = ""  # why mpi4py could not be imported, for init()'s error
try:
    import mpi4py

    mpi4py.rc.initialize = False  # MPI starts in init(), not when this module is imported
    from mpi4py import MPI
except ImportError as e:  # the `mpi` extra is optional (or no MPI library is installed); init() says what to do
    MPI = None  # type: ignore[assignment]
    MPI_MISSING = str(e)


class ReduceOp(Enum):
    """How `allreduce` combines the ranks' values (element by element)."""

    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    MIN = "min"
    PROD = "prod"


class CollectiveMismatchError(ValueError):
    """The ranks called a collective with tensors of different shapes or dtypes (or different collectives)."""


@dataclass(frozen=True)
class Signature:
    """What one rank passes to a collective; every rank must pass the same."""

    collective: str
    shape: tuple[int, ...]
    dtype: str
    detail: str = ""


def init() -> None:
    """Start MPI (once; later calls do nothing) and, in a job of several ranks, abort the job on an uncaught
    exception. Refuses with an ImportError that says what to install when mpi4py is missing.

    >>> init()
    >>> world_size() >= 1
    True
    """
    if MPI is None:
        raise ImportError(
            "tg_nn.distributed needs mpi4py and an MPI library: pip install 'tg-nn[mpi]' "
            f"(Debian: apt-get install openmpi-bin libopenmpi-dev); the import failed with: {MPI_MISSING}"
        )
    if not MPI.Is_initialized():
        MPI.Init()
        atexit.register(_finalize)
    if MPI.COMM_WORLD.Get_size() > 1 and sys.excepthook is not _abort_on_exception:
        sys.excepthook = _abort_on_exception


def _finalize() -> None:
    if MPI is not None and MPI.Is_initialized() and not MPI.Is_finalized():
        MPI.Finalize()


def _abort_on_exception(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """An uncaught exception on one rank ends the whole job: the others may be blocked in a collective."""
    comm = MPI.COMM_WORLD
    text = "".join(traceback.format_exception(kind, exc, tb))
    sys.stderr.write(f"tg_nn.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed, aborting the job\n{text}")
    sys.stderr.flush()
    comm.Abort(1)


def _comm() -> Any:
    if MPI is None or not MPI.Is_initialized():
        raise RuntimeError("tg_nn.distributed: call init() first")
    return MPI.COMM_WORLD


def rank() -> int:
    """This process's rank, 0 to world_size() - 1."""
    return int(_comm().Get_rank())


def world_size() -> int:
    """The number of ranks in the job."""
    return int(_comm().Get_size())


def barrier() -> None:
    """Wait until every rank has called barrier()."""
    _comm().Barrier()


def check_agreement(sig: Signature) -> None:
    """Raise `CollectiveMismatchError` on every rank unless every rank passes `sig` (one small allgather)."""
    sigs = _comm().allgather(sig)
    if any(s != sigs[0] for s in sigs):
        ranks = "; ".join(
            f"rank {i}: {s.collective} of shape {s.shape} {s.dtype}{' ' + s.detail if s.detail else ''}"
            for i, s in enumerate(sigs)
        )
        raise CollectiveMismatchError(f"{sig.collective}: the ranks disagree on what they pass ({ranks})")


def wire_dtype(dt: DType) -> DType:
    """The dtype a tensor travels in: half-precision floats are reduced in float32 (MPI has no sum for them)."""
    return dtypes.float32 if dt in (dtypes.float16, dtypes.bfloat16) else dt


def host_copy(t: Tensor, out: np.ndarray | None = None) -> np.ndarray:
    """The tensor's values in its wire dtype, copied straight from its buffer into `out` (a contiguous host array
    of as many elements; a new one by default)."""
    wire = wire_dtype(t.dtype)
    if out is None:
        out = np.empty(t.shape, dtype=np.dtype(wire.fmt))
    if out.size:
        (t if wire == t.dtype else t.cast(wire)).buffer().copyout(out.reshape(-1).data)
    return out


def device_copy(a: np.ndarray, dtype: DType, device: str) -> Tensor:
    """A contiguous host array (in `dtype`'s wire dtype) as a realized tensor of `dtype` on `device` (one copy)."""
    wire = wire_dtype(dtype)
    out = Tensor.empty(*a.shape, dtype=wire, device=device)
    if a.size:
        out.buffer().copyin(np.ascontiguousarray(a, dtype=np.dtype(wire.fmt)).reshape(-1).data)
    return out if wire == dtype else out.cast(dtype)


_MPI_OPS = {ReduceOp.SUM: "SUM", ReduceOp.MEAN: "SUM", ReduceOp.MAX: "MAX", ReduceOp.MIN: "MIN", ReduceOp.PROD: "PROD"}


def reduce_in_place(a: np.ndarray, op: ReduceOp) -> np.ndarray:
    """Combine a contiguous host array over all ranks in place (one MPI call); MEAN divides the sum by the ranks."""
    if a.dtype == np.bool_ and op in (ReduceOp.SUM, ReduceOp.MEAN, ReduceOp.PROD):
        raise TypeError(f"allreduce: {op.value} of bool tensors is not defined; cast to an integer dtype first")
    if op is ReduceOp.MEAN and a.dtype.kind != "f":
        raise TypeError(f"allreduce: mean of {a.dtype} tensors; cast to a float dtype first")
    comm = _comm()
    if a.size:
        comm.Allreduce(MPI.IN_PLACE, a, op=getattr(MPI, _MPI_OPS[op]))
    if op is ReduceOp.MEAN:
        np.divide(a, comm.Get_size(), out=a)
    return a


def allreduce(t: Tensor, op: ReduceOp | str = ReduceOp.SUM) -> Tensor:
    """`op` of `t` over all ranks, element by element: a new tensor of t's shape, dtype and device, the same
    on every rank. Every rank must call it with a tensor of the same shape and dtype.

    >>> from tg_tensor import Tensor
    >>> init()
    >>> allreduce(Tensor([3, 4]), ReduceOp.MAX).tolist()
    [3, 4]
    """
    op = ReduceOp(op)
    check_agreement(Signature("allreduce", t.shape, t.dtype.name, op.value))
    return device_copy(reduce_in_place(host_copy(t), op), t.dtype, t.device)


def broadcast(t: Tensor, root: int = 0) -> Tensor:
    """Rank `root`'s `t` on every rank (a new tensor of t's shape, dtype and device). Every rank must call it
    with a tensor of the same shape and dtype.

    >>> from tg_tensor import Tensor
    >>> init()
    >>> broadcast(Tensor([5.0]), root=0).tolist()
    [5.0]
    """
    size = world_size()
    if not 0 <= root < size:
        raise ValueError(f"broadcast: root {root} is not a rank of this job of {size}")
    check_agreement(Signature("broadcast", t.shape, t.dtype.name, f"from rank {root}"))
    a = host_copy(t)
    if a.size:
        _comm().Bcast(a, root=root)
    return device_copy(a, t.dtype, t.device)


@dataclass(frozen=True)
class Slot:
    """Where one tensor lies in its bucket: its index in the wrapped list, first element and shape."""

    index: int
    offset: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Bucket:
    """Tensors of one wire dtype that travel together in one host array (one MPI call)."""

    dtype: DType
    slots: tuple[Slot, ...]

    @property
    def numel(self) -> int:
        return sum(s.numel for s in self.slots)


def plan_buckets(tensors: Sequence[Tensor], bucket_bytes: int) -> tuple[Bucket, ...]:
    """Group the tensors, in order, into buckets of one wire dtype and at most `bucket_bytes` each (a tensor
    larger than that gets a bucket of its own)."""
    open_: dict[DType, list[Slot]] = {}
    done: list[Bucket] = []
    for i, t in enumerate(tensors):
        wire = wire_dtype(t.dtype)
        slots = open_.setdefault(wire, [])
        used = sum(s.numel for s in slots)
        if slots and (used + t.numel()) * wire.itemsize > bucket_bytes:
            done.append(Bucket(wire, tuple(slots)))
            slots.clear()
            used = 0
        slots.append(Slot(i, used, tuple(t.shape)))
    done += [Bucket(wire, tuple(slots)) for wire, slots in open_.items() if slots]
    return tuple(done)


def pack(bucket: Bucket, tensors: Sequence[Tensor]) -> np.ndarray:
    """The bucket's tensors, flattened one after the other into a new host array."""
    out = np.empty(bucket.numel, dtype=np.dtype(bucket.dtype.fmt))
    for s in bucket.slots:
        host_copy(tensors[s.index], out[s.offset : s.offset + s.numel])
    return out


def unpack(bucket: Bucket, flat: Tensor) -> dict[int, Tensor]:
    """The bucket's tensors as views of `flat` (its values on the device), by index."""
    return {s.index: flat[s.offset : s.offset + s.numel].reshape(s.shape) for s in bucket.slots}


class DataParallel:
    """Wraps an optimizer for data-parallel training: every rank computes the gradients of its own shard of the
    batch, `step()` averages them over the ranks (one MPI call per bucket) and applies the wrapped optimizer's
    update, so the ranks' weights stay equal. Construction broadcasts the parameters and `buffers` (running
    statistics) from rank 0. Every rank must wrap the same parameters (checked).

    The steps, for a training step split around the host-side exchange (two `TinyJit`s, as in
    examples/fashion_mnist.py): `gradients()` (realize them with the loss), `average(grads)` (host, MPI),
    `schedule_step(averaged)` (the update to realize).

    >>> from tg_tensor import Tensor
    >>> from tg_nn import optim
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> dp = DataParallel(optim.SGD([w], lr=0.5))
    >>> _ = (w * w).sum().backward()
    >>> dp.step()
    >>> w.tolist()
    [0.0, 0.0]
    """

    def __init__(self, optimizer: Optimizer, buffers: Sequence[Tensor] = (), bucket_mb: float = 25.0) -> None:
        init()
        if not bucket_mb > 0:
            raise ValueError(f"DataParallel: bucket_mb must be > 0, got {bucket_mb}")
        self.optimizer = optimizer
        self.params = list(optimizer.params)
        self.buffers = list(buffers)
        self.buckets = plan_buckets(self.params, int(bucket_mb * 2**20))
        self.buffer_buckets = plan_buckets(self.buffers, int(bucket_mb * 2**20))
        layout = repr((self.buckets, self.buffer_buckets))
        check_agreement(Signature("DataParallel", (len(self.params), len(self.buffers)), "", layout))
        self.broadcast_state()

    def broadcast_state(self, root: int = 0) -> None:
        """Copy rank `root`'s parameters and buffers to every rank (one MPI call per bucket)."""
        comm, me = _comm(), rank()
        for tensors, buckets in ((self.params, self.buckets), (self.buffers, self.buffer_buckets)):
            for b in buckets:
                a = pack(b, tensors) if me == root else np.empty(b.numel, dtype=np.dtype(b.dtype.fmt))
                if a.size:
                    comm.Bcast(a, root=root)
                self._assign(tensors, b, a)
        Tensor.realize(*self.params, *self.buffers)

    def _assign(self, tensors: list[Tensor], bucket: Bucket, a: np.ndarray) -> None:
        flat = device_copy(a, bucket.dtype, tensors[bucket.slots[0].index].device)
        for i, v in unpack(bucket, flat).items():
            tensors[i].assign(v if v.dtype == tensors[i].dtype else v.cast(tensors[i].dtype))

    def zero_grad(self) -> None:
        """Forget the gradients (the wrapped optimizer's `zero_grad`)."""
        self.optimizer.zero_grad()

    def gradients(self) -> list[Tensor]:
        """The parameters' gradients, in order; every parameter needs one on every rank."""
        missing = [i for i, p in enumerate(self.params) if p.grad is None]
        if missing:
            raise RuntimeError(
                f"DataParallel: parameters {missing} have no gradient; every rank must give every parameter "
                "a gradient (call backward first)"
            )
        return [p.grad for p in self.params if p.grad is not None]

    def average(self, grads: Sequence[Tensor]) -> list[Tensor]:
        """The gradients averaged over the ranks: one flat tensor per bucket (host copy, one MPI call each)."""
        bad = [i for i, (g, p) in enumerate(zip(grads, self.params)) if g.shape != p.shape]
        if len(grads) != len(self.params) or bad:
            raise ValueError(
                f"DataParallel.average: {len(grads)} gradients for {len(self.params)} parameters "
                f"(shapes differ at {bad})"
            )
        Tensor.realize(*grads)
        flats = []
        for b in self.buckets:
            a = reduce_in_place(pack(b, grads), ReduceOp.MEAN)
            flats.append(device_copy(a, b.dtype, self.params[b.slots[0].index].device))
        return flats

    def schedule_step(self, averaged: Sequence[Tensor]) -> list[Tensor]:
        """Set the gradients to views of `average()`'s buckets; the wrapped optimizer's update, to realize."""
        if len(averaged) != len(self.buckets):
            raise ValueError(f"DataParallel.schedule_step: {len(averaged)} buckets given, expected {len(self.buckets)}")
        for b, flat in zip(self.buckets, averaged):
            for i, g in unpack(b, flat).items():
                p = self.params[i]
                p.grad = g if g.dtype == p.dtype else g.cast(p.dtype)
        return self.optimizer.schedule_step()

    def step(self, *with_: Tensor) -> None:
        """Average the gradients and update; `with_` (the loss) is realized with the gradients, in one schedule."""
        grads = self.gradients()
        Tensor.realize(*with_, *grads)
        Tensor.realize(*self.schedule_step(self.average(grads)))

    def sync_buffers(self) -> None:
        """Average the float buffers (batch norm's running statistics) over the ranks, e.g. before evaluating."""
        for b in self.buffer_buckets:
            if np.dtype(b.dtype.fmt).kind == "f":
                self._assign(self.buffers, b, reduce_in_place(pack(b, self.buffers), ReduceOp.MEAN))
        if self.buffers:
            Tensor.realize(*self.buffers)
