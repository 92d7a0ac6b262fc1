"""tg_nn.datasets: the IDX reader (plain and gzipped, malformed files refused), where the files are looked for,
the download path (with a fake network: tests never download), and the real Fashion-MNIST files of Debian's
dataset-fashion-mnist package."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tg_nn import datasets
from tg_nn.datasets import FILES, fashion_mnist, mnist, read_idx, write_idx
from tg_uop.dtype import dtypes

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the user's cache, $TG_DATASETS, the system directories or the network, unless it asks."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {})

    def no_network(url: str, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", no_network)
    return cache


def _split(n_train: int, n_test: int, seed: int, size: int = 4) -> dict[str, np.ndarray]:
    """The four arrays of a small fake data set of `size`x`size` images, keyed by file name."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def _write_set(directory: Path, arrays: dict[str, np.ndarray], gz: bool | list[bool] = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    flags = gz if isinstance(gz, list) else [gz] * len(arrays)
    for (name, a), zipped in zip(arrays.items(), flags, strict=True):
        write_idx(directory / (f"{name}.gz" if zipped else name), a)


def _check_loaded(out: tuple[Any, ...], arrays: dict[str, np.ndarray]) -> None:
    x_train, y_train, x_test, y_test = out
    for t, name, images in (
        (x_train, "train-images-idx3-ubyte", True),
        (y_train, "train-labels-idx1-ubyte", False),
        (x_test, "t10k-images-idx3-ubyte", True),
        (y_test, "t10k-labels-idx1-ubyte", False),
    ):
        want = arrays[name][:, None] if images else arrays[name]  # images get a channel axis
        assert t.dtype == dtypes.uint8 and t.shape == want.shape
        np.testing.assert_array_equal(t.numpy(), want)


# ------------------------------------------------------------------------------------------------ IDX files


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (7,), (0, 28, 28), ()], ids=str)
def test_idx_round_trip(tmp_path: Path, gz: bool, shape: tuple[int, ...]) -> None:
    a = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    got = read_idx(path)
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, a)


def test_gzip_is_told_by_the_contents_not_the_name(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "x.gz", a)
    (tmp_path / "zipped-without-suffix").write_bytes((tmp_path / "x.gz").read_bytes())
    write_idx(tmp_path / "plain", a)
    (tmp_path / "plain-with-suffix.gz").write_bytes((tmp_path / "plain").read_bytes())
    for name in ("zipped-without-suffix", "plain-with-suffix.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), a)


def _idx(magic: bytes, dims: list[int], data: bytes) -> bytes:
    return magic + b"".join(d.to_bytes(4, "big") for d in dims) + data


BAD_IDX: list[tuple[str, bytes, str]] = [
    ("empty", b"", "too short for an IDX file"),
    ("short-magic", b"\0\0\x08", "too short for an IDX file"),
    ("not-idx", b"PK\x03\x04" + b"\0" * 20, "is not that of an IDX file"),
    ("float-data", _idx(b"\0\0\x0d\x01", [1], b"\0" * 4), "0x00000d01 is not that of an IDX file of unsigned bytes"),
    ("dims-cut", b"\0\0\x08\x03" + (2).to_bytes(4, "big") + b"\0\0", "ends inside its 3 dimensions"),
    (
        "data-cut",
        _idx(b"\0\0\x08\x02", [3, 4], b"\1" * 11),
        r"dimensions \(3, 4\) need 12 bytes of data, the file has only 11",
    ),
    ("data-too-long", _idx(b"\0\0\x08\x01", [3], b"\1" * 4), "the file has more"),
    ("huge-dims", _idx(b"\0\0\x08\x03", [2**31, 2**31, 2], b""), "over the limit"),
]


@pytest.mark.parametrize(("content", "message"), [b[1:] for b in BAD_IDX], ids=[b[0] for b in BAD_IDX])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_malformed_idx_is_refused(tmp_path: Path, content: bytes, message: str, gz: bool) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_broken_gzip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    whole = gzip.compress(_idx(b"\0\0\x08\x01", [1000], bytes(range(256)) * 4)[:1008])
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=f"read_idx: {path}: cannot read the file"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b" + b"\xff" * 30)
    with pytest.raises(ValueError, match="cannot read the file"):
        read_idx(path)


def test_write_refuses_what_idx_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most 255 dimensions below 2\\*\\*32"):
        write_idx(tmp_path / "big", np.broadcast_to(np.uint8(0), (2**32,)))  # a view: nothing allocated
    assert not (tmp_path / "big").exists()


def test_expected_magic_is_checked(tmp_path: Path) -> None:
    write_idx(tmp_path / "labels", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="magic number 0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels", expect_magic=0x00000803)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-here")


# ------------------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("gz", [False, True, [True, False, False, True]], ids=["plain", "gzipped", "mixed"])
def test_load_from_a_path(tmp_path: Path, gz: Any) -> None:
    arrays = _split(5, 3, seed=1)
    _write_set(tmp_path / "fm", arrays, gz)
    _check_loaded(fashion_mnist(tmp_path / "fm", download=False), arrays)
    _check_loaded(mnist(str(tmp_path / "fm"), download=False), arrays)


def test_device_argument(tmp_path: Path) -> None:
    _write_set(tmp_path, _split(2, 1, seed=2))
    out = mnist(tmp_path, download=False, device="PYTHON")
    assert all(t.device == "PYTHON" for t in out)


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    # each place gets a data set of another size, so the one loaded tells where it came from
    env, system = tmp_path / "env", tmp_path / "system"
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {"fashion-mnist": (str(system),)})
    monkeypatch.setenv(datasets.ENV_VAR, str(env))
    sizes = {"path": 1, "env": 2, "cache": 3, "system": 4}
    _write_set(tmp_path / "given", _split(sizes["path"], 1, seed=0))
    _write_set(env / "fashion-mnist", _split(sizes["env"], 1, seed=0))
    _write_set(isolated / "tg" / "datasets" / "fashion-mnist", _split(sizes["cache"], 1, seed=0), gz=True)
    _write_set(system, _split(sizes["system"], 1, seed=0), gz=True)

    def n_train() -> int:
        return fashion_mnist(download=False)[0].shape[0]

    assert fashion_mnist(tmp_path / "given", download=False)[0].shape[0] == sizes["path"]
    assert n_train() == sizes["env"]
    (env / "fashion-mnist" / FILES[3]).unlink()  # a directory without all four files is passed over
    assert n_train() == sizes["cache"]
    monkeypatch.delenv(datasets.ENV_VAR)
    assert n_train() == sizes["cache"]
    (isolated / "tg" / "datasets" / "fashion-mnist" / f"{FILES[0]}.gz").unlink()
    assert n_train() == sizes["system"]
    # the system directory is Fashion-MNIST's: MNIST is not looked for there
    with pytest.raises(FileNotFoundError):
        mnist(download=False)


def test_cache_defaults_to_the_home_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.cache_dir("mnist") == tmp_path / ".cache" / "tg" / "datasets" / "mnist"
    _write_set(tmp_path / ".cache" / "tg" / "datasets" / "mnist", _split(2, 2, seed=3))
    assert mnist(download=False)[1].shape == (2,)


def test_given_path_is_the_only_place_looked_in(tmp_path: Path, isolated: Path) -> None:
    _write_set(isolated / "tg" / "datasets" / "mnist", _split(2, 2, seed=3))
    with pytest.raises(FileNotFoundError) as info:
        mnist(tmp_path / "elsewhere", download=False)
    msg = str(info.value)
    assert str(tmp_path / "elsewhere") in msg and "the path argument" in msg and "xdg-cache" not in msg


def test_missing_files_say_where_to_put_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "data"))
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {"fashion-mnist": ("/nonexistent/fashion-mnist",)})
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist(download=False)
    msg = str(info.value)
    for f in FILES:
        assert f in msg
    places = [str(tmp_path / "data" / "fashion-mnist"), str(datasets.cache_dir("fashion-mnist")), "/nonexistent"]
    positions = [msg.index(p) for p in places]
    assert positions == sorted(positions)  # listed in the order they are searched
    assert "download=False" in msg and "TG_DATASETS" in msg


def test_inconsistent_files_are_refused(tmp_path: Path) -> None:
    arrays = _split(4, 2, seed=5)
    arrays["train-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:3]
    _write_set(tmp_path / "a", arrays)
    with pytest.raises(ValueError, match="4 train images but 3 labels"):
        mnist(tmp_path / "a", download=False)
    arrays = _split(4, 2, seed=5)
    arrays["t10k-images-idx3-ubyte"] = np.zeros((2, 5, 5), np.uint8)
    _write_set(tmp_path / "b", arrays)
    with pytest.raises(ValueError, match=r"train images are \(4, 4\), test \(5, 5\)"):
        mnist(tmp_path / "b", download=False)
    # labels where images belong: the magic number tells
    arrays = _split(4, 2, seed=5)
    arrays["train-images-idx3-ubyte"] = arrays["train-labels-idx1-ubyte"]
    _write_set(tmp_path / "c", arrays)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: magic number 0x00000801, expected 0x00000803"):
        mnist(tmp_path / "c", download=False)


# ------------------------------------------------------------------------------------------------ downloading


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def _serve(monkeypatch: pytest.MonkeyPatch, name: str, arrays: dict[str, np.ndarray], tmp_path: Path) -> list[str]:
    """Make urlopen serve `arrays` as the data set's gzipped files, published with their true size and MD5."""
    bodies, checksums = {}, {}
    for file, a in arrays.items():
        write_idx(tmp_path / "served.gz", a)
        body = (tmp_path / "served.gz").read_bytes()
        bodies[datasets.URLS[name] + f"{file}.gz"] = body
        checksums[file] = (len(body), hashlib.md5(body).hexdigest())
    monkeypatch.setitem(datasets.CHECKSUMS, name, checksums)
    requested: list[str] = []

    def urlopen(url: str, *args: Any, **kwargs: Any) -> FakeResponse:
        requested.append(url)
        return FakeResponse(bodies[url])

    monkeypatch.setattr(datasets.urllib.request, "urlopen", urlopen)
    return requested


def test_download_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = _split(6, 2, seed=7)
    requested = _serve(monkeypatch, "mnist", arrays, tmp_path)
    _check_loaded(mnist(), arrays)
    assert requested == [datasets.URLS["mnist"] + f"{f}.gz" for f in FILES]
    cache = datasets.cache_dir("mnist")
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{f}.gz" for f in FILES)  # no temporary files left
    _check_loaded(mnist(), arrays)  # the second time from the cache
    assert len(requested) == 4


def test_download_fetches_only_missing_files_into_the_given_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = _split(3, 2, seed=8)
    requested = _serve(monkeypatch, "fashion-mnist", arrays, tmp_path)
    _write_set(tmp_path / "mine", {k: arrays[k] for k in FILES[:3]})
    _check_loaded(fashion_mnist(tmp_path / "mine"), arrays)
    assert requested == [datasets.URLS["fashion-mnist"] + f"{FILES[3]}.gz"]
    assert (tmp_path / "mine" / f"{FILES[3]}.gz").is_file()


@pytest.mark.parametrize("damage", ["md5", "size", "not-idx"])
def test_a_bad_download_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    arrays = _split(3, 2, seed=9)
    file = FILES[1]  # the second file is the bad one
    if damage == "not-idx":
        arrays[file] = arrays[FILES[0]]  # images served for the labels
    _serve(monkeypatch, "mnist", arrays, tmp_path)
    size, md5 = datasets.CHECKSUMS["mnist"][file]
    if damage == "md5":
        datasets.CHECKSUMS["mnist"][file] = (size, "0" * 32)
        message = f"{file}.gz: downloaded MD5 [0-9a-f]{{32}}, the published file has 0{{32}}"
    elif damage == "size":
        datasets.CHECKSUMS["mnist"][file] = (size + 1, md5)
        message = f"{file}.gz: downloaded {size} bytes, the published file has {size + 1}"
    else:  # without a published checksum the contents are still checked
        del datasets.CHECKSUMS["mnist"][file]
        message = "magic number 0x00000803, expected 0x00000801"
    with pytest.raises(FileNotFoundError, match=message) as info:
        mnist()
    assert "downloading them from" in str(info.value)
    kept = sorted(p.name for p in datasets.cache_dir("mnist").iterdir())
    assert kept == [f"{FILES[0]}.gz"]  # the good file before it stays, the bad one and its temporary files do not


def test_download_shows_progress_with_tqdm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars: list[FakeBar] = []

    class FakeBar:
        def __init__(self, total: int | None = None, **kwargs: Any) -> None:
            self.total, self.done = total, 0
            bars.append(self)

        def __enter__(self) -> FakeBar:
            return self

        def __exit__(self, *exc: Any) -> None:
            pass

        def update(self, n: int) -> None:
            self.done += n

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    arrays = _split(3, 2, seed=10)
    _serve(monkeypatch, "mnist", arrays, tmp_path)
    mnist()
    assert len(bars) == 4 and all(b.total == b.done > 0 for b in bars)
    assert [b.total for b in bars] == [datasets.CHECKSUMS["mnist"][f][0] for f in FILES]


def test_download_off_never_touches_the_network() -> None:
    with pytest.raises(FileNotFoundError, match="download=False"):
        mnist(download=False)  # the autouse fixture's urlopen would fail the test if called


# ------------------------------------------------------------------------------------------------ the real files


def test_debian_fashion_mnist_files(monkeypatch: pytest.MonkeyPatch) -> None:
    if not DEBIAN_DIR.is_dir():
        if os.environ.get("CI"):  # CI installs the package: its absence there is a failure, not a skip
            pytest.fail(f"{DEBIAN_DIR} is missing: apt-get install dataset-fashion-mnist")
        pytest.skip(f"{DEBIAN_DIR} not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {"fashion-mnist": (str(DEBIAN_DIR),)})
    x_train, y_train, x_test, y_test = fashion_mnist(download=False)
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == y_train.dtype == dtypes.uint8
    for y in (y_train.numpy(), y_test.numpy()):
        assert y.min() == 0 and y.max() == 9
        assert (np.bincount(y) == len(y) // 10).all()  # Fashion-MNIST is balanced: each class a tenth
    first = x_test[:1].numpy()
    assert first.max() > 0 and first.min() == 0
