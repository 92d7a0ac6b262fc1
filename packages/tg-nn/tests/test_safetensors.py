"""tg_nn.state: safe_save / safe_load against the safetensors package (both ways, every dtype), hostile files,
and load_state_dict (strictness, one error naming every problem, no half-loaded model)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from tg_nn import Linear
from tg_nn.state import get_state_dict, load_state_dict, safe_load, safe_load_metadata, safe_save
from tg_runtime.device import Device
from tg_tensor import Tensor
from tg_uop.dtype import dtypes
from tg_uop.ops import Ops

# every dtype numpy can hold, with values at the edges of their ranges
NP_DTYPES = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.float16, np.uint32, np.int32, np.float32]
NP_DTYPES += [np.uint64, np.int64, np.float64]
SHAPES = [(2, 3), (), (0, 4), (5,)]


def _values(dtype: Any, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    return np.asarray(rng.standard_normal(shape) * 1000, dtype=dt)


def _raw(t: Tensor) -> bytes:
    return bytes(t.buffer().as_memoryview()) if t.numel() else b""


def _torch_raw(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


# ------------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", NP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_tg_file_loads_in_safetensors_and_back(tmp_path: Path, dtype: Any) -> None:
    arrays = {f"t{i}": _values(dtype, shape, i) for i, shape in enumerate(SHAPES)}
    path = tmp_path / "tg.safetensors"
    safe_save({k: Tensor(v) for k, v in arrays.items()}, path)
    theirs = safetensors.numpy.load_file(str(path))
    assert list(theirs) == list(arrays) or set(theirs) == set(arrays)
    for k, v in arrays.items():
        assert theirs[k].dtype == v.dtype and theirs[k].shape == v.shape
        np.testing.assert_array_equal(theirs[k], v)
    as_torch = safetensors.torch.load_file(str(path))
    for k, v in arrays.items():
        assert tuple(as_torch[k].shape) == v.shape and _torch_raw(as_torch[k]) == v.tobytes()
    ours = safe_load(path)
    assert list(ours) == list(arrays)
    for k, v in arrays.items():
        assert ours[k].dtype == Tensor(v).dtype and ours[k].shape == v.shape
        np.testing.assert_array_equal(ours[k].numpy(), v)


@pytest.mark.parametrize("dtype", NP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_safetensors_numpy_file_loads_in_tg(tmp_path: Path, dtype: Any) -> None:
    arrays = {f"w.{i}": _values(dtype, shape, 10 + i) for i, shape in enumerate(SHAPES)}
    path = tmp_path / "np.safetensors"
    safetensors.numpy.save_file(arrays, str(path), metadata={"format": "np", "note": "ü"})
    ours = safe_load(path)
    assert set(ours) == set(arrays)
    for k, v in arrays.items():
        assert ours[k].shape == v.shape
        np.testing.assert_array_equal(ours[k].numpy(), v)
    assert safe_load_metadata(path) == {"format": "np", "note": "ü"}


TORCH_DTYPES = [torch.bfloat16, torch.float16, torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]
TORCH_DTYPES += [torch.uint16, torch.uint32, torch.uint64, torch.int8, torch.int16, torch.int32]


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_torch_file_round_trips_through_tg(tmp_path: Path, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(3)
    base = {"a": torch.randn(3, 4, generator=g) * 100, "b": torch.randn((), generator=g), "c": torch.zeros(0, 2)}
    src = {k: (v.abs() if not dtype.is_floating_point else v).to(dtype) for k, v in base.items()}
    first, second = tmp_path / "torch.safetensors", tmp_path / "again.safetensors"
    safetensors.torch.save_file(src, str(first))
    loaded = safe_load(first)
    for k, v in src.items():
        assert loaded[k].shape == tuple(v.shape) and _raw(loaded[k]) == _torch_raw(v)
    safe_save(loaded, second)  # bfloat16 has no numpy type: the bytes go through tg untouched
    back = safetensors.torch.load_file(str(second))
    for k, v in src.items():
        assert back[k].dtype == dtype and torch.equal(back[k], v)


def test_header_is_aligned_and_ordered(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    safe_save({"z": Tensor([1.0, 2.0]), "a": Tensor([3], dtype=dtypes.int8)}, path, metadata={"k": "v"})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"] == {"k": "v"}
    assert header["z"] == {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    assert header["a"] == {"dtype": "I8", "shape": [1], "data_offsets": [8, 9]}
    assert len(raw) == 8 + n + 9
    assert list(safe_load(path)) == ["z", "a"]
    assert safe_load_metadata(path) == {"k": "v"}


def test_save_realizes_lazy_tensors_and_views(tmp_path: Path) -> None:
    x = Tensor(np.arange(6, dtype=np.float32)).reshape(2, 3)
    path = tmp_path / "v.safetensors"
    safe_save({"t": x.T, "sum": x.sum(axis=0), "same": x}, path)
    out = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(out["t"], np.arange(6, dtype=np.float32).reshape(2, 3).T)
    np.testing.assert_array_equal(out["sum"], [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(out["same"], np.arange(6).reshape(2, 3))


# ------------------------------------------------------------------------------------------------ laziness


def test_load_is_a_lazy_copy_from_the_disk_device(tmp_path: Path) -> None:
    path = tmp_path / "lazy.safetensors"
    safetensors.numpy.save_file({"w": np.arange(4, dtype=np.float32)}, str(path))
    t = safe_load(path)["w"]
    assert t.device == Device.DEFAULT
    assert t.uop.op is Ops.COPY
    buf = t.uop.src[0].base.arg
    assert buf.device == f"DISK:{path.resolve()}" or buf.device == f"DISK:{os.path.abspath(path)}"
    assert [si.kind for si in t.schedule()] == ["copy"]  # the file's bytes are read only by this copy
    np.testing.assert_array_equal((t * 2).numpy(), [0, 2, 4, 6])
    disk = safe_load(path, device="DISK")["w"]
    assert disk.device.startswith("DISK:") and disk.uop.base.op is Ops.BUFFER
    np.testing.assert_array_equal(disk.numpy(), [0, 1, 2, 3])


def test_only_the_tensors_used_are_read(tmp_path: Path) -> None:
    path = tmp_path / "two.safetensors"
    safe_save({"big": Tensor.ones(1000), "small": Tensor([1.0, 2.0])}, path)
    data_start = 8 + int.from_bytes(path.read_bytes()[:8], "little")
    small = safe_load(path)["small"]
    (item,) = small.schedule()
    disk = [b for b in item.bufs if b.device.startswith("DISK:")]
    # the copy reads the 8 bytes of "small" (after the 4000 of "big"), nothing else of the file
    assert [(b.nbytes, b.offset) for b in disk] == [(8, data_start + 4000)]
    assert small.tolist() == [1.0, 2.0]


def test_relative_path_is_taken_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    safe_save({"x": Tensor([5, 6])}, "rel.safetensors")
    loaded = safe_load("rel.safetensors")
    monkeypatch.chdir("/")
    assert loaded["x"].tolist() == [5, 6]


def test_file_rewritten_in_place_loads_its_new_contents(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    safe_save({"w": Tensor([1.0, 2.0])}, path)
    assert safe_load(path)["w"].tolist() == [1.0, 2.0]
    safe_save({"w": Tensor([3.0, 4.0, 5.0]), "b": Tensor([7])}, path)
    again = safe_load(path)
    assert again["w"].tolist() == [3.0, 4.0, 5.0] and again["b"].tolist() == [7]


def test_file_replaced_under_the_same_path_loads_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    safe_save({"w": Tensor([1.0, 2.0])}, path)
    old = safe_load(path)["w"]
    # the DISK device keeps the first file it opened under the path: a new file must still be the one read
    other = tmp_path / "new.safetensors"
    safe_save({"w": Tensor([8.0, 9.0])}, other)
    os.replace(other, path)
    assert safe_load(path)["w"].tolist() == [8.0, 9.0]
    assert old.tolist() == [1.0, 2.0]  # the earlier tensors keep reading the file they came from
    with pytest.raises(ValueError, match="replaced"):
        safe_load(path, device="DISK")


# ------------------------------------------------------------------------------------------------ hostile files


def _file(tmp_path: Path, header: Any, data: bytes = b"", raw_header: bytes | None = None) -> Path:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def _f32(shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}


HOSTILE: list[tuple[str, Any, bytes, bytes | None, str]] = [
    # (id, header, data, raw header bytes instead, message)
    ("not-json", None, b"", b"{nope", "not valid JSON"),
    ("not-utf8", None, b"", b'{"\xff":1}', "not UTF-8"),
    ("list-header", [1, 2], b"", None, "must be a JSON object"),
    ("duplicate-tensor", None, b"\0" * 4, b'{"a":%s,"a":%s}' % ((json.dumps(_f32([1], 0, 4)).encode(),) * 2), "twice"),
    ("duplicate-inner-key", None, b"", b'{"__metadata__":{"k":"1","k":"2"}}', "the key 'k' twice"),
    ("nan-constant", None, b"", b'{"a": NaN}', "not valid JSON"),
    ("deep-nesting", None, b"", b"[" * 200000 + b"]" * 200000, "not valid JSON"),
    ("entry-not-object", {"a": [1, 2]}, b"", None, "must be an object"),
    ("missing-key", {"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, None, "exactly the keys"),
    ("extra-key", {"a": {**_f32([1], 0, 4), "x": 1}}, b"\0" * 4, None, "exactly the keys"),
    ("unknown-dtype", {"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0", None, "unknown dtype"),
    ("dtype-not-str", {"a": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "unknown dtype"),
    ("negative-dim", {"a": _f32([-1], 0, 0)}, b"", None, "non-negative integers"),
    ("float-dim", {"a": _f32([2.0], 0, 8)}, b"\0" * 8, None, "non-negative integers"),  # type: ignore[list-item]
    ("bool-dim", {"a": _f32([True], 0, 4)}, b"\0" * 4, None, "non-negative integers"),
    ("shape-not-list", {"a": _f32(4, 0, 16)}, b"\0" * 16, None, "non-negative integers"),  # type: ignore[arg-type]
    ("shape-overflow", {"a": _f32([2**40, 2**40, 0], 0, 0)}, b"", None, "more than 2\\*\\*63"),
    ("offsets-past-data", {"a": _f32([2], 0, 8)}, b"\0" * 4, None, "not inside the data section"),
    ("offsets-reversed", {"a": _f32([0], 4, 0)}, b"\0" * 4, None, "not inside the data section"),
    ("offsets-negative", {"a": _f32([1], -4, 0)}, b"\0" * 4, None, "not inside the data section"),
    ("offsets-huge", {"a": _f32([1], 2**64, 2**64 + 4)}, b"\0" * 4, None, "not inside the data section"),
    (
        "offsets-three",
        {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}},
        b"\0" * 8,
        None,
        "two integers",
    ),
    ("offsets-float", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0.0, 4]}}, b"\0" * 4, None, "two integers"),
    ("size-mismatch", {"a": _f32([3], 0, 8)}, b"\0" * 8, None, "needs 12"),
    ("overlap", {"a": _f32([2], 0, 8), "b": _f32([2], 4, 12)}, b"\0" * 12, None, "overlap"),
    ("same-range", {"a": _f32([1], 0, 4), "b": _f32([1], 0, 4)}, b"\0" * 4, None, "overlap"),
    ("gap", {"a": _f32([1], 0, 4), "b": _f32([1], 8, 12)}, b"\0" * 12, None, "belong to no tensor"),
    ("trailing-bytes", {"a": _f32([1], 0, 4)}, b"\0" * 8, None, "cover only 4"),
    ("metadata-int-value", {"__metadata__": {"k": 1}}, b"", None, "metadata must map strings to strings"),
    ("metadata-not-dict", {"__metadata__": ["k"]}, b"", None, "metadata must map strings to strings"),
]


@pytest.mark.parametrize(("header", "data", "raw", "message"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_malformed_file_raises_a_clear_error(
    tmp_path: Path, header: Any, data: bytes, raw: bytes | None, message: str
) -> None:
    path = _file(tmp_path, header, data, raw)
    with pytest.raises(ValueError, match=message) as info:
        safe_load(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match=message):
        safe_load_metadata(path)


@pytest.mark.parametrize("length", [9, 2**40, 2**63, 2**64 - 1])
def test_header_length_past_the_end_of_the_file(tmp_path: Path, length: int) -> None:
    path = tmp_path / "long.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b"{}")
    with pytest.raises(ValueError, match=f"header length {length} is larger than the rest of the file"):
        safe_load(path)


@pytest.mark.parametrize("content", [b"", b"\x02\0\0"], ids=["empty", "short"])
def test_file_shorter_than_the_length_field(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="too short"):
        safe_load(path)


def test_special_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a directory"):
        safe_load(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        safe_load(fifo)  # opening a FIFO must not wait for a writer
    with pytest.raises(FileNotFoundError):
        safe_load(tmp_path / "missing.safetensors")


def test_empty_file_and_padded_header_are_valid(tmp_path: Path) -> None:
    assert safe_load(_file(tmp_path, None, b"", b"{}")) == {}
    path = _file(tmp_path, None, b"\0" * 4, b'{"a":' + json.dumps(_f32([], 0, 4)).encode() + b"}    ")
    assert safe_load(path)["a"].shape == ()


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "s.safetensors"
    with pytest.raises(ValueError, match="reserved"):
        safe_save({"__metadata__": Tensor([1])}, path)
    with pytest.raises(TypeError, match="names must be strings"):
        safe_save({1: Tensor([1])}, path)  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="not a Tensor"):
        safe_save({"a": np.zeros(2)}, path)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="strings to strings"):
        safe_save({"a": Tensor([1])}, path, metadata={"epoch": 3})  # type: ignore[dict-item]
    assert not path.exists()  # nothing was written


# ------------------------------------------------------------------------------------------------ load_state_dict


class Net:
    def __init__(self) -> None:
        self.l1 = Linear(3, 4)
        self.l2 = Linear(4, 2)


def _values_of(model: Any) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in get_state_dict(model).items()}


def test_model_round_trip_through_a_file(tmp_path: Path) -> None:
    a, b = Net(), Net()
    path = tmp_path / "net.safetensors"
    safe_save(get_state_dict(a), path)
    assert load_state_dict(b, safe_load(path)) == ([], [])
    for k, v in _values_of(a).items():
        np.testing.assert_array_equal(_values_of(b)[k], v)
    x = Tensor(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(b.l2(b.l1(x)).numpy(), a.l2(a.l1(x)).numpy())


def test_torch_checkpoint_loads_into_a_model(tmp_path: Path) -> None:
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    path = tmp_path / "torch.safetensors"
    names = {"0": "l1", "1": "l2"}
    sd = {names[k.split(".")[0]] + "." + k.split(".")[1]: v for k, v in ref.state_dict().items()}
    safetensors.torch.save_file(sd, str(path))
    net = Net()
    load_state_dict(net, safe_load(path))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    expected = ref(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(net.l2(net.l1(Tensor(x))).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_strict_error_names_every_problem_and_loads_nothing() -> None:
    net = Net()
    before = _values_of(net)
    sd = {
        "l1.weight": Tensor.zeros(4, 3),  # fine, but must not be loaded
        "l1.bias": Tensor.zeros(5),  # wrong shape
        "l2.weight": Tensor.zeros(2, 4, dtype=dtypes.float16),  # wrong dtype
        "extra": Tensor.zeros(1),
        "l3.bias": Tensor.zeros(1),
    }
    with pytest.raises(ValueError) as info:
        load_state_dict(net, sd)
    msg = str(info.value)
    assert "missing keys" in msg and "'l2.bias'" in msg
    assert "unexpected keys" in msg and "'extra'" in msg and "'l3.bias'" in msg
    assert "l1.bias: the state dict has shape (5,) float32, the model (4,) float32" in msg
    assert "l2.weight: the state dict has shape (2, 4) float16, the model (2, 4) float32" in msg
    assert "nothing was loaded" in msg
    for k, v in _values_of(net).items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_loads_what_matches_and_reports_the_rest() -> None:
    net = Net()
    before = _values_of(net)
    w = np.full((4, 3), 2.5, np.float32)
    missing, unexpected = load_state_dict(net, {"l1.weight": Tensor(w), "other": Tensor([1.0])}, strict=False)
    assert missing == ["l1.bias", "l2.weight", "l2.bias"] and unexpected == ["other"]
    np.testing.assert_array_equal(net.l1.weight.numpy(), w)
    np.testing.assert_array_equal(net.l2.weight.numpy(), before["l2.weight"])
    with pytest.raises(ValueError, match=r"l1.weight: the state dict has shape \(3, 4\)"):
        load_state_dict(net, {"l1.weight": Tensor.zeros(3, 4)}, strict=False)  # shapes must match still


def test_bad_state_dict_values_are_refused() -> None:
    with pytest.raises(TypeError, match="not Tensors: \\['l1.weight'\\]"):
        load_state_dict(Net(), {"l1.weight": np.zeros((4, 3), np.float32)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="mapping"):
        load_state_dict(Net(), [Tensor.zeros(1)])  # type: ignore[arg-type]


def test_loaded_values_are_copies_not_aliases() -> None:
    net = Linear(2, 2)
    w = Tensor(np.ones((2, 2), np.float32)).realize()
    load_state_dict(net, {"weight": w, "bias": Tensor.zeros(2)})
    w.assign(Tensor.zeros(2, 2)).realize()
    np.testing.assert_array_equal(net.weight.numpy(), np.ones((2, 2)))


def test_swapped_values_of_the_model_itself() -> None:
    m = {"a": Tensor([1.0, 2.0]).realize(), "b": Tensor([3.0, 4.0]).realize()}
    load_state_dict(m, {"a": m["b"], "b": m["a"]})
    assert m["a"].tolist() == [3.0, 4.0] and m["b"].tolist() == [1.0, 2.0]
    load_state_dict(m, dict(m))  # its own values: unchanged
    assert m["a"].tolist() == [3.0, 4.0] and m["b"].tolist() == [1.0, 2.0]


def test_tied_weights_and_lazy_targets() -> None:
    shared = Tensor.rand(2)  # never realized: loading must not need its initial value
    m = {"enc": shared, "dec": shared, "own": Tensor.ones(2)}
    load_state_dict(m, {"enc": Tensor([5.0, 6.0]), "dec": Tensor([7.0, 8.0]), "own": Tensor([1.0, 0.0])})
    assert m["enc"] is m["dec"] and m["enc"].tolist() == [5.0, 6.0]  # the first name wins
    assert m["own"].tolist() == [1.0, 0.0]


def test_values_from_another_device_are_copied() -> None:
    m = {"w": Tensor.zeros(3)}
    load_state_dict(m, {"w": Tensor([1.0, 2.0, 3.0], device="PYTHON")})
    assert m["w"].device == Device.DEFAULT and m["w"].tolist() == [1.0, 2.0, 3.0]


def test_requires_grad_and_training_continue_after_loading(tmp_path: Path) -> None:
    net = Linear(2, 1)
    path = tmp_path / "lin.safetensors"
    safe_save({"weight": Tensor([[1.0, -1.0]]), "bias": Tensor([0.5])}, path)
    load_state_dict(net, safe_load(path))
    net.weight.requires_grad = True
    net(Tensor([[2.0, 1.0]])).sum().backward()
    assert net.weight.grad is not None and net.weight.grad.tolist() == [[2.0, 1.0]]
    assert net(Tensor([[2.0, 1.0]])).item() == 1.5
