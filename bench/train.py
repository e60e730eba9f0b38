"""Training throughput of a model's presets: the loader alone, the training step alone, and `vidshard train`.

For each preset of --model (drnet by default: tiny, mnist, faces; vsgan: cpu_sprites, cpu_faces, faces), on
the machine it runs on:
  loader     make_loader(...) with the preset's loader_kwargs, 0 and more workers: batches/s, clips/s
             (after the first batch, so worker start-up is not counted)
  step       Model.training_step on one batch already on the device, through the harness's Context
             (warm-up steps first): ms/step, steps/s, samples/s. On CPU: fp32. On CUDA: fp32+TF32 (against
             the model's MODELS.md anchor, ANCHORS below), then bf16 autocast, channels_last and
             torch.compile each on alone, then all three together.
  harness    `vidshard train` itself with its defaults (bf16 on CUDA; loader workers feeding the model,
             logging, buffer sync): steps/s over the second half of a short run, so start-up is excluded.

The data are clips of moving squares written with shards.ShardWriter at each preset's size (throughput
does not depend on what the pixels show: frames are stored as raw .npy); --data uses a real dataset.

    python bench/train.py                                    # writes bench/results/train.json
    python bench/train.py --model vsgan --threads 1          # writes bench/results/train-vsgan.json
    python bench/train.py --presets mnist --steps 50 --device cuda --workers 0,4,8
    python bench/train.py --presets tiny --no-harness --out train.json
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shards import ShardWriter, make_key, shard_name, write_manifest  # noqa: E402
from trainers import harness  # noqa: E402
from trainers.runconfig import build_config  # noqa: E402
from trainers.models import load_model_module  # noqa: E402

# MODELS.md's GPU anchors (fp32 + TF32, eager, H100): the preset whose sizes they match, ms/step, what
ANCHORS = {"drnet": ("mnist", 20.7, "64x64, nf 64, c 128, p 10, batch 100 (MODELS.md B)"),
           "vsgan": ("faces", 9.8, "64x64, width 64, 128 sets x 3 frames (MODELS.md A)")}
DEFAULT_PRESETS = {"drnet": "tiny,mnist,faces", "vsgan": "cpu_sprites,cpu_faces,faces"}


def make_data(root: Path, size: int, channels: int, clips: int, frames: int = 20, per_shard: int = 100) -> Path:
    """Moving squares, `clips` training clips of `frames` frames, in shards of `per_shard`."""
    rng = np.random.default_rng(0)
    names = [shard_name("train", i) for i in range((clips + per_shard - 1) // per_shard)]
    for i, name in enumerate(names):
        with ShardWriter(root, name) as w:
            for c in range(i * per_shard, min(clips, (i + 1) * per_shard)):
                clip = np.zeros((frames, size, size, channels), np.uint8)
                side = size // 4
                (x, y), (vx, vy) = rng.integers(0, size - side, 2), rng.integers(-3, 4, 2)
                colour = rng.integers(64, 256, channels)
                for t in range(frames):
                    clip[t, y:y + side, x:x + side] = colour
                    x, y = int(np.clip(x + vx, 0, size - side)), int(np.clip(y + vy, 0, size - side))
                sid = f"bench{c}"
                w.add(make_key(sid, 0, 0), clip, {"source_id": sid, "source_path": "bench", "track": 0, "clip": 0,
                                                  "frame_indices": list(range(frames)), "fps": 10})
    write_manifest(root, name="bench-train", config={"size": size, "channels": channels, "clips": clips},
                   shard_splits={"train": names})
    return root


def bench_loader(data: str, module, cfg, workers: int, batches: int) -> dict:
    from shards.loader import make_loader
    loader = make_loader(data, split="train", num_workers=workers, seed=0, **module.loader_kwargs(cfg))
    it = iter(loader)
    next(it)  # worker start-up and the first shard open are not throughput
    t0 = time.perf_counter()
    n = clips = 0
    for batch in it:
        n, clips = n + 1, clips + len(batch["key"])
        if n >= batches:
            break
    seconds = time.perf_counter() - t0
    del it, loader  # stop the workers before the next measurement
    gc.collect()
    return {"workers": workers, "batches": n, "batches_per_s": n / seconds, "samples_per_s": clips / seconds}


def first_batch(data: str, module, cfg, device) -> dict:
    from shards.loader import make_loader
    batch = next(iter(make_loader(data, split="train", num_workers=0, seed=0, **module.loader_kwargs(cfg))))
    batch["frames"] = batch["frames"].to(device)
    return batch


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_step(module, cfg, batch: dict, device, variant: dict, steps: int, warmup: int) -> dict:
    """Time training_step on one resident batch: the model's compute, without data loading."""
    harness.seed_all(0)
    model = harness.speed_up(module.Model(cfg).to(device), channels_last=variant["channels_last"],
                             compile=variant["compile"])
    model.train()
    ctx = harness.Context(device, harness.Dist(), seed=0, amp=variant["amp"])
    for i in range(warmup):  # includes torch.compile's compilation
        model.training_step(batch, i, ctx)
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):  # steps return device tensors: nothing waits for the GPU until the sync below
        logs = model.training_step(batch, warmup + i, ctx)
    sync(device)
    ms = (time.perf_counter() - t0) / steps * 1000
    b = batch["frames"].shape[0]
    return {**variant, "ms_per_step": ms, "steps_per_s": 1000 / ms, "samples_per_s": b * 1000 / ms,
            "last_losses": {k: float(v) for k, v in logs.items()}}


def variants(device) -> list[dict]:
    base = {"amp": False, "channels_last": False, "compile": False}
    if device.type != "cuda":
        return [{"name": "fp32", **base}]
    return [{"name": "fp32+tf32", **base},
            {"name": "bf16", **base, "amp": True},
            {"name": "channels_last", **base, "channels_last": True},
            {"name": "compile", **base, "compile": True},
            {"name": "bf16+channels_last+compile", "amp": True, "channels_last": True, "compile": True}]


def bench_harness(model: str, data: str, preset: str, device, steps: int, workers: int, run_dir: Path) -> dict:
    """`vidshard train` for 2*steps steps; the rate of the second `steps` (logged by the harness)."""
    from trainers.train import main as train_main
    argv = [model, "--data", data, "--preset", preset, "--run-dir", str(run_dir), "--steps", str(2 * steps),
            "--log-every", str(steps), "--ckpt-every", "0", "--sample-every", "0", "--workers", str(workers),
            "--device", device.type, "--no-progress"]
    if train_main(argv) != 0:
        raise RuntimeError(f"vidshard train {' '.join(argv)} failed")
    last = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    amp = json.loads((run_dir / "config.json").read_text())["amp"]  # the harness default: bf16 on CUDA
    return {"workers": workers, "steps": steps, "amp": amp, "steps_per_s": last["steps_per_s"], "samples_per_s": last["samples_per_s"],
            "ms_per_step": 1000 / last["steps_per_s"]}


def machine(device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": device.type,
            "load_average_1min": os.getloadavg()[0]}  # this machine is shared: a busy neighbour slows everything
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="drnet", choices=sorted(DEFAULT_PRESETS), help="the model (default drnet)")
    p.add_argument("--presets", help="the model's presets, comma-separated (default: " +
                   "; ".join(f"{m} {v}" for m, v in DEFAULT_PRESETS.items()) + ")")
    p.add_argument("--data", help="a real dataset dir to load instead of generated squares (must match each preset's size)")
    p.add_argument("--clips", type=int, default=600, help="generated training clips per preset (default 600)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if available)")
    p.add_argument("--steps", type=int, help="timed steps per variant (default: 5 on CPU, 50 on CUDA)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default: 2 on CPU, 10 on CUDA; compile needs them)")
    p.add_argument("--workers", default=None, help="loader worker counts, comma-separated (default: 0,2 on CPU; 0,4,8 on CUDA)")
    p.add_argument("--loader-batches", type=int, default=30, help="batches timed per loader setting (default 30)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice). On a CPU shared with other "
                   "jobs use 1: OpenMP threads that wait on a descheduled sibling make 2 threads much slower than 1")
    p.add_argument("--no-harness", action="store_true", help="skip the end-to-end `vidshard train` measurement")
    p.add_argument("--out", help="JSON results (default bench/results/train.json for drnet, train-MODEL.json otherwise)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = harness.pick_device(args.device, 0)
    on_gpu = device.type == "cuda"
    if on_gpu:
        harness.enable_tf32()
    steps = args.steps or (50 if on_gpu else 5)
    warmup = args.warmup if args.warmup is not None else (10 if on_gpu else 2)
    workers = [int(w) for w in (args.workers or ("0,4,8" if on_gpu else "0,2")).split(",")]
    module = load_model_module(args.model)
    anchor_preset, anchor_ms, anchor_what = ANCHORS[args.model]
    results = {"machine": machine(device), "model": args.model,
               "anchor": {"preset": anchor_preset, "device": "H100", "ms_per_step": anchor_ms,
                          "what": f"fp32+TF32 eager re-implementation, {anchor_what}"},
               "presets": {}}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for preset in (args.presets or DEFAULT_PRESETS[args.model]).split(","):
            cfg = build_config(module, args.model, preset, [])
            data = args.data or str(make_data(Path(tmp) / preset, cfg.image_size, cfg.channels, args.clips))
            row = {"config": dataclasses.asdict(cfg)}
            print(f"== {args.model}/{preset}: {row['config']}", flush=True)
            row["loader"] = []
            for w in workers:
                r = bench_loader(data, module, cfg, w, args.loader_batches)
                row["loader"].append(r)
                print(f"  loader  workers={w}: {r['batches_per_s']:8.1f} batches/s  {r['samples_per_s']:9.0f} clips/s", flush=True)
            batch = first_batch(data, module, cfg, device)
            row["step"] = []
            for v in variants(device):
                r = bench_step(module, cfg, batch, device, v, steps, warmup)
                row["step"].append(r)
                print(f"  step    {v['name']:<28} {r['ms_per_step']:8.1f} ms/step  {r['steps_per_s']:6.2f} steps/s  "
                      f"{r['samples_per_s']:8.0f} samples/s", flush=True)
            if not args.no_harness:
                w = max(workers)
                r = bench_harness(args.model, data, preset, device, steps, w, Path(tmp) / f"run-{preset}")
                row["harness"] = r
                print(f"  harness vidshard train workers={w}: {r['ms_per_step']:8.1f} ms/step  {r['steps_per_s']:6.2f} steps/s  "
                      f"{r['samples_per_s']:8.0f} samples/s", flush=True)
            results["presets"][preset] = row
    if anchor_preset in results["presets"] and on_gpu:
        ms = results["presets"][anchor_preset]["step"][0]["ms_per_step"]
        results["anchor"]["ours_ms_per_step"] = ms
        print(f"anchor: {anchor_preset} fp32+tf32 {ms:.1f} ms/step vs {anchor_ms} ms/step in MODELS.md")
    args.out = args.out or str(ROOT / "bench" / "results" / ("train.json" if args.model == "drnet" else f"train-{args.model}.json"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
