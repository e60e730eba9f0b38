"""Colored Moving MNIST as DrNet's reference code makes it (Denton & Birodkar 2017; MODELS.md §B).

MNIST digits are resized 28 -> size/2 (32 in 64×64). Each digit starts at an integer position uniform in
[0, size/2] per axis with an integer velocity in [-4, 3] per axis. Every frame, before drawing, a
coordinate below 0 is clamped to 0 and one at or past size/2 is clamped to size/2 - 1, and that axis's
velocity flips: the reference code's bounce. Digits are alpha-composited back to front, so the front
digit occludes the others (the intensity of the digit is its alpha).

Colours: `channel` = the reference code (digit n lit in RGB channel n mod 3); `palette` = each digit a
distinct colour from PALETTE, so the ordered colour pair of two digits is a content factor with 30
values; `gray` = one channel, white digits.

Assets: MNIST idx files (gzipped or not) in a directory. The json records the file set (train or t10k),
the file names, their sha256 digest (`mnist_sha256`, not the directory: a copy of the files elsewhere
gives the same bytes) and each digit's index in the set, so a clip renders from its json and the files.

Splits never share a digit image: with both sets in the directory, train and val draw from disjoint parts
of the train set and test from t10k (as the literature does); with one set, its images are dealt to
train/val/test by a fixed permutation cut by the --split fractions (common.split_pools).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from vidshard.io import atomic_write, cache_dir, sha256_file

from .common import SPLIT_IDS, SynthError, assets_digest, locate_assets, remember_assets, split_pools

NAME = "moving-mnist"
DEFAULT_FRAMES = 20  # DrNet's clip length
CONTENT_KEYS = ("digit_classes", "mnist_indices", "color_ids", "colors", "depth_order", "front")
POSE_KEYS = ("positions", "velocities")
RENDER_KEYS = ("size", "digit_size", "color_mode", "mnist_set", "mnist_files", "mnist_sha256")
COMPAT_KEYS = ("size", "digit_size", "digits")
VELOCITY_RANGE = (-4, 3)  # inclusive, per axis, as the reference code draws them

# Six saturated colours; in palette mode each digit of a clip gets a different one.
PALETTE = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255))
PALETTE_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan")

# The standard files and the md5 of each download, as published with the dataset (torchvision's list).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {
    "train": (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
              ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")),
    "t10k": (("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
             ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
}


# ---------------------------------------------------------------- assets

def find_idx(directory: Path, name: str) -> Path | None:
    """The idx file NAME in DIR, gzipped or not."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def mnist_set_files(directory: Path, mnist_set: str) -> tuple[Path, Path]:
    paths = [find_idx(directory, name) for name, _ in MNIST_FILES[mnist_set]]
    missing = [name for (name, _), p in zip(MNIST_FILES[mnist_set], paths) if p is None]
    if missing:
        raise SynthError(f"{directory}: MNIST {mnist_set} set incomplete, missing {', '.join(missing)} "
                         f"(gzipped or not)")
    return paths[0], paths[1]


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An idx file (the MNIST format): big-endian magic, dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise SynthError(f"{path}: cannot read ({e})") from e
    ndim = magic & 0xFF
    header = np.frombuffer(data[:4 + 4 * ndim], dtype=">u4") if len(data) >= 4 + 4 * ndim else None
    if header is None or header[0] != magic:
        raise SynthError(f"{path}: not an MNIST idx file (magic {header[0] if header is not None else 'none'}, "
                         f"expected {magic})")
    shape = tuple(int(d) for d in header[1:])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise SynthError(f"{path}: truncated: {body.size} bytes of data for shape {shape}")
    return body.reshape(shape)


@functools.lru_cache(maxsize=4)
def load_mnist(directory: str, mnist_set: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N×28×28 uint8, labels N uint8), read once per process."""
    img_path, lbl_path = mnist_set_files(Path(directory), mnist_set)
    images, labels = read_idx(img_path, 2051), read_idx(lbl_path, 2049)
    if images.shape[0] != labels.shape[0]:
        raise SynthError(f"{img_path}: {images.shape[0]} images but {lbl_path.name} has {labels.shape[0]} labels")
    return images, labels


@functools.lru_cache(maxsize=65536)
def digit_alpha(directory: str, mnist_set: str, index: int, digit_size: int) -> np.ndarray:
    """One digit resized to digit_size (bilinear, as the reference code's transforms.Scale), in [0, 1]."""
    img = load_mnist(directory, mnist_set)[0][index]
    if digit_size != img.shape[0]:
        img = np.asarray(Image.fromarray(img).resize((digit_size, digit_size), Image.BILINEAR))
    return img.astype(np.float32) / 255.0


def download_mnist(directory: Path, mnist_set: str) -> Path:
    """Fetch one standard MNIST set into DIR (md5-checked, atomic); a file already there is kept."""
    import urllib.request
    for name, md5 in MNIST_FILES[mnist_set]:
        dest = directory / name
        if dest.exists():
            continue
        print(f"downloading {MNIST_URL}{name} -> {dest}", file=sys.stderr)

        def fetch(f, url=MNIST_URL + name, md5=md5):
            try:
                with urllib.request.urlopen(url) as response:
                    data = response.read()
            except OSError as e:
                raise SynthError(f"cannot download {url} ({e}); pass --mnist DIR with the idx files") from e
            got = hashlib.md5(data).hexdigest()
            if got != md5:
                raise SynthError(f"{url}: md5 {got} does not match the published {md5}")
            f.write(data)
        atomic_write(dest, write=fetch)   # a failed or wrong download leaves nothing under the name
    return directory


# ---------------------------------------------------------------- options

def add_args(p) -> None:
    g = p.add_argument_group("moving-mnist options")
    g.add_argument("--mnist", metavar="DIR", help="directory with the MNIST idx files (train-images-idx3-ubyte.gz, "
                   "t10k-images-idx3-ubyte.gz, ...; gzipped or not). Default: download the standard files "
                   "into $VIDSHARD_CACHE/mnist (~/.cache/vidshard/mnist), md5-checked, once")
    g.add_argument("--mnist-set", choices=("auto", "train", "t10k"), default="auto",
                   help="where the digits come from. auto: train and val from disjoint parts of the train set "
                        "and test from t10k if DIR has both sets, else the one set DIR has, its images dealt "
                        "to train/val/test by the --split fractions; train or t10k: only that set, dealt the "
                        "same way. No digit image is in two splits (default: auto)")
    g.add_argument("--size", type=int, default=64, help="frame side in pixels; digits are size/2 (default: 64)")
    g.add_argument("--digits", type=int, default=2, help="digits per clip (default: 2)")
    g.add_argument("--colors", choices=("channel", "palette"), default="channel",
                   help="channel: digit n in RGB channel n (DrNet's ref code); palette: each digit a distinct "
                        "colour of 6, so the colour pair is a 30-valued content factor (default: channel)")
    g.add_argument("--gray", action="store_true", help="one channel, white digits (overrides --colors)")


def digit_pools(opts: dict) -> dict[str, np.ndarray]:
    """The MNIST indices each split may draw (in the set opts['mnist_sets'][split]); disjoint per set."""
    return _digit_pools(opts["mnist_source"], tuple(sorted(opts["mnist_counts"].items())), tuple(opts["split"]))


@functools.lru_cache(maxsize=8)
def _digit_pools(source: str, counts: tuple, fractions: tuple) -> dict[str, np.ndarray]:
    counts = dict(counts)
    if source == "train+t10k":  # train and val share the train set: cut it by their relative fractions
        f_train, f_val = fractions[0], fractions[1]
        rel = (f_train / (f_train + f_val), f_val / (f_train + f_val), 0.0) if f_train + f_val > 0 else (1.0, 0.0, 0.0)
        pools = split_pools(counts["train"], rel, "moving-mnist:train")
        return {"train": pools["train"], "val": pools["val"], "test": np.arange(counts["t10k"])}
    (mnist_set, n), = counts.items()
    return split_pools(n, fractions, f"moving-mnist:{mnist_set}")


def options(args, fractions) -> tuple[dict, Path, dict]:
    if args.size < 8 or args.size % 2:
        raise SynthError(f"--size {args.size}: must be an even number >= 8")
    if args.digits < 1:
        raise SynthError(f"--digits {args.digits}: must be >= 1")
    if args.colors == "palette" and not args.gray and args.digits > len(PALETTE):
        raise SynthError(f"--digits {args.digits}: palette mode has only {len(PALETTE)} distinct colours")
    mnist_set = args.mnist_set
    if args.mnist is None:
        directory = cache_dir("mnist")
        for s in (("train", "t10k") if mnist_set == "auto" else (mnist_set,)):
            download_mnist(directory, s)
    else:
        directory = Path(args.mnist)
        if not directory.is_dir():
            raise SynthError(f"--mnist {args.mnist}: no such directory")
    directory = directory.resolve()
    if mnist_set == "auto":
        has = [s for s in ("train", "t10k") if find_idx(directory, MNIST_FILES[s][0][0])]
        sets = has if len(has) == 2 else has[:1] or ["t10k"]  # t10k: the error names its missing files
    else:
        sets = [mnist_set]
    source = "train+t10k" if len(sets) == 2 else "partition"
    files, counts, digests, assets = {}, {}, {}, {}
    for s in sets:
        img_path, lbl_path = mnist_set_files(directory, s)
        count = int(load_mnist(str(directory), s)[0].shape[0])
        shas = {img_path.name: sha256_file(img_path), lbl_path.name: sha256_file(lbl_path)}
        files[s], counts[s], digests[s] = [img_path.name, lbl_path.name], count, assets_digest(shas)
        assets.update(shas)
        remember_assets(digests[s], directory)
    split_sets = {"train": sets[0], "val": sets[0], "test": sets[-1]}
    opts = {
        "size": args.size, "digit_size": args.size // 2, "digits": args.digits,
        "color_mode": "gray" if args.gray else args.colors,
        "mnist_source": source, "mnist_sets": split_sets, "mnist_counts": counts, "mnist_files": files,
        "mnist_sha256": digests, "split": list(fractions), "assets": assets,
    }
    pools = digit_pools(opts)
    summary = {"digit_images": {"source": source, **{
        split: {"set": split_sets[split], "images": int(len(pools[split]))} for split in SPLIT_IDS}}}
    return opts, directory, summary


# ---------------------------------------------------------------- simulation

def bounce_step(pos: np.ndarray, vel: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference code's bounce, per axis: below 0 -> 0, at or past `limit` -> limit - 1, flip velocity."""
    low, high = pos < 0, pos >= limit
    pos = np.where(low, 0, np.where(high, limit - 1, pos))
    vel = np.where(low | high, -vel, vel)
    return pos, vel


def trajectory(rng: np.random.Generator, frames: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame top-left (x, y) of one digit and the velocity it moves by after that frame."""
    pos = rng.integers(0, limit + 1, size=2)
    vel = rng.integers(VELOCITY_RANGE[0], VELOCITY_RANGE[1] + 1, size=2)
    positions, velocities = [], []
    for _ in range(frames):
        pos, vel = bounce_step(pos, vel, limit)
        positions.append(pos)
        velocities.append(vel)
        pos = pos + vel
    return np.stack(positions), np.stack(velocities)


def digit_colors(rng: np.random.Generator, n: int, mode: str) -> tuple[list[int], list[list[int]]]:
    if mode == "gray":
        return [0] * n, [[255]] * n
    if mode == "channel":
        ids = [i % 3 for i in range(n)]
        return ids, [[255 if c == i else 0 for c in range(3)] for i in ids]
    ids = [int(i) for i in rng.choice(len(PALETTE), size=n, replace=False)]
    return ids, [list(PALETTE[i]) for i in ids]


def sample(rng: np.random.Generator, frames: int, opts: dict, split: str, assets: Path) -> dict:
    n, limit = opts["digits"], opts["size"] - opts["digit_size"]
    mnist_set, pool = opts["mnist_sets"][split], digit_pools(opts)[split]
    if len(pool) == 0:
        raise SynthError(f"--split {','.join(map(str, opts['split']))}: split {split!r} has clips but no MNIST "
                         f"images of its own; give it a larger fraction")
    indices = [int(pool[i]) for i in rng.integers(0, len(pool), size=n)]
    trajectories = [trajectory(rng, frames, limit) for _ in range(n)]
    color_ids, colors = digit_colors(rng, n, opts["color_mode"])
    depth_order = [int(i) for i in rng.permutation(n)]
    classes = load_mnist(str(assets), mnist_set)[1]
    return {
        **{k: opts[k] for k in ("size", "digit_size", "digits", "color_mode")},
        "mnist_set": mnist_set, "mnist_files": opts["mnist_files"][mnist_set],
        "mnist_sha256": opts["mnist_sha256"][mnist_set],
        "digit_classes": [int(classes[i]) for i in indices],
        "mnist_indices": indices,
        "color_ids": color_ids,
        "colors": colors,
        "depth_order": depth_order,
        "front": depth_order[-1],
        "positions": np.stack([p for p, _ in trajectories], axis=1),   # T × digits × (x, y)
        "velocities": np.stack([v for _, v in trajectories], axis=1),  # T × digits × (vx, vy)
    }


# ---------------------------------------------------------------- rendering

def render(labels: dict, assets=None) -> np.ndarray:
    """uint8 T×size×size×C: digits composited back to front (labels['depth_order']) at their positions."""
    directory = str(locate_assets(f"MNIST {labels['mnist_set']}", labels["mnist_sha256"], labels["mnist_files"],
                                  assets, defaults=(cache_dir("mnist"),)))
    size, d = labels["size"], labels["digit_size"]
    positions = np.asarray(labels["positions"], dtype=np.int64)
    if positions.ndim != 3 or positions.shape[1] != len(labels["mnist_indices"]):
        raise SynthError(f"positions of shape {positions.shape} do not fit {len(labels['mnist_indices'])} digits")
    if positions.min() < 0 or positions.max() > size - d:
        raise SynthError(f"positions outside [0, {size - d}]: the pose comes from another frame size")
    channels = 1 if labels["color_mode"] == "gray" else 3
    canvas = np.zeros((positions.shape[0], size, size, channels), np.float32)
    for n in labels["depth_order"]:
        alpha = digit_alpha(directory, labels["mnist_set"], labels["mnist_indices"][n], d)[..., None]
        keep, paint = 1.0 - alpha, alpha * (np.asarray(labels["colors"][n], np.float32) / 255.0)
        for t, (x, y) in enumerate(positions[:, n]):
            region = canvas[t, y:y + d, x:x + d]  # "over" compositing: the later digit occludes
            region *= keep
            region += paint
    return np.rint(canvas * 255.0).astype(np.uint8)
