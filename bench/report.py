"""The report page at scale: `vidshard report` on a generated dataset of 10^5 clips (docs/BENCHMARKS.md).

    python bench/report.py [--clips 100000] [--out DIR]

make_dataset() writes what `vidshard prepare` would leave for that many clips (manifest.json and every
shard's stats file with its clip and track tables: 12 candidate clips a source, one in 12 dropped, 16
sources a shard), but real tars only with the clips the report will open (its thumbnail sample and the
clips of the tracks it plots): the page's cost does not depend on the others. Thumbnail frames are crops
of a real face (skimage's astronaut) moving and changing brightness, so they compress like real clips.
Measures the page's size, the time to build it and Chromium's load time (navigation start to the end of
the load event, headless, this machine); writes bench/results/report.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

PER_SOURCE, PER_SHARD = 12, 16


def make_dataset(root: Path, clips: int = 100_000, seed: int = 0) -> dict:
    """Write a generated face dataset of `clips` candidate clips to root; returns its manifest."""
    from pipelines import report as R
    from shards import ShardWriter
    from vidshard.io import atomic_write_json
    from skimage import data
    import cv2
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    face = data.astronaut()[0:260, 90:350]
    n_sources = clips // PER_SOURCE
    stats, sources_all = [], []
    for s0 in range(0, n_sources, PER_SHARD):
        name = f"train-{s0 // PER_SHARD:06d}"
        srcs, rows, tracks, cuts = [], [], [], {}
        for s in range(s0, min(s0 + PER_SHARD, n_sources)):
            sid = f"{s:016x}"
            rejected = {}
            for c in range(PER_SOURCE):
                reasons = [] if (s * PER_SOURCE + c) % 12 else [["face_check"], ["coverage"], ["small"]][s % 3]
                if reasons:
                    rejected[reasons[0]] = rejected.get(reasons[0], 0) + 1
                rows.append({"source": sid, "key": f"{sid}_t{c // 6}_c{c % 6}", "frames": [c * 16, c * 16 + 15],
                             "reasons": reasons, "quality": {
                                 "face_px": round(float(rng.lognormal(5, 0.5)), 1), "face_px_min": 30.0,
                                 "sharpness": round(float(rng.lognormal(7, 0.6)), 1), "contrast": 30.0,
                                 "brightness": 110.0, "attempts": 4, "coverage": round(float(rng.uniform(0.3, 1)), 3),
                                 "score_mean": 0.9, "score_min": 0.85, "padded": 0.0, "face_check": 1.0}})
            tracks += [{"source": sid, "track": t, "frames": [t * 96, t * 96 + 95], "end": "end", "candidates": 6}
                       for t in range(2)]
            cuts[sid] = [96]
            written = PER_SOURCE - sum(rejected.values())
            srcs.append({"id": sid, "path": f"/data/raw/video_{s:06d}.mp4", "sha256": sid * 4, "status": "ok",
                         "frames": 192, "clips": written, "candidates": PER_SOURCE, "rejected": rejected,
                         "tracks": 2, "scene_cuts": 1, "identity_splits": 0, "detections": 48})
        stats.append({"shard": name, "samples": sum(s["clips"] for s in srcs), "sources": srcs, "failures": [],
                      "clip_table": rows, "track_table": tracks, "cut_frames": cuts})
        sources_all += [{**s, "shard": name, "split": "train"} for s in srcs]
    # the tars: only the clips the report opens
    sample = R.sample_clips(stats, R.THUMBS)
    plotted = []
    for shard, key in sample:
        src, _, rest = key.rpartition("_t")
        if (shard, src, rest.split("_c")[0]) not in plotted and len(plotted) < R.TRACK_PLOTS:
            plotted.append((shard, src, rest.split("_c")[0]))
    for st in stats:
        want = {k for s, k in sample if s == st["shard"]}
        want |= {r["key"] for r in st["clip_table"] if not r["reasons"]
                 and any(s == st["shard"] and r["key"].startswith(f"{src}_t{t}_c") for s, src, t in plotted)}
        with ShardWriter(root, st["shard"]) as w:
            for r in st["clip_table"]:
                if r["key"] in want:
                    dx, dy, g = rng.integers(-20, 20), rng.integers(-20, 20), rng.uniform(0.6, 1.3)
                    frames = np.stack([cv2.resize(np.clip(face[30 + dy + i:230 + dy + i, 30 + dx:230 + dx] * g, 0, 255)
                                                  .astype(np.uint8), (64, 64), interpolation=cv2.INTER_AREA)
                                       for i in range(16)])
                    b = [100.0, 100.0, 120.0, 120.0]
                    w.add(r["key"], frames, {"source_id": r["source"], "source_path": "", "track": 0, "clip": 0,
                                             "frame_indices": list(range(r["frames"][0], r["frames"][1] + 1)),
                                             "fps": 25.0, "boxes_raw": [b if i % 4 == 0 else None for i in range(16)],
                                             "boxes_smoothed": [b] * 16, "scores": [0.9] * 16, "outliers": [],
                                             "padding": [[0, 0, 0, 0]] * 16, "detect_attempts": [0, 4, 8, 12],
                                             "quality": r["quality"]})
        st.update(bytes=w.stats["bytes"], sha256=w.stats["sha256"])
        atomic_write_json(root / f"{st['shard']}.stats.json", {**w.stats, **{k: st[k] for k in (
            "samples", "sources", "failures", "clip_table", "track_table", "cut_frames")}})
    shards = [{"name": st["shard"], "file": f"{st['shard']}.tar", "split": "train", "sha256": st["sha256"],
               "samples": st["samples"], "bytes": st["bytes"]} for st in stats]
    written = sum(st["samples"] for st in stats)
    manifest = {"format_version": 1, "name": "generated", "version": "0" * 16, "parent": None,
                "config": {"pipeline": "faces", "face": {"detector": "short"}}, "software": {},
                "sources": sources_all, "failures": [], "shards": shards,
                "splits": {"train": {"shards": [s["name"] for s in shards], "samples": written}},
                "totals": {"shards": len(shards), "samples": written, "bytes": sum(s["bytes"] for s in shards),
                           "failures": 0}}
    atomic_write_json(root / "manifest.json", manifest)
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=100_000)
    p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "vidshard_report_bench"))
    args = p.parse_args(argv)
    from pipelines.report import build, check_page
    root = Path(args.out) / "data"
    t0 = time.time()
    make_dataset(root, args.clips)
    t1 = time.time()
    page = build(root)
    t2 = time.time()
    html = Path(args.out) / "report.html"
    html.write_text(page, encoding="utf-8")
    loads = [check_page(html) for _ in range(3)]
    out = {"clips": args.clips, "generate_s": round(t1 - t0, 2), "build_s": round(t2 - t1, 2),
           "page_mib": round(html.stat().st_size / 2**20, 2),
           "chromium_load_ms": [round(r["load_ms"]) for r in loads], "console_errors": loads[0]["errors"]}
    print(json.dumps(out))
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "report.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
