"""Face-tracking benchmark: accuracy and jitter on OTB "Girl", and per-video speed of process_video.

Prints a table and writes bench/results/tracking.json. Not a test (it sweeps settings and times things).
The tracker measured is the one `vidshard prepare` runs (video.FaceTracking, every frame fed as
process_video feeds it: pipelines/faces/evaluate.py); BlazeFace runs once per frame, its answers reused
across the schedules and smoothing strengths of the sweep (the detector is deterministic).

    .venv/bin/python bench/tracking.py                      # everything
    .venv/bin/python bench/tracking.py --no-videos          # tracking quality only (keeps the speed rows)
    .venv/bin/python bench/tracking.py --smooth 0 0.5 1 2 4 # other smoothing strengths
    .venv/bin/python bench/tracking.py --schedules ../shared/data/faces ../shared/data/videos
                                    # detection schedules on real videos (writes tracking_schedules.json)

--schedules: every video processed with the default config, once with detection on every frame (the
reference), once per schedule (fixed every 4th frame; the default, every 8th while faces hold still); for
each schedule the detector calls and the error of its smoothed boxes against the reference's raw
detections on the frames both cover (max of the centre distance and |log size ratio|, in face sizes).

Definitions (pipelines/faces/evaluate.py): lengths are in units of the ground-truth box size; centre
error = mean centre distance to the annotated head; "debiased" first removes each track's median
face-vs-head offset; jitter = mean |second difference| of (centre x, centre y, size) over consecutive
frames. Smoothed figures are taken on the frames (and triples) that had a raw detection; "_all" also
counts frames the splines filled.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipelines.faces.config import FaceConfig  # noqa: E402
from pipelines.faces.evaluate import OTB_CONFIG, OtbSequence  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
VIDEOS = [("talking_head_man.mp4", "short"), ("head_turns_glasses.mp4", "short"),
          ("foreman_face_leaves.mp4", "short"), ("crowd_1080p.mp4", "full")]
KEYS = ("centre_error_raw", "centre_error_smoothed", "centre_error_smoothed_all", "centre_error_debiased_raw",
        "centre_error_debiased_smoothed", "jitter_raw", "jitter_smoothed", "jitter_smoothed_all", "detected_frames",
        "covered_frames", "detect_frames", "target_tracks", "identity_splits")


# (detect_every, detect_retry, detect_steady): (4, None, 8) is the default; (4, None, 4) its fixed schedule
SCHEDULES = [(1, None, 1), (2, None, 2), (4, None, 4), (4, 1, 4), (4, None, 8)]


def quality(seq: Path, smooths: list[float], identity: float | None = None) -> list[dict]:
    """Metrics per detection schedule and smoothing strength, each a run of the pipeline's tracker over
    the sequence (identity: the appearance-split threshold, default the pipeline's)."""
    girl = OtbSequence(seq)
    base = OTB_CONFIG if identity is None else replace(OTB_CONFIG, identity=identity)
    rows = []
    for every, retry, steady in SCHEDULES:
        for s in smooths:
            m = girl.evaluate(replace(base, detect_every=every, detect_retry=retry, detect_steady=steady, smooth=s))
            rows.append({"detect_every": every, "detect_retry": retry, "detect_steady": steady, "smooth": s,
                         **{k: m[k] for k in KEYS},
                         "jitter_groundtruth": m["jitter_groundtruth"]})
    return rows


def speed(videos_dir: Path) -> list[dict]:
    from pipelines.faces.detect import FaceDetector
    from pipelines.faces.video import process_video
    rows = []
    for detector in ("short", "full"):  # build the detectors first: a one-off cost, reported apart
        t0 = time.perf_counter()
        FaceDetector(detector)
        rows.append({"model_load": detector, "seconds": round(time.perf_counter() - t0, 2),
                     "note": "0 when the OTB runs above already built it (one detector per process)"})
    for name, detector in VIDEOS[:1] + VIDEOS[-1:]:   # first-call costs (XNNPACK set-up) outside the timing
        sum(1 for _ in process_video(videos_dir / name, "warm-up", FaceConfig(detector=detector)))
    for name, detector in VIDEOS:
        stats = {}
        t0, c0 = time.perf_counter(), time.process_time()
        n = sum(1 for _ in process_video(videos_dir / name, "bench", FaceConfig(detector=detector), stats=stats))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append({"video": name, "detector": detector, "frames": stats["frames"],
                     "size": f"{stats['width']}x{stats['height']}", "tracks": stats["tracks"], "clips": n,
                     "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2), "frames_per_s": round(stats["frames"] / dt, 1),
                     "cpu_ms_per_frame": round(1000 * cpu / stats["frames"], 2),
                     "detect_s": stats["detect_s"]})
    return rows


def box_error(box, ref) -> float:
    """Distance of a box (x, y, w, h) from a reference box in units of the reference's size: the larger of
    the centre distance and |log size ratio|."""
    size = float(np.sqrt(ref[2] * ref[3]))
    centre = np.hypot(box[0] + box[2] / 2 - ref[0] - ref[2] / 2, box[1] + box[3] / 2 - ref[1] - ref[3] / 2)
    return max(float(centre) / size, abs(float(np.log(np.sqrt(box[2] * box[3]) / size))))


def error_summary(errors: list[float]) -> dict:
    e = np.array(errors)
    return {"frames": len(e), "error_mean": round(float(e.mean()), 4),
            "error_p95": round(float(np.percentile(e, 95)), 4), "error_p99": round(float(np.percentile(e, 99)), 4),
            "error_max": round(float(e.max()), 4)}


def schedules(folders: list[Path]) -> dict:
    """Detector calls and box error against detection on every frame, per schedule, over every video."""
    from pipelines.faces.video import process_video
    from tqdm import tqdm
    plans = {"every frame": FaceConfig(detect_every=1, detect_steady=1), "fixed 4": FaceConfig(detect_steady=4),
             "default": FaceConfig()}
    calls = {name: 0 for name in plans}
    errors: dict[str, list[float]] = {name: [] for name in plans if name != "every frame"}
    videos = sorted(v for f in folders for v in f.glob("*.mp4"))
    for path in tqdm(videos, desc="schedules", unit="video"):
        ref: dict[int, list] = {}
        for name, cfg in plans.items():
            stats: dict = {}
            for _, _, meta in process_video(path, "bench", cfg, stats=stats):
                pairs = zip(meta["frame_indices"], meta["boxes_raw" if name == "every frame" else "boxes_smoothed"])
                if name == "every frame":
                    ref.update((t, b) for t, b in pairs if b is not None)
                else:
                    errors[name].extend(box_error(b, ref[t]) for t, b in pairs if t in ref)
            calls[name] += stats["detect_frames"]
    rows = {name: {"detector_calls": calls[name], **(error_summary(errors[name]) if name in errors else {})}
            for name in plans}
    return {"videos": len(videos), "folders": [str(f) for f in folders], "schedules": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA, help="shared data root (default ../shared/data)")
    p.add_argument("--smooth", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0, 4.0],
                   help="smoothing strengths to sweep (default: 0 0.5 1 1.5 2 4; 0 = no smoothing)")
    p.add_argument("--identity", type=float, help="appearance-split threshold (default: the pipeline's, "
                   f"{FaceConfig().identity}; 0 turns identity splits off)")
    p.add_argument("--no-videos", action="store_true", help="skip the per-video speed runs (the results file "
                   "keeps the ones it has)")
    p.add_argument("--schedules", type=Path, nargs="+", metavar="FOLDER",
                   help="instead: detection schedules against detection on every frame on these folders' videos")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tracking.json")
    args = p.parse_args(argv)
    if args.schedules:
        result = schedules(args.schedules)
        for name, r in result["schedules"].items():
            print(f"{name:<12} {r['detector_calls']:>6} calls" + ("" if "frames" not in r else
                  f"  box error (face sizes) on {r['frames']} frames: mean {r['error_mean']:.4f}, p95 "
                  f"{r['error_p95']:.4f}, p99 {r['error_p99']:.4f}, max {r['error_max']:.3f}"))
        out = args.out.with_name("tracking_schedules.json") if args.out.name == "tracking.json" else args.out
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")
        return 0
    seq = args.data / "tracking" / "otb_girl"
    if not seq.is_dir():
        print(f"bench/tracking.py: {seq} is missing (see ../shared/data/SOURCES.md)", file=sys.stderr)
        return 2
    rows = quality(seq, args.smooth, args.identity)
    print(f"OTB Girl ({rows[0]['detected_frames']} of 500 frames detected at detect_every=1); lengths in box sizes")
    print(f"{'every':>5} {'retry':>5} {'steady':>6} {'smooth':>6} {'err raw':>8} {'err sm':>8} {'err all':>8} {'deb raw':>8} "
          f"{'deb sm':>8} {'jit raw':>8} {'jit sm':>8} {'ratio':>6} {'jit all':>8} {'covered':>7} {'calls':>5} "
          f"{'tracks':>6} {'splits':>6}")
    for r in rows:
        jr = r["jitter_raw"]
        ratio = r["jitter_smoothed"] / jr if jr == jr and jr > 0 else float("nan")
        print(f"{r['detect_every']:>5} {str(r['detect_retry'] or '-'):>5} {r['detect_steady']:>6} {r['smooth']:>6.2f} "
              f"{r['centre_error_raw']:>8.4f} {r['centre_error_smoothed']:>8.4f} {r['centre_error_smoothed_all']:>8.4f} "
              f"{r['centre_error_debiased_raw']:>8.4f} {r['centre_error_debiased_smoothed']:>8.4f} "
              f"{jr:>8.4f} {r['jitter_smoothed']:>8.4f} {ratio:>6.3f} {r['jitter_smoothed_all']:>8.4f} "
              f"{r['covered_frames']:>7} {r['detect_frames']:>5} {r['target_tracks']:>6} {r['identity_splits']:>6}")
    print(f"ground-truth annotation jitter: {rows[0]['jitter_groundtruth']:.4f}")
    config = OTB_CONFIG if args.identity is None else replace(OTB_CONFIG, identity=args.identity)
    result = {"otb_girl": rows, "config": config.to_dict(),
              "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()}}
    if args.no_videos and args.out.is_file():
        kept = json.loads(args.out.read_text()).get("videos")
        if kept:
            result["videos"] = kept
    if not args.no_videos:
        result["videos"] = speed(args.data / "videos")
        for v in result["videos"]:
            if "model_load" in v:
                print(f"model load ({v['model_load']}): {v['seconds']:.2f} s")
                continue
            print(f"{v['video']:<26} {v['detector']:<5} {v['size']:>9} {v['frames']:>4} frames {v['tracks']} tracks "
                  f"{v['clips']:>2} clips {v['seconds']:>6.2f} s ({v['cpu_seconds']:.2f} s CPU) {v['frames_per_s']:>6.1f} frames/s, {v['cpu_ms_per_frame']:.2f} CPU ms/frame")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, allow_nan=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
