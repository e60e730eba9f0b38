"""Face tracks: associate detections across frames, split at scene cuts and long gaps, smooth with splines.

This is section 4 of Tuesca & Uzal (2018), made robust: per track, smoothing splines are fitted to the
time series of box centre x, y and log size; evaluated at every frame they remove detector jitter and fill
frames where the face was missed (or not looked for: we detect only every k-th frame). Detections whose
residual is large compared with the track's robust spread are rejected and the splines refitted. A track
spans exactly its first to last accepted detection: we never extrapolate, so a face that leaves ends
its track there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import make_smoothing_spline
from scipy.optimize import linear_sum_assignment

from .detect import Detection

CUT_SIDE = 32          # scene-cut signatures are CUT_SIDE×CUT_SIDE grayscale thumbnails
NO_MATCH = 1e6         # assignment cost of a forbidden pair
MIN_SPLINE_POINTS = 5  # make_smoothing_spline needs at least this many points; fewer -> linear interpolation
SIGMA_FLOOR = 0.02     # robust sigmas never go below 2% of the face size (or of log size): a near-perfect
                       # fit must not turn ordinary jitter into "outliers"


@dataclass
class Track:
    id: int
    dets: list[Detection] = field(default_factory=list)

    @property
    def last(self) -> Detection:
        return self.dets[-1]


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

    def box(self, t: int) -> tuple[float, float, float, float]:
        """Smoothed square box (x, y, w, h) at frame t, source pixels."""
        i = t - self.t0
        s = float(self.size[i])
        return float(self.cx[i]) - s / 2, float(self.cy[i]) - s / 2, s, s


# ---------------------------------------------------------------------------------------------- scene cuts

def cut_signature(image: np.ndarray) -> np.ndarray:
    """A small grayscale thumbnail in [0, 1]: frame differences on it are cheap and ignore noise.

    `image` is the detector's downscaled copy (never a full frame): one cv2 colour conversion and an
    area-averaging resize of an image of at most detect_size pixels, no PIL round trip.
    """
    import cv2
    gray = image.reshape(image.shape[0], image.shape[1]) if image.ndim == 3 and image.shape[-1] == 1 else image
    if gray.ndim == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_RGB2GRAY)
    thumb = cv2.resize(np.ascontiguousarray(gray), (CUT_SIDE, CUT_SIDE), interpolation=cv2.INTER_AREA)
    return thumb.astype(np.float32) / 255.0


class CutDetector:
    """Streaming frame-difference scene-cut detector: feed frames in order, get True where a new shot starts.

    Measured on the shared test videos (thumbnails, mean |difference| in 0..1): ordinary motion, pans and
    head turns stay below 0.09, a hard cut between two of the videos gives 0.17-0.20.
    """

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.prev: np.ndarray | None = None
        self.cuts: list[int] = []

    def feed(self, t: int, image: np.ndarray) -> bool:
        sig = cut_signature(image)
        cut = self.prev is not None and float(np.abs(sig - self.prev).mean()) > self.threshold
        self.prev = sig
        if cut:
            self.cuts.append(t)
        return cut


# --------------------------------------------------------------------------------------------- association

def iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def match_cost(prev: Detection, det: Detection, iou_match: float) -> float:
    """Cost of continuing a track ending in `prev` with `det`: 1 - IoU when they overlap enough; else a
    fallback on centre distance (fast motion between detected frames) for boxes of similar size."""
    overlap = iou(prev, det)
    if overlap >= iou_match:
        return 1.0 - overlap
    size = max(prev.size, det.size)
    dist = float(np.hypot(prev.cx - det.cx, prev.cy - det.cy)) / size
    ratio = det.size / prev.size
    if dist <= 0.5 and 2 / 3 <= ratio <= 1.5:
        return 1.0 + dist
    return NO_MATCH


def associate(frames: list[tuple[int, list[Detection]]], cuts: list[int], max_gap: int,
              iou_match: float) -> list[Track]:
    """Link detections (given per detected frame, in frame order) into tracks, Hungarian per frame.

    A track stays open while its last detection is at most max_gap frames old and no scene cut lies
    between; several faces in a frame give several tracks. Tracks are numbered in order of birth.
    """
    cuts = np.asarray(sorted(cuts), dtype=np.int64)
    open_tracks: list[Track] = []
    done: list[Track] = []
    next_id = 0
    for t, dets in frames:
        still = []
        for tr in open_tracks:
            # a cut c means frame c starts a new shot: the track is over if its last detection came before c
            crossed_cut = np.searchsorted(cuts, tr.last.t, side="right") < np.searchsorted(cuts, t, side="right")
            (done if crossed_cut or t - tr.last.t > max_gap else still).append(tr)
        open_tracks = still
        unmatched = list(range(len(dets)))
        if open_tracks and dets:
            cost = np.array([[match_cost(tr.last, d, iou_match) for d in dets] for tr in open_tracks])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < NO_MATCH:
                    open_tracks[r].dets.append(dets[c])
                    unmatched.remove(c)
        for c in unmatched:
            open_tracks.append(Track(next_id, [dets[c]]))
            next_id += 1
    return sorted(done + open_tracks, key=lambda tr: tr.id)


# ----------------------------------------------------------------------------------------------- smoothing

def spline_lambda(smooth: float, spacing: float) -> float:
    """make_smoothing_spline's penalty for a smoothing time scale of `smooth` frames.

    A smoothing spline acts like a kernel smoother of bandwidth (lam * spacing) ** (1/4) (Silverman
    1984), so lam = smooth**4 / spacing makes `smooth` read as "averages over about this many frames"
    whatever detect_every is.
    """
    return smooth ** 4 / max(spacing, 1e-9)


def fit_series(t: np.ndarray, y: np.ndarray, t_eval: np.ndarray, smooth: float) -> np.ndarray:
    if smooth <= 0 or len(t) < MIN_SPLINE_POINTS:
        return np.interp(t_eval, t, y)
    lam = spline_lambda(smooth, float(np.median(np.diff(t))))
    return make_smoothing_spline(t.astype(np.float64), y.astype(np.float64), lam=lam)(t_eval)


def _robust_sigma(r: np.ndarray) -> float:
    return max(1.4826 * float(np.median(np.abs(r - np.median(r)))), SIGMA_FLOOR)


def smooth_track(track: Track, smooth: float, outlier: float, max_rounds: int = 3) -> SmoothTrack | None:
    """Fit splines to cx, cy (in units of the track's median size) and log size; reject outliers; refit.

    A detection is an outlier when the RMS over the three series of |residual| / robust sigma exceeds
    `outlier`. Rejection is re-decided after every refit (a point may come back), for up to max_rounds.

    Returns None if rejection leaves fewer than two detections (nothing trustworthy to span).
    """
    t = np.array([d.t for d in track.dets], dtype=np.float64)
    size0 = float(np.median([d.size for d in track.dets]))
    series = np.stack([[d.cx / size0 for d in track.dets], [d.cy / size0 for d in track.dets],
                       [np.log(d.size) for d in track.dets]], axis=1)
    keep = np.ones(len(t), dtype=bool)
    for _ in range(max_rounds):
        fitted = np.stack([fit_series(t[keep], series[keep, k], t, smooth) for k in range(3)], axis=1)
        resid = series - fitted
        sigma = np.array([_robust_sigma(resid[keep, k]) for k in range(3)])
        # one score per detection: the RMS of its three residuals in robust sigmas, so three noisy series
        # do not triple the false rejections; a detection that is off in one series only still stands out
        score = np.sqrt(((resid / sigma) ** 2).mean(axis=1))
        new_keep = score <= outlier
        if new_keep.sum() < 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    if keep.sum() < 2:
        return None
    t_in = t[keep]
    t0, t1 = int(t_in[0]), int(t_in[-1])  # span the accepted detections only: no extrapolation
    frames = np.arange(t0, t1 + 1, dtype=np.float64)
    cx, cy, logs = (fit_series(t_in, series[keep, k], frames, smooth) for k in range(3))
    return SmoothTrack(id=track.id, t0=t0, t1=t1, cx=cx * size0, cy=cy * size0, size=np.exp(logs),
                       raw={d.t: d for d in track.dets},
                       outliers={d.t for d, k in zip(track.dets, keep) if not k})


def build_tracks(frames: list[tuple[int, list[Detection]]], cuts: list[int], cfg) -> list[SmoothTrack]:
    """Detections per frame + scene cuts -> smoothed tracks, using the FaceConfig's tracking settings."""
    tracks = associate(frames, cuts, cfg.max_gap, cfg.iou_match)
    smoothed = (smooth_track(tr, cfg.smooth, cfg.outlier) for tr in tracks)
    return [s for s in smoothed if s is not None]
