"""Position R² of DrNet's pose and content vectors under three definitions of the target, on one set of
encoders, 4,000 fitting clips and 1,000 held-out ones (four frames each), with the kit's ridge regression:

  sorted      the kit's target until 2026-12-03: each frame's digit x coordinates sorted, then the y ones (the
              bounding box of two digits), invariant to which digit is which
  by channel  each digit's (x, y) in the order of its RGB channel: in channel-coloured clips the channel tells
              the digits apart, so a code can (and DrNet's decoder must) say where each one is
and, as the ceiling of a linear read-out, the same ridge regression from the true per-digit coordinates
themselves (a perfect linear code of both positions); then the share of each code's variance that is within
clips. Output: position_targets.txt. Run from the repository
root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/position_targets.py runs/drnet-cpu-mnist data/mmc32
"""
import sys

import numpy as np
import torch

from trainers.eval import data as eval_data, probes
from trainers.eval.labels import position_targets
from trainers.evaluate import load_run


def sorted_xy(meta, frames):
    pos = np.asarray(meta["positions"], np.float64)[frames]
    return np.sort(pos, axis=1).reshape(len(frames), -1)


def by_channel(meta, frames):
    return position_targets(meta, frames)     # the kit's target for channel-coloured clips


torch.set_num_threads(1)
_, cfg, model, _, _, facts = load_run("drnet", sys.argv[1])
print(facts, flush=True)
train, test, note = eval_data.eval_splits(sys.argv[2], 4000, 1000)
window = min(min(f.shape[0] for _, f, _ in train + test), cfg.max_step)
frames = probes.probe_frames(window)
flat = lambda a: a.reshape(-1, a.shape[-1])
content_tr, pose_tr = probes.code_features(model, train, frames, window, "cpu")
content_te, pose_te = probes.code_features(model, test, frames, window, "cpu")
for name, target in (("sorted", sorted_xy), ("by channel", by_channel)):
    ytr = np.concatenate([target(m, frames) for _, _, m in train])
    yte = np.concatenate([target(m, frames) for _, _, m in test])
    truth_tr = np.concatenate([by_channel(m, frames) for _, _, m in train])
    truth_te = np.concatenate([by_channel(m, frames) for _, _, m in test])
    r2 = {code: probes.ridge_r2(flat(a), ytr, flat(b), yte)
          for code, a, b in (("pose", pose_tr, pose_te), ("content", content_tr, content_te))}
    ceiling = probes.ridge_r2(truth_tr, ytr, truth_te, yte)
    print(f"{name:>10}: position R2 from pose {r2['pose']:.3f}, from content {r2['content']:.3f}; "
          f"from the true per-digit coordinates (linear ceiling) {ceiling:.3f}", flush=True)
# how much of each code changes within a clip: the four frames' variance around their clip's mean, as a share of
# the variance over all held-out frames (a code constant in every clip: 0)
for code, a in (("content", content_te), ("pose", pose_te)):
    within = a.var(axis=1).sum(-1).mean() / flat(a).var(0).sum()
    print(f"{code}: within-clip share of its variance {within:.3f}", flush=True)
