"""Each digit's position read from DrNet's pose and content vectors, one colour channel at a time: the kit's
ridge regression (probes.ridge_r2) and its by-channel position target (labels.position_targets: x, y of the
digit in channel 0, then channel 1), fitted on 2,000 train clips, scored on 500 held-out clips, four frames
each. Asks whether the colour channel a decoder draws worse is the one whose position the pose code holds
worse. Output: channel_position.txt. Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/channel_position.py data/mmc32 RUN_DIR[:CHECKPOINT]...

(CHECKPOINT: a directory name under RUN_DIR/checkpoints, e.g. step-00025000; default the latest.)
"""
import sys

import numpy as np
import torch

from trainers.eval import data as eval_data, probes
from trainers.eval.labels import position_targets
from trainers.evaluate import load_run_arg


def flat(a):
    return a.reshape(-1, a.shape[-1])


def main(data: str, runs: list[str]) -> None:
    torch.set_num_threads(1)
    train, test, _ = eval_data.eval_splits(data, 2000, 500)
    for arg in runs:
        _, cfg, model, _, path, _ = load_run_arg("drnet", arg)
        window = min(min(f.shape[0] for _, f, _ in train + test), cfg.max_step)
        frames = probes.probe_frames(window)
        codes = [probes.code_features(model, clips, frames, window, "cpu") for clips in (train, test)]
        y = [np.stack([position_targets(m, frames) for _, _, m in clips]).astype(np.float64) for clips in (train, test)]
        for name, cols in (("ch0 (red) x,y", [0, 1]), ("ch1 (green) x,y", [2, 3])):
            r2 = [probes.ridge_r2(flat(codes[0][k]), flat(y[0][..., cols]), flat(codes[1][k]), flat(y[1][..., cols]))
                  for k in (1, 0)]
            print(f"{path.parents[1]} ({path.name}) {name}: pose R2 {r2[0]:.3f}, content R2 {r2[1]:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
