"""tg_nn.distributed under mpirun with 2 ranks: data-parallel training equals one process step by step,
allreduce and broadcast are right for every size, and a failing rank ends the job quickly with its error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, run


def _weights(tmp_path: Path, name: str, *args: str, ranks: int | None) -> dict[str, np.ndarray]:
    out = tmp_path / f"{name}.npz"
    job = run("parity.py", "--out", str(out), *args, ranks=ranks)
    assert job.returncode == 0, job.output
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_two_ranks_of_64_equal_one_process_of_128(tmp_path: Path, jit: bool) -> None:
    flags = ("--jit",) if jit else ()
    single = _weights(tmp_path, "single", *flags, ranks=None)
    # the script also asserts, on every rank after every step, that all ranks hold bit-identical weights
    dp = _weights(tmp_path, "dp", "--distributed", *flags, ranks=2)
    assert single.keys() == dp.keys() and len(single) == 5 * 4  # 5 Adam steps x 4 parameters
    for key in sorted(single):
        np.testing.assert_allclose(dp[key], single[key], rtol=0, atol=1e-5, err_msg=key)
    # the steps did move the weights (far more than the tolerance)
    assert max(np.abs(single[f"step4_param{i}"] - single[f"step0_param{i}"]).max() for i in range(4)) > 1e-2


def test_allreduce_and_broadcast_sizes_1_to_10_million() -> None:
    job = run("collectives.py")
    assert job.returncode == 0, job.output
    assert job.output.count("collectives OK") == 2, job.output


@pytest.mark.parametrize("mode", ["raise", "mismatch"])
def test_failing_rank_ends_the_job_within_30s(mode: str) -> None:
    job = run("fail.py", mode, timeout=60)
    assert job.returncode != 0, job.output
    assert job.seconds < 30, f"the job took {job.seconds:.1f} s to end"
    assert "finished, which it must not" not in job.output
    want = "RuntimeError: rank 1 fails on purpose" if mode == "raise" else "CollectiveMismatchError"
    assert want in job.output, job.output
    assert "tg_nn.distributed: rank" in job.output and "aborting the job" in job.output
    if mode == "mismatch":  # the message names every rank's shape
        assert "rank 0: allreduce of shape (4,)" in job.output and "rank 1: allreduce of shape (5,)" in job.output


def test_main_job_trains_with_two_ranks(tmp_path: Path) -> None:
    save = tmp_path / "weights.safetensors"
    job = run(
        REPO / "examples" / "fashion_mnist.py",
        *("--distributed", "--epochs", "1", "--limit", "6400", "--target", "0.6", "--save", str(save)),
        timeout=900,
    )
    assert job.returncode == 0, job.output
    assert job.output.count("final test accuracy") == 1, job.output  # rank 0 alone prints
    assert "2 ranks" in job.output and save.exists()
