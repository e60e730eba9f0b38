"""Probes on frozen features: how much of a factor can be read from them.

A classifier (multinomial logistic regression, or the 2-layer MLP of DrNet's App. D) or a ridge regression
is fitted on training-split features and scored on held-out clips, so a probe cannot score by memorizing
the clips it is tested on.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def encode_labels(train: list) -> tuple[np.ndarray, list]:
    """Hashable labels -> (class ids, the classes in id order)."""
    classes = sorted(set(train), key=repr)
    ids = {c: i for i, c in enumerate(classes)}
    return np.array([ids[c] for c in train]), classes


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


PROBES = {"logistic": fit_logistic, "mlp": fit_mlp}   # the probe kinds: linear, or the paper's App. D MLP


def probe_predictions(train_x: np.ndarray, train_labels: list, test_x: np.ndarray, kind: str = "logistic") -> list:
    """The labels (any hashable values) a classifier fitted on (train_x, train_labels) gives each row of test_x."""
    ytr, classes = encode_labels(train_labels)
    if len(classes) < 2:
        raise ValueError("probe: the training labels have a single class; nothing to predict")
    xtr, xte = (torch.from_numpy(a).double() for a in standardize(train_x, test_x))
    model = PROBES[kind](xtr, torch.from_numpy(ytr), len(classes))
    with torch.no_grad():
        return [classes[i] for i in model(xte).argmax(1).tolist()]


def probe_accuracy(train_x: np.ndarray, train_labels: list, test_x: np.ndarray, test_labels: list,
                   kind: str = "logistic") -> float:
    """Held-out accuracy of a classifier reading `labels` (any hashable values) from features; a test label
    never seen in training counts wrong."""
    pred = probe_predictions(train_x, train_labels, test_x, kind)
    return float(np.mean([p == t for p, t in zip(pred, test_labels)]))


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


# ---- features of a model's codes ------------------------------------------------------------------------------

def probe_frames(window: int) -> list[int]:
    """Four frames spread over a window of `window` frames (fewer if the window is shorter)."""
    return sorted({round(i * (window - 1) / 3) for i in range(4)})


@torch.no_grad()
def code_features(model, clips: list, frames: list[int], window: int, device) -> tuple[np.ndarray, np.ndarray]:
    """Static and dynamic code vectors of the given frames of every clip: (N, F, d_static), (N, F, d_dynamic).

    A model whose static code comes from one frame (static_from "frame") is read on each frame alone; one
    whose static code comes from the clip ("clip") is read once on the first `window` frames, and that
    vector stands for every frame of the clip."""
    from trainers.eval import codes
    from trainers.eval.data import to_tensor
    per_frame = getattr(model, "static_from", "frame") == "frame"
    statics, dynamics = [], []
    for i in range(0, len(clips), 64):
        part = clips[i:i + 64]
        x = torch.stack([to_tensor(f[frames]) for _, f, _ in part]).to(device)
        dynamics.append(model.encode_dynamic(x).float().cpu())
        if per_frame:
            s = codes.vector(model.encode_static(x.flatten(0, 1)[:, None])).view(len(part), len(frames), -1)
        else:
            w = torch.stack([to_tensor(f[:window]) for _, f, _ in part]).to(device)
            s = codes.vector(model.encode_static(w))[:, None].expand(-1, len(frames), -1)
        statics.append(s.float().cpu())
    return torch.cat(statics).numpy(), torch.cat(dynamics).numpy()


def probe_report(model, train: list, test: list, window: int, device, kind: str = "logistic",
                 names: tuple[str, str] = ("static", "dynamic")) -> dict:
    """Probes of every content label (labels.content_targets) on the static and on the dynamic code, and
    position R² (labels.position_targets) from each, fitted on `train` clips and scored on `test` clips,
    on four frames of each clip's first `window` frames. `names` names the two codes in the keys
    (DrNet: content, pose)."""
    from trainers.eval.labels import content_targets, position_targets
    s_name, d_name = names
    frames = probe_frames(window)
    st_tr, dy_tr = code_features(model, train, frames, window, device)
    st_te, dy_te = code_features(model, test, frames, window, device)
    flat = lambda a: a.reshape(-1, a.shape[-1])
    out = {"probe_kind": kind, "probe_frames": frames, "probe_train_clips": len(train), "probe_test_clips": len(test)}
    targets_tr = [content_targets(m) for _, _, m in train]
    targets_te = [content_targets(m) for _, _, m in test]
    for name in targets_tr[0] if targets_tr else []:
        ytr = [t[name] for t in targets_tr for _ in frames]
        yte = [t[name] for t in targets_te for _ in frames]
        if len(set(ytr)) < 2:
            out[f"probe_{name}"] = {"skipped": "a single value in the training clips"}
            continue
        out[f"probe_{name}"] = {
            f"{s_name}_acc": probe_accuracy(flat(st_tr), ytr, flat(st_te), yte, kind),
            f"{d_name}_acc": probe_accuracy(flat(dy_tr), ytr, flat(dy_te), yte, kind),
            "chance": majority_accuracy(ytr, yte), "classes": len(set(ytr))}
    pos_tr = [position_targets(m, frames) for _, _, m in train]
    if pos_tr and pos_tr[0] is not None:
        ptr = np.concatenate(pos_tr)
        pte = np.concatenate([position_targets(m, frames) for _, _, m in test])
        out[f"position_r2_{d_name}"] = ridge_r2(flat(dy_tr), ptr, flat(dy_te), pte)
        out[f"position_r2_{s_name}"] = ridge_r2(flat(st_tr), ptr, flat(st_te), pte)
    return out


def has_probe_labels(meta: dict) -> bool:
    from trainers.eval.labels import content_targets, position_targets
    return bool(content_targets(meta)) or position_targets(meta, [0]) is not None
