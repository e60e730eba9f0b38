"""Face pipeline speed: `vidshard prepare` against ffmpeg's decode and the naive loop, on the real corpus.

On the same videos, in one run, the methods taking turns within each repeat (the median of --repeat runs is
kept, so that drift in the machine's speed does not land on one of them):
  ffmpeg      `ffmpeg -threads 1 -i X -f null -`, one process per video: single-thread decode, the limit
  decode      the pipeline's own decode of every frame (PyAV, one thread, the decoder's planes), in this
              process: the part of a video task that no face work can remove
  naive       what most repositories do: decode every frame at full resolution (decord, one thread), run
              BlazeFace through mediapipe's Tasks API on every full frame, crop the best box to 64x64; no
              tracking, no smoothing
  vidshard    one cold `vidshard prepare` command, defaults (quality gates and identity checks on), as a user
              runs it: Ray started by the command, workers started and models loaded inside the run.
CPU is counted over the whole machine's share of each method: ffmpeg's processes; the naive loop's process
(mediapipe's threads included); for vidshard every process of the run -- the command, Ray's own processes
and its workers -- sampled with psutil every 0.1 s, and apart from it the video tasks' own figure (each
task's CPU, from the shard stats). The fixed cost is the wall time from the command to the first video
starting in a worker. Per size class (longest side: <= 256, 257-844, 845-1280, > 1280) the CPU per frame of
ffmpeg, the pipeline's decode, the naive loop and the video tasks. Last, the floor under the whole-run target:
a third of the naive loop's CPU, less the decode and less what the run spends beyond its video tasks (Ray's
processes and the command), is what that target leaves for all the face work, beside what it costs now.

    python bench/pipeline.py                                   # the corpus ../shared/data/faces
    python bench/pipeline.py --videos ../shared/data/videos --copies 3 --out bench/results/pipeline-four.json
    python bench/pipeline.py --detector-calls                  # BlazeFace: the Tasks API against LiteRT
    python bench/pipeline.py --layers                          # one process, plain Ray tasks, prepare
    python bench/pipeline.py --executor local --out bench/results/pipeline-local.json   # prepare without Ray
    py-spy record --rate 250 --format raw -o small.raw -- python bench/pipeline.py --in-process --size-class "<= 256"
    python bench/pipeline.py --spy-table small.raw             # that sampled profile by stage

Targets (issue 15, docs/BENCHMARKS.md "Face pipeline"): the whole run's CPU <= 1/3 of the naive loop's, the
video tasks >= 0.5 of ffmpeg's one-thread rate per core, fixed cost <= 8 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = ROOT.parent / "shared" / "data" / "faces"
SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
CLASSES = ((256, "<= 256"), (844, "257-844"), (1280, "845-1280 (720p)"), (10 ** 9, "> 1280 (1080p)"))


def size_class(width: int, height: int) -> str:
    return next(name for top, name in CLASSES if max(width, height) <= top)


def probe(videos: list[Path]) -> dict[str, dict]:
    """Frames (decoded, not the container's count) and size of each video."""
    import av
    out = {}
    for v in videos:
        with av.open(str(v)) as f:
            s = f.streams.video[0]
            out[v.name] = {"frames": sum(1 for _ in f.demux(s) if _.size), "width": s.codec_context.width,
                           "height": s.codec_context.height}
    return out


def copies(videos: list[Path], out: Path, n: int) -> list[Path]:
    """n copies of each video (remuxed, frames untouched, a comment tag making each file's bytes, and so its
    vidshard id, distinct): a longer job on the same footage (the four-video table)."""
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


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ffmpeg_decode(videos: list[Path]) -> dict[str, float]:
    """CPU seconds of `ffmpeg -threads 1` decoding each video (its process, start-up included)."""
    import imageio_ffmpeg
    exe, out = imageio_ffmpeg.get_ffmpeg_exe(), {}
    for v in videos:
        cpu0 = children_cpu()
        subprocess.run([exe, "-nostdin", "-loglevel", "error", "-threads", "1", "-i", str(v), "-f", "null", "-"],
                       check=True)
        out[v.name] = children_cpu() - cpu0
    return out


def pyav_decode(videos: list[Path], info: dict[str, dict]) -> dict[str, float]:
    """CPU s of the pipeline's decode of every frame of each video (decode.stream_pictures: PyAV on one
    thread, the decoder's planes, nothing converted), in this process."""
    import numpy as np
    from pipelines.faces.decode import stream_pictures
    out = {}
    for v in videos:
        cpu0 = time.process_time()
        for _ in stream_pictures(v, np.arange(info[v.name]["frames"]), warnings=[]):
            pass
        out[v.name] = time.process_time() - cpu0
    return out


class TasksApiDetector:
    """BlazeFace through mediapipe's Tasks API (IMAGE mode), the way most code calls it: the naive loop's
    detector, and the reference pipelines/faces/blazeface.py is checked against (tests/test_blazeface.py).
    `detect(rgb)` has BlazeFace.detect's contract: (x, y, w, h) pixel boxes, keypoints in [0, 1], scores."""

    def __init__(self, detector: str = "short", min_score: float = 0.5):
        from mediapipe.tasks.python import BaseOptions, vision
        from pipelines.faces.model import face_model_path
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(face_model_path(detector, None))),
            running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_score)
        self.detector = vision.FaceDetector.create_from_options(options)

    def detect(self, rgb):
        import mediapipe as mp
        import numpy as np
        res = self.detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        found = sorted(res.detections, key=lambda d: -d.categories[0].score)
        boxes = [[d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width, d.bounding_box.height]
                 for d in found]
        return (np.float32(boxes).reshape(-1, 4), np.float32([[(k.x, k.y) for k in d.keypoints] for d in found]),
                np.float32([d.categories[0].score for d in found]))

    def close(self) -> None:
        self.detector.close()


def naive_loop(videos: list[Path], detector=None, size: int = 64) -> dict[str, float]:
    """Decode every frame at full resolution, detect on every frame, crop the best face: CPU s per video."""
    import decord
    import numpy as np
    from PIL import Image
    det = detector or TasksApiDetector()
    out = {}
    for v in videos:
        cpu0 = time.process_time()
        reader = decord.VideoReader(str(v), ctx=decord.cpu(0), num_threads=1)
        for t in range(len(reader)):
            frame = reader[t].asnumpy()
            boxes, _, scores = det.detect(frame)
            if not len(scores):
                continue
            x, y, w, h = boxes[int(np.argmax(scores))]
            cx, cy, side = x + w / 2, y + h / 2, 1.6 * max(w, h)
            box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
            np.asarray(Image.fromarray(frame).crop(tuple(int(round(b)) for b in box)).resize((size, size)))
        out[v.name] = time.process_time() - cpu0
    return out


class TreeCPU:
    """CPU seconds (user + system, all threads) of a process and all its descendants, sampled every
    `every` seconds: each process's last sample counts (one that lives less than a sample is missed)."""

    def __init__(self, pid: int, every: float = 0.1):
        import psutil
        self.root, self.every, self.last, self.done = psutil.Process(pid), every, {}, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        import psutil
        while not self.done.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    t = p.cpu_times()
                    self.last[(p.pid, p.create_time())] = (p.name(), t.user + t.system)
                except psutil.Error:
                    pass
            self.done.wait(self.every)

    def stop(self) -> dict[str, float]:
        """CPU seconds by kind of process: the command itself, Ray's workers (its tasks and actors: Ray
        renames a worker after the task it runs, ray::...), Ray's services (gcs_server, raylet, agents)."""
        self.done.set()
        self.thread.join()
        out = {"command": 0.0, "ray workers": 0.0, "ray services": 0.0}
        for (pid, _), (name, cpu) in self.last.items():
            kind = ("command" if pid == self.root.pid else "ray services" if not name.startswith("ray::")
                    or name.endswith("Agent") else "ray workers")
            out[kind] += cpu
        return out


def vidshard_run(videos_dir: Path, work: Path, workers: int | None, executor: str = "ray") -> dict:
    """One cold `vidshard prepare --executor EXECUTOR` command into a fresh folder under `work` (nothing to
    reuse): wall, whole-run CPU (by process), the tasks' CPU per video, the fixed cost (command to the first
    video starting)."""
    work.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="run-", dir=work)) / "out"
    cmd = [sys.executable, "-m", "vidshard", "prepare", "--input", str(videos_dir), "--out", str(out),
           "--no-progress", "--executor", executor] + ([] if workers is None else ["--workers", str(workers)])
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tree = TreeCPU(proc.pid)
    _, err = proc.communicate()
    wall = time.time() - t0
    by_name = tree.stop()
    if executor == "local":   # no Ray: every process but the command is the pool's
        by_name = {"command": by_name["command"], "pool workers": sum(by_name.values()) - by_name["command"]}
    if proc.returncode not in (0, 3):
        raise SystemExit(f"vidshard prepare failed with exit status {proc.returncode}:\n{err[-2000:]}")
    tasks, sources = {}, {}
    for p in out.glob("*.stats.json"):
        st = json.loads(p.read_text())
        tasks.update({v["id"]: v for v in st.get("videos", [])})
        sources.update({s["id"]: Path(s["path"]).name for s in st.get("sources", [])})
    shutil.rmtree(out.parent)
    return {"wall": wall, "cpu": sum(by_name.values()), "cpu_by_process": by_name,
            "task_cpu": {sources[i]: v["cpu_seconds"] for i, v in tasks.items()},
            "fixed": min(v["started"] for v in tasks.values()) - t0}


def interleaved(repeat: int, methods: dict) -> dict[str, list]:
    """Each method's result per repeat, the methods taking turns within each repeat: this machine's speed
    drifts by 10-20% over minutes (a shared VM), which would otherwise land on one method."""
    runs: dict[str, list] = {name: [] for name in methods}
    for r in range(repeat):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            res = fn()
            runs[name].append((time.perf_counter() - t0, res))
            print(f"  repeat {r + 1}/{repeat}: {name} {time.perf_counter() - t0:.1f} s", flush=True)
    return runs


def median_by_video(results: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def per_class(info: dict[str, dict], cpu: dict[str, float]) -> dict[str, dict]:
    """Frames and CPU ms a frame per size class."""
    out: dict[str, dict] = {}
    for name, sec in cpu.items():
        i = info[name]
        c = out.setdefault(size_class(i["width"], i["height"]), {"videos": 0, "frames": 0, "cpu": 0.0})
        c["videos"] += 1
        c["frames"] += i["frames"]
        c["cpu"] += sec
    return {k: {"videos": v["videos"], "frames": v["frames"], "cpu_ms_per_frame": round(1000 * v["cpu"] / v["frames"], 3)}
            for k, v in sorted(out.items(), key=lambda kv: [n for _, n in CLASSES].index(kv[0]))}


def report(info: dict, runs: dict, workers: int) -> dict:
    frames = sum(i["frames"] for i in info.values())
    ff = median_by_video([r for _, r in runs["ffmpeg"]])
    nv = median_by_video([r for _, r in runs["naive"]])
    dec = median_by_video([r for _, r in runs["decode"]])
    vs = runs["vidshard"]
    tasks = median_by_video([r["task_cpu"] for _, r in vs])
    ms = lambda sec: 1000 * sec / frames  # noqa: E731
    f_ms, n_ms, t_ms, d_ms = ms(sum(ff.values())), ms(sum(nv.values())), ms(sum(tasks.values())), ms(sum(dec.values()))
    run_ms = ms(statistics.median(r["cpu"] for _, r in vs))
    beyond = ms(statistics.median(r["cpu"] - sum(r["task_cpu"].values()) for _, r in vs))
    wall = {"ffmpeg": statistics.median(w for w, _ in runs["ffmpeg"]),
            "naive": statistics.median(w for w, _ in runs["naive"]),
            "vidshard": statistics.median(r["wall"] for _, r in vs)}
    fixed = statistics.median(r["fixed"] for _, r in vs)
    by_process = median_by_video([r["cpu_by_process"] for _, r in vs])
    classes = {"ffmpeg": per_class(info, ff), "decode": per_class(info, dec), "naive": per_class(info, nv),
               "vidshard_tasks": per_class(info, tasks)}
    for name, c in classes["vidshard_tasks"].items():
        c["x_ffmpeg"] = round(classes["ffmpeg"][name]["cpu_ms_per_frame"] / c["cpu_ms_per_frame"], 2)
        c["x_naive"] = round(classes["naive"][name]["cpu_ms_per_frame"] / c["cpu_ms_per_frame"], 2)
    return {
        "frames": frames, "videos": len(info), "workers": workers,
        "cpu_ms_per_frame": {"ffmpeg": round(f_ms, 3), "decode": round(d_ms, 3), "naive": round(n_ms, 3),
                             "vidshard_run": round(run_ms, 3), "vidshard_tasks": round(t_ms, 3)},
        "run_cpu_x_naive": round(n_ms / run_ms, 2), "tasks_x_ffmpeg_per_core": round(f_ms / t_ms, 2),
        "frames_per_s": {k: round(frames / v, 1) for k, v in wall.items()},
        "wall_x_naive": round(wall["naive"] / wall["vidshard"], 2),
        "wall_x_ffmpeg_per_core": round(wall["ffmpeg"] / (workers * wall["vidshard"]), 2),
        "fixed_cost_s": round(fixed, 2),
        "fixed_cost_runs_s": [round(r["fixed"], 2) for _, r in vs],
        "run_cpu_by_process_s": {k: round(v, 2) for k, v in by_process.items()},
        "classes": classes,
        # a third of the naive loop = decode + the run beyond its tasks + what is left for the face work
        "floor_ms_per_frame": {"target": round(n_ms / 3, 3), "decode": round(d_ms, 3), "beyond_tasks": round(beyond, 3),
                               "left_for_face_work": round(n_ms / 3 - d_ms - beyond, 3),
                               "face_work_now": round(t_ms - d_ms, 3)},
    }


def show(res: dict) -> None:
    c = res["cpu_ms_per_frame"]
    print(f"{res['videos']} videos, {res['frames']} frames; CPU ms a frame: ffmpeg {c['ffmpeg']:.2f}, decode (PyAV) "
          f"{c['decode']:.2f}, naive {c['naive']:.2f}, vidshard whole run {c['vidshard_run']:.2f} (x naive "
          f"{res['run_cpu_x_naive']:.2f}), video tasks {c['vidshard_tasks']:.2f} ({res['tasks_x_ffmpeg_per_core']:.2f} "
          f"of ffmpeg's rate per core)")
    f = res["frames_per_s"]
    print(f"frames/s by wall: ffmpeg {f['ffmpeg']}, naive {f['naive']}, vidshard {f['vidshard']} ({res['workers']} "
          f"workers: x naive {res['wall_x_naive']}, x ffmpeg per core {res['wall_x_ffmpeg_per_core']}); "
          f"fixed cost {res['fixed_cost_s']} s (runs: {res['fixed_cost_runs_s']})")
    print("whole-run CPU (s): " + ", ".join(f"{k} {v}" for k, v in res["run_cpu_by_process_s"].items()))
    print(f"{'class':18s} {'videos':>6s} {'frames':>7s} {'ffmpeg':>7s} {'decode':>7s} {'naive':>7s} {'tasks':>7s} "
          f"{'x ffmpeg':>9s} {'x naive':>8s}")
    cls = res["classes"]
    for name, t in cls["vidshard_tasks"].items():
        print(f"{name:18s} {t['videos']:6d} {t['frames']:7d} {cls['ffmpeg'][name]['cpu_ms_per_frame']:7.2f} "
              f"{cls['decode'][name]['cpu_ms_per_frame']:7.2f} {cls['naive'][name]['cpu_ms_per_frame']:7.2f} "
              f"{t['cpu_ms_per_frame']:7.2f} {t['x_ffmpeg']:9.2f} {t['x_naive']:8.2f}")
    fl = res["floor_ms_per_frame"]
    print(f"whole-run target, a third of the naive loop: {fl['target']:.2f} ms a frame = decode {fl['decode']:.2f} "
          f"+ the run beyond its video tasks {fl['beyond_tasks']:.2f} + {fl['left_for_face_work']:.2f} left for all "
          f"the face work, which costs {fl['face_work_now']:.2f} now (the tasks less their decode)")


# Stages of process_video: (label, [(file suffix, function name)]) whose cumulative CPU is the stage's
STAGES = [
    ("decode (PyAV, planes)", [("faces/decode.py", "stream_pictures")]),
    ("detector copy", [("faces/decode.py", "small")]),
    ("BlazeFace", [("faces/detect.py", "detect")]),
    ("identity descriptors", [("faces/identity.py", "descriptor")]),
    ("scene-cut thumbnails", [("faces/tracks.py", "feed"), ("faces/decode.py", "gray")]),
    ("tracking + splines", [("faces/tracks.py", "step"), ("faces/tracks.py", "ready"), ("faces/tracks.py", "close"),
                            ("faces/tracks.py", "finish")]),
    ("crops", [("faces/video.py", "add")]),
    ("quality figures + gates (face check)", [("faces/quality.py", "clip_quality"), ("faces/quality.py", "gate")]),
]


def profile(videos: list[Path], info: dict) -> dict:
    """CPU ms a frame of each stage of process_video by size class, in this process (cProfile timed with
    process_time, every thread of the process counted), after one warm-up video."""
    import cProfile
    import pstats
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.video import process_video
    list(process_video(videos[0], "warm-up", FaceConfig()))
    by_class: dict[str, dict] = {}
    for v in videos:
        prof = cProfile.Profile(time.process_time)
        cpu0 = time.process_time()
        prof.enable()
        for _ in process_video(v, v.stem, FaceConfig()):
            pass
        prof.disable()
        total = time.process_time() - cpu0
        stats = pstats.Stats(prof).stats
        c = by_class.setdefault(size_class(info[v.name]["width"], info[v.name]["height"]),
                                {"frames": 0, "total": 0.0, **{label: 0.0 for label, _ in STAGES}})
        c["frames"] += info[v.name]["frames"]
        c["total"] += total
        for label, funcs in STAGES:
            c[label] += sum(st[3] for (file, _, name), st in stats.items()
                            if any(file.endswith(f) and name == fn for f, fn in funcs))
    out = {}
    for name, c in sorted(by_class.items(), key=lambda kv: [n for _, n in CLASSES].index(kv[0])):
        ms = {label: 1000 * c[label] / c["frames"] for label, _ in STAGES}
        ms["other (Python, pool, bookkeeping)"] = 1000 * c["total"] / c["frames"] - sum(ms.values())
        out[name] = {"frames": c["frames"], "total": round(1000 * c["total"] / c["frames"], 3),
                     **{k: round(v, 3) for k, v in ms.items()}}
    return out


def in_process(videos: list[Path]) -> dict:
    """CPU ms a frame of process_video over `videos` in this process after a warm-up video, no profiler: the
    run to sample from outside with py-spy (cProfile's cost per call inflates the many small stages)."""
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.video import process_video
    list(process_video(videos[0], "warm-up", FaceConfig()))   # outside _video_work: spy_stages skips it
    frames, cpu = _video_work([str(v) for v in videos], str(ROOT), False)
    return {"videos": len(videos), "frames": frames, "cpu_ms_per_frame": round(1000 * cpu / frames, 3)}


def spy_stages(raw: Path) -> dict[str, float]:
    """The share of each STAGES stage in a py-spy raw profile (`py-spy record --format raw`) of --in-process:
    each sample under _video_work (the timed loop) goes to the innermost stage on its stack, or to other."""
    import re
    counts = {label: 0 for label, _ in STAGES} | {"other (Python, pool, bookkeeping)": 0}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [re.match(r"(?:\S+\.)?(\S+) \((.*?)(?::\d+)?\)$", f) for f in stack.split(";")]
        frames = [(m.group(2), m.group(1)) for m in frames if m]
        if not any(name == "_video_work" for _, name in frames):
            continue
        label = next((label for file, name in reversed(frames) for label, funcs in STAGES
                      if any(file.endswith(f) and name == fn for f, fn in funcs)), "other (Python, pool, bookkeeping)")
        counts[label] += int(n)
    total = sum(counts.values()) or 1
    return {label: round(c / total, 3) for label, c in counts.items()}


def detector_calls(videos: list[Path], frames_per_video: int = 8, rounds: int = 3) -> dict:
    """CPU ms a call of BlazeFace through mediapipe's Tasks API and on LiteRT (pipelines/faces/blazeface.py),
    per model, on the detector's copies (longest side 256) of frames spread over every video, the two taking
    turns frame by frame, best of `rounds` passes (every thread of this process counted)."""
    import numpy as np
    from pipelines.faces.blazeface import BlazeFace
    from pipelines.faces.decode import detect_shape, probe as probe_video, stream_pictures
    from pipelines.faces.model import face_model_path
    images = []
    for v in videos:
        info = probe_video(v)
        dw, dh = detect_shape(info.width, info.height, 256)
        idx = np.unique(np.linspace(0, max(info.frames - 1, 0), frames_per_video).astype(int))
        images += [pic.small(dw, dh) for _, pic in stream_pictures(v, idx, warnings=[])]
    out = {"images": len(images)}
    for kind in ("short", "full"):
        ways = {"tasks_api": TasksApiDetector(kind), "litert": BlazeFace(face_model_path(kind, None), kind, 0.5)}
        cpu = {name: [] for name in ways}
        for _ in range(rounds):
            spent = dict.fromkeys(ways, 0.0)
            for image in images:
                for name, det in ways.items():
                    t = time.process_time()
                    det.detect(image)
                    spent[name] += time.process_time() - t
            for name in ways:
                cpu[name].append(1000 * spent[name] / len(images))
        ways["tasks_api"].close()
        out[kind] = {name: round(min(v), 3) for name, v in cpu.items()}
    return out


def _video_work(paths: list[str], root: str, write_parts: bool) -> tuple[int, float]:
    """(frames, CPU s of this process) over `paths` in turn: process_video alone, or prepare.process_one
    (which also writes each video's part shard). The caller warms up first; CPU counts every thread."""
    sys.path.insert(0, root)
    from dataclasses import asdict
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.video import process_video
    from pipelines.prepare import process_one
    cfg, frames = FaceConfig(), 0
    parts = tempfile.mkdtemp(prefix="vidshard-bench-parts-")
    cpu0 = _own_cpu()
    for i, path in enumerate(paths):
        if write_parts:
            rec = process_one({"id": f"v{i:04d}", "path": path, "sha256": "0" * 64}, asdict(cfg), None, parts,
                              "pipelines.faces.video:process_video", None, None)
            frames += rec["frames"]
        else:
            stats = {}
            for _ in process_video(path, f"v{i:04d}", cfg, stats=stats):
                pass
            frames += stats["frames"]
    spent = _own_cpu() - cpu0
    shutil.rmtree(parts, ignore_errors=True)
    return frames, spent


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def layers(videos: list[Path], videos_dir: Path, workers: int) -> dict:
    """CPU ms a frame of the video work layer by layer, on the same videos within minutes: process_video in
    this process after a warm-up video; prepare.process_one (adds the part shard); `workers` plain Ray tasks
    sharing the videos (imports and models inside, as a video task pays them); and `vidshard prepare` with
    one worker and with `workers` (its video tasks' own figure, and the whole run)."""
    import ray
    paths = [str(v) for v in videos]
    _video_work(paths[:1], str(ROOT), False)
    out = {}
    for name, parts in (("process_video, one process", False), ("process_one, one process", True)):
        frames, cpu = _video_work(paths, str(ROOT), parts)
        out[name] = 1000 * cpu / frames
    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_video_work)
        done = ray.get([task.remote(paths[i::workers], str(ROOT), False) for i in range(workers)])
    finally:
        ray.shutdown()
    out[f"{workers} plain Ray tasks"] = 1000 * sum(c for _, c in done) / sum(f for f, _ in done)
    frames = sum(f for f, _ in done)
    with tempfile.TemporaryDirectory(prefix="vidshard-bench-") as tmp:
        for n in sorted({1, workers}):
            run = vidshard_run(videos_dir, Path(tmp), n)
            out[f"vidshard prepare --workers {n}: video tasks"] = 1000 * sum(run["task_cpu"].values()) / frames
            out[f"vidshard prepare --workers {n}: whole run"] = 1000 * run["cpu"] / frames
    return {"frames": frames, "cpu_ms_per_frame": {k: round(v, 3) for k, v in out.items()}}


def show_profile(prof: dict) -> None:
    labels = [k for k in next(iter(prof.values())) if k != "frames"]
    print(f"{'CPU ms a frame':38s}" + "".join(f"{name:>17s}" for name in prof))
    for label in labels:
        print(f"{label:38s}" + "".join(f"{prof[name][label]:17.3f}" for name in prof))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/pipeline.py", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder of videos (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=2, help="runs per method; the median is kept (default: %(default)s)")
    p.add_argument("--copies", type=int, default=1, help="copies of each video in the input (default: %(default)s)")
    p.add_argument("--workers", type=int, default=os.cpu_count(),
                   help="vidshard prepare --workers (default: the machine's cores, %(default)s)")
    p.add_argument("--executor", choices=("ray", "local"), default="ray",
                   help="vidshard prepare --executor for the vidshard method (default: %(default)s, prepare's own "
                        "default; local: its process pool, no Ray)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json",
                   help="JSON results (default: %(default)s)")
    p.add_argument("--profile", action="store_true",
                   help="instead: CPU a frame of each stage of the per-video work by size class, in-process (cProfile)")
    p.add_argument("--detector-calls", action="store_true",
                   help="instead: CPU ms a BlazeFace call, the Tasks API against LiteRT, on frames of every video")
    p.add_argument("--layers", action="store_true",
                   help="instead: CPU ms a frame of the video work in one process, in plain Ray tasks and in "
                        "vidshard prepare with 1 and --workers workers (where the tasks' CPU goes beyond one process)")
    p.add_argument("--in-process", action="store_true",
                   help="instead: CPU ms a frame of process_video over the videos in this one process, no profiler "
                        "(the run to sample with py-spy: see --spy-table)")
    p.add_argument("--spy-table", type=Path, metavar="RAW",
                   help="instead: the share of each stage in RAW, a py-spy raw profile of --in-process")
    p.add_argument("--size-class", choices=[name for _, name in CLASSES],
                   help="with --in-process: only the videos of this size class (longest side)")
    args = p.parse_args(argv)
    if args.spy_table:
        for label, share in spy_stages(args.spy_table).items():
            print(f"{label:38s} {100 * share:5.1f} %")
        return 0
    if args.size_class and not args.in_process:
        p.error("--size-class goes with --in-process (the other modes report every size class)")
    videos = sorted(v for v in args.videos.iterdir() if v.suffix.lower() in SUFFIXES)
    if args.size_class:
        info = probe(videos)
        videos = [v for v in videos if size_class(info[v.name]["width"], info[v.name]["height"]) == args.size_class]
    if not videos:
        p.error(f"{args.videos}: no videos" + (f" of size class {args.size_class}" if args.size_class else ""))
    if args.in_process:
        print(json.dumps(in_process(videos)))
        return 0
    if args.detector_calls:
        calls = detector_calls(videos)
        print(json.dumps(calls))
        write_result(args.out.with_name(args.out.stem + "-detector-calls.json"),
                     {"input": os.path.relpath(args.videos, ROOT), **calls, "machine": machine()})
        return 0
    if args.layers:
        res = layers(videos, args.videos, args.workers)
        for name, ms in res["cpu_ms_per_frame"].items():
            print(f"{name:45s} {ms:7.3f} CPU ms a frame")
        write_result(args.out.with_name(args.out.stem + "-layers.json"),
                     {"input": os.path.relpath(args.videos, ROOT), **res, "machine": machine()})
        return 0
    if args.profile:
        prof = profile(videos, probe(videos))
        show_profile(prof)
        write_result(args.out.with_name(args.out.stem + "-profile.json"),
                     {"input": os.path.relpath(args.videos, ROOT), "classes": prof, "machine": machine()})
        return 0
    with tempfile.TemporaryDirectory(prefix="vidshard-bench-") as tmp:
        tmp = Path(tmp)
        inputs = copies(videos, tmp / "inputs", args.copies) if args.copies > 1 else videos
        src_dir = tmp / "inputs" if args.copies > 1 else args.videos
        info = probe(inputs)
        print(f"{len(inputs)} videos, {sum(i['frames'] for i in info.values())} frames", flush=True)
        det = TasksApiDetector()   # model loaded and mediapipe imported outside the timing
        runs = interleaved(args.repeat, {
            "ffmpeg": lambda: ffmpeg_decode(inputs),
            "decode": lambda: pyav_decode(inputs, info),
            "naive": lambda: naive_loop(inputs, det),
            "vidshard": lambda: vidshard_run(src_dir, tmp / "out", args.workers, args.executor)})
        det.close()
    res = report(info, runs, args.workers)
    show(res)
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    res.update({"executor": args.executor, "repeat": args.repeat, "copies": args.copies,
                "input": os.path.relpath(args.videos, ROOT), "load_average_1min_at_end": round(load, 2),
                "machine": machine()})
    write_result(args.out, res)
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
