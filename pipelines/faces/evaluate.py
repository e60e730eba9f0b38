"""Tracking quality against ground truth: centre error and jitter of raw detections and smoothed tracks.

What is measured is the tracker `vidshard prepare` runs: each frame of the sequence goes through
video.FaceTracking (scene cuts, the detection schedule, BlazeFace, appearance descriptors, association,
windowed smoothing), exactly as process_video feeds it. Used by bench/tracking.py (figures for
docs/BENCHMARKS.md) and tests/test_tracks_otb.py, on the OTB-2013 "Girl" sequence
(../shared/data/tracking/otb_girl: 500 JPEG frames of 128×96 and one head box a frame, tab-separated
x y w h, 1-based).

Definitions (all lengths divided by the ground-truth box size sqrt(w·h) of the frame, so they are
comparable across scales):
  centre error  mean distance between the box centre and the ground-truth centre;
  jitter        mean absolute second difference over consecutive frames (t-1, t, t+1) of centre x,
                centre y and size, averaged over the three: the box's frame-to-frame acceleration.
The ground truth marks the head and BlazeFace the face, so part of the centre error is a constant
offset that no smoothing removes; "debiased" centre errors subtract each track's median offset (taken
from its raw detections) first. Jitter is where smoothing shows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import FaceConfig
from .decode import RgbPicture
from .detect import FaceDetector
from .tracks import FrameBox

# The OTB Girl frames are tiny (heads of 20-47 px in 128×96): detect on every frame (so raw jitter is
# measurable frame to frame), keep weaker detections, and accept small faces. BlazeFace resizes its input
# to 128 px internally, so upscaling these frames does not help (measured: 91% of frames detected at
# native size and at 2× or 4× with the short-range model; the full-range model finds fewer).
OTB_CONFIG = FaceConfig(detector="short", detect_every=1, detect_steady=1, min_score=0.5, min_face=16)


def load_otb(seq_dir: str | Path) -> tuple[list[Path], np.ndarray]:
    """(frame paths in order, ground truth N×4 as 0-based x, y, w, h floats)."""
    seq_dir = Path(seq_dir)
    gt_path = seq_dir / "groundtruth_rect.txt"
    try:
        gt = np.loadtxt(gt_path, delimiter="\t", ndmin=2)
    except (OSError, ValueError) as e:
        raise ValueError(f"{gt_path}: cannot read ground truth ({e})") from e
    if gt.shape[1] != 4:
        raise ValueError(f"{gt_path}: expected 4 columns x y w h, found {gt.shape[1]}")
    frames = sorted((seq_dir / "img").glob("*.jpg"))
    if len(frames) != len(gt):
        raise ValueError(f"{seq_dir}: {len(frames)} frames but {len(gt)} ground-truth boxes")
    gt = gt.copy()
    gt[:, :2] -= 1  # OTB boxes are 1-based
    return frames, gt


def load_images(paths: list[Path]) -> list[np.ndarray]:
    """The frames as RGB arrays (an image sequence decodes to the pipeline's RGB pictures)."""
    from PIL import Image
    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


class RememberingDetector:
    """A FaceDetector that remembers its answer per frame: the detector is deterministic (IMAGE mode), so
    runs of the same frames under other schedules or smoothing settings reuse what it found."""

    def __init__(self, detector: FaceDetector):
        self.detector, self.seen = detector, {}

    def detect(self, t: int, image: np.ndarray, scale_x: float = 1.0, scale_y: float = 1.0):
        key = (t, image.shape, scale_x, scale_y)
        if key not in self.seen:
            self.seen[key] = self.detector.detect(t, image, scale_x, scale_y)
        return self.seen[key]


def track_frames(frames: list[np.ndarray], cfg: FaceConfig, detector) -> tuple[list[dict[int, FrameBox]], dict]:
    """The pipeline's tracking (video.FaceTracking) over RGB frames: each track's final boxes by frame, and
    {"detect_frames": detector calls, "identity_splits", "scene_cuts"}."""
    from .video import FaceTracking
    h, w = frames[0].shape[:2]
    tracking = FaceTracking(cfg, detector, w, h)
    boxes: dict[int, dict[int, FrameBox]] = {}

    def take(final):
        for track, fbs, _ in final:
            boxes.setdefault(track.id, {}).update((fb.t, fb) for fb in fbs)

    for t, rgb in enumerate(frames):
        take(tracking.feed(t, RgbPicture(rgb)))
        tracking.release(t)
    take(tracking.finish((len(frames) - 1, RgbPicture(frames[-1]))))
    counts = {"detect_frames": tracking.detect_frames, "identity_splits": len(tracking.assoc.splits),
              "scene_cuts": len(tracking.cuts.cuts)}
    return [b for _, b in sorted(boxes.items()) if b], counts


def _centre_size(gt_row: np.ndarray) -> tuple[float, float, float]:
    x, y, w, h = gt_row
    return x + w / 2, y + h / 2, float(np.sqrt(w * h))


def _raw(track: dict[int, FrameBox]) -> dict[int, tuple[float, float, float]]:
    return {t: (fb.raw.cx, fb.raw.cy, fb.raw.size) for t, fb in track.items() if fb.raw is not None}


def target_tracks(tracks: list[dict[int, FrameBox]], gt: np.ndarray, max_error: float = 0.5) -> list[dict]:
    """Tracks that follow the annotated target: median raw centre error under half a box size (the man who
    walks in near the end makes tracks of his own; the girl's sit at 0.2-0.3: head box vs face box)."""
    keep = []
    for tr in tracks:
        errs = [_error(cx, cy, gt[t]) for t, (cx, cy, _) in _raw(tr).items()]
        if errs and np.median(errs) < max_error:
            keep.append(tr)
    return keep


def _error(cx: float, cy: float, gt_row: np.ndarray, bias=(0.0, 0.0)) -> float:
    """Centre distance in box sizes, after removing a constant offset `bias` (in box sizes)."""
    gx, gy, gs = _centre_size(gt_row)
    return float(np.hypot((cx - gx) / gs - bias[0], (cy - gy) / gs - bias[1]))


def _bias(raw: dict, gt: np.ndarray) -> tuple[float, float]:
    """A track's median face-centre minus head-centre offset, in box sizes: the part of the error that
    comes from annotating heads while detecting faces, not from tracking."""
    off = np.array([[(raw[t][0] - c[0]) / c[2], (raw[t][1] - c[1]) / c[2]] for t in raw for c in [_centre_size(gt[t])]])
    return float(np.median(off[:, 0])), float(np.median(off[:, 1]))


def _accelerations(series: dict[int, tuple[float, float, float]], gt: np.ndarray) -> list[float]:
    """|second difference| of (cx, cy, size), averaged over the three, in box sizes, per frame triple."""
    out = []
    for t in sorted(series):
        if t - 1 in series and t + 1 in series:
            acc = np.abs(np.asarray(series[t - 1]) - 2 * np.asarray(series[t]) + np.asarray(series[t + 1]))
            out.append(float(acc.mean()) / _centre_size(gt[t])[2])
    return out


def _mean(v: list[float]) -> float:
    return float(np.mean(v)) if v else float("nan")


def tracking_metrics(tracks: list[dict[int, FrameBox]], gt: np.ndarray) -> dict:
    """Centre error and jitter of the target's raw detections and of its smoothed tracks.

    Figures are pooled over the target's tracks, each measured within itself (a frame triple that spans
    two tracks would measure the split, not the detector). "Smoothed" is measured on exactly the frames
    (and frame triples) that had a raw detection, like for like; "_all" adds the frames the splines filled.
    """
    err_raw, err_smooth, err_all, acc_raw, acc_smooth, acc_all, deb_raw, deb_smooth = ([] for _ in range(8))
    detected, covered = set(), set()
    targets = target_tracks(tracks, gt)
    for tr in targets:
        raw = _raw(tr)
        smooth = {t: (fb.cx, fb.cy, fb.size) for t, fb in tr.items()}
        err_raw += [_error(*raw[t][:2], gt[t]) for t in raw]
        bias = _bias(raw, gt)
        deb_raw += [_error(*raw[t][:2], gt[t], bias) for t in raw]
        deb_smooth += [_error(*smooth[t][:2], gt[t], bias) for t in raw]
        err_smooth += [_error(*smooth[t][:2], gt[t]) for t in raw]
        err_all += [_error(*smooth[t][:2], gt[t]) for t in smooth]
        acc_raw += _accelerations(raw, gt)
        acc_smooth += _accelerations({t: smooth[t] for t in raw}, gt)
        acc_all += _accelerations(smooth, gt)
        detected |= set(raw)
        covered |= set(smooth)
    gt_series = {t: _centre_size(gt[t]) for t in range(len(gt))}
    return {
        "frames": len(gt),
        "target_tracks": len(targets),
        "detected_frames": len(detected),
        "covered_frames": len(covered),
        "centre_error_raw": _mean(err_raw),
        "centre_error_smoothed": _mean(err_smooth),
        "centre_error_smoothed_all": _mean(err_all),
        "centre_error_debiased_raw": _mean(deb_raw),
        "centre_error_debiased_smoothed": _mean(deb_smooth),
        "jitter_raw": _mean(acc_raw),
        "jitter_smoothed": _mean(acc_smooth),
        "jitter_smoothed_all": _mean(acc_all),
        "jitter_groundtruth": _mean(_accelerations(gt_series, gt)),
        "triples": len(acc_raw),
    }


class OtbSequence:
    """One OTB sequence, loaded once, measured under any number of configs with one detector (its answers
    remembered per frame: bench/tracking.py sweeps schedules and smoothing strengths)."""

    def __init__(self, seq_dir: str | Path, model_path=None, detector: str = "short", min_score: float = 0.5):
        paths, self.gt = load_otb(seq_dir)
        self.frames = load_images(paths)
        self.model = (detector, min_score)
        self.detector = RememberingDetector(FaceDetector(detector, min_score, model_path))

    def evaluate(self, cfg: FaceConfig = OTB_CONFIG) -> dict:
        """Track the sequence as the pipeline would with `cfg`; the metrics, the config and the tracker's
        counts (detector calls, identity splits, scene cuts)."""
        if (cfg.detector, cfg.min_score) != self.model:
            raise ValueError(f"OtbSequence: its detector is {self.model}, cfg asks for {(cfg.detector, cfg.min_score)}")
        tracks, counts = track_frames(self.frames, cfg, self.detector)
        return {"config": cfg.to_dict(), **counts, **tracking_metrics(tracks, self.gt)}


def evaluate_sequence(seq_dir: str | Path, cfg: FaceConfig = OTB_CONFIG, model_path=None) -> dict:
    """Track one OTB sequence as the pipeline would with `cfg`, and measure it (OtbSequence.evaluate)."""
    return OtbSequence(seq_dir, model_path, cfg.detector, cfg.min_score).evaluate(cfg)


# ------------------------------------------------------------------------------------------------ crops

INDEPENDENT_SIDE = 160      # crops are upscaled to this before the independent check
INDEPENDENT_ANGLES = (0, -20, 20)   # in-plane rotations tried (tilted heads)
_CASCADES: dict[str, object] = {}


def _cascade(name: str):
    import cv2
    if name not in _CASCADES:
        _CASCADES[name] = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    return _CASCADES[name]


def independent_face_check(crop: np.ndarray, centre: float = 0.2) -> bool:
    """Is there a face within `centre` × side of the centre of an output crop? OpenCV's Haar cascades
    (frontal, frontal alt2, profile facing either way; shipped in cv2.data), on the crop upscaled to
    INDEPENDENT_SIDE px and also rotated by ±20 degrees: a detector that neither the tracker (BlazeFace)
    nor the quality gates' face check (dlib HOG) uses, for the acceptance figures (bench/quality.py) and
    tests/test_quality.py. It does not fire on foreman's brick wall."""
    import cv2
    s = INDEPENDENT_SIDE
    big = cv2.resize(np.ascontiguousarray(crop), (s, s), interpolation=cv2.INTER_CUBIC)
    gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY) if big.ndim == 3 else big

    def centred(boxes) -> bool:
        return any(np.hypot(x + w / 2 - s / 2, y + h / 2 - s / 2) <= centre * s for x, y, w, h in boxes)

    for angle in INDEPENDENT_ANGLES:
        g = gray if angle == 0 else cv2.warpAffine(gray, cv2.getRotationMatrix2D((s / 2, s / 2), angle, 1.0), (s, s),
                                                   borderMode=cv2.BORDER_REPLICATE)
        for name in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"):
            if centred(_cascade(name).detectMultiScale(g, 1.1, 4, minSize=(48, 48))):
                return True
        profile = _cascade("haarcascade_profileface.xml")
        if centred(profile.detectMultiScale(g, 1.1, 4, minSize=(48, 48))):
            return True
        mirrored = profile.detectMultiScale(np.ascontiguousarray(g[:, ::-1]), 1.1, 4, minSize=(48, 48))
        if centred([(s - x - w, y, w, h) for x, y, w, h in mirrored]):
            return True
    return False


def independent_rates(clips) -> dict[str, float]:
    """{source_id: fraction of its clips' frames that pass independent_face_check}, from (frames, meta)."""
    hits: dict[str, list[bool]] = {}
    for frames, meta in clips:
        hits.setdefault(meta["source_id"], []).extend(independent_face_check(f) for f in frames)
    return {k: float(np.mean(v)) for k, v in hits.items()}
