"""DDP with 2 CPU processes (gloo), launched as torchrun would be: DrNet tiny keeps rank 0 and rank 1
bit-identical after every step, and a checkpoint + resume continues with exactly the losses (and weights) of
an uninterrupted run."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from test_harness import TINY, make_dataset, read_jsonl, train_losses
from trainers import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "trainers.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc


def hashes(run_dir: Path, rank: int) -> dict[int, str]:
    return {r["step"]: r["sha256"] for r in read_jsonl(run_dir / "debug" / f"hashes-rank{rank}.jsonl")}


def two_ranks_cut_and_resumed(tmp_path: Path, model: str, common: list, steps: int, cut: int,
                              full_extra: tuple = ()) -> tuple[dict, dict]:
    """Trains `model` on 2 ranks for `steps` steps uninterrupted (with `full_extra` flags), and again cut by a
    checkpoint at `cut` then resumed. Asserts that both ranks hold identical weights after every step of
    both runs, that the weights changed at every step, and that the resumed run logs the same losses and
    holds the same weights as the uninterrupted one. Returns their losses by step (full, cut)."""
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    torchrun(*common, "--run-dir", str(full_dir), "--steps", str(steps), *full_extra)
    torchrun(*common, "--run-dir", str(cut_dir), "--steps", str(cut), "--ckpt-every", str(cut))
    torchrun(model, "--resume", str(cut_dir), "--steps", str(steps), "--no-progress", "--debug-hashes")
    full, resumed = train_losses(full_dir), train_losses(cut_dir)
    assert sorted(full) == list(range(1, steps + 1)) and full == resumed
    for run in (full_dir, cut_dir):
        h0, h1 = hashes(run, 0), hashes(run, 1)
        assert sorted(h0) == list(range(1, steps + 1)) and h0 == h1
    assert hashes(full_dir, 0) == hashes(cut_dir, 0)
    assert len(set(hashes(full_dir, 0).values())) == steps
    return full, resumed


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


def test_two_ranks_stay_identical_and_resume_exactly(tmp_path, data):
    common = ["drnet", "--data", str(data), "--workers", "1", "--log-every", "1", "--sample-every", "0",
              "--no-progress", "--debug-hashes", *TINY]
    # 24 clips / (batch 4 x 2 ranks) = 3 batches an epoch: cut at step 4 (mid epoch 1), finish at 7
    # the uninterrupted run also evaluates and draws grids on rank 0 while rank 1 waits at the barrier
    torchrun(*common, "--run-dir", str(tmp_path / "full"), "--steps", "7", "--ckpt-every", "2",
             "--eval-every", "3", "--sample-every", "2")
    torchrun(*common, "--run-dir", str(tmp_path / "cut"), "--steps", "4", "--ckpt-every", "2")
    torchrun("drnet", "--resume", str(tmp_path / "cut"), "--steps", "7", "--no-progress", "--debug-hashes")

    full, cut = train_losses(tmp_path / "full"), train_losses(tmp_path / "cut")
    assert sorted(full) == sorted(cut) == list(range(1, 8))
    assert [r["epoch"] for r in full.values()] == [0, 0, 1, 1, 1, 2, 2]
    assert full == cut  # every logged loss of every step, exactly
    for run in ("full", "cut"):
        h0, h1 = hashes(tmp_path / run, 0), hashes(tmp_path / run, 1)
        assert sorted(h0) == list(range(1, 8)) and h0 == h1  # both ranks hold the same weights after each step
    assert hashes(tmp_path / "full", 0) == hashes(tmp_path / "cut", 0)
    assert len(set(hashes(tmp_path / "full", 0).values())) == 7  # and the weights did change every step
    evals = [r["step"] for r in read_jsonl(tmp_path / "full" / "metrics.jsonl") if "eval" in r]
    assert evals == [3, 6, 7] and (tmp_path / "full" / "eval" / "step-00000007" / "eval.json").is_file()
    assert len(list((tmp_path / "full" / "samples").glob("analogy-*.png"))) == 4  # steps 2, 4, 6, 7

    state = ckpt.load_state(ckpt.latest(tmp_path / "cut"))
    assert state["world_size"] == 2 and (state["step"], state["epoch"], state["batch_in_epoch"]) == (7, 2, 1)
    for rank in (0, 1):
        ckpt.load_rng(ckpt.latest(tmp_path / "cut"), rank)  # one RNG file per rank, weights_only



def test_a_one_process_run_resumes_on_two_ranks(tmp_path, data):
    # 24 clips in batches of 4: one process cuts at step 4, mid epoch 0; two ranks deal 3 batches an epoch
    # of their own, so the resume leaves the rest of epoch 0 out and starts epoch 1; rank 1 has no random
    # streams in the checkpoint and gets new ones
    from trainers.train import main as train_main
    run = tmp_path / "run"
    assert train_main(["drnet", "--data", str(data), "--run-dir", str(run), "--workers", "1", "--log-every", "1",
                       "--sample-every", "0", "--no-progress", "--threads", "1", *TINY, "--steps", "4",
                       "--ckpt-every", "4"]) == 0
    proc = torchrun("drnet", "--resume", str(run), "--steps", "7", "--no-progress", "--debug-hashes")
    assert ("dealt again for world size 2 and 1 workers (the checkpoint: world size 1, 1 workers); the rest of "
            "epoch 0 is left out") in proc.stderr
    state = ckpt.load_state(ckpt.latest(run))
    assert state["world_size"] == 2 and (state["step"], state["epoch"], state["batch_in_epoch"]) == (7, 2, 0)
    losses = train_losses(run)
    assert sorted(losses) == list(range(1, 8)) and [losses[s]["epoch"] for s in (5, 6, 7)] == [1, 1, 2]
    h0, h1 = hashes(run, 0), hashes(run, 1)
    assert sorted(h0) == [5, 6, 7] and h0 == h1   # the ranks hold the same weights after every step


def epoch_order(run_dir: Path, epoch: int) -> list[str]:
    """The keys trained on in one epoch, step by step, each step's ranks in rank order (--log-samples)."""
    steps: dict[int, dict[int, list]] = {}
    for path in run_dir.glob("samples-rank*.jsonl"):
        rank = int(path.stem[len("samples-rank"):])
        for r in read_jsonl(path):
            if r["epoch"] == epoch:
                steps.setdefault(r["step"], {})[rank] = r["keys"]
    return [k for s in sorted(steps) for rank in sorted(steps[s]) for k in steps[s][rank]]


def test_an_exact_epoch_resumes_on_one_rank_then_on_three_with_other_workers(tmp_path):
    """2 ranks (2 workers each) train 2 steps of an exact epoch of 36 clips (global batch 8), 1 rank (1 worker)
    goes on for 3 steps (global batch 4), 3 ranks (no workers) finish it (global batch 12): from the
    --log-samples files every clip is read exactly once in epoch 0, in the epoch's global order."""
    from shards.loader import make_loader
    data = make_dataset(tmp_path / "data", train_shards=3)
    run = tmp_path / "run"
    common = ["--log-every", "1", "--sample-every", "0", "--no-progress", "--log-samples"]
    torchrun("drnet", "--data", str(data), "--run-dir", str(run), "--workers", "2", "--exact-epoch", *TINY,
             *common, "--steps", "2", "--ckpt-every", "2")
    proc = torchrun("drnet", "--resume", str(run), "--workers", "1", "--steps", "5", *common, nproc=1)
    assert "the epoch's global order goes on after its first 16 samples on world size 1, 1 workers" in proc.stderr
    assert ckpt.load_state(ckpt.latest(run))["samples_in_epoch"] == 28
    torchrun("drnet", "--resume", str(run), "--workers", "0", "--steps", "7", *common, nproc=3)

    loader = make_loader(data, batch_size=4, n_frames=2, resampled=False, rank=0, world_size=1)
    loader.set_epoch(0)
    expected = [k for b in loader for k in b["key"]]
    assert len(expected) == len(set(expected)) == 36
    assert epoch_order(run, 0) == expected   # every clip once, in the uninterrupted run's global order
    step_ranks = {}
    for rank in range(3):
        for r in read_jsonl(run / f"samples-rank{rank}.jsonl"):
            step_ranks.setdefault(r["step"], []).append(rank)
    assert step_ranks == {1: [0, 1], 2: [0, 1], 3: [0], 4: [0], 5: [0], 6: [0, 1, 2], 7: [0, 1, 2]}
    state = ckpt.load_state(ckpt.latest(run))
    assert (state["step"], state["epoch"], state["samples_in_epoch"]) == (7, 1, 12)
