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

from .detect import Detection

CUT_SIDE = 32          # scene-cut signatures are CUT_SIDE×CUT_SIDE grayscale thumbnails
NO_MATCH = 1e6         # assignment cost of a forbidden pair
MIN_SPLINE_POINTS = 5  # fewer points -> linear interpolation (scipy's spline, which this replaced, needed 5)
STEADY_MOVE = 0.0075   # a track is steady while its box moved less than this share of its size a frame
STEADY_RUN = 2         # ... between each of its last this many pairs of detections
SIGMA_FLOOR = 0.02     # robust sigmas never go below 2% of the face size (or of log size): a near-perfect
                       # fit must not turn ordinary jitter into "outliers"


@dataclass
class Track:
    id: int
    dets: list[Detection] = field(default_factory=list)
    end: str = ""         # why it ended: "cut" (scene cut), "identity" (its face changed), "gap", "end" (video)

    @property
    def last(self) -> Detection:
        return self.dets[-1]


# ---------------------------------------------------------------------------------------------- scene cuts

def cut_signature(image: np.ndarray) -> np.ndarray:
    """A small grayscale thumbnail (uint8): frame differences on it are cheap and ignore noise.

    `image` is the detector's downscaled copy (never a full frame). The image is trimmed to a multiple of
    CUT_SIDE (at most CUT_SIDE-1 border pixels lost) so that cv2's area filter runs its integer-factor
    path, several times cheaper than an arbitrary factor.
    """
    import cv2
    gray = image.reshape(image.shape[0], image.shape[1]) if image.ndim == 3 and image.shape[-1] == 1 else image
    if gray.ndim == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    if h >= CUT_SIDE and w >= CUT_SIDE:
        gray = gray[:h - h % CUT_SIDE, :w - w % CUT_SIDE]
    return cv2.resize(np.ascontiguousarray(gray), (CUT_SIDE, CUT_SIDE), interpolation=cv2.INTER_AREA)


def cut_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in 0..1."""
    import cv2
    return cv2.mean(cv2.absdiff(a, b))[0] / 255.0


class CutDetector:
    """Streaming frame-difference scene-cut detector: feed frames in order, get True where a new shot starts.

    Measured on the shared test videos (thumbnails, mean |difference| in 0..1): ordinary motion, pans and
    head turns stay below 0.10 (foreman's pan: 0.099 from 128-px luma samples, 0.089 from 256-px ones),
    a hard cut between two of the videos gives 0.17-0.20.
    """

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.prev: np.ndarray | None = None
        self.cuts: list[int] = []

    def feed(self, t: int, image: np.ndarray) -> bool:
        sig = cut_signature(image)
        cut = self.prev is not None and cut_distance(sig, self.prev) > self.threshold
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


def assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's linear_sum_assignment(cost): (rows, cols) of the cheapest one-to-one matching. One open track
    or one detection (most frames) is an argmin, and a worker that never sees two of each never imports
    scipy.optimize (a quarter of a CPU second a worker, docs/BENCHMARKS.md)."""
    if cost.shape[0] == 1:
        return np.zeros(1, np.intp), np.array([np.argmin(cost[0])], np.intp)
    if cost.shape[1] == 1:
        return np.array([np.argmin(cost[:, 0])], np.intp), np.zeros(1, np.intp)
    from scipy.optimize import linear_sum_assignment
    return linear_sum_assignment(cost)


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


class Associator:
    """Link detections into tracks one detected frame at a time (Hungarian per frame).

    A track stays open while its last detection is at most max_gap frames old and no scene cut lies
    between; several faces in a frame give several tracks. Tracks are numbered in order of birth.
    Feed `cut(t)` for every scene cut as it is found and `step(t, dets)` for every detected frame in
    order; both `step` and `finish` return the tracks that just closed (in order of id).

    With `identity` > 0 (detections carrying an appearance descriptor, identity.descriptor), a track whose
    face changes is split (identity.AppearanceCheck): the detections that no longer match start a new
    track, the old one ends before them ("identity"). `movable(track, t)` says whether detections from
    frame t on may still leave a track (the caller has not finalized its frames there); if not, the new
    track starts at the current detection only.
    """

    def __init__(self, max_gap: int, iou_match: float, identity: float = 0.0, movable=None):
        from .identity import AppearanceCheck
        self.appearance = AppearanceCheck(identity) if identity > 0 else None
        self.movable = movable or (lambda track, t: True)
        self.max_gap, self.iou_match = max_gap, iou_match
        self.last_cut = -1
        self.open: list[Track] = []
        self.next_id = 0
        self.splits: list[int] = []   # frames where an identity split started a new track

    def cut(self, t: int) -> None:
        self.last_cut = max(self.last_cut, t)

    def step(self, t: int, dets: list[Detection]) -> list[Track]:
        # a cut c means frame c starts a new shot: a track is over if its last detection came before c
        # (cuts arrive in frame order, so the latest one before t is the only one that can separate)
        done = [tr for tr in self.open if tr.last.t < self.last_cut <= t or t - tr.last.t > self.max_gap]
        for tr in done:
            tr.end = "cut" if tr.last.t < self.last_cut <= t else "gap"
        self.open = [tr for tr in self.open if tr not in done]
        if self.appearance is not None:
            for tr in done:
                self.appearance.end(tr.id)
        unmatched = list(range(len(dets)))
        born = []
        if self.open and dets:
            cost = np.array([[match_cost(tr.last, d, self.iou_match) for d in dets] for tr in self.open])
            rows, cols = assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < NO_MATCH:
                    tr = self.open[r]
                    tr.dets.append(dets[c])
                    unmatched.remove(c)
                    moved = self.appearance.observe(tr.id, dets[c]) if self.appearance is not None else []
                    if moved:
                        if not self.movable(tr, moved[0].t):
                            moved = moved[-1:]
                        del tr.dets[-len(moved):]
                        tr.end = "identity"
                        done.append(tr)
                        self.appearance.end(tr.id)
                        born.append(moved)
                        self.splits.append(moved[0].t)
        self.open = [tr for tr in self.open if tr.end != "identity"]
        for dets_new in born + [[dets[c]] for c in unmatched]:
            tr = Track(self.next_id, list(dets_new))
            self.open.append(tr)
            if self.appearance is not None:
                self.appearance.start(tr.id, dets_new)
            self.next_id += 1
        return sorted(done, key=lambda tr: tr.id)

    def finish(self) -> list[Track]:
        done, self.open = self.open, []
        for tr in done:
            tr.end = "end"
            if self.appearance is not None:
                self.appearance.end(tr.id)
        return done


class DetectSchedule:
    """Which frames the detector runs on: every `every`-th frame while each open track was found at the
    last attempt; `retry` frames after an attempt that missed an open track; every `steady`-th while every
    open track is steady (`steady`: its box has held still over its last detections). A face briefly lost
    (turned away, blurred) is looked for again at once, before max_gap frames end its track; a face that
    keeps being found costs one detection every `every` frames, one that also holds still one every
    `steady`. After a scene cut the next attempt comes at
    most `every` frames later. Decisions depend on the detections alone, so the schedule (and the
    output) is the same on every run."""

    def __init__(self, every: int, retry: int | None = None, steady: int | None = None):
        self.every, self.retry = every, min(retry or every, every)
        self.steady = max(steady or every, every)
        self.next = 0
        self.last = -every   # the latest attempt

    @classmethod
    def of(cls, cfg) -> "DetectSchedule":
        """The schedule a FaceConfig asks for."""
        return cls(cfg.detect_interval(), cfg.detect_retry, cfg.steady_interval())

    def due(self, t: int) -> bool:
        return t >= self.next

    def due_at_end(self, t: int) -> bool:
        """Whether the video's last frame t deserves one more attempt: the fixed schedule would have made one
        since the latest (tracks never extrapolate, so a track would otherwise end up to `steady` frames
        short of the end)."""
        return t >= self.last + self.every

    def cut(self, t: int) -> None:
        """A scene cut at frame t: the new shot's faces are looked for within `every` frames."""
        self.next = min(self.next, t + self.every)

    def update(self, t: int, open_tracks: list[Track]) -> None:
        """After the attempt at frame t (and Associator.step): set the next frame to detect."""
        self.last = t
        if any(tr.last.t < t for tr in open_tracks):
            self.next = t + self.retry
        elif self.steady > self.every and open_tracks and all(steady(tr) for tr in open_tracks):
            self.next = t + self.steady
        else:
            self.next = t + self.every


def steady(track: Track) -> bool:
    """Whether a track's box moved less than STEADY_MOVE of its size a frame (centre, and log size) between
    each of its last STEADY_RUN + 1 detections. Two intervals, not one: after a single still interval the
    longer wait let boxes lag behind the onset of head turns (docs/BENCHMARKS.md, "Detection schedule")."""
    if len(track.dets) < STEADY_RUN + 1:
        return False
    recent = track.dets[-STEADY_RUN - 1:]
    for a, b in zip(recent, recent[1:]):
        move = float(np.hypot(b.cx - a.cx, b.cy - a.cy)) / max(a.size, b.size)
        if max(move, abs(float(np.log(b.size / a.size)))) >= STEADY_MOVE * (b.t - a.t):
            return False
    return True


# ----------------------------------------------------------------------------------------------- smoothing

def spline_lambda(smooth: float, spacing: float) -> float:
    """The smoothing spline's penalty for a smoothing time scale of `smooth` frames.

    A smoothing spline acts like a kernel smoother of bandwidth (lam * spacing) ** (1/4) (Silverman
    1984), so lam = smooth**4 / spacing makes `smooth` read as "averages over about this many frames"
    whatever detect_every is.
    """
    return smooth ** 4 / max(spacing, 1e-9)


def banded_to_dense(bands: np.ndarray) -> np.ndarray:
    """The symmetric matrix of upper-form bands (scipy's solveh_banded layout: bands[-1] the diagonal,
    bands[-1 - k, k:] the k-th superdiagonal). A dense solve of a smoothing window's few dozen knots
    costs what scipy's banded one does, without importing scipy.linalg in every worker (docs/BENCHMARKS.md)."""
    a = np.diag(bands[-1])
    for k in range(1, bands.shape[0]):
        off = np.diag(bands[-1 - k, k:], k)
        a += off + off.T
    return a


def smoothing_spline(t: np.ndarray, y: np.ndarray, lam: float, t_eval: np.ndarray) -> np.ndarray:
    """The cubic smoothing spline of y (n,) or (n, k) over increasing t (n >= 3; scipy wants 5), minimising
    sum (y_i - f(t_i))**2 + lam * integral f''**2, evaluated at t_eval (beyond the ends, the end pieces'
    cubics continue): scipy's make_smoothing_spline(t, y, lam=lam)(t_eval), equal within float rounding
    (tests/test_tracks.py). Reinsch's algorithm (Green & Silverman 1994, ch. 2): one solve of a banded
    system for the second derivatives at the knots (done dense: a window has a few dozen knots). scipy's
    general B-spline route costs about eight times as much a call on the short series of a smoothing
    window (docs/BENCHMARKS.md).
    """
    n, h = len(t), np.diff(t)
    inv = 1 / h
    lo, mid, hi = inv[:-1], -inv[:-1] - inv[1:], inv[1:]   # Q's column j: rows j, j+1, j+2
    bands = np.zeros((3, n - 2))                              # R + lam Q'Q, symmetric, upper form
    bands[2] = (h[:-1] + h[1:]) / 3 + lam * (lo * lo + mid * mid + hi * hi)
    bands[1, 1:] = h[1:-1] / 6 + lam * (mid[:-1] * lo[1:] + hi[:-1] * mid[1:])
    bands[0, 2:] = lam * hi[:-2] * lo[2:]
    ys = y.reshape(n, -1)
    rhs = lo[:, None] * ys[:-2] + mid[:, None] * ys[1:-1] + hi[:, None] * ys[2:]   # Q'y
    gamma = np.linalg.solve(banded_to_dense(bands), rhs)
    g = ys.copy()                                              # the fitted values at the knots: y - lam Q gamma
    g[:-2] -= lam * lo[:, None] * gamma
    g[1:-1] -= lam * mid[:, None] * gamma
    g[2:] -= lam * hi[:, None] * gamma
    curv = np.zeros_like(g)                                    # second derivatives, 0 at the ends (natural)
    curv[1:-1] = gamma
    i = np.clip(np.searchsorted(t, t_eval, side="right") - 1, 0, n - 2)
    width, dl, dr = h[i][:, None], (t_eval - t[i])[:, None], (t[i + 1] - t_eval)[:, None]
    bend = (1 + dl / width) * curv[i + 1] + (1 + dr / width) * curv[i]
    f = (dl * g[i + 1] + dr * g[i]) / width - dl * dr / 6 * bend
    return f.reshape((len(t_eval),) + y.shape[1:])


def fit_series(t: np.ndarray, y: np.ndarray, t_eval: np.ndarray, smooth: float) -> np.ndarray:
    """Smoothed values at t_eval of y (n,) or of every column of y (n, k) at once: one spline solve for
    all columns, a third of the cost of three fits."""
    if smooth <= 0 or len(t) < MIN_SPLINE_POINTS:
        if y.ndim == 1:
            return np.interp(t_eval, t, y)
        return np.stack([np.interp(t_eval, t, y[:, k]) for k in range(y.shape[1])], axis=1)
    lam = spline_lambda(smooth, float(np.median(np.diff(t))))
    return smoothing_spline(t.astype(np.float64), y.astype(np.float64), lam, np.asarray(t_eval, np.float64))


def _robust_sigma(r: np.ndarray) -> float:
    return max(1.4826 * float(np.median(np.abs(r - np.median(r)))), SIGMA_FLOOR)


def _series(dets: list[Detection]) -> tuple[np.ndarray, float, np.ndarray]:
    """(frame times, median size, N×3 series of cx and cy in median sizes and log size)."""
    t = np.array([d.t for d in dets], dtype=np.float64)
    size0 = float(np.median([d.size for d in dets]))
    series = np.array([[d.cx / size0, d.cy / size0, np.log(d.size)] for d in dets], dtype=np.float64)
    return t, size0, series


def robust_keep(t: np.ndarray, series: np.ndarray, smooth: float, outlier: float, max_rounds: int = 3) -> np.ndarray:
    """Which detections survive outlier rejection: a detection is an outlier when the RMS over the three
    series of |residual| / robust sigma exceeds `outlier`; rejection is re-decided after every refit (a
    point may come back), for up to max_rounds."""
    keep = np.ones(len(t), dtype=bool)
    for _ in range(max_rounds):
        fitted = fit_series(t[keep], series[keep], t, smooth)
        resid = series - fitted
        sigma = np.array([_robust_sigma(resid[keep, k]) for k in range(3)])
        # one score per detection: the RMS of its three residuals in robust sigmas, so three noisy series
        # do not triple the false rejections; a detection that is off in one series only still stands out
        score = np.sqrt(((resid / sigma) ** 2).mean(axis=1))
        new_keep = score <= outlier
        if new_keep.sum() < 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return keep


def evaluate_fit(t, series, keep, size0, frames: np.ndarray, smooth: float):
    """Smoothed (cx, cy, size) at `frames` from the kept detections."""
    cx, cy, logs = fit_series(t[keep], series[keep], frames, smooth).T
    return cx * size0, cy * size0, np.exp(logs)


@dataclass
class FrameBox:
    """One frame of a track, final: smoothed centre and size, the raw detection there (if any)."""
    t: int
    cx: float
    cy: float
    size: float
    raw: Detection | None
    outlier: bool

    def box(self) -> tuple[float, float, float, float]:
        return self.cx - self.size / 2, self.cy - self.size / 2, self.size, self.size


class WindowSmoother:
    """Spline smoothing of a track that is still growing: frames come out final, in order, with bounded lag.

    The smoothing spline is local (cfg.smooth is a time scale of about a frame, and a spline's influence
    decays exponentially beyond it), so the box at frame t depends only on detections near t. Frames are
    finalized in blocks of `block`: a block [a, b] is fitted (outlier rejection included) on the detections
    within `margin` frames of it, once detections up to b + margin are known or the track has closed.
    The first and last accepted detections bound the track (no extrapolation). Detections older than the
    next window are dropped from the Track, so memory stays bounded however long the track lives. The
    boxes stay within 1-2% of the face size of one fit over the whole track (tests/tracking_oracle.py:
    tests/test_tracks.py, tests/test_tracks_otb.py).
    """

    def __init__(self, track: Track, smooth: float, outlier: float, block: int = 32, margin: int = 24,
                 history: int = 128):
        self.track, self.smooth, self.outlier = track, smooth, outlier
        self.block, self.margin, self.history = block, margin, max(history, margin)
        self.next = track.dets[0].t     # first frame not yet final (before t0 is known: the first detection)
        self.started = False            # t0 (the first accepted detection) found

    def ready(self) -> list[FrameBox]:
        """Frames that became final now that the track's detections reach further."""
        out = []
        while self.track.last.t >= self.next + self.block - 1 + self.margin:
            out += self._finalize(self.next + self.block - 1, closing=False)
        return out

    def close(self) -> list[FrameBox]:
        """All remaining frames, the track having ended (its last detection is its last)."""
        return self._finalize(self.track.last.t, closing=True) if self.track.last.t >= self.next else []

    def _finalize(self, b: int, closing: bool) -> list[FrameBox]:
        a = self.next
        # outliers are judged against the spread over `history` frames before the block (detections are
        # cheap to keep), so that a short window's small sample does not make the robust sigma jumpy
        dets = [d for d in self.track.dets if a - self.history <= d.t <= b + self.margin]
        self.next = b + 1
        del self.track.dets[:sum(1 for d in self.track.dets if d.t < self.next - self.history)]
        if len(dets) < 2:
            return []
        t, size0, series = _series(dets)
        keep = robust_keep(t, series, self.smooth, self.outlier)
        near = t >= a - self.margin   # the block's own fit uses the detections near it (the spline is local)
        if (keep & near).sum() >= 2:
            t, series, keep = t[near], series[near], keep[near]
            dets = [d for d, n in zip(dets, near) if n]
        if keep.sum() < 2:
            keep[:] = True   # too few inliers to judge: trust them all rather than drop the frames
        inliers = t[keep & (t >= a)]
        # the track spans its first to last accepted detection (no extrapolation)
        lo = a if self.started else (int(inliers.min()) if len(inliers) else None)
        hi = (int(inliers.max()) if len(inliers) else a - 1) if closing else b
        if lo is None or hi < lo:
            return []
        self.started = True
        cx, cy, size = evaluate_fit(t, series, keep, size0, np.arange(lo, hi + 1, dtype=np.float64), self.smooth)
        at = {d.t: (d, bool(k)) for d, k in zip(dets, keep)}
        out = []
        for f, x, y, s in zip(range(lo, hi + 1), cx, cy, size):
            d, ok = at.get(f, (None, True))
            out.append(FrameBox(f, float(x), float(y), float(s), d, not ok))
        return out
