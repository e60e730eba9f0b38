"""Loader benchmark: clips/s and frames/s reading 64×64 Moving MNIST clips, shards/loader.py against baselines.

Every method ends in what a trainer consumes, a batch of float32 frames (B, T, C, H, W) in [0, 1], made
in the worker processes (except the memory limit, which runs in-process):

  memory      the same clips from one in-memory uint8 array, through the loader's own collate (the limit)
  png         one PNG per frame in a folder per clip, PIL open per frame, np.stack, torch DataLoader
              (what most video repositories do)
  wds         plain wds.WebDataset(urls).decode().to_tuple(...).batched(B), then the same conversion
  wds-iter    plain wds.WebDataset(urls).decode(), iterating samples only: no batches, no float
  loader      make_loader(window sampler over all T frames, exact epoch, shuffle buffer 1000)
  loader-u8   the same, as_uint8=True and with_meta=False (the lean path: convert on the GPU)

`--exact` adds the exact epoch's rows (issue 16) instead of the methods: resume latency (a fresh loader,
set_epoch(0, consumed=c), the first batch) at 0%, 50% and 90% of the epoch; the planning memory of
one epoch's order (tracemalloc peak of building it and reading the order of a whole epoch, and the offset
indexes' bytes); and shuffle figures of the global order against the buffer shuffle it replaced (each
rank x worker slot reading its shards in turn through a 1000-clip buffer): distinct shards in a window of
one global batch, and the rank correlation of position in the epoch with position in the dataset.

Each (method, workers) runs --repeats times over the same clips, interleaved (every repeat runs each setting
once, in turn); the table shows the best and the median wall-clock rate (the machine is shared, so the best
is the least disturbed) and the CPU time per clip summed over the process and its workers (the least and the
median of the repeats). Writes bench/results/loader.json.

    .venv/bin/python bench/loader.py                          # every figure
    .venv/bin/python bench/loader.py --workers 0 --repeats 1  # a quick look
    .venv/bin/python bench/loader.py --data data/mm --clips 4000 --batch-size 64

The Moving MNIST shards are made once with `vidshard synth moving-mnist` under --work (kept between runs).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shown(text: str) -> str:
    """A path or command line for a results file: the system's temporary folder written as $TMPDIR, the
    repository as a relative path (no machine's absolute path in committed results)."""
    return str(text).replace(tempfile.gettempdir(), "$TMPDIR").replace(str(ROOT) + "/", "")
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import webdataset as wds  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from shards import iter_samples, load_manifest  # noqa: E402
from shards.loader import Output, make_loader  # noqa: E402
from vidshard.io import save_image  # noqa: E402

MNIST = ROOT.parent / "shared" / "data" / "mnist"
METHODS = ("memory", "png", "wds", "wds-iter", "loader", "loader-u8")


def make_dataset(out: Path, clips: int, frames: int, shard_size: int) -> Path:
    """Moving MNIST shards (all in the train split) via the project's own generator; skipped if present."""
    if not (out / "manifest.json").exists():
        cmd = [sys.executable, "-m", "vidshard", "synth", "moving-mnist", "--out", str(out), "--clips", str(clips),
               "--frames", str(frames), "--seed", "0", "--mnist", str(MNIST), "--split", "1,0,0",
               "--shard-size", str(shard_size)]
        print("making the clips:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return out


def shard_urls(data: Path) -> list[str]:
    manifest = load_manifest(data)
    return [str(data / s["file"]) for s in manifest["shards"] if s["split"] == "train"]


def make_png_folders(urls: list[str], out: Path, clips: int) -> list[Path]:
    """One folder per clip, one PNG per frame (000.png ...); written once, reused."""
    done = out / "done"
    if not done.exists():
        print(f"writing {clips} clips as PNG folders under {out}", flush=True)
        n = 0
        for url in urls:
            for key, frames, _ in iter_samples(url):
                folder = out / key
                folder.mkdir(parents=True, exist_ok=True)
                for t, frame in enumerate(frames):
                    save_image(frame, folder / f"{t:03d}.png")
                n += 1
                if n == clips:
                    break
            if n == clips:
                break
        done.write_text(str(n))
    return sorted(p for p in out.iterdir() if p.is_dir())


class PngClips(Dataset):
    """The usual map-style video dataset: a folder of frame images per clip."""

    def __init__(self, folders: list[Path]):
        self.folders = folders

    def __len__(self):
        return len(self.folders)

    def __getitem__(self, i):
        paths = sorted(self.folders[i].glob("*.png"))
        frames = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
        return {"key": self.folders[i].name, "frames": frames, "frame_idx": np.arange(len(paths)), "meta": None}


def to_float_batch(clips: list[dict]) -> dict:
    return Output().collate(clips)


def wds_to_float(batch):
    frames, metas = batch
    clips = [{"key": "", "frames": f, "frame_idx": np.arange(len(f)), "meta": m} for f, m in zip(frames, metas)]
    return to_float_batch(clips)


def run_method(method: str, workers: int, args, urls: list[str], memory: np.ndarray | None,
               folders: list[Path]) -> tuple[int, int]:
    """(clips, frames) delivered by one pass; the caller times it."""
    kw = dict(num_workers=workers, persistent_workers=False)
    if method == "memory":
        b = args.batch_size
        batches = (to_float_batch([{"key": "", "frames": c, "frame_idx": np.arange(len(c)), "meta": None}
                                   for c in memory[i: i + b]]) for i in range(0, len(memory), b))
    elif method == "png":
        batches = DataLoader(PngClips(folders), batch_size=args.batch_size, collate_fn=to_float_batch, **kw)
    elif method == "wds":
        ds = (wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode()
              .to_tuple("frames.npy", "json").batched(args.batch_size, collation_fn=list_pair).map(wds_to_float))
        batches = wds.WebLoader(ds, batch_size=None, **kw)
    elif method == "wds-iter":
        ds = wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode()
        loader = wds.WebLoader(ds, batch_size=None, **kw)
        n = f = 0
        for sample in loader:
            n, f = n + 1, f + len(sample["frames.npy"])
        return n, f
    else:
        lean = method == "loader-u8"
        batches = make_loader(urls, batch_size=args.batch_size, sampler="window", n_frames=args.frames,
                              resampled=False, shuffle_buffer=1000, num_workers=workers, as_uint8=lean,
                              with_meta=not lean)
    n = f = 0
    for batch in batches:
        n, f = n + batch["frames"].shape[0], f + batch["frames"].shape[0] * batch["frames"].shape[1]
    return n, f


def list_pair(samples):
    """Collation for plain webdataset: keep the (frames, json) pairs as two lists."""
    return [s[0] for s in samples], [s[1] for s in samples]


def cpu_seconds() -> float:
    """CPU time of this process and of its exited children (DataLoader workers): on a shared machine the
    wall-clock rate depends on the neighbours, the CPU cost per clip much less."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "webdataset": metadata.version("webdataset"), "platform": platform.platform()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidshard-bench-loader",
                   help="where the clips and PNG folders are made and kept (default: %(default)s)")
    p.add_argument("--data", type=Path, default=None, help="an existing Moving MNIST dataset dir (default: WORK/mmnist)")
    p.add_argument("--clips", type=int, default=2000, help="clips to make when there is no dataset (default: %(default)s)")
    p.add_argument("--frames", type=int, default=20, help="frames per clip (default: %(default)s)")
    p.add_argument("--shard-size", type=int, default=250, help="clips per shard when making (default: %(default)s)")
    p.add_argument("--png-clips", type=int, default=500,
                   help="clips written as PNG folders (the slow baseline; default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader workers (default: 0 1 2)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="(default: all)")
    p.add_argument("--repeats", type=int, default=3, help="passes per (method, workers) (default: %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loader.json",
                   help="JSON results (default: bench/results/loader.json)")
    p.add_argument("--exact", action="store_true", help="the exact epoch's resume, memory and shuffle rows only")
    p.add_argument("--global-batch", type=int, default=256, help="--exact shuffle window (default: %(default)s)")
    args = p.parse_args(argv)
    if args.exact:
        return exact_rows(args, argv)

    data = args.data or make_dataset(args.work / "mmnist", args.clips, args.frames, args.shard_size)
    urls = shard_urls(data)
    folders = make_png_folders(urls, args.work / "png", args.png_clips) if "png" in args.methods else []
    memory = np.stack([f for u in urls for _, f, _ in iter_samples(u)]) if "memory" in args.methods else None
    print(f"{len(urls)} shards from {data}; batch {args.batch_size}; load average {os.getloadavg()}", flush=True)

    rows, load_before = [], os.getloadavg()
    settings = [(m, w) for m in args.methods for w in ([0] if m == "memory" else args.workers)]
    rates, cpu = {k: [] for k in settings}, {k: [] for k in settings}
    for _ in range(args.repeats):  # interleaved: each repeat runs every setting once, so load drifts hit all alike
        for method, workers in settings:
            c0, t0 = cpu_seconds(), time.perf_counter()
            clips, frames = run_method(method, workers, args, urls, memory, folders)
            dt = time.perf_counter() - t0
            gc.collect()  # the loader's workers exit with it, so their CPU time is counted
            rates[method, workers].append((clips / dt, frames / dt, clips))
            cpu[method, workers].append((cpu_seconds() - c0) / clips * 1000)
    print(f"{'method':<10} {'workers':>7} {'clips/s best':>13} {'median':>8} {'frames/s best':>14} "
          f"{'CPU ms/clip':>12} {'median':>7}")
    for method, workers in settings:
        r, c = rates[method, workers], cpu[method, workers]
        best = max(r)
        row = {"method": method, "workers": workers, "clips": best[2], "clips_per_s": round(best[0], 1),
               "clips_per_s_median": round(statistics.median(x[0] for x in r), 1),
               "frames_per_s": round(best[1], 1), "cpu_ms_per_clip": round(min(c), 3),
               "cpu_ms_per_clip_median": round(statistics.median(c), 3), "repeats": args.repeats}
        rows.append(row)
        print(f"{method:<10} {workers:>7} {row['clips_per_s']:>13.0f} {row['clips_per_s_median']:>8.0f} "
              f"{row['frames_per_s']:>14.0f} {row['cpu_ms_per_clip']:>12.2f} {row['cpu_ms_per_clip_median']:>7.2f}",
              flush=True)

    result = {"benchmark": "loader", "command": shown(" ".join(["python bench/loader.py", *(argv if argv is not None else sys.argv[1:])])),
              "machine": machine(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "data": {"dir": shown(data), "shards": len(urls), "frames": args.frames, "size": "64x64x3",
                       "batch_size": args.batch_size, "png_clips": args.png_clips},
              "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def resume_latency(data, fraction: float, args) -> dict:
    """Wall and CPU seconds from a fresh exact-epoch loader to its first batch at `fraction` of the epoch."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    loader = make_loader(str(data), batch_size=args.batch_size, n_frames=args.frames, resampled=False,
                         as_uint8=True, with_meta=False)
    consumed = int(fraction * sum(loader.plan.counts))
    loader.set_epoch(0, consumed=consumed)
    next(iter(loader))
    return {"fraction": fraction, "consumed": consumed, "seconds": round(time.perf_counter() - t0, 4),
            "cpu_seconds": round(cpu_seconds() - c0, 4)}


def planning_memory(counts: np.ndarray) -> dict:
    """Peak bytes Python allocates to build an epoch's order and map every position of it to (shard, index),
    batch by batch, as the loader does; plus the offset indexes a worker holds once it has read every shard."""
    import tracemalloc
    from shards.order import EpochOrder
    tracemalloc.start()
    order = EpochOrder(counts, seed=0, epoch=0)
    for start in range(0, order.total, 4096):
        order.samples(np.arange(start, min(start + 4096, order.total)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"clips": int(counts.sum()), "shards": len(counts), "order_peak_mb": round(peak / 2**20, 2),
            "offset_indexes_mb": round((counts.sum() + 2 * len(counts)) * 8 / 2**20, 2)}


def buffer_order(counts: np.ndarray, slots: int, batch: int, seed: int = 0) -> np.ndarray:
    """Dataset indices in the order the replaced exact mode read them: shards shuffled and dealt to slots,
    each slot streaming its shards through a seeded 1000-clip buffer; step i = every slot's batch i."""
    import random
    from shards.loader import shuffle_samples
    starts = np.concatenate([[0], np.cumsum(counts)])
    shards = list(range(len(counts)))
    random.Random(seed).shuffle(shards)
    streams = []
    for slot in range(slots):
        ids = (i for s in shards[slot::slots] for i in range(starts[s], starts[s + 1]))
        streams.append(list(shuffle_samples(ids, 1000, random.Random(f"{seed}:{slot}"))))
    steps = max(len(x) for x in streams) // batch + 1
    return np.array([i for k in range(steps) for x in streams for i in x[k * batch:(k + 1) * batch]])


def shuffle_quality(order: np.ndarray, counts: np.ndarray, window: int) -> dict:
    """Distinct shards per window of `window` consecutive clips, and Spearman's rho of epoch position vs
    dataset position (0: no trace of the dataset's order left)."""
    shard_of = np.searchsorted(np.cumsum(counts), order, side="right")
    distinct = [len(np.unique(shard_of[i:i + window])) for i in range(0, len(order) - window + 1, window)]
    ranks = np.argsort(np.argsort(order))
    rho = np.corrcoef(np.arange(len(order)), ranks)[0, 1]
    return {"window": window, "distinct_shards_median": float(np.median(distinct)),
            "distinct_shards_min": int(min(distinct)), "spearman_rho": round(float(rho), 4)}


def exact_rows(args, argv) -> int:
    from shards.order import EpochOrder
    data = args.data or make_dataset(args.work / "mmnist", args.clips, args.frames, args.shard_size)
    counts = np.array([s["samples"] for s in load_manifest(data)["shards"] if s["split"] == "train"])
    resume = [resume_latency(data, f, args) for f in (0.0, 0.5, 0.9) for _ in range(args.repeats)]
    for r in resume:
        print(f"resume at {r['fraction']:.0%} ({r['consumed']} clips): first batch in {r['seconds']:.3f} s "
              f"wall, {r['cpu_seconds']:.3f} s CPU", flush=True)
    memory = [planning_memory(counts), planning_memory(np.full(4000, 250))]  # this set, and 10^6 clips
    print(json.dumps(memory))
    glob = EpochOrder(counts, seed=0, epoch=0)
    quality = {"global": shuffle_quality(glob.dataset_index(np.arange(glob.total)), counts, args.global_batch),
               "buffer": shuffle_quality(buffer_order(counts, 8, args.global_batch // 8), counts, args.global_batch)}
    print(json.dumps(quality))
    out = args.out.with_name("loader-exact.json") if args.out.name == "loader.json" else args.out
    out.write_text(json.dumps({"benchmark": "loader-exact", "command": shown(" ".join(["python bench/loader.py", *(argv or sys.argv[1:])])),
                               "machine": machine(), "data": {"dir": shown(data), "clips": int(counts.sum()),
                               "shards": len(counts), "frames": args.frames, "batch_size": args.batch_size},
                               "resume": resume, "planning_memory": memory, "shuffle": quality}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
