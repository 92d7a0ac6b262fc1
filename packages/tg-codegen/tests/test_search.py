"""BEAM search: what it returns is legal and right, it is cached on disk, candidates that disagree with the
unoptimized kernel or fail to compile are dropped, and `get_program` under BEAM=n uses it.

No timing is asserted: which legal Opts win depends on the machine. Every test gets its own cache folder.
"""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import (
    DEVICES,
    contig,
    get_program,
    kernels_compiled,
    launch,
    load,
    param,
    sink,
    store,
)

import tg_codegen.search as search
from tg_codegen.kernel import Kernel, Opt, OptOps
from tg_codegen.program import ProgramSpec
from tg_runtime import Device
from tg_uop import Ops, UOp, dtypes
from tg_uop.helpers import Context

XS = [float(i % 7 - 3) for i in range(8)]


def small_reduce() -> UOp:
    # (2, 4) summed over axis 1: a handful of candidates (upcast 2, unroll 2 and 4, threads)
    x = load(param(1, dtypes.float, 8), contig((2, 4)))
    return sink(store(param(0, dtypes.float, 2), contig((2, 1)), x.reduce_axis(Ops.ADD, (1,)) * 2.0))


WANT = [2.0 * sum(XS[0:4]), 2.0 * sum(XS[4:8])]


@pytest.fixture(autouse=True)
def private_cache(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test run's private cache folder (set by conftest.py), without search results: compiled programs are
    shared with the other tests (they only make them faster), searches start afresh in each test."""
    cache = os.environ["TG_CACHE_DIR"]
    monkeypatch.delenv("TG_COMPILE_CACHE", raising=False)
    shutil.rmtree(os.path.join(cache, "beam"), ignore_errors=True)
    return cache


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[list[Opt]]:
    """The Opts of every kernel the search compiles."""
    seen: list[list[Opt]] = []
    real = search.compile_kernel

    def counting(k: Kernel, device: str) -> ProgramSpec:
        seen.append(list(k.applied))
        return real(k, device)

    monkeypatch.setattr(search, "compile_kernel", counting)
    return seen


def beam_files(root: str) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(root, "beam")) for f in fs]


def test_beam_result_is_legal_right_and_cached(private_cache: str, compiles: list[list[Opt]]) -> None:
    ast = small_reduce()
    opts = search.beam_search(ast, "CPU", width=2)
    assert isinstance(opts, list) and all(isinstance(o, Opt) for o in opts)
    assert compiles[0] == []  # the unoptimized kernel is the reference
    assert len(compiles) > 1  # and candidates were tried
    k = Kernel(ast, Device["CPU"].caps)
    for opt in opts:
        k.apply(opt)  # raises if illegal
    assert launch(get_program(ast, "CPU", opts=opts), ast, {1: XS})[0] == WANT
    assert len(beam_files(private_cache)) == 1
    # the second search is an answer from the disk cache: nothing compiled
    n = len(compiles)
    assert search.beam_search(ast, "CPU", width=2) == opts
    assert len(compiles) == n
    # another device or width is another search
    search.beam_search(ast, "PYTHON", width=2)
    assert len(compiles) > n
    assert len(beam_files(private_cache)) == 2


def test_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, compiles: list[list[Opt]]) -> None:
    monkeypatch.setenv("TG_COMPILE_CACHE", "0")
    ast = small_reduce()
    search.beam_search(ast, "PYTHON", width=2)
    n = len(compiles)
    assert n > 1
    # searched again (how many candidates depends on which won each round: timings)
    search.beam_search(ast, "PYTHON", width=2)
    assert len(compiles) > n and compiles[n] == []


def test_corrupt_cache_entry_is_searched_again(private_cache: str, compiles: list[list[Opt]]) -> None:
    ast = small_reduce()
    search.beam_search(ast, "PYTHON", width=2)
    (path,) = beam_files(private_cache)
    with open(path, "w") as f:
        f.write('[["NOT_AN_OPT", 0')
    n = len(compiles)
    opts = search.beam_search(ast, "PYTHON", width=2)
    assert len(compiles) > n
    assert launch(get_program(ast, "PYTHON", opts=opts), ast, {1: XS})[0] == WANT


def test_candidates_that_disagree_are_dropped(monkeypatch: pytest.MonkeyPatch, compiles: list[list[Opt]]) -> None:
    monkeypatch.setattr(search._Bench, "agrees", lambda self, outputs: False)
    assert search.beam_search(small_reduce(), "CPU", width=2) == []
    assert len(compiles) > 1  # candidates were compiled and run, then refused


def test_wrong_candidates_are_caught_by_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    # every candidate with an UNROLL computes x * 3 instead of x * 2: the real comparison must refuse them all
    ast = small_reduce()
    x = load(param(1, dtypes.float, 8), contig((2, 4)))
    wrong = sink(store(param(0, dtypes.float, 2), contig((2, 1)), x.reduce_axis(Ops.ADD, (1,)) * 3.0))
    real = search.compile_kernel
    unrolled: list[list[Opt]] = []

    def corrupting(k: Kernel, device: str) -> ProgramSpec:
        if any(o.op is OptOps.UNROLL for o in k.applied):
            unrolled.append(list(k.applied))
            return real(Kernel(wrong, k.caps), device)
        return real(k, device)

    monkeypatch.setattr(search, "compile_kernel", corrupting)
    opts = search.beam_search(ast, "PYTHON", width=2)
    assert unrolled  # the search did try them
    assert all(o.op is not OptOps.UNROLL for o in opts)


def test_candidates_that_fail_to_compile_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    real = search.compile_kernel

    def failing(k: Kernel, device: str) -> ProgramSpec:
        if k.applied:
            raise RuntimeError("this candidate does not compile")
        return real(k, device)

    monkeypatch.setattr(search, "compile_kernel", failing)
    assert search.beam_search(small_reduce(), "PYTHON", width=2) == []


def test_candidate_opts_are_the_search_space() -> None:
    k = Kernel(small_reduce(), Device["CPU"].caps)
    cands = list(search.candidate_opts(k))
    # every op kind appears, and every candidate names an existing axis
    assert {o.op for o in cands} == set(OptOps)
    assert all(0 <= o.axis < len(k.full_shape) for o in cands)
    legal = []
    for opt in cands:
        trial = k.copy()
        try:
            trial.apply(Opt(opt.op, opt.axis, 2) if opt.op is OptOps.THREAD else opt)
        except Exception:
            continue
        legal.append(trial.applied[-1])
    assert Opt(OptOps.UPCAST, 0, 2) in legal and Opt(OptOps.UNROLL, 1, 4) in legal
    assert all(o.op is not OptOps.LOCAL for o in legal)  # the CPU has no work-groups


def test_get_program_under_beam_uses_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[UOp, str, int]] = []

    def fake(ast: UOp, device: str, width: int) -> list[Opt]:
        calls.append((ast, device, width))
        return [Opt(OptOps.UNROLL, 1, 4)]

    monkeypatch.setattr(search, "beam_search", fake)
    seen = kernels_compiled(monkeypatch)
    ast = small_reduce()
    with Context(BEAM=3):
        spec = get_program(ast, "CPU")
    assert calls == [(ast, "CPU", 3)]
    assert seen[0].applied == [Opt(OptOps.UNROLL, 1, 4)]
    assert spec.name == "r_2_1_4"
    assert launch(spec, ast, {1: XS})[0] == WANT
    # explicit opts win over BEAM; without BEAM the search is not asked
    with Context(BEAM=3):
        get_program(ast, "CPU", opts=[])
    get_program(ast, "CPU")
    assert len(calls) == 1


@pytest.mark.parametrize("dev", [d for d in DEVICES if d != "CL"])
def test_get_program_with_beam_for_real(dev: str, private_cache: str) -> None:
    ast = small_reduce()
    with Context(BEAM=1):
        spec = get_program(ast, dev)
    assert launch(spec, ast, {1: XS})[0] == WANT
    assert len(beam_files(private_cache)) == 1
