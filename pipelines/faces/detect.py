"""Face detection with mediapipe's BlazeFace, one frame at a time (blazeface.py runs the model on LiteRT).

The detector sees a downscaled copy of each frame; boxes come back mapped to source pixels. Every frame
is independent, so a result never depends on which frames were detected before it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .blazeface import BlazeFace
from .model import ModelError, face_model_path

# Building a detector costs more than detecting on many frames; Ray workers process many videos, so keep
# one per (model, detector kind, threshold).
_DETECTORS: dict[tuple[str, str, float], BlazeFace] = {}


@dataclass(frozen=True)
class Detection:
    t: int          # position in the (resampled) frame sequence
    x: float        # box in source pixels: top-left corner, width, height
    y: float
    w: float
    h: float
    score: float
    feat: np.ndarray | None = field(default=None, compare=False, repr=False)   # appearance (identity.py)
    # BlazeFace's six keypoints in source pixels (right eye, left eye, nose tip, mouth, right ear, left ear)
    keypoints: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def yaw(self) -> float | None:
        """How far the face is turned: the nose tip's offset from the eyes' midpoint along the line
        between the eyes, in eye distances (0 frontal; about 0.5 when one eye hides behind the nose)."""
        return yaw_of(self.keypoints)

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def size(self) -> float:
        return float(np.sqrt(self.w * self.h))


def yaw_of(keypoints) -> float | None:
    """Detection.yaw of a keypoint tuple (None without keypoints or with the eyes on top of each other)."""
    if not keypoints or len(keypoints) < 3:
        return None
    (rx, ry), (lx, ly), (nx, ny) = keypoints[:3]
    ex, ey = lx - rx, ly - ry
    d2 = ex * ex + ey * ey
    if d2 < 1e-6:
        return None
    return float(((nx - (rx + lx) / 2) * ex + (ny - (ry + ly) / 2) * ey) / d2)


def load_detector(model_path: str | os.PathLike, min_score: float, detector: str = "short") -> BlazeFace:
    """A BlazeFace for this .tflite, read as the `detector` kind's model; ModelError (one line) if it
    cannot be loaded or is not that model."""
    key = (str(Path(model_path).resolve()), detector, float(min_score))
    if key in _DETECTORS:
        return _DETECTORS[key]
    if not Path(model_path).is_file():
        raise ModelError(f"face model {model_path}: no such file")
    try:
        model = BlazeFace(model_path, detector, min_score)
    except Exception as e:  # LiteRT raises ValueError/RuntimeError with multi-line native text
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"face model {model_path}: cannot be loaded as the {detector!r} BlazeFace detector "
                         f"({first[:160]})") from None
    _DETECTORS[key] = model
    return model


def check_face_model(detector: str = "short", model_path=None, min_score: float = 0.5) -> Path:
    """Resolve and load the face model once, up front (e.g. before a job starts its workers).

    Returns the .tflite path; raises ModelError with a one-line reason (missing file, not a BlazeFace
    model, download failure)."""
    path = face_model_path(detector, model_path)
    load_detector(path, min_score, detector)
    return path


class FaceDetector:
    """Detect faces on downscaled frames; `detect(t, image, scale_x, scale_y)` returns source-pixel boxes."""

    def __init__(self, detector: str = "short", min_score: float = 0.5, model_path=None):
        self.model_path = face_model_path(detector, model_path)
        self.min_score = min_score
        self._det = load_detector(self.model_path, min_score, detector)

    def detect(self, t: int, image: np.ndarray, scale_x: float = 1.0, scale_y: float = 1.0) -> list[Detection]:
        if image.ndim == 2 or image.shape[-1] == 1:
            image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
        h, w = image.shape[:2]
        boxes, keypoints, scores = self._det.detect(image)
        out = []
        for (x, y, bw, bh), kps, score in zip(boxes.tolist(), keypoints.tolist(), scores.tolist()):
            if bw <= 0 or bh <= 0:
                continue
            kp = tuple((kx * w * scale_x, ky * h * scale_y) for kx, ky in kps)
            out.append(Detection(t, x * scale_x, y * scale_y, bw * scale_x, bh * scale_y, score, keypoints=kp))
        # a fixed order (left to right, then top to bottom) so that association never depends on the model's
        return sorted(out, key=lambda d: (d.x, d.y, -d.score))
