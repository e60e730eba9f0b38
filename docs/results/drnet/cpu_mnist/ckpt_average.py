"""The digit reader on swaps and reconstructions of the last checkpoint named and, if more than one is named, of
the uniform average of them all (every floating-point tensor of the model, BatchNorm's running statistics
included: Polyak averaging of a trajectory's late checkpoints), on the kit's READ_CLIPS held-out clips or the
first N with --clips=N.
Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/ckpt_average.py data/mmc32 RUN_DIR:CHECKPOINT... [--clips N]
"""
import argparse

import torch

from trainers.eval import data as eval_data, drnet as de, judge as J
from trainers.evaluate import load_run_arg


def averaged(models: list) -> torch.nn.Module:
    """The last model with each floating-point tensor replaced by its mean over all the models."""
    states = [m.state_dict() for m in models]
    mean = {k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
            for k, v in states[-1].items()}
    models[-1].load_state_dict(mean)
    return models[-1]


def reads(model, cfg, reader, clips) -> str:
    scores = de.digit_scores(model, cfg, reader, clips, "cpu", len(clips))
    return f"{scores['swap_digit_acc']:.3f} / {scores['rec_digit_acc']:.3f}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="the dataset (its held-out split is read)")
    p.add_argument("checkpoints", nargs="+", metavar="RUN_DIR:CHECKPOINT")
    p.add_argument("--clips", type=int, default=de.READ_CLIPS, help="held-out clips read (default: %(default)s)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    data, n, args = a.data, a.clips, a.checkpoints
    reader = J.judge_for(data, 32, 3)
    clips = list(eval_data.iter_clips(eval_data.split_shards(data, "test"), n))
    runs = [load_run_arg("drnet", arg) for arg in args]
    cfg, models = runs[-1][1], [run[2].eval() for run in runs]
    print(f"{len(clips)} held-out clips, reader on swaps / reconstructions")
    print(f"  {args[-1]} alone: {reads(models[-1], cfg, reader, clips)}")
    if len(models) > 1:
        print(f"  the average of {', '.join(args)}: {reads(averaged(models), cfg, reader, clips)}")


if __name__ == "__main__":
    main()
