"""Peak memory of a `vidshard prepare` worker on a 1-minute and a 10-minute 720p video.

Both videos are the astronaut demo (pipelines/demo_video.py: a real face under a smooth pan/zoom, so
every frame yields a crop) rendered at 1280x720, 25 fps, with the imageio-ffmpeg binary; they are cached
in --work. Each is run through `python -m vidshard prepare --workers 1` in a fresh process (a fresh local
Ray), and while it runs every process of that run is sampled with psutil; we report the peak RSS of the
Ray worker processes (the ones decoding, detecting and cropping), of the driver, and the worker's own
ru_maxrss that the job records per video in the shard stats. The claim to check: peak RSS per worker does
not grow with video length (the decoder holds one chunk of frames; clips stream to disk).

    python bench/memory.py                          # writes bench/results/memory.json
    python bench/memory.py --minutes 1 3 --work memory-work
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def make_video(path: Path, minutes: float) -> Path:
    if path.exists() and path.with_suffix(".json").exists():
        return path
    from pipelines.demo_video import write_demo
    t0 = time.time()
    write_demo(path, seconds=60 * minutes, fps=25, width=1280, height=720, preset="ultrafast", crf=23,
               progress=sys.stderr.isatty())
    print(f"rendered {path.name} in {time.time() - t0:.0f} s")
    return path


class TreeSampler(threading.Thread):
    """Samples the RSS of every process in a session (the driver and all it started) every `period` s."""

    def __init__(self, session_pid: int, period: float = 0.1):
        super().__init__(daemon=True)
        self.sid, self.period = os.getsid(session_pid), period
        self.peak: dict[str, float] = {"worker": 0.0, "driver": 0.0, "other": 0.0}
        self.driver_pid = session_pid
        self.stop = threading.Event()

    def classify(self, p: psutil.Process) -> str:
        if p.pid == self.driver_pid:
            return "driver"
        name = " ".join(p.cmdline()[:2])
        return "worker" if ("ray::" in name or "default_worker.py" in name) else "other"

    def run(self):
        while not self.stop.is_set():
            for p in psutil.process_iter(["pid"]):
                try:
                    if os.getsid(p.pid) != self.sid:
                        continue
                    kind = self.classify(p)
                    self.peak[kind] = max(self.peak[kind], p.memory_info().rss / 2 ** 20)
                except (psutil.Error, ProcessLookupError, PermissionError):
                    continue
            time.sleep(self.period)


def measure(video: Path, out: Path) -> dict:
    cmd = [sys.executable, "-m", "vidshard", "prepare", "--input", str(video), "--out", str(out), "--workers", "1",
           "--overwrite", "--no-progress"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    log = proc.communicate()[0]
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"vidshard prepare failed on {video} (exit {proc.returncode}):\n{log[-2000:]}")
    stats = json.loads(next(out.glob("*.stats.json")).read_text())
    source = stats["sources"][0]
    return {"video": video.name, "frames": source["frames"], "clips": source["clips"],
            "seconds": round(time.time() - t0, 1),
            "peak_rss_mb_worker_sampled": round(sampler.peak["worker"], 1),
            "peak_rss_mb_worker_maxrss": stats["videos"][0]["peak_rss_mb"],
            "peak_rss_mb_driver": round(sampler.peak["driver"], 1),
            "peak_rss_mb_ray_services": round(sampler.peak["other"], 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/memory.py", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10], help="video lengths (default: 1 10)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidshard-bench-memory",
                   help="where the videos are rendered and cached (default: %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.json",
                   help="JSON results (default: %(default)s)")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in args.minutes:
        video = make_video(args.work / f"astronaut_720p_{minutes:g}min.mp4", minutes)
        with tempfile.TemporaryDirectory(prefix="vidshard-mem-", dir=args.work) as tmp:
            row = {"minutes": minutes, **measure(video, Path(tmp) / "faces")}
        rows.append(row)
        print(f"{minutes:5g} min 720p: {row['frames']:6d} frames, {row['clips']:5d} clips, {row['seconds']:6.1f} s; "
              f"peak RSS worker {row['peak_rss_mb_worker_sampled']:.0f} MiB sampled / "
              f"{row['peak_rss_mb_worker_maxrss']:.0f} MiB maxrss, driver {row['peak_rss_mb_driver']:.0f} MiB")
    growth = rows[-1]["peak_rss_mb_worker_maxrss"] - rows[0]["peak_rss_mb_worker_maxrss"]
    print(f"worker peak RSS change from {rows[0]['minutes']:g} to {rows[-1]['minutes']:g} min: {growth:+.0f} MiB")
    from pipeline import machine, write_result  # bench/pipeline.py, beside this script
    write_result(args.out, {"runs": rows, "worker_peak_growth_mb": round(growth, 1), "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
