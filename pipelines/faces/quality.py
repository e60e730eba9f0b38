"""Clip quality: the figures every clip records and the gates that drop what no one wants to train on.

Every candidate clip (a window of cfg.frames frames of a track, cut at cfg.stride) gets its figures
measured (`clip_quality`) and written into its json under `quality`; the gates (`gate`) compare them with
the FaceConfig settings, cheapest first, and a clip that fails one is not written but counted under the
first gate it failed (the reasons below, in this order). The last gate, the face check, runs dlib's HOG
face detector on a few of the clip's own output crops (`CropCheck`): a second opinion, from another kind
of detector than the BlazeFace that made the track, on the pixels that will be trained on, that the crop
holds a face near its centre.

| reason | figure | setting | drops |
|---|---|---|---|
| `small` | `face_px_min`: the smallest smoothed face (source px) | `min_face` | faces too small to be faces at the output size |
| `padded` | `padded`: mean fraction of the crop outside the frame | `max_padded` | a face mostly outside the frame |
| `coverage` | `coverage`: detections / detector attempts over the clip | `min_coverage` | tracks kept alive by occasional hits (walls, the building after a face has left) |
| `score` | `score_mean`: mean detector score over the clip | `min_clip_score` | weak, doubtful detections |
| `blur` | `sharpness`: median variance of the Laplacian of the face (output crop, grey) | `min_sharpness` | blurred faces, smooth blobs |
| `flat` | `contrast`: median grey standard deviation of the face (output crop) | `min_contrast` | dark, flat regions |
| `face_check` | `face_check`: fraction of checked crops with a centred face | `min_face_check` | anything else that is not a face |
"""
from __future__ import annotations

import os

import numpy as np

from vidshard.io import cache_dir

from .config import FaceConfig

REASONS = ("small", "padded", "coverage", "score", "blur", "flat", "face_check")
CHECK_CENTRE = 0.2      # a face counts as centred within this fraction of the crop side from its centre
CHECK_FACE = 100        # crops are resized (cubic) so that the face (crop side / margin) spans this many px,
                        # above dlib's 80-px HOG window (its pyramid only shrinks): 160 px at margin 1.6. At 80
                        # (128 px) the crowd's small faces fail the check (docs/BENCHMARKS.md)


def face_region(crop: np.ndarray, margin: float) -> np.ndarray:
    """The central square of an output crop where the face is (side = crop side / margin), grey uint8."""
    import cv2
    side = crop.shape[0]
    f = max(4, int(round(side / margin)))
    a = (side - f) // 2
    region = crop[a:a + f, a:a + f]
    if region.shape[-1] == 3:
        return cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)
    return region.reshape(f, f)


def face_figures(gray: np.ndarray) -> tuple[float, float, float]:
    """(sharpness, contrast, brightness) of a grey image: the variance of its 3×3 Laplacian (high for crisp
    edges, low for blur and flat areas), its standard deviation and its mean. OpenCV's one-pass mean and
    deviation, a third of the CPU of numpy's var, std and mean on a face's few thousand pixels."""
    import cv2
    mean, std = cv2.meanStdDev(gray)
    _, lap = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
    return float(lap[0, 0]) ** 2, float(std[0, 0]), float(mean[0, 0])


def padded_fraction(pad, side: int) -> float:
    """Fraction of a side×side crop that lay outside the frame, from its (left, top, right, bottom) padding."""
    left, top, right, bottom = pad
    inside = max(0, side - left - right) * max(0, side - top - bottom)
    return 1.0 - inside / float(side * side)


def _r(v: float | None, nd: int = 3):
    return None if v is None else round(float(v), nd)


def clip_quality(frames: np.ndarray, sizes: list[float], scores: list[float | None], attempted: list[bool],
                 pads: list, sides: list[int], cfg: FaceConfig) -> dict:
    """The measured figures of one clip (everything but the face check, which gate() adds when it runs)."""
    sharp, contrast, bright = zip(*(face_figures(face_region(f, cfg.margin)) for f in frames))
    hits = [s for s in scores if s is not None]
    attempts = sum(attempted)
    return {
        "face_px": _r(np.median(sizes), 1), "face_px_min": _r(min(sizes), 1),
        "sharpness": _r(np.median(sharp), 1), "contrast": _r(np.median(contrast), 2),
        "brightness": _r(np.median(bright), 1),
        "attempts": int(attempts),
        "coverage": _r(len(hits) / attempts if attempts else 0.0),
        "score_mean": _r(np.mean(hits) if hits else None), "score_min": _r(min(hits) if hits else None),
        "padded": _r(np.mean([padded_fraction(p, s) for p, s in zip(pads, sides)])),
        "face_check": None,
    }


def cheap_reasons(q: dict, cfg: FaceConfig) -> list[str]:
    """The gates that need no detector, in REASONS order: every one the clip fails."""
    out = []
    if q["face_px_min"] < cfg.min_face:
        out.append("small")
    if q["padded"] > cfg.max_padded:
        out.append("padded")
    if q["coverage"] < cfg.min_coverage:
        out.append("coverage")
    if (q["score_mean"] or 0.0) < cfg.min_clip_score:
        out.append("score")
    if q["sharpness"] < cfg.min_sharpness:
        out.append("blur")
    if q["contrast"] < cfg.min_contrast:
        out.append("flat")
    return out


def check_positions(frames: int, n: int) -> list[int]:
    """Which n frames of a clip the face check looks at: spread evenly, first and last included."""
    if n <= 0:
        return []
    if n == 1 or frames == 1:
        return [frames // 2]
    return sorted({int(round(i * (frames - 1) / (n - 1))) for i in range(n)})


_HOG: list = []


def hog_detector():
    """dlib's HOG face detector, built once per process (building it costs more than checking the clips
    of a short video)."""
    if not _HOG:
        _HOG.append(_load_hog())
    return _HOG[0]


def _load_hog():
    """dlib builds its frontal detector by parsing the model from text, about 0.17 CPU s in every worker;
    saved once in dlib's binary form under the cache (per dlib version) it loads in a millisecond, with the
    same detections (boxes, scores and sub-detectors on 580 corpus crops). Any trouble with the cache file
    (unwritable, damaged) falls back to building it."""
    import dlib
    path = cache_dir("dlib", f"frontal_face_hog-{dlib.__version__}.svm")
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:
            path.unlink(missing_ok=True)
    detector = dlib.get_frontal_face_detector()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # dlib saves to a path: renamed when whole
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        detector.save(str(tmp))
        os.replace(tmp, path)
    except (OSError, RuntimeError):
        tmp.unlink(missing_ok=True)
    return detector


class CropCheck:
    """The second opinion: dlib's HOG face detector (frontal and up to ~45 degrees of turn; no model file,
    it is part of dlib) on a clip's own output crops, resized so that the face (crop side / margin) spans
    CHECK_FACE px, above the detector's 80-px window whatever --margin is.

    `__call__(frames)` returns the fraction of the checked frames (check_positions) in which a face is
    found with its centre within CHECK_CENTRE × side of the crop centre. A different model from the
    BlazeFace detector that built the track: it does not fire on the textures BlazeFace mistook for faces
    (foreman's brick wall), and misses faces turned far enough that they hardly show as faces at 64 px.
    """

    def __init__(self, cfg: FaceConfig):
        self.cfg = cfg
        self.positions = check_positions(cfg.frames, cfg.face_check_frames)
        self.side = int(round(CHECK_FACE * cfg.margin))
        self.detector = hog_detector()

    def score(self, crop: np.ndarray) -> float | None:
        """HOG's best score for a face centred in the crop (>= 0, dlib's own threshold), None if none is."""
        import cv2
        side = self.side
        big = cv2.resize(np.ascontiguousarray(crop), (side, side), interpolation=cv2.INTER_CUBIC)
        gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY) if big.ndim == 3 else big
        found, scores, _ = self.detector.run(np.ascontiguousarray(gray), 0, 0.0)
        centred = [s for d, s in zip(found, scores)
                   if np.hypot((d.left() + d.right()) / 2 - side / 2, (d.top() + d.bottom()) / 2 - side / 2)
                   <= CHECK_CENTRE * side]
        return float(max(centred)) if centred else None

    def __call__(self, frames: np.ndarray) -> float:
        """The fraction of checked crops with a centred face: the middle one first, which settles it alone when
        its score reaches cfg.face_check_sure (then 1.0 of the one crop checked)."""
        if not self.positions:
            return 1.0
        middle, *others = self.order()
        first = self.score(frames[middle])
        sure = self.cfg.face_check_sure
        if first is not None and sure > 0 and first >= sure:
            return 1.0
        rest = [self.score(frames[i]) is not None for i in others]
        return (sum(rest) + (first is not None)) / (len(rest) + 1)

    def order(self) -> list[int]:
        """The checked positions in the order they are scanned: the middle one, then the others."""
        middle = self.positions[len(self.positions) // 2]
        return [middle] + [i for i in self.positions if i != middle]


def gate(q: dict, frames: np.ndarray, cfg: FaceConfig, check: CropCheck | None) -> list[str]:
    """Every gate the clip fails, in REASONS order (empty: keep it). The face check runs only on clips
    that passed the others (it is the only gate that costs detector time); q["face_check"] is filled."""
    reasons = cheap_reasons(q, cfg)
    if not reasons and check is not None and cfg.min_face_check > 0:
        q["face_check"] = _r(check(frames))
        if q["face_check"] < cfg.min_face_check:
            reasons.append("face_check")
    return reasons
