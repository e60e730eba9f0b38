"""What the three generators share: the registry, per-clip RNGs, asset hashing and caching, and
`counterfactual` (content of one clip rendered with the pose of another).

Only numpy, PIL and scipy may be imported here and in the generator modules: trainers import this
package to re-render ground-truth counterfactual clips, and must not pull in Ray, mediapipe or decord.

Every generator module exposes:
  NAME, DEFAULT_FRAMES            the CLI name and the default clip length
  CONTENT_KEYS, POSE_KEYS         json keys that stay fixed in a clip / that move per frame
  RENDER_KEYS                     json keys that are neither (image size, asset dir, ...): taken from
                                  the content clip in a counterfactual
  COMPAT_KEYS                     keys that must agree between the content and the pose clip
  add_args(parser), options(args) CLI options -> the resolved, JSON-able option dict (goes in the config)
  sample(rng, frames, opts)       one clip's labels (content + pose + render keys)
  render(labels, assets=None)     labels -> uint8 frames T×H×W×C; `assets` overrides the recorded asset dir
"""
from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import numpy as np

GENERATORS = {
    "moving-mnist": "pipelines.synthetic.moving_mnist",
    "balls": "pipelines.synthetic.balls",
    "sprites": "pipelines.synthetic.sprites",
}
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}  # part of every clip's seed: splits never share clips


class SynthError(ValueError):
    """Bad options or assets; the message is one line naming the file or option and the reason."""


def generator(name: str):
    """The generator module for a name ('moving-mnist', 'balls', 'sprites')."""
    if name not in GENERATORS:
        raise SynthError(f"unknown generator {name!r} (choose from {', '.join(GENERATORS)})")
    return importlib.import_module(GENERATORS[name])


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each clip has its own stream, so any shard can be (re)made alone and gives the same bytes."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_IDS[split], int(index)]))


def cache_dir() -> Path:
    """Where downloaded assets live: $VIDSHARD_CACHE, else ~/.cache/vidshard."""
    return Path(os.environ.get("VIDSHARD_CACHE") or Path.home() / ".cache" / "vidshard")


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def asset_dir(labels: dict, key: str, override: str | Path | None) -> Path:
    """The asset directory a clip needs: the override if given (data moved), else the recorded path."""
    path = Path(override if override is not None else labels[key])
    if not path.is_dir():
        raise SynthError(f"{path}: asset directory does not exist (recorded as {key!r} in the clip json; "
                         f"pass assets=DIR to render from another place)")
    return path


def render(labels: dict, assets: str | Path | None = None) -> np.ndarray:
    """Render any synthetic clip from its json (the generator is named in labels['generator'])."""
    return generator(labels["generator"]).render(labels, assets)


def counterfactual(content_meta: dict, pose_meta: dict, assets: str | Path | None = None,
                   frames=None) -> np.ndarray:
    """Frames showing the content of one clip moving with the pose of another: the exact ground truth for
    a model's content/pose swap. Both arguments are clip jsons (or label dicts) of the same generator.
    `frames` (e.g. the loader's frame_idx row) picks frames of the pose clip; default all T."""
    gen = content_meta.get("generator")
    if gen != pose_meta.get("generator"):
        raise SynthError(f"counterfactual: content clip is {gen!r} but pose clip is {pose_meta.get('generator')!r}")
    mod = generator(gen)
    for k in mod.COMPAT_KEYS:
        if content_meta[k] != pose_meta[k]:
            raise SynthError(f"counterfactual: clips differ in {k!r} ({content_meta[k]!r} vs {pose_meta[k]!r})")
    labels = {k: content_meta[k] for k in ("generator", *mod.RENDER_KEYS, *mod.CONTENT_KEYS)}
    labels.update({k: pose_meta[k] for k in mod.POSE_KEYS})
    out = mod.render(labels, assets)
    return out if frames is None else out[np.asarray(frames, dtype=np.int64)]
