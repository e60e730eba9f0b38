"""How blurred a DrNet run's reconstructions are, in the digit reader's terms: the Gaussian σ at which the held-out
frames, blurred, come closest (MSE) to the run's reconstructions of them, and the blur-trained reader's accuracy
on the real frames at each σ beside its accuracy on the reconstructions (trainers.eval.drnet.read_accuracy, the
first read_clips held-out clips). Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/recon_blur.py data/mmc32 RUN_DIR[:CHECKPOINT] [read_clips]
"""
import sys

import torch

from trainers.eval import data as eval_data, drnet as de, judge as J, swaps
from trainers.evaluate import load_run_arg

SIGMAS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


@torch.no_grad()
def main(data: str, run: str, read_clips: int = de.READ_CLIPS) -> None:
    torch.set_num_threads(1)
    _, cfg, model, *_ = load_run_arg("drnet", run)
    model.eval()
    reader = J.judge_for(data, cfg.image_size, cfg.channels)
    clips = list(eval_data.iter_clips(eval_data.split_shards(data, "test"), read_clips))
    T = min(f.shape[0] for _, f, _ in clips)
    digits = de.clip_digits(clips)
    mse = {s: 0.0 for s in SIGMAS}
    real = {s: 0.0 for s in SIGMAS}
    rec_acc = 0.0
    for a in range(0, len(clips), de.READ_CLIPS):
        xs = swaps.stacked(clips[a:a + de.READ_CLIPS], T, "cpu")
        rec = swaps.transfer(model, xs, xs)
        d, w = digits[a:a + de.READ_CLIPS], len(xs) / len(clips)
        rec_acc += w * float(de.read_accuracy(reader, rec, d).mean())
        for s in SIGMAS:
            blurred = de.blurred(xs, s)
            mse[s] += w * float(((blurred - rec) ** 2).mean())
            real[s] += w * float(de.read_accuracy(reader, blurred, d).mean())
    best = min(SIGMAS, key=mse.get)
    print(f"{run}: {len(clips)} held-out clips; reader on reconstructions {rec_acc:.3f}; closest blur σ {best}")
    print("  σ      MSE(real blurred, reconstruction)   reader on real blurred")
    for s in SIGMAS:
        print(f"  {s:<5}  {mse[s]:.5f}{' <' if s == best else '  '}                           {real[s]:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))
