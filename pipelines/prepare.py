"""`vidshard prepare`: raw videos -> tracked face clips -> versioned shards, as a Ray job.

The driver (this process) lists and hashes the sources, plans work units (one unit = one shard, names from
the plan: pipelines/sources.py), skips shards already done under the same config (resume), runs one Ray
task per remaining unit and writes manifest.json last. A unit task runs each of its videos as a child Ray
task on the same node, under a timeout that can kill a decoder hung in native code (ray.cancel(force=True)
ends the worker process), and appends the video's clips to the shard in plan order. Failures are data:
each unreadable, timed-out or crashed video is recorded with its reason in the shard's stats and the
manifest, and the job goes on. A unit whose worker dies is retried by Ray (--retries).

Output layout and the exit codes: see `vidshard prepare --help` and docs/PIPELINE.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from shards import ShardWriter, config_hash, iter_samples, resumable, write_manifest
from shards.writer import read_stats, shard_paths

from pipelines.faces.config import FaceConfig
from pipelines.faces.model import ModelError
from pipelines import sources as S

EXIT_OK = 0
EXIT_ERROR = 1          # an unexpected error (traceback printed)
EXIT_USAGE = 2          # bad arguments: a path that does not exist, a bad --split, ...
EXIT_INPUT_FAILED = 3   # the dataset was written, but some inputs could not be read (listed)
EXIT_SHARD_FAILED = 4   # some shards failed past their retries (named); no manifest was written

PROCESSOR = "pipelines.faces.video:process_video"
SOFTWARE = ("decord2", "mediapipe", "ray", "dlib-bin")
FAULT_ENV = "VIDSHARD_TEST_FAULT"
RAW_STREAM_REASON = ("raw H.264 elementary stream (no container: no timestamps, frame rate or index); "
                     "remux it first: ffmpeg -r FPS -i IN.264 -c copy OUT.mp4")

# Help for the FaceConfig flags (fields added later still get a flag, with a generic help line).
FACE_HELP = {
    "detector": "BlazeFace model: short (faces within ~2 m, fast) or full (small/far faces)",
    "detect_every": "run the detector on every k-th frame; the smoothing spline fills the frames between "
                    "(default: 4 for short range; 2 for full range, whose small faces are found less "
                    "reliably: every 4th frame keeps 5 instead of 9 clips of a 1080p crowd)",
    "detect_retry": "after an attempt that missed a tracked face, detect again this many frames later "
                    "(default: none, = --detect-every)",
    "detect_size": "longest side (px) of the downscaled copy the detector sees (default: 256 for short, 640 for full)",
    "min_score": "drop detections scoring below this",
    "fps": "resample clips to this frame rate (default: none, the source's own rate)",
    "chunk": "kept for older configs; no effect (frames are streamed one at a time)",
    "max_gap": "frames without a detection before a track is split",
    "iou_match": "minimum IoU for a detection to continue a track",
    "scene_cut": "mean absolute frame difference (0..1) above which a scene cut splits tracks",
    "smooth": "spline smoothing strength (0: interpolate the detections; larger: smoother)",
    "outlier": "reject detections whose residual exceeds this many robust sigmas",
    "margin": "crop side = MARGIN x face size",
    "size": "output crop side in pixels",
    "gray": "write grayscale clips (C=1) instead of RGB",
    "frames": "T: frames per clip",
    "stride": "frames between clip starts (default: none, = --frames: no overlap)",
    "min_face": "quality gate 'small': drop a clip whose smoothed face is below this many source pixels in any frame",
    "max_padded": "quality gate 'padded': drop a clip whose crops lie outside the frame by more than this "
                  "fraction on average",
    "min_coverage": "quality gate 'coverage': drop a clip in which the detector found the face in fewer than "
                    "this fraction of its attempts",
    "min_clip_score": "quality gate 'score': drop a clip whose mean detector score is below this",
    "min_sharpness": "quality gate 'blur': drop a clip whose face (output crop, grey) has a median variance of "
                     "the Laplacian below this",
    "min_contrast": "quality gate 'flat': drop a clip whose face (output crop, grey) has a median standard "
                    "deviation below this",
    "min_face_check": "quality gate 'face_check': drop a clip unless dlib's HOG detector finds a centred "
                      "face in at least this fraction of its checked crops (0: no check)",
    "face_check_frames": "crops per clip the face check looks at",
    "identity": "split a track when its face's appearance distance from the track's reference exceeds this "
                "(two detections running; 0: never)",
}

EPILOG = """\
inputs (--input, repeatable; local paths or fsspec URLs s3:// gs:// https://):
  DIR        every video below it, recursively (.mp4 .mov .mkv .avi .webm .m4v .mpg .ts .flv .wmv,
             and .264/.h264 raw streams, which are recorded as failures: remux them to MP4)
  GLOB       'clips/**/*.mp4', 's3://bucket/raw/*.mov' (quote it)
  LIST       .txt/.lst/.list (one path or URL a line, # comments) or .csv (column path/url, else the
             first); relative entries are relative to the list file
  FILE       one video, whatever its extension (a non-video is recorded as a failure)
  Video id = first 16 hex digits of the sha256 of the bytes; the same content given twice is done once.

splits: each video goes to train/val/test by a hash of its id (--split fractions), so a video never
  changes split as the source set grows; if that leaves train empty (tiny inputs), the video nearest
  the train range is moved there. Shards: {split}-{index:06d}.tar with --videos-per-shard videos each.

output (--out DIR or URL): NAME.tar + NAME.stats.json per shard (failures and per-source records),
  manifest.json written last. Rerunning the same command resumes: shards whose stats file was written
  under the same config are skipped; --overwrite redoes everything. A remote --out (s3://...) is
  written through a local staging folder: each shard is uploaded (tar, then stats) as it completes.

exit status:
  0  every input was read and every shard written
  1  unexpected error (a traceback is printed)
  2  usage error: an input that does not exist, bad option values
  3  the dataset was written, but some inputs could not be read (listed in the summary, the shard
     stats and manifest.json "failures"); a readable video without a face is NOT a failure
  4  some shards failed past their retries (named in the summary); no manifest is written and the
     other shards are kept: rerun the same command to resume

examples:
  vidshard prepare --input videos/ --out data/faces
  vidshard prepare --input videos/ --out data/faces --detect-every 3 --size 64 --gray --frames 20
  vidshard prepare --input list.csv --input 'extra/*.mov' --out data/faces --videos-per-shard 8 --workers 4
  RAY_ADDRESS=auto vidshard prepare --input s3://bucket/raw/ --out s3://bucket/faces-v1
"""


# ----------------------------------------------------------------------------------------- arguments

def _field_type(f: dataclasses.Field) -> tuple[type, bool]:
    """(base type, optional?) of a FaceConfig field; annotations are strings (postponed evaluation)."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    optional = "None" in text
    base = text.replace("| None", "").replace("Optional[", "").strip(" ]")
    return {"int": int, "float": float, "bool": bool, "str": str}.get(base, str), optional


def _optional(kind: type):
    def parse(text: str):
        return None if text.lower() in ("none", "") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def add_face_flags(p: argparse.ArgumentParser) -> None:
    """One flag per FaceConfig field (--detect-every for detect_every), default from the dataclass."""
    g = p.add_argument_group("face pipeline (FaceConfig; these version the dataset)")
    for f in dataclasses.fields(FaceConfig):
        kind, optional = _field_type(f)
        flag = "--" + f.name.replace("_", "-")
        help_text = FACE_HELP.get(f.name, f"FaceConfig.{f.name}")
        if "default" not in help_text:
            help_text += f" (default: {f.default})"
        if kind is bool:
            g.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        elif f.name == "detector":
            g.add_argument(flag, dest=f.name, choices=("short", "full"), default=f.default, help=help_text)
        else:
            g.add_argument(flag, dest=f.name, type=_optional(kind) if optional else kind, default=f.default,
                           metavar=f.name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidshard prepare", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Find faces in raw videos, track and smooth them, cut square crops into\n"
                                            "clips and write them as versioned WebDataset shards. A Ray job: local\n"
                                            "Ray by default, a cluster with --address or RAY_ADDRESS. Guide:\n"
                                            "docs/PIPELINE.md.")
    p.add_argument("--input", "-i", action="append", required=True, metavar="PATH_OR_URL",
                   help="a video, directory, glob, list file or URL (repeatable; see 'inputs' below)")
    p.add_argument("--out", "-o", required=True, metavar="DIR_OR_URL", help="dataset directory or URL (s3://...)")
    p.add_argument("--face-model", metavar="PATH",
                   help="BlazeFace .tflite to use (default: the cached model for --detector, fetched at install)")
    p.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions, by source video (default: %(default)s)")
    p.add_argument("--videos-per-shard", type=int, default=16, metavar="N",
                   help="videos per work unit = per shard (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="videos processed at once (default: all cores of this machine, or the CPUs the "
                        "cluster has now; on a cluster N also asks the autoscaler for N CPUs)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto' or HOST:PORT; default: $RAY_ADDRESS, else start a local Ray)")
    p.add_argument("--video-timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="kill and record as failed a video that takes longer (default: %(default)s)")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="times Ray retries a work unit whose worker died or raised (default: %(default)s)")
    p.add_argument("--staging", metavar="DIR",
                   help="local folder for shards of a remote --out before upload "
                        "(default: ~/.cache/vidshard/staging/<hash of --out>)")
    p.add_argument("--overwrite", action="store_true", help="redo every shard, even those already done")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    add_face_flags(p)
    return p


def face_config(args: argparse.Namespace) -> FaceConfig:
    return FaceConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(FaceConfig)})


def check_args(args: argparse.Namespace) -> None:
    """Value checks argparse cannot express; raise SourceError (-> exit 2) with the flag's name."""
    if args.videos_per_shard < 1:
        raise S.SourceError("--videos-per-shard must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise S.SourceError("--workers must be at least 1")
    if args.video_timeout <= 0:
        raise S.SourceError("--video-timeout must be positive")
    if args.retries < 0:
        raise S.SourceError("--retries must be 0 or more")
    if args.face_model and not Path(args.face_model).is_file():
        raise S.SourceError(f"--face-model {args.face_model}: no such file")


def resolved_config(cfg: FaceConfig, fractions, videos_per_shard: int, model_sha256: str) -> dict:
    """What versions the dataset: the face settings, the split, the grouping and the detector's weights.
    (The face check's HOG detector is built into dlib: its version is in the manifest's `software`.)

    Workers, address and output location change where and how fast, not what: they are left out.
    """
    return {"pipeline": "faces", "face": cfg.to_dict(), "face_model_sha256": model_sha256,
            "split": dict(zip(S.SPLITS, [round(f, 6) for f in fractions])), "videos_per_shard": videos_per_shard}


# ----------------------------------------------------------------------------------------- output

class Output:
    """Where shards go. Local: straight into the directory. Remote URL: into a local staging folder
    (the same path on every node), each shard uploaded (tar, then its stats: the completion marker)."""

    def __init__(self, out: str, staging: str | None = None):
        self.url = out if S.is_url(out) else None
        if self.url:
            default = Path.home() / ".cache" / "vidshard" / "staging" / hashlib.sha256(out.encode()).hexdigest()[:16]
            self.root = str(Path(staging) if staging else default)
        else:
            self.root = str(Path(S.local_path(out)).absolute())

    def spec(self) -> dict:
        return {"root": self.root, "url": self.url}

    def done(self, name: str, chash: str) -> bool:
        if not self.url:
            return resumable(self.root, name, chash)
        fs, base, _ = S.url_fs(self.url)
        tar, stats = (f"{base}/{p.name}" for p in shard_paths("", name))
        if not fs.exists(stats) or not fs.exists(tar):
            return False
        st = json.loads(fs.cat_file(stats))
        return st.get("config_hash") == chash and st.get("bytes") == fs.size(tar)

    def collect(self, names: list[str]) -> None:
        """Remote: bring every shard's stats file (a few KiB, not the tar) into staging, so the manifest
        can be built from them, after checking that the bucket holds each tar at the size they record."""
        if not self.url:
            return
        fs, base, _ = S.url_fs(self.url)
        Path(self.root).mkdir(parents=True, exist_ok=True)
        for name in names:
            tar, stats = shard_paths(self.root, name)
            remote = fs.cat_file(f"{base}/{stats.name}")
            want = json.loads(remote)["bytes"]
            size = fs.size(f"{base}/{tar.name}") if fs.exists(f"{base}/{tar.name}") else None
            if size != want:
                raise RuntimeError(f"{base}/{tar.name}: {'missing' if size is None else f'{size} bytes'}, "
                                   f"its stats file says {want}")
            stats.write_bytes(remote)

    def publish(self, path: Path) -> None:
        if self.url:
            upload(self.url, path)


def upload(url: str, path: Path) -> None:
    fs, base, _ = S.url_fs(url)
    fs.makedirs(base, exist_ok=True)
    fs.put_file(str(path), f"{base}/{path.name}")


# ----------------------------------------------------------------------------------------- Ray tasks

def _faults(spec: str | None, kind: str) -> set[str]:
    """Test-only fault injection ($VIDSHARD_TEST_FAULT, read by the driver and passed to tasks):
    'crash-once:SHARD' (the unit task's worker dies once), 'crash:SHARD' (dies every time),
    'hang:VIDEOID' (the video task hangs in a sleep, to exercise --video-timeout). Comma-separated."""
    out = set()
    for item in (spec or "").split(","):
        k, _, v = item.strip().partition(":")
        if k == kind and v:
            out.add(v)
    return out


def fault_marker(root: str, shard: str) -> Path:
    """The file that makes 'crash-once' crash only once (left in place: the test checks it, then removes it)."""
    return Path(tempfile.gettempdir()) / f"vidshard-fault-{hashlib.sha256((root + shard).encode()).hexdigest()[:16]}"


def _maybe_crash(fault: str | None, shard: str, root: str) -> None:
    if shard in _faults(fault, "crash"):
        os._exit(1)
    if shard in _faults(fault, "crash-once"):
        marker = fault_marker(root, shard)
        if not marker.exists():
            marker.touch()
            os._exit(1)  # a worker dying mid-task, as a segfault or the OOM killer would


def _load(processor: str):
    module, func = processor.split(":")
    return getattr(importlib.import_module(module), func)


def _usage() -> dict:
    """This worker's peak RSS (MiB) and CPU seconds so far (all threads): kept per video in the stats."""
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mb": round(r.ru_maxrss / 1024, 1), "cpu": r.ru_utime + r.ru_stime}  # Linux: KiB


def _measured(record: dict, t0: float, cpu0: float) -> dict:
    u = _usage()
    return {**record, "seconds": round(time.time() - t0, 3), "cpu_seconds": round(u["cpu"] - cpu0, 3),
            "peak_rss_mb": u["peak_rss_mb"]}


def process_one(src: dict, cfg_dict: dict, model_path: str | None, part_dir: str, processor: str,
                progress, fault: str | None) -> dict:
    """Child Ray task: one video -> part_dir/<id>.tar (clips in the processor's order). Returns its record.

    Runs in its own task so the parent can kill it on timeout; it never raises for bad input."""
    from pipelines.faces.decode import VideoError
    Path(part_dir, f"{src['id']}.started").touch()  # starts the parent's timeout clock (not queue time)
    if src["id"] in _faults(fault, "hang"):
        time.sleep(10 ** 6)
    t0, cpu0, stats, clips = time.time(), _usage()["cpu"], {}, 0
    process_video = _load(processor)
    cfg = FaceConfig.from_dict(cfg_dict)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="vidshard-src-") as tmp, ShardWriter(part_dir, src["id"]) as w:
            local = S.fetch_local(src["path"], tmp)
            reported = 0
            for key, frames, meta in process_video(local, src["id"], cfg, model_path=model_path, stats=stats):
                meta = {**meta, "source_path": src["path"]}  # the listed path/URL, not a temp copy
                w.add(key, frames, meta)
                clips += 1
                if "quality" in meta:
                    rows.append({"key": key, "frames": [meta["frame_indices"][0], meta["frame_indices"][-1]],
                                 "reasons": [], "quality": meta["quality"]})
                frames_now = int(stats.get("frames", 0))
                if progress is not None and frames_now - reported >= 250:
                    progress.add.remote(frames=frames_now - reported)
                    reported = frames_now
        if progress is not None:
            progress.add.remote(frames=int(stats.get("frames", 0)) - reported, clips=clips)
    except VideoError as e:
        return _measured(_failed(src, str(e) or "unreadable video"), t0, cpu0)
    except Exception as e:  # noqa: BLE001 -- one video must never take its shard down; the reason is kept
        return _measured(_failed(src, f"unexpected {type(e).__name__}: {e}"), t0, cpu0)
    status = "ok" if clips else "no_face"
    out = _measured({"id": src["id"], "path": src["path"], "sha256": src["sha256"], "status": status,
                     "frames": int(stats.get("frames", 0)), "clips": clips}, t0, cpu0)
    for k in ("fps", "width", "height", "detections", "tracks", "detect_frames", "candidates", "rejected",
              "scene_cuts", "identity_splits"):
        if k in stats:
            out[k] = stats[k]
    if stats.get("warnings"):
        out["warnings"] = list(stats["warnings"])
    if not clips:
        out["note"] = ("no face detected" if not stats.get("detections")
                       else "faces detected, but no track long or large enough for a clip" if not stats.get("candidates")
                       else "every clip was dropped by the quality gates: " + _counts(stats.get("rejected", {})))
    # for the shard's stats file (the report), not the manifest: every candidate clip, every track, the cuts
    rows += [{"key": r["key"], "frames": r["frames"], "reasons": r["reasons"], "quality": r["quality"]}
             for r in stats.get("rejected_clips", [])]
    out["_detail"] = {"clips": sorted(rows, key=lambda r: (r["frames"][0], r["key"])), "tracks": stats.get("track_list", []),
                      "cuts": stats.get("cut_frames", [])}
    return out


def _counts(counts: dict) -> str:
    """'coverage 3, face_check 1': counts by reason, in the gates' order."""
    from pipelines.faces.quality import REASONS
    order = [r for r in REASONS if r in counts] + sorted(set(counts) - set(REASONS))
    return ", ".join(f"{r} {counts[r]}" for r in order if counts[r])


def run_unit(unit: dict, out: dict, cfg_dict: dict, chash: str, model_path: str | None, video_timeout: float,
             parallel: int, processor: str, progress, fault: str | None) -> dict:
    """Ray task: one work unit -> one shard. Up to `parallel` videos run at once, each in a child task
    under a timeout; their clips go into the shard in plan order, whatever order they finish in."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    _maybe_crash(fault, unit["name"], out["root"])
    # The children must run where their part files are written: this node.
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    child = ray.remote(process_one).options(num_cpus=1, max_retries=1, scheduling_strategy=here)
    launch = lambda src, parts: child.remote(src, cfg_dict, model_path, parts, processor, progress, fault)  # noqa: E731
    timings, detail = [], {}
    with tempfile.TemporaryDirectory(prefix=f"vidshard-{unit['name']}-") as parts, \
            ShardWriter(out["root"], unit["name"]) as w:
        for src, rec in run_videos(launch, unit["sources"], parts, video_timeout, parallel):
            detail[src["id"]] = rec.pop("_detail", None)
            if rec["status"] == "ok":
                for key, frames, meta in iter_samples(Path(parts) / f"{src['id']}.tar"):
                    w.add(key, frames, meta)
                _remove_part(parts, src["id"])
            elif rec["status"] == "failed":
                w.fail(src["path"], rec["reason"], id=src["id"])
            timings.append({"id": src["id"], **{k: rec.pop(k, 0.0) for k in ("seconds", "cpu_seconds", "peak_rss_mb")}})
            if src["duplicates"]:
                rec["duplicates"] = src["duplicates"]
            w.sources.append(rec)
            if progress is not None:
                progress.add.remote(videos=1, failures=int(rec["status"] == "failed"))
        w.extra.update({"config_hash": chash, "videos": timings,
                        "clip_table": [{"source": i, **r} for i, d in detail.items() if d for r in d["clips"]],
                        "track_table": [{"source": i, **r} for i, d in detail.items() if d for r in d["tracks"]],
                        "cut_frames": {i: d["cuts"] for i, d in detail.items() if d and d["cuts"]}})
    if out["url"]:
        upload(out["url"], w.tar_path)     # tar first: the stats file marks the shard complete
        upload(out["url"], w.stats_path)
        w.tar_path.unlink()                # staging never holds more than the shards being written
    return {"shard": unit["name"], "samples": w.samples, "sources": w.sources}


def _remove_part(parts: str, video_id: str) -> None:
    for p in Path(parts).glob(f"{video_id}.*"):
        p.unlink(missing_ok=True)


def run_videos(launch, sources: list[dict], parts: str, timeout: float, parallel: int):
    """Yield (source, record) in plan order while up to `parallel` child tasks run.

    The timeout clock of a video starts when its child task writes PARTS/<id>.started (so time spent
    queued for a CPU never counts); past it the task is cancelled with force, which kills the worker
    process: a decoder stuck in native code stops too. A child whose worker died (past its retry)
    becomes a failure record as well: nothing here raises for one bad video."""
    import ray
    # Largest first (bytes stand in for work): a big video started last would leave the other workers
    # idle at the end. What is written does not change: records are yielded in plan order.
    queue = sorted(sources, key=lambda s: -s.get("bytes", 0))
    running, started, done = {}, {}, {}
    for src in sources:
        while src["id"] not in done:
            while queue and len(running) < parallel:
                nxt = queue.pop(0)
                if S.is_raw_stream(nxt["path"]):
                    done[nxt["id"]] = _failed(nxt, RAW_STREAM_REASON)
                else:
                    running[launch(nxt, parts)] = nxt
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for ref in ready:
                s = running.pop(ref)
                done[s["id"]] = _result(ref, s)
            now = time.time()
            for ref, s in list(running.items()):
                if s["id"] not in started and (Path(parts) / f"{s['id']}.started").exists():
                    started[s["id"]] = now
                if s["id"] in started and now - started[s["id"]] > timeout:
                    ray.cancel(ref, force=True)
                    running.pop(ref)
                    done[s["id"]] = _failed(s, f"timed out after {timeout:g} s", now - started[s["id"]])
        yield src, done.pop(src["id"])


def _result(ref, src: dict) -> dict:
    import ray
    try:
        return ray.get(ref)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayTaskError, ray.exceptions.RaySystemError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        return _failed(src, f"the worker decoding it died ({type(e).__name__}) {first}".strip())


def _failed(src: dict, reason: str, seconds: float = 0.0) -> dict:
    return {"id": src["id"], "path": src["path"], "sha256": src["sha256"], "status": "failed", "reason": reason,
            "frames": 0, "clips": 0, "seconds": round(seconds, 3)}


class Progress:
    """A tiny Ray actor the tasks report to (videos, frames, clips, failures); the driver polls it."""

    def __init__(self):
        self.counts = {"videos": 0, "frames": 0, "clips": 0, "failures": 0}

    def add(self, **deltas):
        for k, v in deltas.items():
            self.counts[k] = self.counts.get(k, 0) + v

    def get(self) -> dict:
        return dict(self.counts)


# ----------------------------------------------------------------------------------------- driver

def init_ray(address: str | None, workers: int | None) -> None:
    """Join a cluster (--address / $RAY_ADDRESS) or start a local Ray with `workers` CPUs (default: all)."""
    import ray
    if ray.is_initialized():
        return  # a caller (tests, benchmarks, a notebook) already chose the Ray to use
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        # address="local": a Ray of our own even when `ray start` left a cluster running on this machine
        # (a bare ray.init() would join that one, and refuse num_cpus with a traceback)
        ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        return
    ray.init(address=address, log_to_driver=False)
    if workers:
        # Queued units alone do not make an autoscaler grow (their children are pinned to their node),
        # so ask for the CPUs outright; nodes join while the job runs and slots() follows them.
        from ray.autoscaler.sdk import request_resources
        request_resources(num_cpus=workers)


def slots(workers: int | None) -> int:
    """Videos (and units) that may run at once now: --workers, bounded by the CPUs the cluster has."""
    import ray
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(workers or cpus, cpus))


def _error_line(e: Exception) -> str:
    """One line for a unit that failed past its retries: the task's own exception where there is one."""
    cause = getattr(e, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {str(cause).strip()[:300]}"
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300] if text else ''}"


def execute(units: list[S.WorkUnit], out: Output, cfg: FaceConfig, chash: str, args, processor: str) -> dict:
    """Run the units on Ray in plan order, a bounded number at a time; returns {shard: error} of failed ones."""
    import ray
    from tqdm import tqdm
    init_ray(args.address, args.workers)
    progress = ray.remote(num_cpus=0)(Progress).remote()
    # A unit holds a CPU only while it works itself: Ray lends it out while the unit waits on its children.
    # Needing one keeps units off CPU-less nodes and lets queued units show up as demand.
    task = ray.remote(run_unit).options(num_cpus=1, max_retries=args.retries, retry_exceptions=True,
                                        scheduling_strategy="SPREAD")
    fault = os.environ.get(FAULT_ENV)
    # biggest units first, for the same reason as run_videos; shard names and contents follow the plan
    pending = sorted(units, key=lambda u: -sum(src.bytes for src in u.sources))
    running, errors = {}, {}
    bar = tqdm(total=sum(len(u.sources) for u in units), unit="video", desc="prepare", disable=args.no_progress,
               dynamic_ncols=True)
    t0 = time.time()
    while pending or running:
        n = slots(args.workers)
        while pending and len(running) < n:
            u = pending.pop(0)
            spec = {"name": u.name, "sources": [s.to_dict() for s in u.sources]}
            running[task.remote(spec, out.spec(), cfg.to_dict(), chash, args.face_model, args.video_timeout,
                                n, processor, progress, fault)] = u.name
        ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
        for ref in ready:
            name = running.pop(ref)
            try:
                ray.get(ref)
            except (ray.exceptions.RayError, OSError) as e:
                errors[name] = _error_line(e)
        _show(bar, ray.get(progress.get.remote()), time.time() - t0)
    bar.close()
    ray.kill(progress)
    return errors


def _show(bar, counts: dict, seconds: float) -> None:
    bar.n = counts["videos"]
    bar.set_postfix(fps=f"{counts['frames'] / max(seconds, 1e-6):.0f}", clips=counts["clips"],
                    failed=counts["failures"], refresh=False)
    bar.refresh()


def quality_totals(records: list[dict]) -> dict:
    """Clips cut, written and dropped by reason over all sources (every candidate is one or the other)."""
    rejected: dict[str, int] = {}
    for r in records:
        for reason, n in r.get("rejected", {}).items():
            rejected[reason] = rejected.get(reason, 0) + n
    return {"candidates": sum(r.get("candidates", r.get("clips", 0)) for r in records),
            "written": sum(r.get("clips", 0) for r in records), "rejected": rejected,
            "warnings": sum(len(r.get("warnings", [])) for r in records)}


def summarize(units, records: list[dict], errors: dict, skipped: int, seconds: float, out: str) -> list[str]:
    """The final report lines: counts (clips written and dropped by reason), then every failed input,
    input with a warning and failed shard with its reason."""
    failed = [r for r in records if r["status"] == "failed"]
    no_face = [r for r in records if r["status"] == "no_face"]
    frames = sum(r.get("frames", 0) for r in records)
    q = quality_totals(records)
    dropped = sum(q["rejected"].values())
    lines = [f"vidshard prepare: {len(records)} video(s) in {len(units)} shard(s) ({skipped} already done, skipped): "
             f"{q['written']} clips written of {q['candidates']} cut ({dropped} dropped by the quality gates"
             f"{': ' + _counts(q['rejected']) if dropped else ''}), "
             f"{sum(r['status'] == 'ok' for r in records)} ok, {len(no_face)} without a usable face, "
             f"{len(failed)} failed; {frames} frames in {seconds:.1f} s"]
    for r in no_face:
        lines.append(f"  no face   {r['path']}: {r.get('note', 'no clips')}")
    for r in failed:
        lines.append(f"  FAILED    {r['path']}: {r['reason']}")
    for r in records:
        for w in r.get("warnings", []):
            lines.append(f"  WARNING   {r['path']}: {w}")
    for name, why in sorted(errors.items()):
        lines.append(f"  SHARD FAILED {name} (after retries): {why}")
    if errors:
        lines.append(f"no manifest written: rerun the same command to resume ({len(errors)} shard(s) missing in {out})")
    return lines


def prepare(args: argparse.Namespace, processor: str = PROCESSOR) -> int:
    """The job; `processor` ('module:function' with process_video's signature) is for tests and forks."""
    check_args(args)
    cfg = face_config(args)
    fractions = S.parse_split(args.split)
    paths = S.list_sources(args.input)
    from pipelines.faces.model import face_model_path
    model = face_model_path(cfg.detector, args.face_model)
    config = resolved_config(cfg, fractions, args.videos_per_shard, S.hash_file(str(model))[0])
    chash = config_hash(config)
    units = S.plan_units(S.dedupe(S.hash_sources(paths, progress=not args.no_progress)), fractions,
                         args.videos_per_shard)
    out = Output(args.out, args.staging)
    todo = [u for u in units if args.overwrite or not out.done(u.name, chash)]
    t0 = time.time()
    errors = execute(todo, out, cfg, chash, args, processor) if todo else {}
    done_names = [u.name for u in units if u.name not in errors]
    out.collect(done_names)
    records = [r for name in done_names for r in read_stats(out.root, name).get("sources", [])]
    for line in summarize(units, records, errors, len(units) - len(todo), time.time() - t0, args.out):
        print(line)
    if errors:
        return EXIT_SHARD_FAILED
    manifest = write_manifest(out.root, name=Path(args.out.rstrip("/")).name or "faces", config=config,
                              shard_splits=S.shard_splits(units), software=SOFTWARE,
                              extra={"inputs": list(args.input), "quality": quality_totals(records)},
                              stats_only=bool(out.url))
    out.publish(Path(out.root) / "manifest.json")
    print(f"manifest: {args.out.rstrip('/')}/manifest.json version {manifest['version']} "
          f"({manifest['totals']['shards']} shards, {manifest['totals']['samples']} clips)")
    return EXIT_INPUT_FAILED if any(r["status"] == "failed" for r in records) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return prepare(args)
    except S.SourceError as e:
        print(f"vidshard prepare: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as e:
        print(f"vidshard prepare: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
