"""Face pipeline throughput: vidshard prepare against ffmpeg's decode rate and the naive loop.

On the same videos, in one run, as frames of source video per second of wall time:
  ffmpeg      `ffmpeg -threads 1 -i X -f null -`: single-thread decode, the limit for one core
  naive       what most repositories do: decode every frame at full resolution (decord, one thread),
              run BlazeFace on every full frame, crop the best box to 64x64; no tracking, no smoothing
  vidshard    `vidshard prepare` with 1 and 2 workers, defaults (detector every 4th frame on a copy
              at most 256 px, tracks, splines, crops), Ray already started and workers warm (a warm-up
              run first): the steady-state rate of a long job.
The methods take turns within each repeat (the median of --repeat runs is kept), so that drift in the
machine's speed does not land on one of them. CPU ms per frame counts every thread (mediapipe's too). The cold end-to-end wall time of one
              CLI run (Ray start, imports, model load included) is reported beside it.

    python bench/pipeline.py                                  # ../shared/data/videos, writes bench/results/pipeline.json
    python bench/pipeline.py --videos DIR --repeat 3 --out pipeline.json

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


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def copies(videos: list[Path], out: Path, n: int) -> list[Path]:
    """n copies of each video (remuxed, frames untouched, a comment tag making each file's bytes, and so
    its vidshard id, distinct): a job long enough that per-run costs (Ray scheduling, hashing, manifest)
    do not hide the per-frame rate, on the same footage."""
    import imageio_ffmpeg
    out.mkdir(parents=True)
    made = []
    for k in range(n):
        for v in videos:
            dst = out / f"{v.stem}-copy{k}{v.suffix}"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(v),
                            "-map", "0", "-c", "copy", "-metadata", f"comment=vidshard-bench-copy-{k}", str(dst)],
                           check=True)
            made.append(dst)
    return made


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


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call; fn returns the CPU seconds it used."""
    t0 = time.perf_counter()
    cpu = fn()
    return time.perf_counter() - t0, cpu


def interleaved(repeat: int, methods: dict) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per method, the methods taking turns within each repeat.

    This machine's speed drifts by 10-20% over minutes (a shared VM): running every repeat of one method
    before the next would put that drift into the ratios; taking turns spreads it over all of them."""
    runs = {name: [] for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            runs[name].append(timed(fn))
    return {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for name, r in runs.items()}


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
    p.add_argument("--copies", type=int, default=3,
                   help="copies of each video in the timed input (a longer job; default: %(default)s)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold end-to-end CLI run")
    p.add_argument("--detect-every", type=int, help="passed to vidshard prepare (default: the pipeline's default)")
    args = p.parse_args(argv)
    extra = () if args.detect_every is None else ("--detect-every", str(args.detect_every))
    videos = sorted(v for v in args.videos.iterdir() if v.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm"))
    if not videos:
        p.error(f"{args.videos}: no videos")
    counts = frame_counts(videos)
    print(f"{len(videos)} videos, {sum(counts.values())} frames: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    import ray
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.model import face_model_path
    naive_loop(videos[:1])  # load the model and import mediapipe outside the timing
    face_model_path("short")
    with tempfile.TemporaryDirectory(prefix="vidshard-bench-") as tmp:
        tmp = Path(tmp)
        inputs = copies(videos, tmp / "inputs", args.copies)
        frames = args.copies * sum(counts.values())
        print(f"timed input: {args.copies} copies of each, {len(inputs)} videos, {frames} frames")
        # One local Ray of 2 CPUs; --workers caps how many videos run at once. Idle workers are kept: in
        # a long job they never idle, but here the other methods' turns would idle them long enough for
        # Ray to kill the one above its pool size, and each run would pay a worker's cold start (imports
        # and model load) inside one video's figures.
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 _system_config={"kill_idle_workers_interval_ms": 0})
        try:
            vidshard_run(tmp / "inputs", tmp / "warm", 2, extra)  # start the workers, import, load the model
            res = interleaved(args.repeat, {
                "ffmpeg": lambda: ffmpeg_decode(inputs),
                "naive": lambda: naive_loop(inputs),
                "vidshard_1worker": lambda: vidshard_run(tmp / "inputs", tmp / "w1", 1, extra),
                "vidshard_2workers": lambda: vidshard_run(tmp / "inputs", tmp / "w2", 2, extra)})
        finally:
            ray.shutdown()
        cold = None if args.no_cold else cold_run(args.videos, tmp / "cold", 2)
    (t_ffmpeg, c_ffmpeg), (t_naive, c_naive) = res["ffmpeg"], res["naive"]
    (t1, c1), (t2, c2) = res["vidshard_1worker"], res["vidshard_2workers"]
    fps = {"ffmpeg_fps": frames / t_ffmpeg, "naive_fps": frames / t_naive,
           "vidshard_fps_1worker": frames / t1, "vidshard_fps_2workers": frames / t2}
    cpu_ms = {"ffmpeg": c_ffmpeg, "naive": c_naive, "vidshard_1worker": c1, "vidshard_2workers": c2}
    cpu_ms = {k: 1000 * v / frames for k, v in cpu_ms.items()}
    rows = [("ffmpeg -threads 1 decode", "ffmpeg_fps", "ffmpeg"), ("naive loop", "naive_fps", "naive"),
            ("vidshard prepare, 1 worker", "vidshard_fps_1worker", "vidshard_1worker"),
            ("vidshard prepare, 2 workers", "vidshard_fps_2workers", "vidshard_2workers")]
    # by CPU: frames per CPU-second, against the naive loop's and ffmpeg's (a core's worth of work)
    cpu_x = {ck: (cpu_ms["naive"] / cpu_ms[ck], cpu_ms["ffmpeg"] / cpu_ms[ck]) for _, _, ck in rows}
    print(f"{'':28s} {'frames/s':>9s} {'x naive':>8s} {'x ffmpeg/core':>14s} {'CPU ms/frame':>13s} "
          f"{'by CPU: x naive':>16s} {'x ffmpeg':>9s}")
    for label, key, ck in rows:
        cores = 2 if key.endswith("2workers") else 1
        print(f"{label:28s} {fps[key]:9.1f} {fps[key] / fps['naive_fps']:8.2f} "
              f"{fps[key] / (cores * fps['ffmpeg_fps']):14.2f} {cpu_ms[ck]:13.2f} {cpu_x[ck][0]:16.2f} {cpu_x[ck][1]:9.2f}")
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
              "cpu_ratio_to_naive": {k: round(v[0], 2) for k, v in cpu_x.items() if k.startswith("vidshard")},
              "cpu_ratio_to_ffmpeg": {k: round(v[1], 2) for k, v in cpu_x.items() if k.startswith("vidshard")},
              "cold_cli_seconds_2workers": None if cold is None else round(cold, 1),
              "detect_every": args.detect_every or FaceConfig().detect_interval(),
              "videos": counts, "copies": args.copies, "frames": frames, "repeat": args.repeat,
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
