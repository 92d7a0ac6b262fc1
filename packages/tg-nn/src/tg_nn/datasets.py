"""Small standard data sets as Tensors: `mnist()` and `fashion_mnist()`.

Both return `(X_train, Y_train, X_test, Y_test)` as tinygrad's `nn.datasets.mnist()` does: images as uint8
tensors of shape `(N, 1, rows, cols)` (60000 and 10000 images of 28x28 for the real files), labels as uint8
tensors of shape `(N,)`. Convert them as the model needs (`X.float() / 255`); uint8 labels work as they are
with `sparse_categorical_crossentropy`.

The four files are the standard IDX files, each plain or gzipped (`.gz` added to the name)::

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

They are looked for, in this order, in a directory that has all four:

1. the `path=` argument, when given (then only there);
2. `$TG_DATASETS/<name>` when the environment variable `TG_DATASETS` is set (`<name>` is `mnist` or
   `fashion-mnist`: one directory holds every data set, e.g. `TG_DATASETS=/data` and `/data/mnist/...`);
3. the cache, `$XDG_CACHE_HOME/tg/datasets/<name>` (`~/.cache/tg/datasets/<name>` when it is not set);
4. for Fashion-MNIST, `/usr/share/datasets/fashion-mnist`, where Debian's `dataset-fashion-mnist` package
   puts them (`apt-get install dataset-fashion-mnist`).

When none has them and `download=True` (the default), the missing files are downloaded (gzipped) from the
data set's official address into the cache (or into `path`), with a progress bar when `tqdm` is installed.
Each download is checked before it is kept: its size and MD5 against the published ones, then its contents
(an IDX file of the expected magic number). Otherwise a `FileNotFoundError` says which files to put where.
A malformed file raises a `ValueError` naming it and the problem.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> write_idx(f"{d}/train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
>>> read_idx(f"{d}/train-images-idx3-ubyte").shape
(3, 28, 28)
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import sys
import types
import urllib.request
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tg_tensor import Tensor

ENV_VAR = "TG_DATASETS"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# directories where distributions install the files (Debian's dataset-fashion-mnist package)
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {"fashion-mnist": ("/usr/share/datasets/fashion-mnist",)}
URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",  # the mirror torchvision uses
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
_IMAGES, _LABELS = 0x00000803, 0x00000801  # IDX magic numbers: unsigned bytes, 3 dims or 1 dim
MAX_BYTES = 1 << 32  # the most data one IDX file may hold: guards against headers (or gzip bombs) asking for more
_DOWNLOAD_TIMEOUT = 60  # seconds without data before a download gives up
# (size in bytes, MD5) of each published .gz file, as its publishers list them: a download must match
CHECKSUMS: dict[str, dict[str, tuple[int, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte": (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte": (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
        "t10k-images-idx3-ubyte": (1648877, "9fb629c4189551a2d022fa330f9573f3"),
        "t10k-labels-idx1-ubyte": (4542, "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte": (29515, "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte": (4422102, "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte": (5148, "bb300cfdad3c16e7a12a480ee83cd310"),
    },
}


class Location(NamedTuple):
    directory: Path
    why: str  # how this place came to be searched, for the error message


def read_idx(path: str | os.PathLike[str], expect_magic: int | None = None) -> np.ndarray:
    """The array in an IDX file of unsigned bytes, plain or gzipped (told by its first bytes), checked whole.

    `expect_magic` (0x00000803 for images, 0x00000801 for labels) is checked when given.
    """
    path = Path(path)
    where = f"read_idx: {path}"
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"  # gzip's magic; an IDX file starts with two zero bytes
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise ValueError(f"{where}: {len(head)} bytes is too short for an IDX file")
            magic = int.from_bytes(head, "big")
            if head[:2] != b"\0\0" or head[2] != 0x08:
                raise ValueError(f"{where}: magic number {magic:#010x} is not that of an IDX file of unsigned bytes")
            if expect_magic is not None and magic != expect_magic:
                raise ValueError(f"{where}: magic number {magic:#010x}, expected {expect_magic:#010x}")
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise ValueError(f"{where}: the file ends inside its {ndim} dimensions")
            dims = tuple(int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            size = int(np.prod(dims, dtype=object)) if dims else 1
            if size > MAX_BYTES:
                raise ValueError(f"{where}: the dimensions {dims} ask for {size} bytes, over the limit of {MAX_BYTES}")
            data = _read_at_most(f, size + 1)  # a byte past the size the dimensions give: the file is too long
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{where}: cannot read the file ({e})") from None
    if len(data) != size:
        how = "more" if len(data) > size else f"only {len(data)}"
        raise ValueError(f"{where}: the dimensions {dims} need {size} bytes of data, the file has {how}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _read_at_most(f: io.BufferedIOBase, n: int) -> bytes:
    # in chunks: one large read would allocate all the bytes a (maybe lying) header asks for before reading
    chunks, got = [], 0
    while got < n:
        chunk = f.read(min(n - got, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in `.gz`): the inverse of `read_idx`."""
    array = np.asarray(array, dtype=np.uint8)  # not ascontiguousarray: it makes a 0-d array 1-d
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"write_idx: an IDX file holds at most 255 dimensions below 2**32, not {array.shape}")
    path = Path(path)
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(head + array.tobytes())


def cache_dir(name: str) -> Path:
    """Where downloads of the data set `name` go: `$XDG_CACHE_HOME/tg/datasets/<name>` or `~/.cache/...`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tg" / "datasets" / name


def search_locations(name: str, path: str | os.PathLike[str] | None = None) -> list[Location]:
    """The directories searched for the data set `name`, in order (see the module's docstring)."""
    if path is not None:
        return [Location(Path(path), "the path argument")]
    out = []
    if env := os.environ.get(ENV_VAR):
        out.append(Location(Path(env) / name, f"${ENV_VAR}/{name}"))
    out.append(Location(cache_dir(name), "the cache"))
    out += [Location(Path(d), "installed by a system package") for d in SYSTEM_DIRS.get(name, ())]
    return out


def _find(directory: Path, file: str) -> Path | None:
    for candidate in (directory / file, directory / f"{file}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _progress(total: int | None, desc: str) -> Any:
    """A tqdm progress bar when tqdm is installed (it is optional), else an object whose update does nothing."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return contextlib.nullcontext(types.SimpleNamespace(update=lambda n: None))
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)


def _download(url: str, dest: Path) -> None:
    """Fetch `url` into the file `dest` (created only when the whole body came)."""
    print(f"tg_nn.datasets: downloading {url} to {dest}", file=sys.stderr)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as response, open(part, "wb") as f:
            length = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
            with _progress(int(length) if length and length.isdigit() else None, dest.name) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _check_download(path: Path, name: str, file: str) -> None:
    """Compare a downloaded .gz with the size and MD5 its publishers list (when known): ValueError if it differs."""
    if file not in CHECKSUMS.get(name, {}):
        return
    size, md5 = CHECKSUMS[name][file]
    got = path.stat().st_size
    if got != size:
        raise ValueError(f"{file}.gz: downloaded {got} bytes, the published file has {size}")
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != md5:
        raise ValueError(f"{file}.gz: downloaded MD5 {digest.hexdigest()}, the published file has {md5}")


def _fetch(name: str, directory: Path, missing: list[str]) -> None:
    """Download the `missing` files into `directory`, each checked before it is kept."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in missing:
        dest = directory / f"{file}.gz"
        tmp = directory / f".{file}.download.gz"  # a name `_find` does not take for the real file
        try:
            _download(URLS[name] + f"{file}.gz", tmp)
            _check_download(tmp, name, file)
            read_idx(tmp, _IMAGES if "images" in file else _LABELS)  # the contents, too
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def _load(name: str, path: str | os.PathLike[str] | None, download: bool, device: str | None) -> tuple[Tensor, ...]:
    locations = search_locations(name, path)
    found = next((loc for loc in locations if all(_find(loc.directory, f) for f in FILES)), None)
    if found is None:
        target = locations[0].directory if path is not None else cache_dir(name)
        missing = [f for f in FILES if _find(target, f) is None]
        reason = "downloading is off (download=False)"
        if download:
            try:
                _fetch(name, target, missing)
                found = Location(target, "downloaded")
            except Exception as e:  # no network, a refused write, a bad file: all end in the same advice
                reason = f"downloading them from {URLS[name]} failed: {type(e).__name__}: {e}"
        if found is None:
            places = "\n".join(f"  {loc.directory}  ({loc.why})" for loc in locations)
            raise FileNotFoundError(
                f"{name}: the data set files were not found. Put these files (each may be gzipped, with .gz added "
                f"to its name): {', '.join(FILES)}\ninto one of these directories, searched in this order:\n{places}\n"
                f"({reason}; {ENV_VAR} names a directory with one subdirectory per data set)"
            )
    files = [_find(found.directory, f) for f in FILES]
    assert all(files)
    x_train, y_train, x_test, y_test = (
        read_idx(p, _IMAGES if "images" in p.name else _LABELS) for p in files if p is not None
    )
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name} in {found.directory}: {x.shape[0]} {split} images but {y.shape[0]} labels")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"{name} in {found.directory}: train images are {x_train.shape[1:]}, test {x_test.shape[1:]}")
    return (
        Tensor(x_train[:, None], device=device),
        Tensor(y_train, device=device),
        Tensor(x_test[:, None], device=device),
        Tensor(y_test, device=device),
    )


def mnist(
    path: str | os.PathLike[str] | None = None, download: bool = True, device: str | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """MNIST digits: `(X_train, Y_train, X_test, Y_test)`, X uint8 `(N, 1, 28, 28)`, Y uint8 `(N,)`."""
    return _load("mnist", path, download, device)  # type: ignore[return-value]


def fashion_mnist(
    path: str | os.PathLike[str] | None = None, download: bool = True, device: str | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fashion-MNIST (Zalando's clothes, 10 classes): the same layout as `mnist()`."""
    return _load("fashion-mnist", path, download, device)  # type: ignore[return-value]


FORTUNES_DIR = "/usr/share/games/fortunes"  # Debian's `fortunes` package (`apt-get install fortunes`)


def fortunes(path: str | os.PathLike[str] | None = None) -> list[str]:
    """The quotations of the `fortune` program's data files (text files of entries each ended by a line `%`),
    without that line and the newline before it, in file-name order: every file of `path` (default
    `/usr/share/games/fortunes`, Debian's `fortunes` package) without a dot in its name (`.dat` indexes and
    `.u8` links are skipped). Nothing is downloaded: a missing directory raises `FileNotFoundError` saying which
    package installs it.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = Path(d, "wisdom").write_text("Look before you leap.\\n%\\nHe who hesitates is lost.\\n%\\n")
    >>> fortunes(d)
    ['Look before you leap.', 'He who hesitates is lost.']
    """
    directory = Path(FORTUNES_DIR if path is None else path)
    files = sorted(p for p in directory.iterdir() if p.is_file() and "." not in p.name) if directory.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"fortunes: no fortune files in {directory}"
            + (" (install Debian's `fortunes` package: apt-get install fortunes)" if path is None else "")
        )
    out: list[str] = []
    for p in files:
        text = p.read_bytes().decode("utf-8", errors="replace")
        entries = ("\n" + text).replace("\r\n", "\n").split("\n%\n")  # the "\n" + finds a "%" on the first line
        out += [e.strip("\n") for e in entries if e.strip("\n%")]
    return out
