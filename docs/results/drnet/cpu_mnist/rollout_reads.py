"""The digit reader on rolled-out frames, step by step, for several DrNet predictor evaluations.

    python docs/results/drnet/cpu_mnist/rollout_reads.py --out rollout_reads.png LABEL=DIR/eval.json ...

Reads each eval.json's `rollout_digit_acc` (one figure per predicted step) and prints, per evaluation, the
mean over steps 1-30 (with its range) and over 31-100, the leading steps at >= 0.8 (`rollout_digit_steps`,
issue 17's criterion), how many of the steps read >= 0.8 at all, and the motion against real clips'; with
--out, plots the per-step reads beside the 0.8 line.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

TARGET = 0.8


def summary(label: str, res: dict) -> str:
    a = np.asarray(res["rollout_digit_acc"])
    return (f"{label}: {res['steps']} predictor steps; steps 1-30 {a[:30].mean():.3f} ({a[:30].min():.3f}-"
            f"{a[:30].max():.3f}), 31-100 {a[30:].mean():.3f}; leading steps >= {TARGET}: {res['rollout_digit_steps']}, "
            f"steps >= {TARGET}: {int((a >= TARGET).sum())} of {len(a)}; motion {res['rollout_motion']:.2f} px a step "
            f"({100 * res['rollout_motion'] / res['motion_real']:.0f} % of real); swaps {res['swap_digit_acc']:.3f}")


def plot(results: dict[str, dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    for label, res in results.items():
        a = res["rollout_digit_acc"]
        ax.plot(range(1, len(a) + 1), a, label=label, lw=1)
    ax.axhline(TARGET, color="k", ls="--", lw=0.8)
    ax.axvline(30, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("rollout step")
    ax.set_ylabel("reader on rolled-out frames")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("evals", nargs="+", metavar="LABEL=EVAL_JSON")
    p.add_argument("--out", help="PNG to write")
    args = p.parse_args(argv)
    results = {}
    for item in args.evals:
        label, sep, path = item.partition("=")
        if not sep:
            p.error(f"{item!r}: expected LABEL=EVAL_JSON")
        with open(path) as f:
            results[label] = json.load(f)
    for label, res in results.items():
        print(summary(label, res))
    if args.out:
        plot(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
