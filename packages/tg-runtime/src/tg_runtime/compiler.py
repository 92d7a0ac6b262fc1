"""Compilers turn source text into a program binary; results are cached on disk by content hash.

The cache lives in `$TG_CACHE_DIR` (default: `$XDG_CACHE_HOME/tg` or `~/.cache/tg`); `TG_COMPILE_CACHE=0`
turns it off. Entries are written to a temporary file and renamed into place, so processes compiling at the
same time never see a half-written entry; each entry carries a checksum, so a corrupt or truncated one is
compiled again instead of loaded.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile

from tg_uop import trace

_MAGIC = b"TGC1"


class CompileError(RuntimeError):
    """A compiler rejected a program. `.source` is the program, `.message` what the compiler said."""

    def __init__(self, message: str, source: str, device: str = "") -> None:
        self.message, self.source, self.device = message, source, device
        numbered = "\n".join(f"{i + 1:4d} | {line}" for i, line in enumerate(source.splitlines()))
        super().__init__(f"{device} compile failed:\n{message.strip()}\n--- source ---\n{numbered}")


def cache_dir() -> pathlib.Path:
    """Where compiled programs are kept."""
    if d := os.environ.get("TG_CACHE_DIR"):
        return pathlib.Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "tg"


def cache_enabled() -> bool:
    return os.environ.get("TG_COMPILE_CACHE", "1") != "0"


class Compiler:
    """Base class: a backend implements `compile(src) -> bytes` and sets `identity` (compiler + version + flags)."""

    identity: str = "none"

    def compile(self, src: str) -> bytes:
        raise NotImplementedError

    def cache_path(self, src: str) -> pathlib.Path:
        key = hashlib.sha256(f"{self.identity}\0{src}".encode()).hexdigest()
        return cache_dir() / "compile" / key[:2] / key

    def compile_cached(self, src: str) -> bytes:
        """`compile(src)`, served from the disk cache when an intact entry exists."""
        if not cache_enabled():
            return self.compile(src)
        path = self.cache_path(src)
        cached = _read_entry(path)
        trace.emit("cache", what="compile", hit=cached is not None)
        if cached is not None:
            return cached
        lib = self.compile(src)
        _write_entry(path, lib)
        return lib


def _read_entry(path: pathlib.Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < 36 or data[:4] != _MAGIC or hashlib.sha256(data[36:]).digest() != data[4:36]:
        return None  # missing, foreign, truncated or corrupted: compile again
    return data[36:]


def _write_entry(path: pathlib.Path, payload: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, path)  # atomic: readers see the old entry or the whole new one
    except OSError:
        pass  # a read-only or full cache directory only costs recompiles
