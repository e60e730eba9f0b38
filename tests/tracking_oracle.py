"""The whole-sequence tracker: a test oracle for the streaming one that `vidshard prepare` runs.

`pipelines/faces/video.py` tracks as it decodes (tracks.Associator one detected frame at a time,
tracks.WindowSmoother fitting splines in windows, TrackClips cutting clips frame by frame). Here the same
association and the same spline fit (tracks.robust_keep, tracks.evaluate_fit) run over a whole track at
once; the tests check that the streaming results agree with these (tests/test_tracks.py,
tests/test_tracks_otb.py). Nothing in the pipeline or its measurements uses this module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.faces.crops import crop_box, crop_square, resize
from pipelines.faces.detect import Detection
from pipelines.faces.tracks import Associator, Track, _series, evaluate_fit, robust_keep


@dataclass
class SmoothTrack:
    """A track evaluated at every frame t0..t1 (inclusive): smoothed centre and size, raw detections."""
    id: int
    t0: int
    t1: int
    cx: np.ndarray
    cy: np.ndarray
    size: np.ndarray
    raw: dict[int, Detection]      # frame -> detection (inliers and outliers alike)
    outliers: set[int]             # frames whose detection was rejected

    def __len__(self) -> int:
        return self.t1 - self.t0 + 1


def associate(frames: list[tuple[int, list[Detection]]], cuts: list[int], max_gap: int,
              iou_match: float) -> list[Track]:
    """All tracks of a whole sequence (detections given per detected frame, in frame order)."""
    cuts = sorted(cuts)
    assoc, done, c = Associator(max_gap, iou_match), [], 0
    for t, dets in frames:
        while c < len(cuts) and cuts[c] <= t:
            assoc.cut(cuts[c])
            c += 1
        done += assoc.step(t, dets)
    return sorted(done + assoc.finish(), key=lambda tr: tr.id)


def smooth_track(track: Track, smooth: float, outlier: float, max_rounds: int = 3) -> SmoothTrack | None:
    """Fit splines to cx, cy (in units of the track's median size) and log size over the whole track;
    reject outliers (RMS over the three series of |residual| / robust sigma above `outlier`, re-decided
    after every refit); span the first to the last accepted detection. None if fewer than two remain."""
    t, size0, series = _series(track.dets)
    keep = robust_keep(t, series, smooth, outlier, max_rounds)
    if keep.sum() < 2:
        return None
    t_in = t[keep]
    t0, t1 = int(t_in[0]), int(t_in[-1])  # span the accepted detections only: no extrapolation
    cx, cy, size = evaluate_fit(t, series, keep, size0, np.arange(t0, t1 + 1, dtype=np.float64), smooth)
    return SmoothTrack(id=track.id, t0=t0, t1=t1, cx=cx, cy=cy, size=size,
                       raw={d.t: d for d in track.dets},
                       outliers={d.t for d, k in zip(track.dets, keep) if not k})


def build_tracks(frames: list[tuple[int, list[Detection]]], cuts: list[int], cfg) -> list[SmoothTrack]:
    """Detections per frame + scene cuts -> smoothed tracks, using the FaceConfig's tracking settings."""
    tracks = associate(frames, cuts, cfg.max_gap, cfg.iou_match)
    smoothed = (smooth_track(tr, cfg.smooth, cfg.outlier) for tr in tracks)
    return [s for s in smoothed if s is not None]


def face_crop(frame: np.ndarray, track: SmoothTrack, t: int, cfg) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The output crop of `track` at frame t and its padding, following cfg.margin, cfg.size, cfg.gray."""
    i = t - track.t0
    x0, y0, side = crop_box(track.cx[i], track.cy[i], track.size[i], cfg.margin)
    crop, pad = crop_square(frame, x0, y0, side)
    return resize(crop, cfg.size, cfg.gray), pad


def valid_runs(track: SmoothTrack, min_face: float) -> list[tuple[int, int]]:
    """Maximal runs [a, b] of frames where the smoothed face is at least min_face pixels."""
    ok = np.concatenate([[False], track.size >= min_face, [False]])
    edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
    return [(track.t0 + int(a), track.t0 + int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def clip_spans(track: SmoothTrack, frames: int, stride: int | None, min_face: float) -> list[tuple[int, int]]:
    """(first, last) frame of every clip the video pipeline keeps by size (video.TrackClips): windows of
    `frames` frames starting every `stride` frames from the track's first frame, in which the smoothed
    face is at least min_face in every frame (the others are candidates dropped by the gate "small").
    A track shorter than one clip gives none."""
    step = stride or frames
    ok = track.size >= min_face
    return [(track.t0 + s, track.t0 + s + frames - 1) for s in range(0, len(track) - frames + 1, step)
            if ok[s:s + frames].all()]
