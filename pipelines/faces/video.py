"""One video -> tracked, smoothed face clips: the per-video work of `vidshard prepare`.

Two passes over the video, both in bounded chunks of cfg.chunk frames:
  1. a downscaled decode: scene-cut signatures on every frame, BlazeFace on every cfg.detect_every-th;
     then association into tracks and spline smoothing (only boxes are kept, never frames);
  2. a full-resolution decode of just the frames that fall into clips: each is cropped for every clip
     that covers it, and a clip is yielded as soon as its last frame is cropped.
So memory holds one chunk of frames plus the crops of the clips still being assembled, whatever the
video's length. Clips come out ordered by (last frame, track, clip): the same video and config always
give the same clips in the same order, byte for byte.

    from pipelines.faces.video import process_video, VideoError
    for key, frames, meta in process_video(path, source_id, FaceConfig(), stats=stats): ...

A VideoError normally comes before the first clip (pass 1 decodes every frame), but can in principle come
after some clips were yielded (a file that decodes downscaled but not at full size): callers that want
all-or-nothing per video should collect a video's clips before writing them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .config import FaceConfig
from .crops import clip_spans, face_crop
from .decode import VideoError, detect_shape, open_reader, read_frames, read_info, sample_indices
from .detect import FaceDetector
from .model import ModelError
from .tracks import CutDetector, SmoothTrack, build_tracks

__all__ = ["process_video", "VideoError"]


@dataclass
class Clip:
    track: SmoothTrack
    track_no: int             # the track's number in this video's output (kept tracks, in order of start)
    clip_no: int
    start: int
    end: int
    frames: np.ndarray | None = None
    padding: list = field(default_factory=list)


def _round(v: float) -> float:
    return round(float(v), 2)


def detect_pass(path, indices, info, cfg: FaceConfig, detector: FaceDetector, threads: int, stats: dict):
    """Pass 1: (detections per detected frame, scene cuts), from a downscaled decode."""
    dw, dh = detect_shape(info["width"], info["height"], cfg.detect_size)
    reader = open_reader(path, dw, dh, threads) if (dw, dh) != (info["width"], info["height"]) \
        else open_reader(path, threads=threads)
    sx, sy = info["width"] / dw, info["height"] / dh
    cuts = CutDetector(cfg.scene_cut)
    per_frame = []
    for t, frame in read_frames(reader, indices, cfg.chunk):
        cuts.feed(t, frame)
        if t % cfg.detect_every == 0:
            dets = detector.detect(t, frame, sx, sy)
            per_frame.append((t, dets))
            stats["detect_frames"] += 1
            stats["detections"] += len(dets)
        stats["frames"] += 1
    stats["scene_cuts"] = len(cuts.cuts)
    return per_frame, cuts.cuts


def plan_clips(tracks: list[SmoothTrack], cfg: FaceConfig) -> list[Clip]:
    """Every clip of every track; tracks without a clip are dropped and the rest numbered by start."""
    clips, track_no = [], 0
    for tr in sorted(tracks, key=lambda s: (s.t0, s.id)):
        spans = clip_spans(tr, cfg.frames, cfg.stride, cfg.min_face)
        if spans:
            clips += [Clip(tr, track_no, k, a, b) for k, (a, b) in enumerate(spans)]
            track_no += 1
    return clips


def clip_meta(clip: Clip, source_id: str, path: str, indices: np.ndarray, fps: float, info: dict,
              cfg: FaceConfig) -> dict:
    tr = clip.track
    ts = range(clip.start, clip.end + 1)
    raw = [tr.raw.get(t) for t in ts]
    return {
        "source_id": source_id, "source_path": str(path), "track": clip.track_no, "clip": clip.clip_no,
        "frame_indices": [int(indices[t]) for t in ts], "fps": float(fps),
        "width": info["width"], "height": info["height"], "detector": cfg.detector,
        "boxes_raw": [None if d is None else [_round(d.x), _round(d.y), _round(d.w), _round(d.h)] for d in raw],
        "scores": [None if d is None else round(d.score, 4) for d in raw],
        "outliers": [t - clip.start for t in ts if t in tr.outliers],
        "boxes_smoothed": [[_round(v) for v in tr.box(t)] for t in ts],
        "padding": clip.padding,
    }


def crop_pass(reader, clips: list[Clip], indices: np.ndarray, cfg: FaceConfig) -> Iterator[Clip]:
    """Pass 2: decode only the frames clips need, crop them, yield each clip when complete."""
    needs: dict[int, list[Clip]] = {}
    ends: dict[int, list[Clip]] = {}
    for c in clips:
        for t in range(c.start, c.end + 1):
            needs.setdefault(t, []).append(c)
        ends.setdefault(c.end, []).append(c)
    wanted = np.array(sorted(needs), dtype=np.int64)
    channels = 1 if cfg.gray else 3
    for pos, frame in read_frames(reader, indices[wanted], cfg.chunk):
        t = int(wanted[pos])
        for c in needs.pop(t):
            if c.frames is None:
                c.frames = np.empty((cfg.frames, cfg.size, cfg.size, channels), dtype=np.uint8)
            c.frames[t - c.start], pad = face_crop(frame, c.track, t, cfg)
            c.padding.append(list(pad))
        del frame   # before the clips go out: the consumer's work must not keep a full frame alive
        yield from sorted(ends.pop(t, []), key=lambda c: (c.track_no, c.clip_no))


def process_video(path, source_id: str, cfg: FaceConfig | None = None, model_path=None,
                  stats: dict | None = None, threads: int = 1) -> Iterator[tuple[str, np.ndarray, dict]]:
    """Yield (key, frames uint8 T×size×size×C, meta) for every face clip of one video.

    Raises VideoError(reason) if the file cannot be opened or decoded. `stats` (if given) is filled in
    as work proceeds: frames, fps, width, height, detections, tracks, clips, detect_frames, and more.
    model_path None means the cached BlazeFace model of cfg.detector (fetched on first use).
    """
    from shards import make_key
    cfg = cfg or FaceConfig()
    stats = {} if stats is None else stats
    t_start = time.perf_counter()
    # decord decodes ahead into an unbounded queue whenever its consumer is idle (dmlc/decord #208): an open
    # full-size reader left alone during pass 1 fills with the whole video (3.6 GiB on 1 min of 720p). So
    # this reader lives only for read_info, and pass 2 opens its own when pass 1 is over.
    vi = read_info(open_reader(path, threads=threads))
    info = {"width": vi.width, "height": vi.height}
    stats.update(frames=0, fps=vi.fps, width=vi.width, height=vi.height, detections=0, tracks=0, clips=0,
                 detect_frames=0)
    indices = sample_indices(vi.frames, vi.fps, cfg.fps)
    fps = vi.fps if cfg.fps is None else min(cfg.fps, vi.fps)
    detector = FaceDetector(cfg.detector, cfg.min_score, model_path)

    per_frame, cuts = detect_pass(path, indices, info, cfg, detector, threads, stats)
    tracks = build_tracks(per_frame, cuts, cfg)
    clips = plan_clips(tracks, cfg)
    stats["tracks_all"] = len(tracks)
    stats["tracks"] = len({c.track_no for c in clips})
    stats["detect_s"] = round(time.perf_counter() - t_start, 3)
    reader = open_reader(path, threads=threads) if clips else None
    for clip in crop_pass(reader, clips, indices, cfg):
        meta = clip_meta(clip, source_id, path, indices, fps, info, cfg)
        frames, clip.frames = clip.frames, None  # the caller owns the array now; we keep nothing
        stats["clips"] += 1
        yield make_key(source_id, clip.track_no, clip.clip_no), frames, meta
    stats["total_s"] = round(time.perf_counter() - t_start, 3)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.faces.video",
        description="Run the face pipeline on one video and print what it finds (tracks, clips, stats); "
                    "optionally write the clips as one shard. The dataset job is `vidshard prepare`.",
        epilog="examples:\n"
               "  python -m pipelines.faces.video ../shared/data/videos/talking_head_man.mp4\n"
               "  python -m pipelines.faces.video ../shared/data/videos/crowd_1080p.mp4 --detector full --out /tmp/s\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    d = FaceConfig()
    p.add_argument("video")
    p.add_argument("--detector", choices=("short", "full"), default=d.detector,
                   help=f"BlazeFace short range (faces near the camera) or full range (small faces); default {d.detector}")
    p.add_argument("--face-model", help="a BlazeFace .tflite to use instead of the cached one")
    p.add_argument("--detect-every", type=int, default=d.detect_every, help=f"default {d.detect_every}")
    p.add_argument("--fps", type=float, default=d.fps, help="resample to this frame rate (default: the source's)")
    p.add_argument("--frames", type=int, default=d.frames, help=f"frames per clip (default {d.frames})")
    p.add_argument("--size", type=int, default=d.size, help=f"output side in pixels (default {d.size})")
    p.add_argument("--gray", action="store_true", help="one grayscale channel instead of RGB")
    p.add_argument("--out", help="write the clips to OUT/faces-000000.tar (a vidshard shard)")
    p.epilog += "\nexit status: 0 done (also when no face was found), 1 the video cannot be read, 2 bad face model"
    args = p.parse_args(argv)
    cfg = FaceConfig(detector=args.detector, detect_every=args.detect_every, fps=args.fps, frames=args.frames,
                     size=args.size, gray=args.gray)
    stats = {}
    source_id = "".join(ch if ch.isalnum() else "-" for ch in os.path.splitext(os.path.basename(args.video))[0])
    try:
        clips = process_video(args.video, source_id, cfg, model_path=args.face_model, stats=stats)
        if args.out:
            from shards import ShardWriter, config_hash
            with ShardWriter(args.out, "faces-000000") as w:
                w.extra["config_hash"] = config_hash(cfg.to_dict())
                for key, frames, meta in clips:
                    w.add(key, frames, meta)
        else:
            for key, frames, meta in clips:
                print(f"{key}: frames {meta['frame_indices'][0]}-{meta['frame_indices'][-1]} {frames.shape}")
    except VideoError as e:
        print(f"{args.video}: {e}", file=sys.stderr)
        return 1
    except ModelError as e:  # one line, not a traceback
        print(e, file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
