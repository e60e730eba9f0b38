"""Atomic, exactly-resumable checkpoints that load with torch.load(..., weights_only=True).

Layout of one checkpoint (a directory, so every rank can add its own RNG file):

    RUN_DIR/checkpoints/step-00000100/
        state.pt        rank 0: model state_dict, every optimizer's state_dict, step, loader epoch and
                        position, world size, the resolved config
        rng-rank0.pt    per rank: torch / CUDA / numpy / python RNG states and the harness generator (and
                        the trainer's unlogged step outputs, "log_window")
        rng-rank1.pt    ...

A checkpoint is written into `step-XXXXXXXX.tmp/` and renamed when every rank has written its part, so a
directory without `.tmp` is always complete; a crash mid-write leaves only a `.tmp` that the next save
removes. Only the newest `keep` checkpoints are kept. Nothing in these files is a pickled Python object
(RNG states are stored as tensors and plain lists), so loading never runs code.
"""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from vidshard.io import atomic_write

FORMAT = 1
STATE = "state.pt"
_STEP_RE = re.compile(r"^step-(\d{8})$")


def checkpoints_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def step_dir(run_dir: str | Path, step: int) -> Path:
    return checkpoints_root(run_dir) / f"step-{step:08d}"


def tmp_dir(run_dir: str | Path, step: int) -> Path:
    path = step_dir(run_dir, step)
    return path.with_name(path.name + ".tmp")


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints (renamed, with a state file), oldest first."""
    root = checkpoints_root(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_RE.match(p.name) and (p / STATE).is_file()]
    return sorted(found, key=lambda p: int(_STEP_RE.match(p.name).group(1)))


def latest(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _save(obj, path: Path) -> None:
    """torch.save to a temp name, fsync, rename: a reader never sees half a file."""
    atomic_write(path, write=lambda f: torch.save(obj, f), mkdir=False)


def begin(run_dir: str | Path, step: int) -> Path:
    """Rank 0: make a fresh temp directory for the checkpoint of `step` (clearing a crashed attempt)."""
    tmp = tmp_dir(run_dir, step)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def write_state(tmp: Path, state: dict) -> None:
    _save({"format": FORMAT, **state}, tmp / STATE)


def write_rng(tmp: Path, rank: int, rng: dict) -> None:
    _save(rng, tmp / f"rng-rank{rank}.pt")


def commit(run_dir: str | Path, step: int, keep: int) -> Path:
    """Rank 0, after every rank wrote its part: rename the temp directory, then prune old checkpoints."""
    tmp, final = tmp_dir(run_dir, step), step_dir(run_dir, step)
    if final.exists():  # a rerun from an earlier checkpoint reached this step again: the new one wins
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_state(ckpt: str | Path, map_location="cpu") -> dict:
    path = Path(ckpt) / STATE
    if not path.is_file():
        raise FileNotFoundError(f"{ckpt}: not a checkpoint ({STATE} is missing)")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: checkpoint format {state.get('format')!r}, this code reads {FORMAT}")
    return state


def load_rng(ckpt: str | Path, rank: int) -> dict:
    path = Path(ckpt) / f"rng-rank{rank}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no RNG state for rank {rank} (was the run saved with fewer ranks?)")
    return torch.load(path, map_location="cpu", weights_only=True)


# ---- RNG states as tensors and plain lists (weights_only-safe) ---------------------------------------------

def rng_state(generator: torch.Generator | None = None) -> dict:
    """Every RNG a training step may draw from, in a form torch.load(weights_only=True) accepts."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        # this rank's GPU only: get_rng_state_all() would open a CUDA context on every visible GPU
        "cuda": [torch.cuda.get_rng_state()] if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"][0])  # the current device (set by the harness per rank)
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
