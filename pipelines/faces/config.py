"""The face pipeline's settings: one dataclass, resolved into the manifest (so it versions the dataset)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class FaceConfig:
    # detection
    detector: str = "short"          # "short" (BlazeFace short range) or "full" (full range, small faces)
    detect_every: int = 2            # run the detector on every k-th frame; splines fill the rest
    detect_size: int = 640           # longest side of the downscaled copy the detector sees
    min_score: float = 0.5           # detections below this score are dropped
    # decoding
    fps: float | None = None         # resample to this rate (None: the source's own rate)
    chunk: int = 64                  # frames decoded at a time (bounds memory)
    # tracking and smoothing
    max_gap: int = 12                # frames without a detection before a track is split
    iou_match: float = 0.2           # minimum IoU to continue a track
    scene_cut: float = 0.12          # mean abs difference of 32×32 gray thumbnails (0..1) that declares a cut
    smooth: float = 1.0              # spline smoothing strength (0: interpolate; larger: smoother)
    outlier: float = 3.0             # reject detections whose residual exceeds this many robust sigmas
    # crops and clips
    margin: float = 1.6              # crop side = margin × face size
    size: int = 64                   # output side in pixels
    gray: bool = False
    frames: int = 16                 # T: frames per clip
    stride: int | None = None        # frames between clip starts (None: = frames, no overlap)
    min_face: int = 24               # faces smaller than this (source pixels) are dropped

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FaceConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown face pipeline settings: {', '.join(sorted(unknown))}")
        return cls(**d)
