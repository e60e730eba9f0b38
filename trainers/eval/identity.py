"""Face identity: the dlib ResNet 128-d face embedding and identity distances (../shared/MODELS.md §A).

dlib's face recognition ResNet maps an aligned face to a 128-d vector; two faces of one person are below
THRESHOLD = 0.6 apart (Euclidean), those of different people above it. The models come from two wheels
(pyproject.toml): `dlib-bin` (a prebuilt dlib) and `face-recognition-models` (the `.dat` files). The files
are located by path (`model_dir()`): the package's `__init__` imports `pkg_resources`, which recent
setuptools no longer ship, so it is never imported.

Our face crops are too small for dlib's face detector, but the face's box inside a crop is known: `vidshard
prepare` crops a square of side `margin` (1.6 by default; `data_margin` reads a dataset's from its manifest)
× the face's size around the face's centre, so the face is the centre square of side crop/margin. `embed`
upscales each crop to UPSCALE px (bicubic), places dlib's 68-point landmark predictor on that square, cuts
dlib's aligned 150-px chip and runs the ResNet. Models are loaded once per process (a few seconds: the
predictor is the only one the face-recognition-models wheel ships; the 5-point one, in its sdist only, gave
the same distances).

    embed(frames)                    uint8 (N, H, W, 3 or 1) crops -> (N, 128) float32
    data_margin(data)                the crop margin a face dataset was built with (its manifest)
    distances(a, b)                  Euclidean distance of each row of a to the same row of b
    real_calibration(clips)          same-video vs different-video distances on real face clips
    perturbation_distances(model, part, norms, n, generator)
                                     the set GAN's test: identity distance between G(z) and G(z + δ), δ in
                                     the static or the dynamic code only, as a function of |δ|
    box_plot(results, path)          those distances as box plots against the threshold

Calibration on data/faces64 (1049 clips of 80 people, one video each; 2 frames a clip, 2000 pairs of each
kind, seed 0; `python -m trainers.eval.identity --data data/faces64`), quartiles [q1, median, q3]:

    RGB   same video [0.206, 0.267, 0.338] (99.7% under 0.6)   different videos [0.774, 0.837, 0.896] (2.0% under)
    gray  same video [0.211, 0.272, 0.342] (99.6% under 0.6)   different videos [0.756, 0.819, 0.882] (2.2% under)

Upscaling before alignment, measured on 700 frames of 350 clips (all pairs; median same / different, AUC
of same vs different): 64-px crops as they are 0.286 / 0.835 (0.9996), upscaled to 150 px 0.286 / 0.836
(0.9994), to 256 px 0.288 / 0.837 (0.9994); an embedding moves by 0.07 on average between 64 and 150 px,
far below the same-video distances. On crops shrunk to 32 px (a 32×32 model) the distances are less
separated and upscaling helps a little: 0.373 / 0.780 (0.9969) as they are, 0.367 / 0.787 (0.9977) at
150 px. So crops are upscaled to 150 px (the chip's size; ~6% more time). A face box 15% larger or smaller
than crop/1.6 changed nothing either (AUC 0.9993, 0.9982). dlib in the `dlib-bin` wheel has no BLAS, so
embedding faces is the slow part of an identity evaluation on CPU (docs/BENCHMARKS.md "CPU presets of
pairvae and vsgan" has its cost).

Command line: `python -m trainers.eval.identity --data DIR` prints a dataset's calibration.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from trainers.eval import codes

THRESHOLD = 0.6          # dlib's same-person threshold for this embedding
MARGIN = 1.6             # crop side / face side: `vidshard prepare --margin`'s default
UPSCALE = 150            # crops are resized to this side (bicubic) before landmarks and alignment
CHIP, CHIP_PADDING = 150, 0.25   # dlib's aligned chip, as the ResNet was trained
PREDICTOR = "shape_predictor_68_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
LUMA = (0.299, 0.587, 0.114)     # BT.601, as trainers/frames.py
PARTS = ("static", "dynamic")


class IdentityError(ValueError):
    """Bad input to the identity metric, or its model files missing."""


# ---- the models ------------------------------------------------------------------------------------------

def model_dir() -> Path:
    """The folder of face-recognition-models' `.dat` files, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityError("the face identity metric needs the face-recognition-models package "
                            "(a dependency in pyproject.toml: pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_paths() -> dict[str, Path]:
    """The landmark predictor and the ResNet files; a missing one raises IdentityError naming it."""
    folder = model_dir()
    paths = {"predictor": folder / PREDICTOR, "resnet": folder / RESNET}
    for path in paths.values():
        if not path.is_file():
            raise IdentityError(f"dlib model file {path} is missing (reinstall face-recognition-models==0.1.3)")
    return paths


@functools.lru_cache(maxsize=None)
def models():
    """(landmark predictor, ResNet), loaded once per process."""
    try:
        import dlib
    except ImportError as e:
        raise IdentityError(f"the face identity metric needs dlib (the dlib-bin wheel in pyproject.toml): {e}") from e
    paths = model_paths()
    return dlib.shape_predictor(str(paths["predictor"])), dlib.face_recognition_model_v1(str(paths["resnet"]))


# ---- embeddings ------------------------------------------------------------------------------------------

def check_frames(frames) -> np.ndarray:
    """uint8 (N, S, S, C) with C 3 or 1 -> C-contiguous uint8 (N, S, S, 3) (gray repeated)."""
    if isinstance(frames, torch.Tensor):
        raise IdentityError("frames must be a uint8 numpy array (N, H, W, C); to_uint8 converts model output")
    x = np.asarray(frames)
    if x.ndim != 4:
        raise IdentityError(f"frames must be (N, H, W, C); got shape {x.shape}")
    if x.dtype != np.uint8:
        raise IdentityError(f"frames must be uint8 in [0, 255]; got {x.dtype} (to_uint8 converts [0, 1] floats)")
    n, h, w, c = x.shape
    if c not in (1, 3):
        raise IdentityError(f"frames must have 3 (RGB) or 1 (gray) channels; got {c} (shape {x.shape})")
    if h != w:
        raise IdentityError(f"frames must be square face crops; got {h}×{w}")
    if c == 1:
        x = np.repeat(x, 3, axis=3)
    return np.ascontiguousarray(x)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """A model's frames (N, C, H, W) in [0, 1] -> uint8 (N, H, W, C), rounded."""
    if frames.ndim != 4:
        raise IdentityError(f"to_uint8: frames must be (N, C, H, W); got shape {tuple(frames.shape)}")
    x = frames.detach().float().clamp(0, 1).mul(255).add(0.5).floor().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def to_gray(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> uint8 gray (..., 1) by BT.601 luma (what a gray model is trained on)."""
    y = frames.astype(np.float32) @ np.asarray(LUMA, np.float32)
    return np.clip(y + 0.5, 0, 255).astype(np.uint8)[..., None]


def face_chip(img: np.ndarray, margin: float = MARGIN, upscale: int | None = UPSCALE) -> np.ndarray:
    """One uint8 (S, S, 3) crop -> dlib's aligned (150, 150, 3) chip: the face box is the centre square of
    side S / margin (S after upscaling to `upscale` px; None keeps the crop's size)."""
    import dlib
    predictor, _ = models()
    if upscale and img.shape[0] != upscale:
        from PIL import Image
        img = np.asarray(Image.fromarray(img).resize((upscale, upscale), Image.BICUBIC))
    side = img.shape[0]
    lo = int(round(side / 2 * (1 - 1 / margin)))
    hi = side - 1 - lo
    shape = predictor(img, dlib.rectangle(lo, lo, hi, hi))
    return dlib.get_face_chip(img, shape, size=CHIP, padding=CHIP_PADDING)


def embed(frames, margin: float = MARGIN, upscale: int | None = UPSCALE, batch: int = 64) -> np.ndarray:
    """uint8 (N, S, S, C) face crops (C 3 or 1, face centred, crop side = margin × face size) -> (N, 128)
    float32 dlib ResNet embeddings. Each row depends on its own frame only, and is the same at every call."""
    if margin <= 1:
        raise IdentityError(f"margin must be > 1 (crop side / face side); got {margin}")
    x = check_frames(frames)
    _, net = models()
    out = np.empty((len(x), 128), np.float32)
    for start in range(0, len(x), batch):
        chips = [face_chip(img, margin, upscale) for img in x[start:start + batch]]
        out[start:start + len(chips)] = np.asarray(net.compute_face_descriptor(chips), np.float32)
    return out


def data_margin(data: str | Path) -> float:
    """The margin (crop side / face side) a face dataset's crops were cut with, from its manifest; MARGIN
    (prepare's default) for shard files without a dataset directory, or a manifest that records none. The
    identity metric must place the face box where prepare put it."""
    from shards import load_manifest
    if isinstance(data, (list, tuple)) or not (Path(data) / "manifest.json").is_file():
        return MARGIN
    face = load_manifest(data).get("config", {}).get("face") or {}
    margin = face.get("margin", MARGIN)
    if not isinstance(margin, (int, float)) or margin <= 1:
        raise IdentityError(f"{data}: the manifest's face margin must be a number > 1; got {margin!r}")
    return float(margin)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, d) and (N, d) embeddings -> (N,) Euclidean distances between rows a[i] and b[i]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise IdentityError(f"distances: embeddings must be two (N, d) arrays of one shape; got {a.shape} and {b.shape}")
    return np.linalg.norm(a - b, axis=1)


def quartiles(d) -> list[float]:
    """[q1, median, q3] of a set of distances."""
    return [float(v) for v in np.percentile(np.asarray(d, np.float64), [25, 50, 75])]


def median_ci(d, level: float = 0.95) -> list[float]:
    """[low, high]: a distribution-free confidence interval of the median (order statistics; scipy's
    quantile_test), so a median read against THRESHOLD says how far sampling alone could move it."""
    from scipy.stats import quantile_test
    ci = quantile_test(np.asarray(d, np.float64), q=0.0, p=0.5).confidence_interval(level)
    return [float(ci.low), float(ci.high)]


# ---- real data: how far apart one person's frames and different people's frames are -----------------------

def real_calibration(clips: Iterable[tuple[str, np.ndarray, dict]], frames_per_clip: int = 2, pairs: int = 2000,
                     seed: int = 0, gray: bool = False, margin: float = MARGIN) -> dict:
    """Identity distances on real face clips (key, frames uint8 T×S×S×C, meta with `source_id`): between two
    frames of one video ("same") and between frames of two different videos ("diff").

    `frames_per_clip` frames evenly spaced in each clip are embedded. Pairs are drawn from `seed`, each video
    weighted equally: "same" picks a video (with at least two embedded frames) then two distinct frames of
    it, "diff" two distinct videos then a frame of each; `pairs` of each. `gray` embeds the BT.601 luma of
    the frames (what a gray model sees); `margin`: the crops' (data_margin). Returns {"same": [q1, median,
    q3], "diff": [...], "same_below_threshold", "diff_below_threshold" (fractions of pairs under THRESHOLD),
    "counts", "distances": {"same": [...], "diff": [...]}} and the settings."""
    if frames_per_clip < 1 or pairs < 1:
        raise IdentityError(f"frames_per_clip and pairs must be >= 1; got {frames_per_clip}, {pairs}")
    frames, videos, n_clips = [], [], 0
    for key, x, meta in clips:
        sid = meta.get("source_id")
        if sid is None:
            raise IdentityError(f"clip {key}: no source_id in its json; real_calibration needs face clips "
                                f"made by vidshard prepare")
        idx = np.unique(np.linspace(0, len(x) - 1, frames_per_clip).round().astype(int))
        frames.append(x[idx])
        videos += [sid] * len(idx)
        n_clips += 1
    if not frames:
        raise IdentityError("real_calibration: no clips")
    names = sorted(set(videos))
    groups = [np.flatnonzero(np.asarray(videos) == v) for v in names]
    if len(groups) < 2:
        raise IdentityError(f"real_calibration needs clips of at least 2 videos; got {len(groups)}")
    multi = [g for g in groups if len(g) >= 2]
    if not multi:
        raise IdentityError("real_calibration needs a video with at least 2 embedded frames "
                            "(more clips, or frames_per_clip >= 2)")
    x = np.concatenate(frames)
    if gray and x.shape[-1] == 3:
        x = to_gray(x)
    emb = embed(x, margin)
    rng = np.random.default_rng(seed)

    def pick(members: list[np.ndarray], which: np.ndarray) -> np.ndarray:
        """A frame of each group members[w] for w in which, uniform within the group."""
        sizes = np.array([len(members[w]) for w in which])
        return np.array([members[w][i] for w, i in zip(which, (rng.random(len(which)) * sizes).astype(int))])

    # same: a video, then two distinct frames of it
    gs = rng.integers(len(multi), size=pairs)
    sizes = np.array([len(multi[g]) for g in gs])
    a = (rng.random(pairs) * sizes).astype(int)
    b = (rng.random(pairs) * (sizes - 1)).astype(int)
    b += b >= a
    same = distances(emb[[multi[g][i] for g, i in zip(gs, a)]], emb[[multi[g][i] for g, i in zip(gs, b)]])
    # diff: two distinct videos, then a frame of each
    v1 = rng.integers(len(groups), size=pairs)
    v2 = rng.integers(len(groups) - 1, size=pairs)
    v2 += v2 >= v1
    diff = distances(emb[pick(groups, v1)], emb[pick(groups, v2)])
    return {
        "threshold": THRESHOLD,
        "same": quartiles(same), "diff": quartiles(diff),
        "same_below_threshold": float(np.mean(same < THRESHOLD)),
        "diff_below_threshold": float(np.mean(diff < THRESHOLD)),
        "counts": {"clips": n_clips, "frames": int(len(x)), "videos": len(groups),
                   "videos_with_two_frames": len(multi), "same_pairs": pairs, "diff_pairs": pairs},
        "frames_per_clip": frames_per_clip, "seed": seed, "gray": gray,
        "distances": {"same": same.tolist(), "diff": diff.tolist()},
    }


# ---- generated faces: the set GAN's perturbation test ------------------------------------------------------

def _key(norm: float) -> str:
    return f"{norm:g}"


def perturbation_distances(model, part: str, norms: Sequence[float], n: int, generator: torch.Generator,
                           box: tuple[float, float] | None = (-1.0, 1.0), margin: float = MARGIN) -> dict:
    """Identity distance between G(z) and G(z + δ) where δ moves only the static or only the dynamic code
    (MODELS.md §A, paper §5.4): a model that disentangles keeps identity under dynamic perturbations (below
    THRESHOLD) and changes it under static ones.

    n codes are drawn from the model's prior (sample_static, then sample_dynamic for one frame, t = 1); each
    code gets one uniformly random direction, scaled to every norm in `norms`; the perturbed vector is
    clipped back into `box` (the prior's support: (-1, 1) for the set GAN's uniform z; None for a Gaussian
    prior), so the effective |δ| can be smaller than asked ("effective_norm" reports its median). For tuple
    codes only the vector moves (codes.vector / with_vector). The model runs in eval mode under no_grad
    (its training mode is restored). Seed `generator` alike for the two parts to perturb the same z.

    Returns {"part", "n", "box", "norms", "quartiles": {norm: [q1, median, q3]}, "median_ci95": {norm: [low,
    high]} (median_ci), "above_threshold": {norm:
    fraction of pairs at or over THRESHOLD}, "effective_norm": {norm: median}, "median_area" (trapezoid of
    the median curve over [0, max norm], with distance 0 at norm 0), "distances": {norm: [...]}}; norms are
    keyed as f"{norm:g}"."""
    if part not in PARTS:
        raise IdentityError(f"part must be one of {PARTS}; got {part!r}")
    norms = [float(v) for v in norms]
    if not norms or min(norms) < 0:
        raise IdentityError(f"norms must be a non-empty list of non-negative numbers; got {norms}")
    if n < 1:
        raise IdentityError(f"n must be >= 1; got {n}")
    if box is not None and not box[0] < box[1]:
        raise IdentityError(f"box must be (low, high) with low < high, or None; got {box}")
    training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            static = model.sample_static(n, generator)
            dynamic = model.sample_dynamic(n, 1, generator, static=static)
            frames = model.generate(static, dynamic)
            base = embed(to_uint8(frames[:, 0]), margin)
            code = codes.vector(static) if part == "static" else dynamic[:, 0]
            u = torch.randn(code.shape, generator=generator, device=code.device, dtype=code.dtype)
            u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
            out = {"part": part, "n": n, "box": list(box) if box is not None else None, "norms": norms,
                   "threshold": THRESHOLD, "quartiles": {}, "median_ci95": {}, "above_threshold": {},
                   "effective_norm": {}, "distances": {}}
            for norm in norms:
                moved = code + norm * u
                if box is not None:
                    moved = moved.clamp(box[0], box[1])
                if part == "static":
                    frames = model.generate(codes.with_vector(static, moved), dynamic)
                else:
                    frames = model.generate(static, moved[:, None])
                d = distances(base, embed(to_uint8(frames[:, 0]), margin))
                k = _key(norm)
                out["quartiles"][k] = quartiles(d)
                out["median_ci95"][k] = median_ci(d)
                out["above_threshold"][k] = float(np.mean(d >= THRESHOLD))
                out["effective_norm"][k] = float((moved - code).norm(dim=1).median())
                out["distances"][k] = d.tolist()
    finally:
        if training is not None and hasattr(model, "train"):
            model.train(training)
    xs, ys = [0.0] + norms, [0.0] + [out["quartiles"][_key(v)][1] for v in norms]
    order = np.argsort(xs, kind="stable")
    out["median_area"] = float(np.trapezoid(np.asarray(ys)[order], np.asarray(xs)[order]))
    return out


def box_plot(results: Sequence[dict], path: str | Path, calibration: dict | None = None, title: str | None = None) -> Path:
    """Box plots of perturbation_distances results (one colour per result, e.g. static and dynamic) by norm,
    with the threshold and, given a real_calibration, its same-video and different-video medians. A PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise IdentityError("box_plot: no results")
    norms = sorted({v for r in results for v in r["norms"]})
    width = 0.8 / len(results)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(norms) * len(results) + 5), 4.5), dpi=100)
    handles = []
    for i, r in enumerate(results):
        keys = [_key(v) for v in norms if _key(v) in r["distances"]]
        pos = [norms.index(float(k)) + (i - (len(results) - 1) / 2) * width for k in keys]
        c = colours[i % len(colours)]
        bp = ax.boxplot([r["distances"][k] for k in keys], positions=pos, widths=width * 0.9, patch_artist=True,
                        manage_ticks=False, flierprops={"markersize": 2, "markeredgecolor": c})
        for patch in bp["boxes"]:
            patch.set(facecolor=c, alpha=0.5, edgecolor=c)
        for med in bp["medians"]:
            med.set(color="black")
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor=c, alpha=0.5,
                                     label=f"δ in {r['part']} code (n={r['n']})"))
    ax.axhline(THRESHOLD, color="red", linestyle="--", linewidth=1)
    handles.append(plt.Line2D([], [], color="red", linestyle="--", label=f"same-person threshold {THRESHOLD}"))
    if calibration is not None:
        for key, style, label in (("same", ":", "real, same video (median)"), ("diff", "-.", "real, different videos (median)")):
            ax.axhline(calibration[key][1], color="grey", linestyle=style, linewidth=1)
            handles.append(plt.Line2D([], [], color="grey", linestyle=style, label=label))
    ax.set_xticks(range(len(norms)), [_key(v) for v in norms])
    ax.set_xlabel("|δ| (asked; clipping to the prior's box can shorten it)")
    ax.set_ylabel("dlib identity distance, G(z) to G(z + δ)")
    top = max([1.0] + [max(d) for r in results for d in r["distances"].values() if len(d)])
    ax.set_ylim(0, top * 1.05)
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---- command line --------------------------------------------------------------------------------------

def dataset_clips(data: str, split: str | None):
    """The clips of a dataset directory: every shard of the manifest, or one split's."""
    from shards import load_manifest
    from trainers.eval.data import iter_clips, split_shards
    root = Path(data)
    if not (root / "manifest.json").is_file():
        raise FileNotFoundError(f"{data}: not a dataset directory (no manifest.json)")
    if split:
        paths = split_shards(data, split)
        if not paths:
            raise ValueError(f"{data}: the manifest has no split {split!r}")
    else:
        paths = [root / s["file"] for s in load_manifest(data)["shards"]]
    return iter_clips(paths, sys.maxsize)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m trainers.eval.identity",
        description="The dlib identity distance's calibration on real face clips: distances between two "
                    "frames of one video vs frames of two different videos (quartiles), against the "
                    f"same-person threshold {THRESHOLD}. Prints json.",
        epilog="Example: python -m trainers.eval.identity --data data/faces64   (2 frames of each clip, each "
               "embedded by dlib on the CPU: slow on large datasets)")
    p.add_argument("--data", required=True, help="a face dataset directory made by vidshard prepare")
    p.add_argument("--split", default=None, help="one split of the manifest (default: all shards)")
    p.add_argument("--frames-per-clip", type=int, default=2, metavar="K", help="frames embedded per clip (default: %(default)s)")
    p.add_argument("--pairs", type=int, default=2000, help="pairs drawn of each kind (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gray", action="store_true", help="embed the frames' BT.601 luma (as a gray model sees them)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="the first N clips only")
    p.add_argument("--distances", action="store_true", help="also print the raw pair distances")
    args = p.parse_args(argv)
    try:
        clips = dataset_clips(args.data, args.split)
        if args.limit is not None:
            clips = (c for _, c in zip(range(args.limit), clips))
        margin = data_margin(args.data)
        result = real_calibration(clips, args.frames_per_clip, args.pairs, args.seed, args.gray, margin)
    except (IdentityError, FileNotFoundError, ValueError) as e:
        print(f"identity: {e}", file=sys.stderr)
        return 2
    if not args.distances:
        result.pop("distances")
    result["data"], result["margin"] = args.data, margin
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
