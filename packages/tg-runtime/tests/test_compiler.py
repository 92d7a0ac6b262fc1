"""Compiler and its on-disk cache: hits, location, switching it off, damaged entries, concurrent writers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tg_runtime import CompileError, Compiler
from tg_runtime.backends.cpu import ClangStyleCompiler
from tg_runtime.compiler import cache_dir, cache_enabled


class Counting(Compiler):
    """A fake compiler: the 'binary' is a digest of the source; counts how often it really compiles."""

    def __init__(self, identity: str = "counting-test-compiler 1") -> None:
        self.identity = identity
        self.calls = 0

    def compile(self, src: str) -> bytes:
        self.calls += 1
        if "syntax error" in src:
            raise CompileError("1:1: error: this is not a program", src, "FAKE")
        return self.binary(src)

    @staticmethod
    def binary(src: str) -> bytes:
        return b"BIN:" + hashlib.sha256(src.encode()).digest() + src.encode()[::-1]

    @classmethod
    def compiles_in_new(cls, src: str) -> int:
        """How often a new compiler (as in a new process: only the disk is shared) compiles to give the binary of
        `src`, which it checks it gives."""
        c = cls()
        assert c.compile_cached(src) == cls.binary(src)
        return c.calls


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache folder for this test."""
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# ---- hits and misses ----


def test_second_compile_is_a_hit(cache: Path) -> None:
    c = Counting()
    first = c.compile_cached("kernel one")
    second = c.compile_cached("kernel one")
    assert first == second == Counting.binary("kernel one")
    assert c.calls == 1


def test_hit_survives_a_new_compiler_instance(cache: Path) -> None:
    Counting().compile_cached("kernel one")
    assert Counting.compiles_in_new("kernel one") == 0


def test_different_sources_do_not_collide(cache: Path) -> None:
    c = Counting()
    srcs = ["a", "b", "a ", "", "\x00", "b\n"]
    outs = [c.compile_cached(s) for s in srcs]
    assert outs == [Counting.binary(s) for s in srcs]
    assert c.calls == len(srcs)
    assert [c.compile_cached(s) for s in srcs] == outs
    assert c.calls == len(srcs)


def test_compiler_identity_is_part_of_the_key(cache: Path) -> None:
    v1, v2 = Counting("fakecc 1.0 -O2"), Counting("fakecc 1.0 -O3")
    v1.compile_cached("same source")
    v2.compile_cached("same source")
    assert v1.calls == 1 and v2.calls == 1
    assert v1.cache_path("same source") != v2.cache_path("same source")


def test_empty_binary_is_cached(cache: Path) -> None:
    class Empty(Counting):
        def compile(self, src: str) -> bytes:
            self.calls += 1
            return b""

    c = Empty()
    assert c.compile_cached("x") == b""
    assert c.compile_cached("x") == b""
    assert c.calls == 1


def test_failed_compiles_are_not_cached(cache: Path) -> None:
    c = Counting()
    for _ in range(2):
        with pytest.raises(CompileError) as info:
            c.compile_cached("syntax error here")
        assert info.value.source == "syntax error here"
    assert c.calls == 2
    assert entries(cache) == []


def test_compile_error_text() -> None:
    src = "line one\nline two\n\nline four"
    e = CompileError("  4:1: error: bad  \n", src, "DEV")
    assert e.message == "  4:1: error: bad  \n" and e.source == src and e.device == "DEV"
    text = str(e)
    assert text.startswith("DEV compile failed:")
    assert "4:1: error: bad" in text
    assert "   1 | line one\n   2 | line two\n   3 | \n   4 | line four" in text


def test_base_compiler_has_no_compile() -> None:
    with pytest.raises(NotImplementedError):
        Compiler().compile("x")


# ---- where the cache lives, and switching it off ----


def test_TG_CACHE_DIR_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "elsewhere"
    c = Counting()
    c.compile_cached("located")
    path = c.cache_path("located")
    assert path.is_relative_to(tmp_path / "elsewhere")
    assert entries(tmp_path / "elsewhere") == [path]
    assert not (tmp_path / "xdg").exists()


def test_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tg"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "tg"


def test_cache_dir_is_read_at_each_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = Counting()
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path / "one"))
    c.compile_cached("moving")
    monkeypatch.setenv("TG_CACHE_DIR", str(tmp_path / "two"))
    c.compile_cached("moving")
    assert c.calls == 2
    assert len(entries(tmp_path / "one")) == 1 and len(entries(tmp_path / "two")) == 1


@pytest.mark.parametrize(("value", "enabled"), [("0", False), ("1", True), (None, True)])
def test_TG_COMPILE_CACHE(cache: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool) -> None:
    if value is None:
        monkeypatch.delenv("TG_COMPILE_CACHE", raising=False)
    else:
        monkeypatch.setenv("TG_COMPILE_CACHE", value)
    assert cache_enabled() is enabled
    c = Counting()
    for _ in range(3):
        assert c.compile_cached("switch") == Counting.binary("switch")
    assert c.calls == (1 if enabled else 3)
    assert (entries(cache) != []) is enabled


def test_disabled_cache_ignores_existing_entries(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Counting().compile_cached("old")
    monkeypatch.setenv("TG_COMPILE_CACHE", "0")
    c = Counting()
    c.compile_cached("old")
    assert c.calls == 1


def test_unusable_cache_dir_only_costs_recompiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file")
    monkeypatch.setenv("TG_CACHE_DIR", str(not_a_dir))
    c = Counting()
    assert c.compile_cached("k") == Counting.binary("k")
    assert c.compile_cached("k") == Counting.binary("k")
    assert c.calls == 2
    assert not_a_dir.read_text() == "I am a file"


# ---- damaged entries ----


def _flip_last(d: bytes) -> bytes:
    return d[:-1] + bytes([d[-1] ^ 0x01])


def _flip_checksum(d: bytes) -> bytes:
    return d[:10] + bytes([d[10] ^ 0x80]) + d[11:]


def _flip_magic(d: bytes) -> bytes:
    return b"XXXX" + d[4:]


def _swap_payload(d: bytes) -> bytes:
    # a well-formed entry for different contents, but under this source's key
    return d[:36] + b"something else entirely"


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda d: b"",
    "magic only": lambda d: d[:4],
    "header cut": lambda d: d[:20],
    "header only": lambda d: d[:36],
    "one byte short": lambda d: d[:-1],
    "half": lambda d: d[: len(d) // 2],
    "extra byte": lambda d: d + b"\x00",
    "flipped payload bit": _flip_last,
    "flipped checksum bit": _flip_checksum,
    "wrong magic": _flip_magic,
    "other payload": _swap_payload,
    "garbage": lambda d: os.urandom(len(d)),
}


@pytest.mark.parametrize("damage", list(CORRUPTIONS))
def test_damaged_entry_is_recompiled_never_returned(cache: Path, damage: str) -> None:
    src = "a kernel whose cache entry gets damaged"
    c = Counting()
    c.compile_cached(src)
    path = c.cache_path(src)
    path.write_bytes(CORRUPTIONS[damage](path.read_bytes()))

    assert Counting.compiles_in_new(src) == 1
    # the entry was written again, intact: the next compiler gets a hit
    assert Counting.compiles_in_new(src) == 0


def test_entry_replaced_by_a_directory(cache: Path) -> None:
    src = "entry path taken by a folder"
    c = Counting()
    path = c.cache_path(src)
    path.mkdir(parents=True)
    assert c.compile_cached(src) == Counting.binary(src)
    assert c.compile_cached(src) == Counting.binary(src)
    assert c.calls == 2


def test_damaged_cpu_library_is_recompiled(cache: Path) -> None:
    src = "int damaged_cpu(void) { return 17; }"
    c = ClangStyleCompiler()
    good = c.compile_cached(src)
    assert good[:4] == b"\x7fELF"
    path = c.cache_path(src)
    path.write_bytes(path.read_bytes()[:-100])
    assert c.compile_cached(src) == good


# ---- concurrency ----


def test_threads_compiling_at_once(cache: Path) -> None:
    class Slow(Counting):
        def compile(self, src: str) -> bytes:
            time.sleep(0.01)
            return super().compile(src)

    c = Slow()
    results: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work() -> None:
        try:
            start.wait()
            for i in range(5):
                results.append(c.compile_cached(f"threaded {i % 2}"))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == sorted(Counting.binary(f"threaded {i % 2}") for _ in range(8) for i in range(5))
    assert not any(p.name.startswith(".tmp-") for p in entries(cache))


# Each child waits for the go file, then compiles the same C source on the CPU device into the shared cache,
# runs it, and prints the result. The parent checks every child got the right answer.
_CHILD = r"""
import os, struct, sys, time
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
from tg_runtime import Buffer, Device
from tg_uop import dtypes
src = "void tri(int* out, int n) { for (int i = 0; i < 8; i++) out[i] = i * n + 7; }"
for _ in range(3):
    out = Buffer("CPU", 8, dtypes.int32)
    Device["CPU"].build("tri", src)(out.handle, vals=(int(sys.argv[2]),))
    print(struct.unpack("<8i", out.as_memoryview().tobytes()), flush=True)
"""


def test_processes_compiling_the_same_source_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared-cache"
    go = tmp_path / "go"
    env = dict(os.environ, TG_CACHE_DIR=str(shared))
    env.pop("TG_COMPILE_CACHE", None)
    n_procs = 4
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(go), str(k + 2)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(n_procs)
    ]
    time.sleep(0.3)  # let the children start and import, then release them together
    go.write_text("go")
    for k, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        expect = str(tuple(i * (k + 2) + 7 for i in range(8)))
        assert out.split("\n")[:3] == [expect] * 3, (out, err)

    # one intact entry was left behind: a compiler here gets a hit, and no temporary files remain
    src = "void tri(int* out, int n) { for (int i = 0; i < 8; i++) out[i] = i * n + 7; }"

    class CountingCC(ClangStyleCompiler):
        calls = 0

        def compile(self, src: str) -> bytes:
            CountingCC.calls += 1
            return super().compile(src)

    monkeypatch.setenv("TG_CACHE_DIR", str(shared))
    lib = CountingCC().compile_cached(src)
    assert CountingCC.calls == 0 and lib[:4] == b"\x7fELF"
    assert [p for p in shared.rglob(".tmp-*")] == []
