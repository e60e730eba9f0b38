"""One video -> tracked, smoothed face clips: the per-video work of `vidshard prepare`.

One streaming pass over the video, decoding every frame once at full size and never converting a whole
frame to RGB (decode.YuvPicture: the decoder's 4:2:0 planes; other pixel formats fall back to RGB frames):
  - the detector's copy is made from the planes with cv2 (halved with the area filter while it is more
    than twice too big, then bilinear to detect_size) and converted to RGB at that small size, on
    detection frames only; scene-cut thumbnails come from a strided sample of the luma plane;
  - BlazeFace runs on the frames tracks.DetectSchedule picks (every cfg.detect_interval()-th; every
    cfg.steady_interval()-th while the faces hold still; sooner after a miss with cfg.detect_retry; once
    more on the last frame if the last attempt lies further back); each detection gets an appearance
    descriptor (identity.descriptor, from the frame's planes) and detections are linked into tracks as they come (tracks.Associator: split at
    scene cuts, long gaps and changes of face), and each open track is smoothed in windows
    (tracks.WindowSmoother): the box of frame t is final once detections a short window past t are known,
    or the track has ended;
  - full frames (as planes: half the bytes of RGB) wait in a small pool until every open track has
    finalized them; each final frame is cropped into the candidate clips that cover it (big crops are
    shrunk plane by plane and only the small result converted to RGB: YuvPicture.crop_resized);
  - a candidate, once its last frame is in, is measured and judged by the quality gates (quality.py): it
    is yielded, or counted under the first gate it failed.
So memory holds the frames of one smoothing window (block + margin + max_gap frames at most) plus the crops
of the clips being assembled, whatever the video's length. The same video and config always give the
same clips in the same order, byte for byte. Tracks are numbered in the order their first candidate
completes, clips by their position in the track (a dropped clip leaves its number unused).

    from pipelines.faces.video import process_video, VideoError
    for key, frames, meta in process_video(path, source_id, FaceConfig(), stats=stats): ...

A VideoError comes only for a file that cannot be opened or whose first frame does not decode; a stream
that ends early or breaks partway gives the clips of the frames that decoded and a warning in
stats["warnings"].
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from vidshard.errors import UsageError
from vidshard.options import add_flags, values_from

from .config import FaceConfig
from .crops import crop_box
from .decode import (Picture, RgbPicture, VideoError, detect_shape, open_reader, pad_of, read_rate, sample_indices,
                     stream_pictures)
from .detect import FaceDetector
from .identity import descriptor
from .tracks import Associator, CutDetector, DetectSchedule, FrameBox, Track, WindowSmoother

__all__ = ["process_video", "VideoError"]

BLOCK = 32    # frames a track's smoother finalizes at a time
MARGIN = 24   # detections this far either side of a block take part in its fit (the spline's reach is ~1-3
              # frames at cfg.smooth = 1; tests/test_tracks.py bounds the windowed-vs-whole-track deviation)


def _round(v: float) -> float:
    return round(float(v), 2)


@dataclass
class Clip:
    track_id: int
    start: int
    frames: np.ndarray
    boxes: list = field(default_factory=list)      # FrameBox per frame so far
    padding: list = field(default_factory=list)
    sides: list = field(default_factory=list)      # crop side (source px) per frame
    attempted: list = field(default_factory=list)  # per frame: did the detector run there
    small: bool = False                            # a frame's face was below cfg.min_face: no more crops


class TrackClips:
    """Cuts one track's final frames into candidate clips of cfg.frames frames, starting every cfg.stride
    frames from the track's first frame, as the frames arrive. Every full window is a candidate (the
    gates decide, quality.py); a window that has seen a face smaller than cfg.min_face is doomed (gate
    "small") and is no longer cropped."""

    def __init__(self, track_id: int, cfg: FaceConfig):
        self.id, self.cfg = track_id, cfg
        self.start: int | None = None
        self.last: int | None = None
        self.open: list[Clip] = []
        self.track_no: int | None = None   # given when the first candidate completes
        self.done = 0

    def add(self, fb: FrameBox, frame: Picture, attempted: bool) -> list[Clip]:
        cfg = self.cfg
        if self.last is not None and fb.t != self.last + 1:   # never happens (tracks are contiguous): be safe
            self.start, self.open = None, []
        self.last = fb.t
        if self.start is None:
            self.start = fb.t
        if (fb.t - self.start) % (cfg.stride or cfg.frames) == 0:
            channels = 1 if cfg.gray else 3
            self.open.append(Clip(self.id, fb.t, np.zeros((cfg.frames, cfg.size, cfg.size, channels), np.uint8)))
        x0, y0, side = crop_box(fb.cx, fb.cy, fb.size, cfg.margin)
        pad = list(pad_of(frame.width, frame.height, x0, y0, side))
        small = fb.size < cfg.min_face
        out = None
        for c in self.open:
            c.small = c.small or small
            if not c.small:
                if out is None:   # one crop a frame, however many clips overlap there
                    out, _ = frame.crop_resized(x0, y0, side, cfg.size, cfg.gray)
                c.frames[len(c.boxes)] = out
            c.boxes.append(fb)
            c.padding.append(pad)
            c.sides.append(side)
            c.attempted.append(attempted)
        complete = [c for c in self.open if len(c.boxes) == cfg.frames]
        self.open = [c for c in self.open if len(c.boxes) < cfg.frames]
        return complete


class FramePool:
    """Full frames kept until every open track has finalized them (the decoder's own buffers, no copies)."""

    def __init__(self):
        self.held: dict[int, Picture] = {}

    def put(self, t: int, frame: Picture) -> Picture:
        self.held[t] = frame
        return frame

    def release_before(self, t: int) -> None:
        for k in [k for k in self.held if k < t]:
            del self.held[k]


def clip_meta(clip: Clip, track_no: int, clip_no: int, source_id: str, path, indices: np.ndarray, fps: float,
              info: dict, cfg: FaceConfig, quality: dict) -> dict:
    raw = [fb.raw for fb in clip.boxes]
    return {
        "source_id": source_id, "source_path": str(path), "track": track_no, "clip": clip_no,
        "frame_indices": [int(indices[fb.t]) for fb in clip.boxes], "fps": float(fps),
        "width": info["width"], "height": info["height"], "detector": cfg.detector,
        "boxes_raw": [None if d is None else [_round(d.x), _round(d.y), _round(d.w), _round(d.h)] for d in raw],
        "scores": [None if d is None else round(d.score, 4) for d in raw],
        "outliers": [i for i, fb in enumerate(clip.boxes) if fb.outlier],
        "boxes_smoothed": [[_round(v) for v in fb.box()] for fb in clip.boxes],
        "padding": clip.padding,
        "detect_attempts": [i for i, a in enumerate(clip.attempted) if a],
        "quality": quality,
    }


class FaceTracking:
    """The per-frame tracking of `process_video`, and what the tracking figures measure (evaluate.py,
    bench/tracking.py): scene cuts, the detection schedule, BlazeFace on the detector's copy, appearance
    descriptors, association and windowed smoothing. Feed every decoded frame in order: `feed(t, frame)`
    and `finish((last t, last frame))` return (track, its frames that became final, whether the track has
    ended)."""

    def __init__(self, cfg: FaceConfig, detector, width: int, height: int):
        self.cfg, self.detector = cfg, detector
        self.dw, self.dh = detect_shape(width, height, cfg.detect_side())
        self.sx, self.sy = width / self.dw, height / self.dh
        self.cuts = CutDetector(cfg.scene_cut)
        self.schedule = DetectSchedule.of(cfg)
        self.smoothers: dict[int, WindowSmoother] = {}
        # an identity split may move a track's last detections to a new track while its smoother has not
        # finalized those frames (it lags by MARGIN frames): always, unless detect_every exceeds MARGIN
        self.assoc = Associator(cfg.max_gap, cfg.iou_match, cfg.identity,
                                movable=lambda tr, t: tr.id in self.smoothers and t >= self.smoothers[tr.id].next)
        self.attempts: set[int] = set()   # frames the detector ran on, not yet released
        self.tracks_all = self.detect_frames = self.detections = 0
        self.detect_s = self.identity_s = 0.0

    def feed(self, t: int, frame: Picture) -> list[tuple[Track, list[FrameBox], bool]]:
        detecting = self.schedule.due(t)
        rgb = isinstance(frame, RgbPicture)   # the fallback: its thumbnails come from the detector copy
        small = frame.small(self.dw, self.dh) if detecting or rgb else None
        if self.cuts.feed(t, small if rgb else frame.gray()):
            self.assoc.cut(t)
            self.schedule.cut(t)
        if not detecting:
            return []
        return self.attempt(t, frame, small)

    def attempt(self, t: int, frame: Picture, small=None) -> list[tuple[Track, list[FrameBox], bool]]:
        """Run the detector on frame t (already fed) and advance the tracks."""
        small = frame.small(self.dw, self.dh) if small is None else small
        t_det = time.perf_counter()
        dets = self.detector.detect(t, small, self.sx, self.sy)
        self.detect_s += time.perf_counter() - t_det
        if self.cfg.identity > 0:
            t_id = time.thread_time()
            dets = [replace(d, feat=descriptor(frame, d)) for d in dets]
            self.identity_s += time.thread_time() - t_id
        self.attempts.add(t)
        self.detect_frames += 1
        self.detections += len(dets)
        closed = [self.smoothers.pop(tr.id) for tr in self.assoc.step(t, dets)]
        out = [(sm.track, sm.close(), True) for sm in closed]
        for tr in self.assoc.open:
            if tr.id not in self.smoothers:
                self.smoothers[tr.id] = WindowSmoother(tr, self.cfg.smooth, self.cfg.outlier, BLOCK, MARGIN)
                self.tracks_all += 1
        self.schedule.update(t, self.assoc.open)
        return out + [(sm.track, sm.ready(), False) for sm in self.smoothers.values()]

    def finish(self, last: tuple[int, Picture] | None = None) -> list[tuple[Track, list[FrameBox], bool]]:
        """End every track. `last` = (t, frame) of the video's last frame: where DetectSchedule.due_at_end
        says so, the detector looks once more there."""
        out = []
        if last is not None and self.assoc.open and self.schedule.due_at_end(last[0]):
            out = self.attempt(*last)
        closing = [self.smoothers.pop(tr.id) for tr in self.assoc.finish()]
        return out + [(sm.track, sm.close(), True) for sm in closing]

    def release(self, t: int) -> int:
        """Forget what no open track will ask for again after frame t; returns the oldest frame still needed."""
        oldest = min((sm.next for sm in self.smoothers.values()), default=t + 1)
        self.attempts.difference_update([a for a in self.attempts if a < oldest])
        return oldest


class ClipCutter:
    """Each track's final frames into its candidate clips (TrackClips): tracks are numbered in the order
    their first candidate completes, clips by their position in the track."""

    def __init__(self, cfg: FaceConfig):
        self.cfg = cfg
        self.clips: dict[int, TrackClips] = {}
        self.next_track_no = 0
        self.closed: list[tuple] = []   # (track_no, first, last frame, why it ended, candidates) of tracks with a clip

    def cut(self, final: list[tuple[Track, list[FrameBox], bool]], pool: FramePool,
            attempts: set[int]) -> list[tuple[int, int, Clip]]:
        """Crop the final frames into their tracks' clips; (track_no, clip_no, clip) of completed clips.
        `attempts`: the frames the detector ran on (for each clip's detection coverage)."""
        complete = []
        for track, boxes, ended in final:
            tc = self.clips.setdefault(track.id, TrackClips(track.id, self.cfg))
            for fb in boxes:
                for c in tc.add(fb, pool.held[fb.t], fb.t in attempts):
                    if tc.track_no is None:
                        tc.track_no, self.next_track_no = self.next_track_no, self.next_track_no + 1
                    complete.append((tc.track_no, tc.done, c))
                    tc.done += 1
            if ended:   # nothing more will come
                self.clips.pop(track.id)
                if tc.track_no is not None:
                    self.closed.append((tc.track_no, tc.start, tc.last, track.end, tc.done))
        return complete


def process_video(path, source_id: str, cfg: FaceConfig | None = None, model_path=None,
                  stats: dict | None = None, threads: int = 1) -> Iterator[tuple[str, np.ndarray, dict]]:
    """Yield (key, frames uint8 T×size×size×C, meta) for every face clip of one video that passes the
    quality gates (quality.py).

    Raises VideoError(reason) if the file cannot be opened or decoded at all; a stream that ends early or
    breaks partway gives the clips of the frames that decoded and a sentence in stats["warnings"].
    `stats` (if given) is filled in as work proceeds: frames, fps, width, height, detections, tracks
    (with a written clip), clips (written), candidates (clips cut before the gates), rejected ({reason:
    count}), detect_frames, scene_cuts; at the end tracks_all (every track, before dropping those without
    a clip), identity_splits, warnings, detect_s (seconds inside BlazeFace), check_s (CPU seconds of the
    quality gates, the face check included), identity_s (CPU seconds of the identity descriptors) and
    total_s; and for the report: rejected_clips (key, reasons, figures, first and last frame of each
    clip not written), track_list (per track with a candidate: number, first and last frame, why it
    ended, candidates) and cut_frames (source frame indices where a scene cut or an identity split
    started a new track).
    model_path None means the cached BlazeFace model of cfg.detector (fetched on first use).
    """
    from shards import make_key
    import cv2
    from .quality import CropCheck, clip_quality, gate
    cfg = cfg or FaceConfig()
    stats = {} if stats is None else stats
    # cv2 would spread each small resize over all cores, which costs more CPU than it saves
    # (docs/BENCHMARKS.md "Face pipeline"). Our parallelism is one video per worker.
    cv2.setNumThreads(max(1, threads))
    t_start = time.perf_counter()
    # decord opens and validates (the clear reasons for bad files); its reader is dropped at once: left
    # open, it would decode the whole video ahead into its queue (dmlc/decord #208: gigabytes for a minute
    # of 720p). The frame size comes from the first streamed frame, not from a frame decoded with decord.
    n_frames, src_fps = read_rate(open_reader(path, threads=threads))
    indices = sample_indices(n_frames, src_fps, cfg.fps)
    fps = src_fps if cfg.fps is None else min(cfg.fps, src_fps)
    detector = FaceDetector(cfg.detector, cfg.min_score, model_path)
    check = CropCheck(cfg) if cfg.min_face_check > 0 else None
    warnings: list[str] = []
    pictures = stream_pictures(path, indices, threads, warnings)
    first = next(pictures)   # a VideoError if not even one frame decodes
    width, height = first[1].width, first[1].height
    info = {"width": width, "height": height}
    stats.update(frames=0, fps=src_fps, width=width, height=height, detections=0, tracks=0, clips=0,
                 candidates=0, rejected={}, detect_frames=0, scene_cuts=0, rejected_clips=[], warnings=warnings)
    tracking, cutter, pool = FaceTracking(cfg, detector, width, height), ClipCutter(cfg), FramePool()
    kept_tracks, check_s = set(), 0.0

    def emit(complete):
        nonlocal check_s
        for track_no, clip_no, clip in sorted(complete, key=lambda x: (x[0], x[1])):
            stats["candidates"] += 1
            key = make_key(source_id, track_no, clip_no)
            q = clip_quality(clip.frames, [fb.size for fb in clip.boxes],
                             [None if fb.raw is None else fb.raw.score for fb in clip.boxes], clip.attempted,
                             clip.padding, clip.sides, cfg)
            t_check = time.thread_time()
            reasons = ["small"] if clip.small else gate(q, clip.frames, cfg, check)
            check_s += time.thread_time() - t_check
            first_frame, last_frame = int(indices[clip.boxes[0].t]), int(indices[clip.boxes[-1].t])
            if reasons:
                stats["rejected"][reasons[0]] = stats["rejected"].get(reasons[0], 0) + 1
                stats["rejected_clips"].append({"key": key, "reasons": reasons, "quality": q,
                                                "frames": [first_frame, last_frame]})
                continue
            kept_tracks.add(track_no)
            stats["clips"] += 1
            stats["tracks"] = len(kept_tracks)
            meta = clip_meta(clip, track_no, clip_no, source_id, path, indices, fps, info, cfg, q)
            yield key, clip.frames, meta

    last_t = 0
    for t, frame in itertools.chain([first], pictures):
        last_t = t
        pool.put(t, frame)
        final = tracking.feed(t, frame)
        stats["frames"] += 1
        stats["detect_frames"], stats["detections"] = tracking.detect_frames, tracking.detections
        yield from emit(cutter.cut(final, pool, tracking.attempts))
        del frame
        pool.release_before(tracking.release(t))
    last = (last_t, pool.held[last_t]) if last_t in pool.held else None   # held while a track is open
    yield from emit(cutter.cut(tracking.finish(last), pool, tracking.attempts))
    stats["detect_frames"], stats["detections"] = tracking.detect_frames, tracking.detections
    pool.release_before(len(indices))
    stats["scene_cuts"] = len(tracking.cuts.cuts)
    stats["tracks_all"] = tracking.tracks_all
    stats["identity_splits"] = len(tracking.assoc.splits)
    stats["cut_frames"] = sorted({int(indices[c]) for c in tracking.cuts.cuts + tracking.assoc.splits})
    stats["track_list"] = [{"track": no, "frames": [int(indices[a]), int(indices[b])], "end": end, "candidates": n}
                           for no, a, b, end, n in sorted(cutter.closed)]
    stats["detect_s"] = round(tracking.detect_s, 3)
    stats["check_s"] = round(check_s, 3)
    stats["identity_s"] = round(tracking.identity_s, 3)
    stats["total_s"] = round(time.perf_counter() - t_start, 3)


def video_command(argv) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.faces.video",
        description="Run the face pipeline on one video and print what it finds (tracks, clips, stats); "
                    "optionally write the clips as one shard. The dataset job is `vidshard prepare`.",
        epilog="examples:\n"
               "  python -m pipelines.faces.video ../shared/data/videos/talking_head_man.mp4\n"
               "  python -m pipelines.faces.video ../shared/data/videos/crowd_1080p.mp4 --detector full --out crowd\n"
               "\nexit status: 0 done (also when no face was found), 1 the video cannot be read or the face "
               "model cannot be loaded, 2 usage error (e.g. --face-model names no file)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    p.add_argument("--face-model", help="a BlazeFace .tflite to use instead of the cached one")
    p.add_argument("--out", help="write the clips to OUT/faces-000000.tar (a vidshard shard)")
    add_flags(p.add_argument_group("face pipeline (FaceConfig)"), FaceConfig)
    args = p.parse_args(argv)
    if args.face_model and not os.path.isfile(args.face_model):
        raise UsageError(f"--face-model {args.face_model}: no such file")
    cfg = FaceConfig(**values_from(FaceConfig, args))
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
        raise VideoError(f"{args.video}: {e}") from None
    print(" ".join(f"{k}={v}" for k, v in stats.items() if not isinstance(v, list)))
    for w in stats.get("warnings", []):
        print(f"warning: {w}")
    return 0


def main(argv=None) -> int:
    from vidshard.cli import run
    return run("python -m pipelines.faces.video", video_command, argv)


if __name__ == "__main__":
    sys.exit(main())
