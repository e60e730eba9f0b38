"""Learning curves: evaluation metrics against training steps, from runs' metrics.jsonl.

    python -m trainers.eval.curves runs/drnet-a runs/drnet-b --metrics probe_digits/content_acc \\
        probe_digits/pose_acc swap_mse --out curves.png

Each run directory's metrics.jsonl holds one {"step", "eval": {...}} record per evaluation (`vidshard train
--eval-every N`); nested results are flattened with "/" (probe_digits/content_acc). One panel per metric,
one line per run, labelled with the run directory's name (or --labels). A metric a run never logged is
left out of its panel. Also prints the table of values.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def eval_records(run_dir: str | Path) -> list[tuple[int, dict]]:
    """(step, flattened eval metrics) of every evaluation a run logged, in step order."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.jsonl (not a run directory of `vidshard train`)")
    out = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "eval" in record:
            out[int(record["step"])] = record["eval"]  # a resumed run may log a step again: keep the last
    return sorted(out.items())


def plot(runs: dict[str, list[tuple[int, dict]]], metrics: list[str], path: str | Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), dpi=100, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, records in runs.items():
            pts = [(s, e[metric]) for s, e in records if metric in e]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=label)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainers.eval.curves", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories of `vidshard train` (with --eval-every)")
    p.add_argument("--metrics", nargs="+", required=True, help="eval keys to plot (nested ones as a/b)")
    p.add_argument("--labels", nargs="+", help="one label per run (default: the directory names)")
    p.add_argument("--out", help="PNG to write (default: print the table only)")
    args = p.parse_args(argv)
    labels = args.labels or [Path(r).name for r in args.runs]
    if len(labels) != len(args.runs):
        p.error(f"--labels: {len(labels)} labels for {len(args.runs)} runs")
    try:
        runs = {label: eval_records(r) for label, r in zip(labels, args.runs)}
    except FileNotFoundError as e:
        print(f"curves: {e}", file=sys.stderr)
        return 2
    for label, records in runs.items():
        for step, e in records:
            cells = "  ".join(f"{m}={e[m]:.4g}" for m in args.metrics if isinstance(e.get(m), (int, float)))
            print(f"{label}  step {step}  {cells}")
    if args.out:
        plot(runs, args.metrics, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
