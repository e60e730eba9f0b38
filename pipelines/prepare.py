"""`vidshard prepare`: raw videos -> tracked face clips -> versioned shards, on Ray or local processes.

The driver (this process) lists and hashes the sources and plans work units (one unit = one shard; the
plan depends on the current source set only: pipelines/sources.py); the build core (shards/build.py)
reuses every unit whose shard is already stored, runs the others on the executor and writes the version.
A unit runs each of its videos that the per-video cache does not hold as a child process (a Ray task on
the same node, or a process of the local pool) under a timeout that can kill a decoder hung in native
code, and appends the clips to the shard in plan order. Failures are data: each unreadable, timed-out or
crashed video is recorded with its reason in the shard's stats and the manifest, and the job goes on. A
unit that fails is retried (--retries).

Output layout and the exit codes: see `vidshard prepare --help` and docs/PIPELINE.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import importlib
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

from shards import ShardWriter, faults
from shards.build import Pool, Unit, build, build_summary, recipe_key
from shards.reader import iter_raw_samples
from shards.sample import FRAMES, MEMBERS, META, decode_json, encode_json
from shards.store import CACHE, Store, object_rel
from shards.versions import human_bytes

from pipelines.faces import VERSION as FACE_CODE_VERSION
from pipelines.faces.config import FaceConfig
from pipelines import sources as S
from vidshard.cli import entry
from vidshard.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE  # noqa: F401 -- the statuses prepare documents
from vidshard.io import sha256_file
from vidshard.options import add_flags, values_from

EXIT_INPUT_FAILED = 3   # the dataset was written, but some inputs could not be read (listed)
EXIT_SHARD_FAILED = 4   # some shards failed past their retries (named); no manifest was written

PROCESSOR = "pipelines.faces.video:process_video"
SOFTWARE = ("decord2", "av", "ai-edge-litert", "opencv-contrib-python", "ray", "dlib-bin")
FAULT_ENV = faults.ENV   # the test hook (shards/faults.py)
RAW_STREAM_REASON = ("raw H.264 elementary stream (no container: no timestamps, frame rate or index); "
                     "remux it first: ffmpeg -r FPS -i IN.264 -c copy OUT.mp4")

EPILOG = """\
inputs (--input, repeatable; local paths or fsspec URLs s3:// gs:// https://):
  DIR        every video below it, recursively (.mp4 .mov .mkv .avi .webm .m4v .mpg .ts .flv .wmv,
             and .264/.h264 raw streams, which are recorded as failures: remux them to MP4)
  GLOB       'clips/**/*.mp4', 's3://bucket/raw/*.mov' (quote it)
  LIST       .txt/.lst/.list (one path or URL a line, # comments) or .csv (column path/url, else the
             first); relative entries are relative to the list file
  FILE       one video, whatever its extension (a non-video is recorded as a failure)
  Video id = first 16 hex digits of the sha256 of the bytes; the same content given twice is done once.

splits: each video goes to train/val/test by a hash of its id (--split weights, scaled to sum to 1), so
  a video never changes split as the source set grows; if that leaves train empty (tiny inputs), the
  video nearest the train range is moved there. Shards: {split}-{index:06d}.tar, --videos-per-shard
  videos each on average: within a split, sorted by id, a shard ends after a video whose hash says so
  (1 in N), so adding or removing a video changes only the shard it is in.

output (--out DIR or URL): a dataset directory that keeps every version built into it (docs/FORMAT.md):
  shards stored once by content, a manifest per version, DIR/manifest.json and DIR/NAME.tar the current
  one. A build reuses every shard it already has (same videos, same face settings) and every video
  result in the per-video cache, so rerunning resumes and adding videos processes only the new ones;
  --overwrite processes everything again. It prints the shards written, reused and dropped. Read a
  version as DIR@VERSION (or DIR@TAG: vidshard tag); vidshard log DIR lists them. A remote --out
  (s3://...) is written through a local staging folder: each shard is uploaded as it completes.

exit status:
  0  every input was read and every shard written
  1  unexpected error (a traceback is printed)
  2  usage error: an input that does not exist, bad option values
  3  the dataset was written, but some inputs could not be read (listed in the summary, the shard
     stats and manifest.json "failures"); a readable video without a face is NOT a failure
  4  some shards failed past their retries (named in the summary); no version is written and the
     other shards are kept: rerun the same command to resume

examples:
  vidshard prepare --input videos/ --out data/faces
  vidshard prepare --input videos/ --out data/faces --detect-every 3 --size 64 --gray --frames 20
  vidshard prepare --input list.csv --input 'extra/*.mov' --out data/faces --videos-per-shard 8 --workers 4
  RAY_ADDRESS=auto vidshard prepare --input s3://bucket/raw/ --out s3://bucket/faces-v1
"""


# ----------------------------------------------------------------------------------------- arguments

def add_face_flags(p: argparse.ArgumentParser) -> None:
    """One flag per FaceConfig field (--detect-every for detect_every): help and default from the field."""
    add_flags(p.add_argument_group("face pipeline (FaceConfig; these version the dataset)"), FaceConfig)


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
    p.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test weights, train > 0, scaled to sum to 1; "
                   "by source video (default: %(default)s)")
    p.add_argument("--videos-per-shard", type=int, default=16, metavar="N",
                   help="videos per work unit = per shard, on average (1: exactly one; default: %(default)s)")
    p.add_argument("--executor", choices=("ray", "local"), default="ray",
                   help="ray (default): a Ray job, local or --address; local: a process pool on this machine, "
                        "no Ray (the same bytes)")
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
                        "(default: $VIDSHARD_CACHE/staging/<hash of --out>; the cache is ~/.cache/vidshard unless "
                        "$VIDSHARD_CACHE is set)")
    p.add_argument("--overwrite", action="store_true", help="process every video and write every shard again "
                   "instead of reusing stored ones (the same inputs and settings give the same bytes)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    add_face_flags(p)
    return p


def face_config(args: argparse.Namespace) -> FaceConfig:
    return FaceConfig(**values_from(FaceConfig, args))


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
    """What versions the dataset: the face settings and code version, the split, the grouping and the
    detector's weights.
    (The face check's HOG detector is built into dlib: its version is in the manifest's `software`.)

    Workers, address and output location change where and how fast, not what: they are left out.
    """
    return {"pipeline": "faces", "face": cfg.to_dict(), "face_code_version": FACE_CODE_VERSION,
            "face_model_sha256": model_sha256,
            "split": dict(zip(S.SPLITS, [round(f, 6) for f in fractions])), "videos_per_shard": videos_per_shard}


# ----------------------------------------------------------------------------------------- tasks

def fault_marker(root: str, shard: str) -> Path:
    """The file that makes 'crash-once' crash only once (left in place: the test checks it, then removes it)."""
    return Path(tempfile.gettempdir()) / f"vidshard-fault-{hashlib.sha256((root + shard).encode()).hexdigest()[:16]}"


def _maybe_crash(fault: str | None, shard: str, root: str) -> None:
    """The test hook's crash kinds (shards/faults.py), from the spec the driver handed over."""
    if shard in faults.values("crash", fault):
        os._exit(1)
    if shard in faults.values("crash-once", fault):
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
    return {**record, "started": round(t0, 3), "seconds": round(time.time() - t0, 3),
            "cpu_seconds": round(u["cpu"] - cpu0, 3), "peak_rss_mb": u["peak_rss_mb"]}


def process_one(src: dict, cfg_dict: dict, model_path: str | None, part_dir: str, processor: str,
                progress, fault: str | None) -> dict:
    """Child Ray task: one video -> part_dir/<id>.tar (clips in the processor's order). Returns its record.

    Runs in its own task so the parent can kill it on timeout; it never raises for bad input."""
    from pipelines.faces.decode import VideoError
    Path(part_dir, f"{src['id']}.started").touch()  # starts the parent's timeout clock (not queue time)
    if src["id"] in faults.values("hang", fault):
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
    except VideoError as e:   # the file's own fault: the same bytes fail the same way (cached)
        return {**_measured(_failed(src, str(e) or "unreadable video"), t0, cpu0), "_cacheable": True}
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
    out["_cacheable"] = True
    return out


# ----------------------------------------------------------------------------------------- one shard

def face_hash(face: dict, model_sha256: str, processor: str, code_version: int) -> str:
    """What a video's clips depend on besides its bytes: the face settings (FaceConfig.to_dict()), the
    detector's weights, the processor and its code's version (pipelines.faces.VERSION). Per-video results
    are cached under (the video's sha256, this)."""
    return recipe_key("faces-video", face, model_sha256, processor, code_version)[:16]


def cache_key(src: dict, fhash: str) -> str:
    return f"{src['sha256']}-{fhash}"


def plan(sources: list[S.Source], fractions, videos_per_shard: int, fhash: str) -> list[Unit]:
    """The build units: sources.plan_units' shards, each keyed by its videos (content and listed path:
    the path is in every clip's json) and the face hash. Grouping settings (--split, --videos-per-shard)
    are not in the key: a shard holding the same videos is the same shard under any grouping."""
    units = []
    for u in S.plan_units(sources, fractions, videos_per_shard):
        srcs = [s.to_dict() for s in u.sources]
        key = recipe_key("faces", fhash, [[s["id"], s["sha256"], s["path"], s["duplicates"]] for s in srcs])
        units.append(Unit(u.name, u.split, key, {"sources": srcs}, weight=sum(s["bytes"] for s in srcs)))
    return units


def seed_cache(store: Store, fhash: str, processor: str) -> int:
    """A faces dataset upgraded from format 1 has no per-video cache, but its current version holds the
    same facts: every video's record, its rows of the clip and track tables, and the shard with its clips.
    With the same face settings, fill the cache from them, so growing it decodes only the new videos.
    Failed videos are left out (a timeout or a dead worker is not the file's fault). Returns entries made."""
    current = store.current_id() if store.format() == 2 else None
    if current is None or processor != PROCESSOR:   # format 1 does not say which processor made it
        return 0
    m = store.manifest(current)
    config = m.get("config", {})
    if m.get("cache_config") or config.get("pipeline") != "faces" or \
            face_hash(config["face"], config["face_model_sha256"], PROCESSOR,
                      config.get("face_code_version", 0)) != fhash:
        return 0
    made = 0
    for shard in m["shards"]:
        st = store.read_json(f"versions/{current}/{shard['name']}.stats.json")
        for rec in st.get("sources", []):
            key = cache_key(rec, fhash)
            if rec["status"] == "failed" or store.exists(f"{CACHE}/{key}.json"):
                continue
            mine = lambda rows: [{k: v for k, v in r.items() if k != "source"} for r in rows if r["source"] == rec["id"]]  # noqa: E731
            detail = {"clips": mine(st.get("clip_table", [])), "tracks": mine(st.get("track_table", [])),
                      "cuts": st.get("cut_frames", {}).get(rec["id"], [])}
            store.put_cache(key, {"record": {k: v for k, v in rec.items() if k not in ("path", "duplicates")},
                                  "detail": detail, "shards": [shard["sha256"]] if rec.get("clips") else []})
            made += 1
    return made


def fill_unit(unit: dict, w, context: dict):
    """The build's work function: one unit's videos -> one shard, in plan order. A video found in the
    per-video cache is copied from the stored shard that holds its clips (nothing decoded); the others run
    as child processes (Ray tasks on this node, or the local pool) under a timeout that can kill a decoder
    hung in native code. Returns what to do once the shard is stored: cache the videos decoded here."""
    store = w.store
    _maybe_crash(context["fault"], unit["name"], str(store.local or store.root))
    fhash, sources = context["fhash"], unit["job"]["sources"]
    cached = {}
    if not context["overwrite"]:
        for src in sources:
            entry = store.cache_entry(cache_key(src, fhash))
            if entry is not None:
                cached[src["id"]] = entry
    runner = RayVideos(context) if context["runner"] == "ray" else LOCAL_VIDEOS
    fresh = [s for s in sources if s["id"] not in cached]
    timings, detail, new_entries = [], {}, {}
    with tempfile.TemporaryDirectory(prefix=f"vidshard-{unit['name']}-") as parts:
        results = run_videos(runner, fresh, parts, context["video_timeout"], runner.parallel())
        for src in sources:
            if src["id"] in cached:
                rec, det = cached_video(store, src, cached[src["id"]], w)
                timings.append({"id": src["id"], "seconds": 0.0, "cpu_seconds": 0.0, "peak_rss_mb": 0.0, "cached": True})
            else:
                _, rec = next(results)
                det = rec.pop("_detail", None)
                if rec.pop("_cacheable", False):
                    new_entries[src["id"]] = (rec, det)
                if rec["status"] == "ok":
                    for key, members in iter_raw_samples(str(Path(parts) / f"{src['id']}.tar")):
                        w.add_members(key, [(f"{key}.{m}", members[m]) for m in MEMBERS])
                    _remove_part(parts, src["id"])
                timings.append({"id": src["id"], **{k: rec.pop(k, 0.0) for k in ("started", "seconds", "cpu_seconds", "peak_rss_mb")},
                                "cached": False})
            if rec["status"] == "failed":
                w.fail(src["path"], rec["reason"], id=src["id"])
            if src["duplicates"]:
                rec["duplicates"] = src["duplicates"]
            w.sources.append(rec)
            detail[src["id"]] = det
            if context.get("progress") is not None:
                context["progress"].add.remote(videos=1, failures=int(rec["status"] == "failed"))
    w.extra.update({"videos": timings,
                    "clip_table": [{"source": i, **r} for i, d in detail.items() if d for r in d["clips"]],
                    "track_table": [{"source": i, **r} for i, d in detail.items() if d for r in d["tracks"]],
                    "cut_frames": {i: d["cuts"] for i, d in detail.items() if d and d["cuts"]}})

    def remember(record: dict) -> None:
        by_id = {s["id"]: s for s in sources}
        for vid, (rec, det) in new_entries.items():
            entry = {"record": {k: v for k, v in rec.items() if k not in ("path", "duplicates")}, "detail": det,
                     "shards": [record["sha256"]] if rec["clips"] else []}
            store.put_cache(cache_key(by_id[vid], fhash), entry)
    return remember


def cached_video(store: Store, src: dict, entry: dict, w) -> tuple[dict, dict | None]:
    """A cached video into the shard: its clips copied from a stored shard (frames as stored; the json's
    source_path set to where the video is listed now), its record and tables as they were computed."""
    rec = {**entry["record"], "id": src["id"], "path": src["path"], "sha256": src["sha256"]}
    if rec.get("clips"):
        sha = next(s for s in entry["shards"] if store.has_object(s))
        prefix, n = f"{src['id']}_", 0
        for key, members in iter_raw_samples(object_rel(sha), open_stream=store.open, want=lambda k: k.startswith(prefix)):
            meta = decode_json(members[META])
            meta["source_path"] = src["path"]
            w.add_members(key, [(f"{key}.{FRAMES}", members[FRAMES]), (f"{key}.{META}", encode_json(meta))])
            n += 1
        if n != rec["clips"]:
            raise RuntimeError(f"cache entry of {src['path']}: {n} clips in shard {sha[:12]}, its record says {rec['clips']}")
    return rec, entry.get("detail")


def _counts(counts: dict) -> str:
    """'coverage 3, face_check 1': counts by reason, in the gates' order."""
    from pipelines.faces.quality import REASONS
    order = [r for r in REASONS if r in counts] + sorted(set(counts) - set(REASONS))
    return ", ".join(f"{r} {counts[r]}" for r in order if counts[r])


def _remove_part(parts: str, video_id: str) -> None:
    for p in Path(parts).glob(f"{video_id}.*"):
        p.unlink(missing_ok=True)


def run_videos(runner, sources: list[dict], parts: str, timeout: float, parallel: int):
    """Yield (source, record) in plan order while up to `parallel` videos run on `runner` (RayVideos or
    LocalVideos: launch, wait, result, cancel).

    The timeout clock of a video starts when its child writes PARTS/<id>.started (so time spent queued
    for a CPU never counts); past it the child is killed: a decoder stuck in native code stops too. A
    child whose process died becomes a failure record as well: nothing here raises for one bad video."""
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
                    running[runner.launch(nxt, parts)] = nxt
            if not running:
                continue
            for handle in runner.wait(list(running), 0.5):
                s = running.pop(handle)
                done[s["id"]] = runner.result(handle, s)
            now = time.time()
            for handle, s in list(running.items()):
                if s["id"] not in started and (Path(parts) / f"{s['id']}.started").exists():
                    started[s["id"]] = now
                if s["id"] in started and now - started[s["id"]] > timeout:
                    runner.cancel(handle)
                    running.pop(handle)
                    done[s["id"]] = _failed(s, f"timed out after {timeout:g} s", now - started[s["id"]])
        yield src, done.pop(src["id"])


def _failed(src: dict, reason: str, seconds: float = 0.0) -> dict:
    return {"id": src["id"], "path": src["path"], "sha256": src["sha256"], "status": "failed", "reason": reason,
            "frames": 0, "clips": 0, "seconds": round(seconds, 3)}


def _died(src: dict, e: BaseException) -> dict:
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return _failed(src, f"the worker decoding it died ({type(e).__name__}) {first}".strip())


class RayVideos:
    """Videos of a unit as child Ray tasks on the unit's node (their part files are written there)."""

    def __init__(self, context: dict):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        self.child = ray.remote(process_one).options(num_cpus=1, max_retries=1, scheduling_strategy=here,
                                                    runtime_env=VIDEO_POOL)
        self.context = context

    def parallel(self) -> int:
        return slots(self.context["workers"])

    def launch(self, src: dict, parts: str):
        c = self.context
        return self.child.remote(src, c["cfg"], c["model_path"], parts, c["processor"], c.get("progress"), c["fault"])

    def wait(self, handles: list, timeout: float) -> list:
        import ray
        return ray.wait(handles, num_returns=1, timeout=timeout)[0]

    def result(self, handle, src: dict) -> dict:
        import ray
        try:
            return ray.get(handle)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayTaskError, ray.exceptions.RaySystemError) as e:
            return _died(src, e)

    def cancel(self, handle) -> None:
        import ray
        ray.cancel(handle, force=True)


class WorkerDied(RuntimeError):
    pass


class LocalVideos:
    """Videos in `workers` local processes (spawned once, reused): `--executor local`, no Ray. A video
    past its timeout is stopped by killing its process (a decoder hung in native code too), a process that
    dies fails only its video; either way a fresh process takes its place."""

    def __init__(self, workers: int, context: dict):
        import collections
        import threading
        self.size, self.context = max(1, workers), context
        self.mp = mp.get_context("spawn")
        self.queue: collections.deque = collections.deque()
        self.idle: list = []
        self.busy: dict = {}             # (process, conn) -> future
        self.lock = threading.Lock()
        self.alive = True
        self.thread = threading.Thread(target=self._loop, name="vidshard-videos", daemon=True)
        self.thread.start()

    def parallel(self) -> int:
        return self.size

    def launch(self, src: dict, parts: str):
        c, fut = self.context, cf.Future()
        with self.lock:
            self.queue.append((fut, (src, c["cfg"], c["model_path"], parts, c["processor"], None, c["fault"])))
        return fut

    def wait(self, handles: list, timeout: float) -> list:
        return list(cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)[0])

    def result(self, handle, src: dict) -> dict:
        try:
            return handle.result()
        except WorkerDied as e:
            return _died(src, e)

    def cancel(self, handle) -> None:
        with self.lock:
            for item in list(self.queue):
                if item[0] is handle:
                    self.queue.remove(item)
            for worker, fut in list(self.busy.items()):
                if fut is handle:
                    del self.busy[worker]
                    worker[0].kill()
                    worker[0].join()
        handle.cancel() or handle.done() or handle.set_exception(WorkerDied("cancelled"))

    def close(self) -> None:
        self.alive = False
        self.thread.join()
        with self.lock:
            for proc, conn in self.idle + list(self.busy):
                try:
                    conn.send(None)
                except OSError:
                    pass
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()

    def _spawn(self):
        ours, theirs = self.mp.Pipe()
        proc = self.mp.Process(target=_video_worker, args=(theirs,), name="vidshard-video", daemon=True)
        proc.start()
        theirs.close()
        return proc, ours

    def _loop(self) -> None:
        from multiprocessing.connection import wait
        while self.alive:
            with self.lock:
                while self.queue and (self.idle or len(self.busy) + len(self.idle) < self.size):
                    fut, job = self.queue.popleft()
                    worker = self.idle.pop() if self.idle else self._spawn()
                    try:
                        worker[1].send(job)
                    except OSError:                 # it died while idle: drop it, the job waits for another
                        worker[0].join()
                        self.queue.appendleft((fut, job))
                        continue
                    self.busy[worker] = fut
                watched = list(self.busy)
            if not watched:
                time.sleep(0.05)
                continue
            wait([c for _, c in watched] + [p.sentinel for p, _ in watched], timeout=0.2)
            with self.lock:
                for worker in watched:
                    if worker not in self.busy:
                        continue                  # cancelled meanwhile (killed)
                    proc, conn = worker
                    try:
                        if not conn.poll():
                            if proc.is_alive():
                                continue
                            raise EOFError
                        result = conn.recv()
                    except (EOFError, OSError):
                        fut = self.busy.pop(worker)
                        proc.join()
                        fut.done() or fut.set_exception(WorkerDied(f"exit code {proc.exitcode}"))
                        continue
                    fut = self.busy.pop(worker)
                    self.idle.append(worker)
                    fut.done() or fut.set_result(result)


def _video_worker(conn) -> None:
    """A LocalVideos process: process_one for each job it is sent, until None."""
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(process_one(*job))


LOCAL_VIDEOS: LocalVideos | None = None   # the pool of `--executor local` (the units run in threads beside it)


class Progress:
    """A tiny Ray actor the tasks report to (videos, frames, clips, failures); the driver polls it."""

    def __init__(self):
        self.counts = {"videos": 0, "frames": 0, "clips": 0, "failures": 0}

    def add(self, **deltas):
        for k, v in deltas.items():
            self.counts[k] = self.counts.get(k, 0) + v

    def get(self) -> dict:
        return dict(self.counts)


# ----------------------------------------------------------------------------------------- executors

# Units wait on their videos' child tasks, so a node runs more Ray workers than it has CPUs; Ray kills
# idle workers above that count a second after they idle, and the next video then pays a fresh process:
# imports and the BlazeFace and dlib models, which cost more than a small video's own frames.
# Kept alive, a worker loads them once (docs/BENCHMARKS.md "Face pipeline"). ray_cluster.yaml passes the
# same setting to `ray start --head`.
RAY_SYSTEM_CONFIG = {"kill_idle_workers_interval_ms": 0}

# Videos run in a worker pool of their own. Ray keys its worker pools by runtime env: in one shared pool a
# unit often landed in a process that had loaded the face models while its videos went to one that had not,
# so a 2-CPU run loaded them in four processes (docs/BENCHMARKS.md "Face pipeline"). Units stay in the
# default pool, where Ray's prestarted workers are; task env_vars are merged with a job's runtime env.
POOL_ENV = "VIDSHARD_RAY_POOL"
VIDEO_POOL = {"env_vars": {POOL_ENV: "video"}}


def init_ray(address: str | None, workers: int | None) -> None:
    """Join a cluster (--address / $RAY_ADDRESS) or start a local Ray with `workers` CPUs (default: all)."""
    import ray
    if ray.is_initialized():
        return  # a caller (tests, benchmarks, a notebook) already chose the Ray to use
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        # address="local": a Ray of our own even when `ray start` left a cluster running on this machine
        # (a bare ray.init() would join that one, and refuse num_cpus with a traceback)
        ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 _system_config=RAY_SYSTEM_CONFIG)
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


class RayUnits:
    """The build's executor on Ray: one task per unit (it runs its videos as child tasks on its node),
    as many at once as the cluster has CPUs, up to --workers."""
    name = "ray"

    def __init__(self, workers: int | None):
        self.workers = workers

    def run(self, fn, jobs: list[tuple], tick=None):
        import ray
        # A unit holds a CPU only while it works itself: Ray lends it out while the unit waits on its
        # children. Needing one keeps units off CPU-less nodes and lets queued units show up as demand.
        task = ray.remote(fn).options(num_cpus=1, max_retries=0, scheduling_strategy="SPREAD")
        pending, running = list(range(len(jobs))), {}
        while pending or running:
            while pending and len(running) < slots(self.workers):
                i = pending.pop(0)
                running[task.remote(*jobs[i])] = i
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for ref in ready:
                i = running.pop(ref)
                try:
                    yield i, ray.get(ref)
                except (ray.exceptions.RayError, OSError) as e:
                    yield i, e
            if tick:
                tick()


# ----------------------------------------------------------------------------------------- driver

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
        lines.append(f"no version written: rerun the same command to resume ({len(errors)} shard(s) missing in {out})")
    return lines


def cache_report(result, store: Store, fhash: str) -> str:
    """How the videos of this build were served, and what the per-video cache holds for this face config."""
    rows = [t for name in result.written for t in result.records[name].get("videos", [])]
    cached = sum(1 for t in rows if t.get("cached"))
    in_reused = sum(len(result.records[name].get("videos", [])) for name in result.reused)
    entries = [n for n in store.listdir(CACHE) if n.endswith(f"-{fhash}.json")]
    size = sum(store.size(f"{CACHE}/{n}") or 0 for n in entries)
    return (f"videos: {len(rows) - cached} decoded, {cached} from the per-video cache, {in_reused} in reused shards; "
            f"per-video cache: {len(entries)} entries for this face config, {human_bytes(size)} (records and "
            f"tables; the clips stay in the stored shards, not copied)")


def prepare(args: argparse.Namespace, processor: str = PROCESSOR) -> int:
    """The job; `processor` ('module:function' with process_video's signature) is for tests and forks."""
    check_args(args)
    fractions = S.parse_split(args.split)
    paths = S.list_sources(args.input)
    store = Store(args.out, staging=args.staging)
    with store.lock("build"):   # a second build into this directory refuses now, not after hashing and Ray
        return _prepare(args, processor, store, fractions, paths)


def _prepare(args, processor: str, store: Store, fractions, paths: list[str]) -> int:
    global LOCAL_VIDEOS
    cfg = face_config(args)
    from pipelines.faces.model import face_model_path
    model_sha = sha256_file(face_model_path(cfg.detector, args.face_model))   # a missing model fails here, at once
    config = resolved_config(cfg, fractions, args.videos_per_shard, model_sha)
    fhash = face_hash(cfg.to_dict(), model_sha, processor, FACE_CODE_VERSION)
    # Ray's start (seconds) overlaps the hashing and planning, which run on a thread beside it
    with cf.ThreadPoolExecutor(1, thread_name_prefix="vidshard-plan") as pool:
        planned = pool.submit(plan_build, args, fhash, processor, store, fractions, paths)
        if args.executor == "ray":
            init_ray(args.address, args.workers)
        sources, units = planned.result()
    context = {"cfg": cfg.to_dict(), "fhash": fhash, "model_path": args.face_model, "processor": processor,
               "video_timeout": args.video_timeout, "fault": faults.spec(), "workers": args.workers,
               "overwrite": args.overwrite, "runner": args.executor}
    from tqdm import tqdm
    bar = tqdm(total=len(sources), unit="video", desc="prepare", disable=args.no_progress, dynamic_ncols=True)
    t0 = time.time()
    if args.executor == "ray":
        import ray
        progress = ray.remote(num_cpus=0)(Progress).remote()
        context["progress"] = progress
        executor = RayUnits(args.workers)
        tick = lambda: _show(bar, ray.get(progress.get.remote()), time.time() - t0)  # noqa: E731
        on_unit = None
    else:
        workers = args.workers or os.cpu_count() or 1
        LOCAL_VIDEOS = LocalVideos(workers, context)
        executor, tick = Pool(workers, threads=True), None
        on_unit = lambda unit, record: bar.update(len(record["sources"]))  # noqa: E731
    try:
        result = build(store, units, "pipelines.prepare:fill_unit", name=Path(args.out.rstrip("/")).name or "faces",
                       config=config, executor=executor, context=context, retries=args.retries,
                       overwrite=args.overwrite, software=SOFTWARE, splits=S.SPLITS,
                       extra={"inputs": list(args.input), "cache_config": fhash},
                       manifest_extra=lambda records: {"quality": quality_totals(
                           [r for rec in records.values() for r in rec.get("sources", [])])},
                       planned=lambda todo, reused: bar.update(sum(len(u.job["sources"]) for u in units
                                                                  if u.name in set(reused))),
                       tick=tick, on_unit=on_unit)
    finally:
        bar.close()
        if LOCAL_VIDEOS is not None:
            LOCAL_VIDEOS.close()
            LOCAL_VIDEOS = None
        if args.executor == "ray":
            import ray
            ray.kill(context["progress"])
    records = [r for rec in result.records.values() for r in rec.get("sources", [])]
    for line in summarize(units, records, result.failed, len(result.reused), time.time() - t0, args.out):
        print(line)
    print(build_summary(result))
    print(cache_report(result, store, fhash))
    if result.failed:
        return EXIT_SHARD_FAILED
    m = result.manifest
    print(f"version {m['version']} of {args.out.rstrip('/')} ({m['totals']['shards']} shards, {m['totals']['samples']} "
          f"clips); read it as {args.out.rstrip('/')}@{m['version']}")
    return EXIT_INPUT_FAILED if any(r["status"] == "failed" for r in records) else EXIT_OK


def plan_build(args, fhash: str, processor: str, store: Store, fractions, paths: list[str]):
    """(sources, units): every source hashed, the plan, and the per-video cache seeded from the store's
    earlier builds."""
    sources = S.dedupe(S.hash_sources(paths, progress=not args.no_progress))
    units = plan(sources, fractions, args.videos_per_shard, fhash)
    if not args.overwrite:
        seed_cache(store, fhash, processor)
    return sources, units


def _show(bar, counts: dict, seconds: float) -> None:
    bar.n = max(bar.n, counts["videos"])
    bar.set_postfix(fps=f"{counts['frames'] / max(seconds, 1e-6):.0f}", clips=counts["clips"],
                    failed=counts["failures"], refresh=False)
    bar.refresh()


def prepare_command(argv: list[str]) -> int:
    """`vidshard prepare`: a SourceError or StoreError is a usage error (exit 2), a ModelError exit 1, each one
    line (vidshard.cli.run); the job itself returns 0, 3 or 4."""
    return prepare(build_parser().parse_args(argv))


main = entry("prepare")


if __name__ == "__main__":
    sys.exit(main())
