"""Evaluation helpers shared by the model modules: SSIM, probes on frozen features, R², clip reading, images.

Nothing here knows a model. Probes answer "how much of factor y can be read from features X": a classifier
(logistic regression, or the paper's 2-layer MLP) or a ridge regression is fitted on training-split features
and scored on held-out clips, so a probe cannot score by memorizing the clips it is tested on.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- SSIM ----------------------------------------------------------------------------------------------------

def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of (N, C, H, W) batches: Gaussian window 11 / sigma 1.5, K1 0.01,
    K2 0.03, valid positions only, averaged over channels and positions. Matches skimage's
    structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...).
    Frames smaller than the window use a window of the frame's (odd) size."""
    x, y = x.double(), y.double()
    C = x.shape[1]
    win = min(win, x.shape[-1] - (1 - x.shape[-1] % 2), x.shape[-2] - (1 - x.shape[-2] % 2))
    w = gaussian_window(win, sigma).to(x.device)[None, None].expand(C, 1, win, win)

    def blur(t):
        return F.conv2d(t, w, groups=C)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).float()


# ---- probes --------------------------------------------------------------------------------------------------

def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def encode_labels(train: list, test: list) -> tuple[np.ndarray, np.ndarray, int]:
    """Hashable labels -> class ids; test labels never seen in training get -1 (always counted wrong)."""
    classes = {c: i for i, c in enumerate(sorted(set(train), key=repr))}
    return (np.array([classes[c] for c in train]), np.array([classes.get(c, -1) for c in test]), len(classes))


def majority_accuracy(train_labels: list, test_labels: list) -> float:
    """Chance level: accuracy of always answering the most frequent training label."""
    top = Counter(train_labels).most_common(1)[0][0]
    return float(np.mean([t == top for t in test_labels]))


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float = 1e-3, iters: int = 200) -> nn.Module:
    """Multinomial logistic regression, full batch, L-BFGS (deterministic on CPU)."""
    model = nn.Linear(x.shape[1], n_classes).double()
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) + l2 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model


def fit_mlp(x: torch.Tensor, y: torch.Tensor, n_classes: int, hidden: int = 256, epochs: int = 100,
            dropout: float = 0.5, seed: int = 0) -> nn.Module:
    """The paper's classifier (App. D): 2 layers of 256, LeakyReLU, batch norm and dropout; Adam."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
                              nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
                              nn.Linear(hidden, n_classes)).double()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=g).split(128):
                if len(idx) < 2:
                    continue
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
    return model.eval()


def probe_accuracy(train_x: np.ndarray, train_labels: list, test_x: np.ndarray, test_labels: list,
                   kind: str = "logistic") -> float:
    """Held-out accuracy of a classifier reading `labels` (any hashable values) from features."""
    ytr, yte, k = encode_labels(train_labels, test_labels)
    if k < 2:
        raise ValueError("probe: the training labels have a single class; nothing to predict")
    xtr, xte = (torch.from_numpy(a).double() for a in standardize(train_x, test_x))
    fit = fit_logistic if kind == "logistic" else fit_mlp
    model = fit(xtr, torch.from_numpy(ytr), k)
    with torch.no_grad():
        pred = model(xte).argmax(1).numpy()
    return float(np.mean(pred == yte))


def ridge_r2(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
             lam: float = 1.0) -> float:
    """Held-out R² of a ridge regression (with intercept), averaged uniformly over the target columns.
    R² can be negative: a feature that carries nothing scores about 0 or below on held-out data."""
    xtr, xte = standardize(train_x, test_x)
    ytr, yte = np.asarray(train_y, np.float64), np.asarray(test_y, np.float64)
    mu = ytr.mean(0)
    a = xtr.T @ xtr + lam * np.eye(xtr.shape[1])
    w = np.linalg.solve(a, xtr.T @ (ytr - mu))
    pred = xte @ w + mu
    ss_res = ((yte - pred) ** 2).sum(0)
    ss_tot = ((yte - yte.mean(0)) ** 2).sum(0) + 1e-12
    return float(np.mean(1.0 - ss_res / ss_tot))


# ---- reading evaluation clips --------------------------------------------------------------------------------

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
        why = "no manifest"
    clips = list(iter_clips(paths, n_train + n_test))
    if len(clips) < 4:
        raise ValueError(f"evaluation data {data}: only {len(clips)} clips; need at least 4")
    cut = len(clips) * n_train // (n_train + n_test)
    return clips[:cut], clips[cut:], f"{why}: first {cut} clips fit the probes, the other {len(clips) - cut} score them"


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float32 (..., C, H, W) in [0, 1], the loader's layout."""
    return torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).float() / 255.0


# ---- images --------------------------------------------------------------------------------------------------

def to_uint8_image(img: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> H×W×3 uint8 (grayscale repeated)."""
    img = img.detach().float().clamp(0, 1).cpu()
    if img.shape[0] == 1:
        img = img.repeat(3, 1, 1)
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_png(img: torch.Tensor, path: str | Path, scale: int = 1) -> None:
    from PIL import Image
    im = Image.fromarray(to_uint8_image(img))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    im.save(path, optimize=False)


def save_gif(frames: list[torch.Tensor], path: str | Path, fps: int = 10, scale: int = 1) -> None:
    """A looping GIF from (C, H, W) frames in [0, 1]."""
    from PIL import Image
    ims = [Image.fromarray(to_uint8_image(f)) for f in frames]
    if scale > 1:
        ims = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in ims]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=int(1000 / fps), loop=0)


def write_json(obj: dict, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")
    tmp.replace(path)
