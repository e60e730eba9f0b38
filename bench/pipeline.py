"""Face pipeline throughput: vidshard prepare against ffmpeg's decode rate and the naive loop.

On the same videos, in one run, as frames of source video per second of wall time:
  ffmpeg      `ffmpeg -threads 1 -i X -f null -`: single-thread decode, the limit for one core
  naive       what most repositories do: decode every frame at full resolution (decord, one thread),
              run BlazeFace on every full frame, crop the best box to 64x64; no tracking, no smoothing
  vidshard    `vidshard prepare` with 1 and 2 workers, defaults (detector every 2nd frame on a copy
              at most 640 px, tracks, splines, crops), Ray already started and workers warm (a warm-up
              run first): the steady-state rate of a long job. The cold end-to-end wall time of one
              CLI run (Ray start, imports, model load included) is reported beside it.

    python bench/pipeline.py                                  # ../shared/data/videos, writes bench/results/pipeline.json
    python bench/pipeline.py --videos DIR --repeat 3 --out /tmp/pipeline.json

Targets (docs/BENCHMARKS.md): vidshard >= 2x naive, and per worker >= half of ffmpeg's one-thread rate.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def frame_counts(videos: list[Path]) -> dict[str, int]:
    import decord
    return {v.name: len(decord.VideoReader(str(v), ctx=decord.cpu(0))) for v in videos}


def best_of(repeat: int, fn) -> float:
    """Median seconds of `repeat` calls (the machine is shared: the median resists a busy neighbour)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ffmpeg_decode(videos: list[Path]) -> None:
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    for v in videos:
        subprocess.run([exe, "-nostdin", "-loglevel", "error", "-threads", "1", "-i", str(v), "-f", "null", "-"],
                       check=True)


def naive_loop(videos: list[Path], size: int = 64) -> int:
    """Decode every frame at full resolution, detect on every frame, crop the best face. Returns crops."""
    import decord
    from PIL import Image
    from pipelines.faces.detect import FaceDetector
    det = FaceDetector("short", 0.5)
    crops = 0
    for v in videos:
        reader = decord.VideoReader(str(v), ctx=decord.cpu(0), num_threads=1)
        for t in range(len(reader)):
            frame = reader[t].asnumpy()
            faces = det.detect(t, frame)
            if not faces:
                continue
            f = max(faces, key=lambda d: d.score)
            side = 1.6 * max(f.w, f.h)
            box = (f.cx - side / 2, f.cy - side / 2, f.cx + side / 2, f.cy + side / 2)
            np.asarray(Image.fromarray(frame).crop(tuple(int(round(b)) for b in box)).resize((size, size)))
            crops += 1
    return crops


def vidshard_run(videos_dir: Path, out: Path, workers: int, extra=()) -> int:
    from pipelines import prepare
    rc = prepare.main(["--input", str(videos_dir), "--out", str(out), "--workers", str(workers), "--overwrite",
                       "--no-progress", *extra])
    if rc not in (prepare.EXIT_OK, prepare.EXIT_INPUT_FAILED):
        raise SystemExit(f"vidshard prepare failed with exit status {rc}")
    return rc


def warm_vidshard(videos_dir: Path, tmp: Path, workers: int, repeat: int) -> float:
    """Median seconds of `vidshard prepare` on a Ray of `workers` CPUs whose workers are already warm."""
    import ray
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        vidshard_run(videos_dir, tmp / f"warm{workers}", workers)  # start the workers, import, load the model
        return best_of(repeat, lambda: vidshard_run(videos_dir, tmp / f"w{workers}", workers))
    finally:
        ray.shutdown()


def cold_run(videos_dir: Path, out: Path, workers: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vidshard", "prepare", "--input", str(videos_dir), "--out", str(out),
                    "--workers", str(workers), "--overwrite", "--no-progress"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/pipeline.py", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder of videos (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per method; the median is kept (default: %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json",
                   help="JSON results (default: %(default)s)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold end-to-end CLI run")
    args = p.parse_args(argv)
    videos = sorted(v for v in args.videos.iterdir() if v.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm"))
    if not videos:
        p.error(f"{args.videos}: no videos")
    counts = frame_counts(videos)
    frames = sum(counts.values())
    print(f"{len(videos)} videos, {frames} frames: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    t_ffmpeg = best_of(args.repeat, lambda: ffmpeg_decode(videos))
    print(f"ffmpeg -threads 1 decode : {frames / t_ffmpeg:8.1f} frames/s")
    naive_loop(videos[:1])  # load the model and import mediapipe outside the timing
    t_naive = best_of(args.repeat, lambda: naive_loop(videos))
    print(f"naive loop               : {frames / t_naive:8.1f} frames/s")

    from pipelines.faces.model import face_model_path
    face_model_path("short")
    with tempfile.TemporaryDirectory(prefix="vidshard-bench-") as tmp:
        t1 = warm_vidshard(args.videos, Path(tmp), 1, args.repeat)
        t2 = warm_vidshard(args.videos, Path(tmp), 2, args.repeat)
        cold = None if args.no_cold else cold_run(args.videos, Path(tmp) / "cold", 2)
    fps = {"ffmpeg_fps": frames / t_ffmpeg, "naive_fps": frames / t_naive,
           "vidshard_fps_1worker": frames / t1, "vidshard_fps_2workers": frames / t2}
    print(f"vidshard prepare 1 worker : {fps['vidshard_fps_1worker']:8.1f} frames/s  "
          f"({fps['vidshard_fps_1worker'] / fps['naive_fps']:.2f}x naive, "
          f"{fps['vidshard_fps_1worker'] / fps['ffmpeg_fps']:.2f}x ffmpeg one thread)")
    print(f"vidshard prepare 2 workers: {fps['vidshard_fps_2workers']:8.1f} frames/s  "
          f"({fps['vidshard_fps_2workers'] / fps['naive_fps']:.2f}x naive, "
          f"{fps['vidshard_fps_2workers'] / (2 * fps['ffmpeg_fps']):.2f}x ffmpeg per core)")
    if cold is not None:
        print(f"cold CLI run, 2 workers  : {cold:8.1f} s wall (Ray start, imports and model load included)")
    result = {**{k: round(v, 1) for k, v in fps.items()},
              "ratio_1worker_to_naive": round(fps["vidshard_fps_1worker"] / fps["naive_fps"], 2),
              "ratio_1worker_to_ffmpeg": round(fps["vidshard_fps_1worker"] / fps["ffmpeg_fps"], 2),
              "ratio_2workers_to_naive": round(fps["vidshard_fps_2workers"] / fps["naive_fps"], 2),
              "ratio_2workers_to_ffmpeg_per_core": round(fps["vidshard_fps_2workers"] / (2 * fps["ffmpeg_fps"]), 2),
              "cold_cli_seconds_2workers": None if cold is None else round(cold, 1),
              "videos": counts, "frames": frames, "repeat": args.repeat,
              "load_average_1min_at_end": round(__import__("os").getloadavg()[0], 2),
              "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
