"""The tensors of a model and their files: `get_state_dict`, `get_parameters`, `load_state_dict`, and the
safetensors format (`safe_save`, `safe_load`, `safe_load_metadata`).

>>> from tg_nn import Linear
>>> sorted(get_state_dict({"fc": Linear(2, 3)}))
['fc.bias', 'fc.weight']

Saving a model and loading it into another:

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> a, b = Linear(2, 3), Linear(2, 3)
>>> safe_save(get_state_dict(a), path, metadata={"epoch": "3"})
>>> load_state_dict(b, safe_load(path))
LoadResult(missing_keys=[], unexpected_keys=[])
>>> bool((a.weight == b.weight).numpy().all())
True
>>> safe_load_metadata(path)
{'epoch': '3'}

Decisions:

- `safe_load` reads the file through tg's DISK device (a memory map): nothing is read when it returns. Each
  tensor it gives is a lazy copy of its bytes in the file to `device` (the default device unless told),
  usable in any operation; the bytes are read when the tensor is realized. So realize the tensors (or load
  them with `load_state_dict`, which realizes) before the file is overwritten or truncated: a file that
  shrank raises a `ValueError` at realize, one rewritten in place gives its new bytes. `device="DISK"` gives
  the tensors on the file's DISK device, as tinygrad does; such tensors can be copied and read, not
  computed with.
- tg's DISK devices keep the file they first opened under each path. When the path now names another file
  (deleted and written again, or replaced by a rename), `safe_load` reads the tensors' bytes itself instead,
  into host memory, so it always loads what the path names now.
- The file is checked whole before any tensor is made, as the format's specification asks: the header is
  JSON without duplicate keys, every entry has exactly the keys `dtype`, `shape` and `data_offsets`, the
  tensors cover the data section exactly (no gap, no overlap, no trailing bytes), and each tensor's size is
  its shape times its dtype's size. Anything else raises a `ValueError` naming the file and the problem.
  Unknown entry keys are refused rather than ignored, so a file is never half understood.
- `safe_load_metadata` returns only the `__metadata__` strings (tinygrad's function of that name returns the
  raw header as well); `safe_load` gives the tensors.
- `safe_save` writes the file in place (like the safetensors package), tensors in the order given, the
  header padded with spaces so that the data starts at a multiple of 8 bytes.
- `load_state_dict` needs equal shapes and equal dtypes (it does not cast: cast the state dict's tensors
  first, e.g. `{k: v.cast(dtypes.float16) for k, v in sd.items()}`); values on another device are copied.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from tg_runtime.buffer import Buffer
from tg_runtime.device import Device, canonicalize
from tg_tensor import Tensor
from tg_uop.dtype import DType, dtypes
from tg_uop.ops import Ops
from tg_uop.uop import UOp


def get_state_dict(obj: Any, prefix: str = "") -> dict[str, Tensor]:
    """Every Tensor reachable through attributes, lists, tuples and dicts, keyed by its dotted path.

    A sub-object reached under two names (tied layers) appears under both; a reference cycle is followed once.
    """
    out: dict[str, Tensor] = {}
    # (name, object, ids of the objects on the path to it): only a path that loops back on itself is cut
    stack: list[tuple[str, Any, frozenset[int]]] = [(prefix, obj, frozenset())]
    while stack:
        name, o, path = stack.pop()
        if isinstance(o, Tensor):
            out[name] = o
            continue
        if id(o) in path:
            continue
        if isinstance(o, dict):
            items = [(str(k), v) for k, v in o.items()]
        elif isinstance(o, (list, tuple)):
            items = [(str(i), v) for i, v in enumerate(o)]
        elif hasattr(o, "__dict__"):
            items = list(vars(o).items())
        else:
            continue
        inner = path | {id(o)}
        stack.extend((f"{name}.{k}" if name else k, v, inner) for k, v in reversed(items))
    return out


def get_parameters(obj: Any) -> list[Tensor]:
    """The tensors of `get_state_dict`, each once."""
    seen: set[int] = set()
    params = []
    for t in get_state_dict(obj).values():
        if id(t) not in seen:
            seen.add(id(t))
            params.append(t)
    return params


# ---------------------------------------------------------------------------------------------------------
# load_state_dict


class LoadResult(NamedTuple):
    """What `load_state_dict(..., strict=False)` left out, as PyTorch reports it."""

    missing_keys: list[str]  # names of the model that the state dict has no value for
    unexpected_keys: list[str]  # names of the state dict that the model does not have


def _to_device(t: Tensor, device: str) -> Tensor:
    # a COPY node is how the graph moves a value between devices (the scheduler makes it a copy item)
    return t if t.device == device else Tensor(UOp(Ops.COPY, t.dtype, (t.uop,), device))


def _refuse_misfits(
    targets: Mapping[str, Tensor], state_dict: Mapping[str, Tensor], missing: list[str], unexpected: list[str]
) -> None:
    """Raise one ValueError naming every problem: the missing and unexpected names given, and every value whose
    shape or dtype differs from the model's."""
    mismatched = [
        f"{name}: the state dict has shape {v.shape} {v.dtype.name}, the model {t.shape} {t.dtype.name}"
        for name, t in targets.items()
        if name in state_dict and ((v := state_dict[name]).shape != t.shape or v.dtype != t.dtype)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys (in the model, not in the state dict): {missing}")
    if unexpected:
        problems.append(f"unexpected keys (in the state dict, not in the model): {unexpected}")
    if mismatched:
        problems.append("mismatched keys (cast or reshape the values first):\n    " + "\n    ".join(mismatched))
    if problems:
        raise ValueError(
            "load_state_dict: the state dict does not fit the model, nothing was loaded:\n  " + "\n  ".join(problems)
        )


def _write_values(pairs: list[tuple[Tensor, Tensor]]) -> None:
    """Write each value into its tensor of the model (pairs of (model tensor, value), one per tensor)."""
    # read every value first (from a file, another device): if that fails, no tensor of the model was touched
    staged = [_to_device(v, t.device) for t, v in pairs]
    if staged:
        Tensor.realize(*{id(s): s for s in staged}.values())
    # a value that is itself a tensor of the model (a swapped or shifted state dict) would be overwritten by
    # the assigns before it is read: give those a copy of their own
    model_buffers = {t.uop.base for t, _ in pairs}
    owned = [
        s.contiguous() if s.uop.base in model_buffers and s.uop.base is not t.uop.base else s
        for (t, _), s in zip(pairs, staged, strict=True)
    ]
    copies = [o for o, s in zip(owned, staged, strict=True) if o is not s]
    if copies:
        Tensor.realize(*copies)
    for (t, _), s in zip(pairs, owned, strict=True):
        if s.uop is t.uop:
            continue  # the model's own value
        if t.uop.base.op is Ops.BUFFER:
            t.assign(s)
        else:
            # not realized yet (a lazy initialisation): take a copy of the value, skipping the initialiser
            t.replace_uop(s.contiguous().uop)
    if pairs:
        Tensor.realize(*(t for t, _ in pairs))


def load_state_dict(model: Any, state_dict: Mapping[str, Tensor], strict: bool = True) -> LoadResult:
    """Copy the values of `state_dict` into the tensors of `model` (named as by `get_state_dict`), realized.

    Shapes and dtypes must be equal (no implicit cast); a value on another device is copied to the model's
    tensor's device. With `strict` (the default) the names must match exactly too. Every problem is found
    before anything is written, and all of them are named in one `ValueError`: the model is left unchanged.
    With `strict=False` the matching names are loaded and the others returned as
    `(missing_keys, unexpected_keys)`; a shape or dtype mismatch still raises, as in PyTorch.
    A tensor the model holds under several names (tied weights) is loaded once, from the first of its names
    that the state dict has.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"load_state_dict: the state dict must be a mapping of names to tensors, not {type(state_dict).__name__}"
        )
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise TypeError(f"load_state_dict: these values of the state dict are not Tensors: {not_tensors}")
    targets = get_state_dict(model)
    missing = [k for k in targets if k not in state_dict]
    unexpected = [k for k in state_dict if k not in targets]
    _refuse_misfits(targets, state_dict, missing if strict else [], unexpected if strict else [])
    # one value per tensor of the model (tied weights have several names)
    pairs: dict[int, tuple[Tensor, Tensor]] = {}
    for name, t in targets.items():
        if name in state_dict and id(t) not in pairs:
            pairs[id(t)] = (t, state_dict[name])
    _write_values(list(pairs.values()))
    return LoadResult(missing, unexpected)


# ---------------------------------------------------------------------------------------------------------
# safetensors: an 8-byte little-endian header length N, N bytes of JSON header, then the data section.
# The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data
# section) and may hold "__metadata__": {str: str}. Tensors are stored little-endian, in C order.

_DTYPE_OF_CODE: dict[str, DType] = {
    "BOOL": dtypes.bool,
    "U8": dtypes.uint8,
    "I8": dtypes.int8,
    "U16": dtypes.uint16,
    "I16": dtypes.int16,
    "F16": dtypes.float16,
    "BF16": dtypes.bfloat16,
    "U32": dtypes.uint32,
    "I32": dtypes.int32,
    "F32": dtypes.float32,
    "U64": dtypes.uint64,
    "I64": dtypes.int64,
    "F64": dtypes.float64,
}
_CODE_OF_DTYPE = {dt: code for code, dt in _DTYPE_OF_CODE.items()}
_MAX_HEADER = 100_000_000  # the safetensors package's own limit: a larger header is not a real file's
_MAX_SIZE = 2**63 - 1  # sizes are int64 in the format's other implementations
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


def _check_little_endian(op: str) -> None:
    if sys.byteorder != "little":  # tg's buffers hold host byte order; the format is little-endian
        raise NotImplementedError(f"{op}: safetensors files are little-endian; this host is big-endian")


def safe_save(
    tensors: Mapping[str, Tensor], path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """Write `tensors` to a safetensors file at `path` (replacing its contents), with optional string metadata.

    The tensors are realized in one schedule, then copied to the file one at a time.
    """
    _check_little_endian("safe_save")
    if not isinstance(tensors, Mapping):
        raise TypeError(f"safe_save: tensors must be a mapping of names to tensors, not {type(tensors).__name__}")
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"safe_save: tensor names must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("safe_save: '__metadata__' is reserved by the format and cannot name a tensor")
        if not isinstance(t, Tensor):
            raise TypeError(f"safe_save: the value of {name!r} is a {type(t).__name__}, not a Tensor")
        if t.dtype not in _CODE_OF_DTYPE:
            raise ValueError(f"safe_save: {name!r} has dtype {t.dtype!r}, which safetensors cannot store")
    if metadata is not None:
        _check_metadata(metadata, "safe_save")

    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.dtype.itemsize
        header[name] = {
            "dtype": _CODE_OF_DTYPE[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-(8 + len(raw)) % 8)  # the data section starts 8-byte aligned, as the safetensors package does

    values = list({id(t): t for t in tensors.values() if t.numel()}.values())
    if values:
        Tensor.realize(*values)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for t in tensors.values():
            if t.numel():
                f.write(t.buffer().as_memoryview())


def _check_metadata(metadata: Any, where: str) -> None:
    if not isinstance(metadata, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError(f"{where}: metadata must map strings to strings, got {metadata!r:.200}")


class _Entry(NamedTuple):
    name: str
    dtype: DType
    shape: tuple[int, ...]
    begin: int  # offsets into the data section
    end: int


class _Header(NamedTuple):
    entries: list[_Entry]
    metadata: dict[str, str]
    data_start: int  # byte offset of the data section in the file
    file_size: int


def _read_exact(fd: int, n: int, offset: int, where: str) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), offset + len(out))
        if not chunk:
            raise ValueError(f"{where}: the file ended early (it changed while being read?)")
        out += chunk
    return bytes(out)


class _DuplicateKey(Exception):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _read_header(fd: int, where: str) -> _Header:
    """Parse and check the whole header of the file open at `fd`: ValueError for anything not in the spec."""
    size = os.fstat(fd).st_size
    if size < 8:
        raise ValueError(
            f"{where}: {size} bytes is too short for a safetensors file (it starts with an 8-byte header length)"
        )
    n = int.from_bytes(_read_exact(fd, 8, 0, where), "little")
    if n > size - 8:
        raise ValueError(f"{where}: the header length {n} is larger than the rest of the file ({size - 8} bytes)")
    if n > _MAX_HEADER:
        raise ValueError(f"{where}: the header length {n} is over the limit of {_MAX_HEADER} bytes")
    try:
        text = _read_exact(fd, n, 8, where).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: the header is not UTF-8 text ({e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as e:
        raise ValueError(f"{where}: the header has the key {e.args[0]!r} twice") from None
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{where}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header must be a JSON object, not {type(header).__name__}")

    metadata = header.pop("__metadata__", {})
    _check_metadata(metadata, where)
    data_size = size - 8 - n
    entries = [_check_entry(name, info, data_size, where) for name, info in header.items()]
    # the data section must be exactly covered: no gaps, no overlaps, nothing after the last tensor
    at, prev = 0, None
    for entry in sorted(entries, key=lambda x: (x.begin, x.end)):
        if entry.begin < at:
            raise ValueError(
                f"{where}: tensors {prev!r} and {entry.name!r} overlap in the data section (at byte {entry.begin})"
            )
        if entry.begin > at:
            raise ValueError(f"{where}: bytes [{at}, {entry.begin}) of the data section belong to no tensor")
        at, prev = entry.end, entry.name
    if at != data_size:
        raise ValueError(f"{where}: the data section has {data_size} bytes but its tensors cover only {at}")
    return _Header(entries, dict(metadata), 8 + n, size)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_entry(name: str, info: Any, data_size: int, where: str) -> _Entry:
    what = f"{where}: tensor {name!r}"
    if not isinstance(info, dict):
        raise ValueError(f"{what}: its entry must be an object with dtype, shape and data_offsets, got {info!r:.200}")
    # the safetensors package ignores unknown keys; tg refuses them, so that a file is never half understood
    if set(info) != _ENTRY_KEYS:
        raise ValueError(
            f"{what}: its entry must have exactly the keys dtype, shape and data_offsets, has {sorted(info)}"
        )
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPE_OF_CODE:
        raise ValueError(f"{what}: unknown dtype {code!r:.50} (known: {', '.join(_DTYPE_OF_CODE)})")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise ValueError(f"{what}: the shape must be a list of non-negative integers, got {shape!r:.200}")
    numel = 1
    for d in shape:  # checked at every step, as the format's other readers do, so a huge dim before a 0 fails
        numel *= d
        if numel > _MAX_SIZE:
            raise ValueError(f"{what}: the shape {shape!r:.200} has more than 2**63 elements")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
        raise ValueError(f"{what}: data_offsets must be a list of two integers, got {offsets!r:.200}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise ValueError(f"{what}: data_offsets [{begin}, {end}] are not inside the data section ({data_size} bytes)")
    dtype = _DTYPE_OF_CODE[code]
    if end - begin != numel * dtype.itemsize:
        raise ValueError(
            f"{what}: data_offsets [{begin}, {end}] hold {end - begin} bytes, but shape {tuple(shape)} of {code} "
            f"needs {numel * dtype.itemsize}"
        )
    return _Entry(name, dtype, tuple(shape), begin, end)


def safe_load_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The `__metadata__` strings of a safetensors file (empty if it has none); the whole header is checked."""
    where = f"safe_load_metadata: {os.fspath(path)}"
    fd = _open_regular(path, where)
    try:
        return _read_header(fd, where).metadata
    finally:
        os.close(fd)


def safe_load(path: str | os.PathLike[str], device: str | None = None) -> dict[str, Tensor]:
    """The tensors of a safetensors file, by name in the file's order, lazily read through the DISK device.

    Each tensor is on `device` (the default device when None) and its bytes are read when it is realized;
    `device="DISK"` leaves them on the file's DISK device. A malformed file raises a `ValueError` naming the
    problem before any tensor is made.
    """
    _check_little_endian("safe_load")
    where = f"safe_load: {os.fspath(path)}"
    target = Device.DEFAULT if device is None else canonicalize(device)
    fd = _open_regular(path, where)
    try:
        header = _read_header(fd, where)
        disk_name = f"DISK:{os.path.abspath(path)}"
        if not _same_file(disk_name, fd):
            if target == "DISK":
                raise ValueError(
                    f"{where}: tg's {disk_name} device holds another file opened under this path before (the "
                    "file was replaced since): load it to a compute device instead"
                )
            return {e.name: _read_to_host(fd, header, e, target) for e in header.entries}
    finally:
        os.close(fd)

    base = Buffer(disk_name, header.file_size, dtypes.uint8)
    out: dict[str, Tensor] = {}
    for e in header.entries:
        numel = (e.end - e.begin) // e.dtype.itemsize
        view = base.view(numel, e.dtype, header.data_start + e.begin)
        u = UOp(Ops.BUFFER, e.dtype, (), view).reshape(e.shape)
        out[e.name] = Tensor(u) if target == "DISK" else Tensor(UOp(Ops.COPY, e.dtype, (u,), target))
    return out


def _open_regular(path: str | os.PathLike[str], where: str) -> int:
    """A read-only descriptor of `path`, which must be a regular file (a FIFO or device could block or never end)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ValueError(f"{where}: {kind}, a safetensors file is a regular file")
    return fd


def _same_file(disk_name: str, fd: int) -> bool:
    """Whether the DISK device of that name maps the file open at `fd` (it keeps the first file it opened)."""
    file = getattr(Device[disk_name].allocator, "file", None)
    if file is None:
        return True
    a, b = os.fstat(file.fd), os.fstat(fd)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read_to_host(fd: int, header: _Header, e: _Entry, device: str) -> Tensor:
    data = _read_exact(fd, e.end - e.begin, header.data_start + e.begin, f"safe_load: tensor {e.name!r}")
    buf = Buffer("PYTHON", len(data) // e.dtype.itemsize, e.dtype)
    if data:
        buf.copyin(memoryview(data))
    u = UOp(Ops.BUFFER, e.dtype, (), buf).reshape(e.shape)
    return Tensor(u if device == "PYTHON" else UOp(Ops.COPY, e.dtype, (u,), device))
