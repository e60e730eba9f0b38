"""Where the position read from DrNet's content vector lives: within clips or between them. On one set of
encoders, 2,000 fitting and 1,000 held-out clips (four frames each), the kit's ridge regression and its
by-channel position target (each digit's x, y):

  codes -> positions              the kit's position_r2_content / _pose
  codes -> relative offset        x1 - x2, y1 - y2: what a translation-invariant code could still know
  between-clip share              the part of the positions' variance a code constant within each clip could
                                  at most explain (the clip's mean position)
  within-clip deviations          each code minus its clip's mean -> each position minus its clip's mean:
                                  position carried by the code's changes from frame to frame
  clip-mean content -> positions  the same regression once content is averaged over the clip's frames

Output: content_position.txt. Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/content_position.py runs/drnet-pmax-nf48-lr2e4 data/mmc32
"""
import sys

import numpy as np
import torch

from trainers.eval import data as eval_data, probes
from trainers.eval.labels import position_targets
from trainers.evaluate import load_run


def flat(a):
    return a.reshape(-1, a.shape[-1])


def r2(a_tr, a_te, y_tr, y_te):
    return probes.ridge_r2(flat(a_tr), flat(y_tr), flat(a_te), flat(y_te))


def offset(y):
    return np.concatenate([y[..., 0:1] - y[..., 2:3], y[..., 1:2] - y[..., 3:4]], -1)


def deviation(a):
    return a - a.mean(1, keepdims=True)


def clip_mean(a):
    return np.repeat(a.mean(1, keepdims=True), a.shape[1], 1)


torch.set_num_threads(1)
_, cfg, model, _, _, facts = load_run("drnet", sys.argv[1])
print(facts, flush=True)
train, test, note = eval_data.eval_splits(sys.argv[2], 2000, 1000)
window = min(min(f.shape[0] for _, f, _ in train + test), cfg.max_step)
frames = probes.probe_frames(window)
c_tr, p_tr = probes.code_features(model, train, frames, window, "cpu")
c_te, p_te = probes.code_features(model, test, frames, window, "cpu")
y_tr = np.stack([position_targets(m, frames) for _, _, m in train]).astype(np.float64)   # (clips, frames, 4)
y_te = np.stack([position_targets(m, frames) for _, _, m in test]).astype(np.float64)
between = ((clip_mean(y_te) - flat(y_te).mean(0)) ** 2).mean((0, 1)).sum() / flat(y_te).var(0).sum()
for code, a_tr, a_te in (("content", c_tr, c_te), ("pose", p_tr, p_te)):
    print(f"{code:>7}: -> positions {r2(a_tr, a_te, y_tr, y_te):.3f}, -> relative offset "
          f"{r2(a_tr, a_te, offset(y_tr), offset(y_te)):.3f}, within-clip deviations -> position deviations "
          f"{r2(deviation(a_tr), deviation(a_te), deviation(y_tr), deviation(y_te)):.3f}")
print(f"clip-mean content -> positions {r2(clip_mean(c_tr), clip_mean(c_te), y_tr, y_te):.3f}; "
      f"between-clip share of the positions' variance {between:.3f}")
