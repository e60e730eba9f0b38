"""The digit reader on swaps and reconstructions generated with BatchNorm's running statistics (eval mode, what
the kit does) against batch statistics (train mode, batches of 32 clips as in training), on the first 256
held-out clips. Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/bn_mode.py data/mmc32 RUN_DIR[:CHECKPOINT]
"""
import sys

import torch

from trainers.eval import data as eval_data, drnet as de, judge as J, swaps
from trainers.evaluate import load_run_arg

BATCH = 32


def reads(model, reader, xs, dynamic, digits) -> float:
    hits = 0.0
    with torch.no_grad():
        for b in range(0, len(xs), BATCH):
            generated = swaps.transfer(model, xs[b:b + BATCH], dynamic[b:b + BATCH])
            hits += float(de.read_accuracy(reader, generated, digits[b:b + BATCH]).mean()) * len(generated)
    return hits / len(xs)


def main(data: str, arg: str) -> None:
    torch.set_num_threads(1)
    reader = J.judge_for(data, 32, 3)
    clips = list(eval_data.iter_clips(eval_data.split_shards(data, "test"), 256))
    _, cfg, model, _, path, _ = load_run_arg("drnet", arg)
    n, T = len(clips), min(f.shape[0] for _, f, _ in clips)
    xs = swaps.stacked(clips, T, "cpu")
    other = swaps.stacked([clips[(i + 1) % n] for i in range(n)], T, "cpu")
    digits = de.clip_digits(clips)
    print(f"{path.parents[1]} ({path.name}), {n} held-out clips, reader on swaps / reconstructions")
    for mode in ("eval", "train"):
        model.train(mode == "train")
        print(f"  BatchNorm {'running' if mode == 'eval' else 'batch'} statistics: "
              f"{reads(model, reader, xs, other, digits):.3f} / {reads(model, reader, xs, xs, digits):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
