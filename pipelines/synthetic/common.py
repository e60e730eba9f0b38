"""What the three generators share: the registry, per-clip RNGs, asset hashing and caching, and
`counterfactual` (content of one clip rendered with the pose of another).

Only numpy, PIL and scipy may be imported here and in the generator modules: trainers import this
package to re-render ground-truth counterfactual clips, and must not pull in Ray, mediapipe or decord.

Every generator module exposes:
  NAME, DEFAULT_FRAMES            the CLI name and the default clip length
  CONTENT_KEYS, POSE_KEYS         json keys that stay fixed in a clip / that move per frame
  RENDER_KEYS                     json keys that are neither (image size, asset identity, ...): taken
                                  from the content clip in a counterfactual
  COMPAT_KEYS                     keys that must agree between the content and the pose clip
  add_args(parser)                the generator's CLI options
  options(args, fractions)        -> (the resolved, JSON-able option dict that goes in the versioned config,
                                  the asset directory or None, a JSON-able summary for the manifest's
                                  `synthetic` entry). The config never holds the asset directory: assets
                                  are identified by sha256, so a copy elsewhere gives the same bytes.
  sample(rng, frames, opts, split, assets)  one clip's labels (content + pose + render keys)
  render(labels, assets=None)     labels -> uint8 frames T×H×W×C; `assets` is the asset directory (found
                                  by `locate_assets` when not given)
"""
from __future__ import annotations

import functools
import hashlib
import importlib
from pathlib import Path

import numpy as np

from vidshard.errors import UsageError
from vidshard.io import atomic_write, cache_dir, sha256_file

GENERATORS = {
    "moving-mnist": "pipelines.synthetic.moving_mnist",
    "balls": "pipelines.synthetic.balls",
    "sprites": "pipelines.synthetic.sprites",
}
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}  # part of every clip's seed: splits never share clips


class SynthError(UsageError):
    """Bad options or assets; the message is one line naming the file or option and the reason."""


def generator(name: str):
    """The generator module for a name ('moving-mnist', 'balls', 'sprites')."""
    if name not in GENERATORS:
        raise SynthError(f"unknown generator {name!r} (choose from {', '.join(GENERATORS)})")
    return importlib.import_module(GENERATORS[name])


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Each clip has its own stream, so any shard can be (re)made alone and gives the same bytes."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_IDS[split], int(index)]))


def split_counts(total: int, fractions) -> dict[str, int]:
    """`total` items cut by train,val,test fractions: val and test rounded, train takes the rest."""
    val, test = round(total * fractions[1]), round(total * fractions[2])
    return {"train": total - val - test, "val": val, "test": test}


def split_pools(total: int, fractions, tag: str) -> dict[str, np.ndarray]:
    """Items 0..total-1 dealt to train/val/test by a fixed permutation cut by `fractions` (split_counts).

    The permutation depends on `tag` and `total` only (not on --seed), so every seed of a dataset holds
    out the same items; pools are disjoint and cover all items. Each pool is sorted."""
    key = [int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "big"), int(total)]
    order = np.random.default_rng(np.random.SeedSequence(key)).permutation(total)
    counts = split_counts(total, fractions)
    cuts = np.cumsum([0, counts["train"], counts["val"], counts["test"]])
    return {s: np.sort(order[cuts[i]:cuts[i + 1]]) for i, s in enumerate(SPLIT_IDS)}


def assets_digest(files: dict[str, str]) -> str:
    """One content hash for a set of asset files {name relative to the asset dir: sha256}: the sha256 of
    their sorted 'name sha256' lines. It identifies the assets wherever they are stored."""
    lines = "".join(f"{name} {files[name]}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def registry_dir() -> Path:
    """Where `vidshard synth` notes the asset directory of each asset digest it used."""
    return cache_dir("synth-assets")


def remember_assets(digest: str, directory: Path) -> None:
    """Note where the assets with this digest are, so render(meta) finds them without assets=DIR.
    Best effort: an unwritable cache only means callers must pass assets=DIR."""
    try:
        atomic_write(registry_dir() / digest, str(Path(directory).resolve()) + "\n")
    except OSError:
        pass


@functools.lru_cache(maxsize=64)
def _digest_of(directory: str, names: tuple[str, ...]) -> str | None:
    """The assets digest of the named files in a directory; None if one is missing (once per process)."""
    files = {}
    for name in names:
        path = Path(directory) / name
        if not path.is_file():
            return None
        files[name] = sha256_file(path)
    return assets_digest(files)


def locate_assets(what: str, digest: str, names, override: str | Path | None,
                  defaults: tuple[Path, ...] = ()) -> Path:
    """The directory holding the asset files `names` whose digest is `digest` (the clip json's identity).

    `override` (render's assets=DIR) must match; without it the directory `vidshard synth` noted for this
    digest (registry_dir(), under $VIDSHARD_CACHE or ~/.cache/vidshard) and then `defaults` are tried.
    A missing or mismatching directory is a one-line SynthError saying how to pass the right one."""
    names = tuple(names)
    hint = (f"pass assets=DIR (the directory the dataset was generated from; the manifest's "
            f"synthetic.assets_dir records where it was)")
    if override is not None:
        path = Path(override)
        if not path.is_dir():
            raise SynthError(f"{path}: {what} asset directory does not exist; {hint}")
        got = _digest_of(str(path.resolve()), names)
        if got != digest:
            why = f"lacks {', '.join(n for n in names if not (path / n).is_file())}" if got is None else \
                f"holds other files (sha256 digest {got[:12]}, the clip needs {digest[:12]})"
            raise SynthError(f"{path}: {what} assets do not match the clip: {why}; {hint}")
        return path.resolve()
    candidates = []
    try:
        candidates.append(Path((registry_dir() / digest).read_text().strip()))
    except OSError:
        pass
    for path in (*candidates, *defaults):
        if path.is_dir() and _digest_of(str(path.resolve()), names) == digest:
            return path.resolve()
    raise SynthError(f"{what} assets with sha256 digest {digest[:12]} not found (not noted under "
                     f"{registry_dir()}); {hint}")


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
