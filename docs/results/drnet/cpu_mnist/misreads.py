"""Whose fault is a misread digit: the content code's or the decoder's drawing? For each held-out clip and
colour channel, a per-digit probe (the paper's App. D MLP, 10 classes) reads the digit from h_c of the clip's
first frame, and the blur-trained digit reader (trainers.eval.judge) reads it from the clip's reconstruction
(its own first-frame h_c with its own poses; majority over the frames). A misread where the probe is right means
h_c knew the digit and the decoder did not draw it legibly; a misread where the probe is wrong too points at h_c.
Also the reader's commonest confusions on the reconstructions and, as the ceiling, on the real frames.
Run from the repository root (CPU scale):

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/misreads.py data/mmc32 RUN_DIR[:CHECKPOINT] \
        [eval_clips] [probe_clips]
"""
import sys
from collections import Counter

import numpy as np
import torch

from trainers.eval import data as eval_data, drnet as de, judge as J, probes, swaps
from trainers.evaluate import load_run_arg


def first_frame_codes(model, clips: list) -> np.ndarray:
    return probes.code_features(model, clips, [0], 1, "cpu")[0][:, 0]


def per_digit_probe(model, train: list, test: list) -> np.ndarray:
    """(n_test, channels) digits predicted from h_c of each test clip's first frame, one MLP per channel."""
    xtr, xte = first_frame_codes(model, train), first_frame_codes(model, test)
    ytr = de.clip_digits(train)
    return np.array([probes.probe_predictions(xtr, ytr[:, c].tolist(), xte, "mlp") for c in range(ytr.shape[1])]).T


@torch.no_grad()
def reader_majority(reader, frames: torch.Tensor, n_digits: int) -> np.ndarray:
    """(B, channels): the reader's most frequent answer over each clip's frames, per channel."""
    return reader.read_digits(frames.cpu())[..., :n_digits].mode(dim=1).values.numpy()   # ties: the smallest


@torch.no_grad()
def main(data: str, run: str, eval_clips: int = 1000, probe_clips: int = 4000) -> None:
    torch.set_num_threads(1)
    _, cfg, model, *_ = load_run_arg("drnet", run)
    model.eval()
    train, test, _ = eval_data.eval_splits(data, probe_clips, eval_clips)
    reader = J.judge_for(data, cfg.image_size, cfg.channels)
    truth = de.clip_digits(test).numpy()
    T = min(f.shape[0] for _, f, _ in test)
    rec_read, real_read = [], []
    for a in range(0, len(test), de.READ_CLIPS):
        xs = swaps.stacked(test[a:a + de.READ_CLIPS], T, "cpu")
        rec_read.append(reader_majority(reader, swaps.transfer(model, xs, xs), truth.shape[1]))
        real_read.append(reader_majority(reader, xs, truth.shape[1]))
    rec_ok = np.concatenate(rec_read) == truth
    real_ok = np.concatenate(real_read) == truth
    with torch.enable_grad():
        probe_ok = per_digit_probe(model, train, test) == truth
    n = truth.size
    print(f"{run}: {len(test)} held-out clips x {truth.shape[1]} digits; per-digit probe fitted on {len(train)} clips")
    print(f"  reader on real frames (majority over frames) {real_ok.mean():.3f}, on reconstructions {rec_ok.mean():.3f}; "
          f"probe on h_c of the first frame {probe_ok.mean():.3f}")
    for p in (True, False):
        m = probe_ok == p
        print(f"  probe {'right' if p else 'wrong'} ({m.sum() / n:.3f} of digits): reader right on the reconstruction "
              f"{rec_ok[m].mean():.3f}")
    miss = ~rec_ok
    print(f"  of the reconstructions' misreads ({miss.sum()}): probe right {(miss & probe_ok).sum() / miss.sum():.3f}, "
          f"real frame misread too {(miss & ~real_ok).sum() / miss.sum():.3f}")
    rec_all = np.concatenate(rec_read)
    conf = Counter(zip(truth[miss].tolist(), rec_all[miss].tolist()))
    print("  commonest confusions on reconstructions (digit -> read as: count): "
          + ", ".join(f"{a}->{b}: {k}" for (a, b), k in conf.most_common(10)))
    for name, ok in (("reader right on reconstructions", rec_ok), ("probe right on h_c", probe_ok)):
        print(f"  {name}, by digit: " + ", ".join(f"{d}: {ok[truth == d].mean():.2f}" for d in range(10)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))
