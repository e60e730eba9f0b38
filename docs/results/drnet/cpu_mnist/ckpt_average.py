"""The digit reader on swaps and reconstructions of the last checkpoint named, and of the uniform average of all
the checkpoints named (every floating-point tensor of the model, BatchNorm's running statistics included: Polyak
averaging of a trajectory's late checkpoints), on the kit's READ_CLIPS held-out clips. Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/ckpt_average.py data/mmc32 RUN_DIR:CHECKPOINT...
"""
import sys

import torch

from trainers.eval import data as eval_data, drnet as de, judge as J, swaps
from trainers.evaluate import load_run_arg


def averaged(models: list) -> torch.nn.Module:
    """The last model with each floating-point tensor replaced by its mean over all the models."""
    states = [m.state_dict() for m in models]
    mean = {k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[-1].items()}
    models[-1].load_state_dict(mean)
    return models[-1]


def reads(model, reader, xs, other, digits) -> str:
    with torch.no_grad():
        swapped, rebuilt = swaps.transfer(model, xs, other), swaps.transfer(model, xs, xs)
    return (f"{float(de.read_accuracy(reader, swapped, digits).mean()):.3f} / "
            f"{float(de.read_accuracy(reader, rebuilt, digits).mean()):.3f}")


def main(data: str, args: list[str]) -> None:
    torch.set_num_threads(1)
    reader = J.judge_for(data, 32, 3)
    clips = list(eval_data.iter_clips(eval_data.split_shards(data, "test"), de.READ_CLIPS))
    n, T = len(clips), min(f.shape[0] for _, f, _ in clips)
    xs = swaps.stacked(clips, T, "cpu")
    other = swaps.stacked([clips[(i + 1) % n] for i in range(n)], T, "cpu")
    digits = de.clip_digits(clips)
    models = [load_run_arg("drnet", arg)[2].eval() for arg in args]
    print(f"{n} held-out clips, reader on swaps / reconstructions")
    print(f"  {args[-1]} alone: {reads(models[-1], reader, xs, other, digits)}")
    print(f"  the average of {', '.join(args)}: {reads(averaged(models), reader, xs, other, digits)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
