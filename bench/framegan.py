"""FrameGAN stage 1 on CPU: the K = 48 discriminators as one batched network against the looped reference.

Both variants are `trainers.models.framegan.Model` (batched=True / batched=False) with the same config and
the same initial weights, timed through the harness's Context on one resident batch of 64 real
bouncing-ball frames (`pipelines.synthetic.balls`), so a step is exactly what `vidshard train` runs:
one update of every discriminator, then one of G_F. The looped reference is K discriminator modules with
K optimisers, run one after another (one forward on real + fake, one backward, one step each), as the
reference code does. Steps alternate batched / looped in rounds and the medians are reported, so a
neighbour's load on this shared machine hits both alike. One torch thread by default (on a CPU that other
jobs share, more threads are slower; docs/TRAINING.md).

Widths: `cpu` is the cpu-frames preset (the CPU runs' widths), `paper` the paper's (G_F 1024-1024-512-256,
D 256-512-1024: about 0.5 G discriminator weights, 6 GB with gradients and optimiser state, and minutes a
step on one core, so it runs one variant at a time with fewer steps).

    python bench/framegan.py                                   # writes bench/results/framegan.json
    python bench/framegan.py --widths cpu --rounds 9
    python bench/framegan.py --widths paper --paper-rounds 1 --out framegan.json
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.synthetic import balls  # noqa: E402
from trainers import harness  # noqa: E402
from trainers.runconfig import build_config  # noqa: E402
from trainers.eval.data import write_json  # noqa: E402
from trainers.models import framegan  # noqa: E402

PRESETS = {"cpu": "cpu-frames", "paper": "frames"}


def ball_frames(n: int, seed: int = 0) -> torch.Tensor:
    """n real frames (one per simulated clip, a random time), as the loader gives them: (n, 1, 1, 30, 30)."""
    rng = np.random.default_rng(seed)
    opts = {"n_balls": 1, "res": 30, "box": balls.BOX, "radius": balls.RADIUS}
    frames = [balls.render(balls.sample(rng, 30, opts))[rng.integers(30)] for _ in range(n)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)[:, None].float() / 255


def build(cfg, batched: bool) -> framegan.Model:
    torch.manual_seed(0)  # the same initial weights for both variants
    return framegan.Model(replace(cfg, batched=batched))


def timed_step(model, batch, ctx, step: int) -> float:
    t0 = time.perf_counter()
    model.training_step(batch, step, ctx)
    return (time.perf_counter() - t0) * 1000


def bench_interleaved(cfg, batch, ctx, rounds: int, warmup: int) -> dict:
    """Both models alive; per round one batched step, then one looped step."""
    models = {"batched": build(cfg, True), "looped": build(cfg, False)}
    times = {name: [] for name in models}
    for i in range(warmup + rounds):
        for name, model in models.items():
            ms = timed_step(model, batch, ctx, i)
            if i >= warmup:
                times[name].append(ms)
    return times


def bench_sequential(cfg, batch, ctx, rounds: int, warmup: int) -> dict:
    """One model at a time (the paper's widths do not fit twice in memory comfortably)."""
    times = {}
    for name, batched in (("batched", True), ("looped", False)):
        model = build(cfg, batched)
        times[name] = [timed_step(model, batch, ctx, i) for i in range(warmup + rounds)][warmup:]
        del model
        gc.collect()
    return times


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average_1min": os.getloadavg()[0]}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="cpu,paper", help="cpu, paper or both (default cpu,paper)")
    p.add_argument("--k", type=int, default=48, help="discriminators (default 48, the paper's)")
    p.add_argument("--batch", type=int, default=64, help="frames per step (default 64, the paper's)")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds at the cpu widths (default 7)")
    p.add_argument("--paper-rounds", type=int, default=1, help="timed steps per variant at the paper's widths (default 1)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2; the first step builds "
                   "the convolution primitives)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "framegan.json"),
                   help="JSON results (default bench/results/framegan.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ctx = harness.Context(torch.device("cpu"), harness.Dist(), seed=0)
    batch = {"frames": ball_frames(args.batch), "key": [str(i) for i in range(args.batch)]}
    results = {"machine": machine(), "k": args.k, "batch": args.batch, "threads": args.threads, "widths": {}}
    for name in args.widths.split(","):
        cfg = replace(build_config(framegan, "framegan", PRESETS[name], []), n_disc=args.k,
                      batch_size=args.batch)
        fields = {k: v for k, v in asdict(cfg).items() if k in ("gf_widths", "d_widths", "n_disc", "batch_size",
                                                                   "optimizer")}
        print(f"== {name} widths ({PRESETS[name]}): {fields}, {args.threads} thread(s)", flush=True)
        if name == "paper":
            times = bench_sequential(cfg, batch, ctx, args.paper_rounds, 1)
        else:
            times = bench_interleaved(cfg, batch, ctx, args.rounds, args.warmup)
        row = {"config": fields, "ms_per_step": {k: statistics.median(v) for k, v in times.items()},
               "all_ms": {k: [round(x, 1) for x in v] for k, v in times.items()}}
        row["speedup"] = row["ms_per_step"]["looped"] / row["ms_per_step"]["batched"]
        results["widths"][name] = row
        print(f"  batched {row['ms_per_step']['batched']:9.1f} ms/step   looped {row['ms_per_step']['looped']:9.1f} "
              f"ms/step   batched is {row['speedup']:.2f}x faster", flush=True)
    results["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(results, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
