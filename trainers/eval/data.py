"""Reading evaluation clips: held-out clips from a dataset's splits, as frames and their json labels."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from vidshard.io import atomic_write_json


def split_shards(data: str, split: str) -> list[Path]:
    """The shard paths of a manifest split of a dataset directory."""
    from shards import load_manifest
    manifest = load_manifest(data)
    names = manifest.get("splits", {}).get(split, {}).get("shards", [])
    return [Path(data) / f"{n}.tar" for n in names]


def iter_clips(paths: list[Path], limit: int) -> Iterator[tuple[str, np.ndarray, dict]]:
    """(key, frames uint8 T×H×W×C, meta) in shard order, at most `limit`; strict: a bad shard raises."""
    from shards import iter_samples
    n = 0
    for path in paths:
        for key, frames, meta in iter_samples(path):
            if n >= limit:
                return
            yield key, frames, meta
            n += 1


def eval_splits(data: str, n_train: int, n_test: int) -> tuple[list, list, str]:
    """Probe-training clips and held-out clips: from the manifest's train and test (else val) splits of a
    dataset directory; a list of shard files or a brace pattern is cut in two (first part trains the probes).
    Returns (train clips, held-out clips, a note saying which was used)."""
    root = Path(data)
    if root.is_dir() and (root / "manifest.json").is_file():
        held = next((s for s in ("test", "val") if split_shards(data, s)), None)
        if held is not None:
            train = list(iter_clips(split_shards(data, "train"), n_train))
            test = list(iter_clips(split_shards(data, held), n_test))
            return train, test, f"probes fitted on split 'train', scored on split '{held}'"
        paths, why = split_shards(data, "train"), "the manifest has no test or val split"
    else:
        from braceexpand import braceexpand
        paths = [Path(p) for pattern in ([data] if isinstance(data, str) else data) for p in braceexpand(str(pattern))]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"evaluation data: {', '.join(missing[:3])}: no such shard (and {data} is not a "
                                    f"dataset directory with manifest.json)")
        why = "shard files given"
    clips = list(iter_clips(paths, n_train + n_test))
    if len(clips) < 4:
        raise ValueError(f"evaluation data {data}: only {len(clips)} clips; need at least 4")
    cut = len(clips) * n_train // (n_train + n_test)
    return clips[:cut], clips[cut:], f"{why}: first {cut} clips fit the probes, the other {len(clips) - cut} score them"


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float32 (..., C, H, W) in [0, 1], the loader's layout."""
    return torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).float() / 255.0


# why a judge (or the digit reader) is skipped on shards copied out of their dataset directory
JUDGE_NEEDS_DATASET = "it trains on the dataset's train split; give the dataset directory or shards inside it"


def dataset_dir(data) -> Path | None:
    """The dataset directory `data` names: itself when it holds manifest.json, or the one directory holding
    every shard of a list or brace pattern (all existing files) when that directory holds manifest.json
    (shards read in place); else None (shards copied elsewhere carry no splits or version)."""
    if isinstance(data, (str, Path)) and (Path(data) / "manifest.json").is_file():
        return Path(data)
    from braceexpand import braceexpand
    patterns = [data] if isinstance(data, (str, Path)) else list(data)
    paths = [Path(p) for pattern in patterns for p in braceexpand(str(pattern))]
    parents = {p.parent for p in paths}
    if len(parents) != 1 or not all(p.is_file() for p in paths):
        return None
    parent = parents.pop()
    return parent if (parent / "manifest.json").is_file() else None


def synthetic_assets(data) -> str | None:
    """The asset directory `vidshard synth` recorded in a dataset directory's manifest (synthetic.assets_dir,
    outside the versioned config), if it still exists; else None, and counterfactual renders look the
    assets up by their sha256 (pipelines.synthetic.common.locate_assets)."""
    root = dataset_dir(data)
    if root is None:
        return None
    manifest = root / "manifest.json"
    recorded = (json.loads(manifest.read_text()).get("synthetic") or {}).get("assets_dir")
    return recorded if recorded and Path(recorded).is_dir() else None


def write_json(obj: dict, path: str | Path) -> None:
    atomic_write_json(path, obj)
