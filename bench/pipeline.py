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
import os
import platform
import resource
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


def best_of(repeat: int, fn) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds) of `repeat` calls; fn returns the CPU seconds it used.

    The machine may be shared: the median resists a busy neighbour, and CPU seconds barely depend on it."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cpus.append(fn())
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), statistics.median(cpus)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ffmpeg_decode(videos: list[Path]) -> float:
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    cpu0 = children_cpu()
    for v in videos:
        subprocess.run([exe, "-nostdin", "-loglevel", "error", "-threads", "1", "-i", str(v), "-f", "null", "-"],
                       check=True)
    return children_cpu() - cpu0


def naive_loop(videos: list[Path], size: int = 64) -> float:
    """Decode every frame at full resolution, detect on every frame, crop the best face. Returns CPU s."""
    import decord
    from PIL import Image
    from pipelines.faces.detect import FaceDetector
    det = FaceDetector("short", 0.5)
    cpu0 = time.process_time()
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
    return time.process_time() - cpu0


def vidshard_run(videos_dir: Path, out: Path, workers: int, extra=()) -> float:
    """One `vidshard prepare` run; returns the CPU seconds its video tasks used (from the shard stats)."""
    from pipelines import prepare
    rc = prepare.main(["--input", str(videos_dir), "--out", str(out), "--workers", str(workers), "--overwrite",
                       "--no-progress", *extra])
    if rc not in (prepare.EXIT_OK, prepare.EXIT_INPUT_FAILED):
        raise SystemExit(f"vidshard prepare failed with exit status {rc}")
    stats = [json.loads(p.read_text()) for p in out.glob("*.stats.json")]
    return sum(v.get("cpu_seconds", 0.0) for st in stats for v in st.get("videos", []))


def warm_vidshard(videos_dir: Path, tmp: Path, workers: int, repeat: int, extra=()) -> tuple[float, float]:
    """Median seconds of `vidshard prepare` on a Ray of `workers` CPUs whose workers are already warm."""
    import ray
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        vidshard_run(videos_dir, tmp / f"warm{workers}", workers, extra)  # start the workers, import, load the model
        return best_of(repeat, lambda: vidshard_run(videos_dir, tmp / f"w{workers}", workers, extra))
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
    p.add_argument("--detect-every", type=int, help="passed to vidshard prepare (default: the pipeline's default)")
    args = p.parse_args(argv)
    extra = () if args.detect_every is None else ("--detect-every", str(args.detect_every))
    videos = sorted(v for v in args.videos.iterdir() if v.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm"))
    if not videos:
        p.error(f"{args.videos}: no videos")
    counts = frame_counts(videos)
    frames = sum(counts.values())
    print(f"{len(videos)} videos, {frames} frames: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    t_ffmpeg, c_ffmpeg = best_of(args.repeat, lambda: ffmpeg_decode(videos))
    naive_loop(videos[:1])  # load the model and import mediapipe outside the timing
    t_naive, c_naive = best_of(args.repeat, lambda: naive_loop(videos))
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.model import face_model_path
    face_model_path("short")
    with tempfile.TemporaryDirectory(prefix="vidshard-bench-") as tmp:
        t1, c1 = warm_vidshard(args.videos, Path(tmp), 1, args.repeat, extra)
        t2, c2 = warm_vidshard(args.videos, Path(tmp), 2, args.repeat, extra)
        cold = None if args.no_cold else cold_run(args.videos, Path(tmp) / "cold", 2)
    fps = {"ffmpeg_fps": frames / t_ffmpeg, "naive_fps": frames / t_naive,
           "vidshard_fps_1worker": frames / t1, "vidshard_fps_2workers": frames / t2}
    cpu_ms = {"ffmpeg": c_ffmpeg, "naive": c_naive, "vidshard_1worker": c1, "vidshard_2workers": c2}
    cpu_ms = {k: 1000 * v / frames for k, v in cpu_ms.items()}
    rows = [("ffmpeg -threads 1 decode", "ffmpeg_fps", "ffmpeg"), ("naive loop", "naive_fps", "naive"),
            ("vidshard prepare, 1 worker", "vidshard_fps_1worker", "vidshard_1worker"),
            ("vidshard prepare, 2 workers", "vidshard_fps_2workers", "vidshard_2workers")]
    print(f"{'':28s} {'frames/s':>9s} {'x naive':>8s} {'x ffmpeg/core':>14s} {'CPU ms/frame':>13s}")
    for label, key, ck in rows:
        cores = 2 if key.endswith("2workers") else 1
        print(f"{label:28s} {fps[key]:9.1f} {fps[key] / fps['naive_fps']:8.2f} "
              f"{fps[key] / (cores * fps['ffmpeg_fps']):14.2f} {cpu_ms[ck]:13.2f}")
    if cold is not None:
        print(f"cold CLI run, 2 workers: {cold:.1f} s wall (Ray start, imports and model load included)")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    result = {**{k: round(v, 1) for k, v in fps.items()},
              "ratio_1worker_to_naive": round(fps["vidshard_fps_1worker"] / fps["naive_fps"], 2),
              "ratio_1worker_to_ffmpeg": round(fps["vidshard_fps_1worker"] / fps["ffmpeg_fps"], 2),
              "ratio_2workers_to_naive": round(fps["vidshard_fps_2workers"] / fps["naive_fps"], 2),
              "ratio_2workers_to_ffmpeg_per_core": round(fps["vidshard_fps_2workers"] / (2 * fps["ffmpeg_fps"]), 2),
              "cpu_ms_per_frame": {k: round(v, 2) for k, v in cpu_ms.items()},
              "cold_cli_seconds_2workers": None if cold is None else round(cold, 1),
              "detect_every": args.detect_every or FaceConfig().detect_every,
              "videos": counts, "frames": frames, "repeat": args.repeat,
              "load_average_1min_at_end": round(load, 2),
              "machine": machine()}
    write_result(args.out, result)
    return 0


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def write_result(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
