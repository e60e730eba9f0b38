"""The face pipeline's settings: one dataclass, resolved into the manifest (so it versions the dataset)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

from vidshard.errors import UsageError

DETECT_SIZE = {"short": 256, "full": 640}   # detect_size None resolves to these
DETECT_EVERY = {"short": 4, "full": 2}      # detect_every None resolves to these
DETECT_STEADY = {"short": 2, "full": 1}     # detect_steady None resolves to these multiples of detect_interval()


@dataclass(frozen=True)
class FaceConfig:
    """Every setting of the face pipeline. Each field's docstring (below it) is the one place that says what
    it does and why its default; `vidshard prepare --help` and `python -m pipelines.faces.video --help` show
    them (vidshard.options.add_flags)."""
    # detection
    detector: Literal["short", "full"] = "short"
    """BlazeFace model: short (faces within ~2 m of the camera) or full (small, far faces)"""
    detect_every: int | None = None
    """run the detector on every k-th frame; the smoothing splines fill the frames between. Default: by detector,
    4 for short range (on OTB Girl no worse a centre error than detecting every frame, at 83% of its coverage,
    tested; BlazeFace is the largest cost after decoding, so this is the main speed setting), 2 for full range
    (small faces' detections flicker: every 4th frame keeps 5 instead of 9 clips of the 1080p crowd)"""
    detect_steady: int | None = None
    """run the detector only every k-th frame while every open track is steady: over its last three detections
    its box moved less than 0.75% of its size a frame (a new face, a miss, motion or a scene cut goes back to
    --detect-every). Default: by detector, twice --detect-every for short range (8: talking heads
    hold still, docs/BENCHMARKS.md), = --detect-every for full range (off: its small faces' boxes flicker)"""
    detect_retry: int | None = None
    """after an attempt that missed a tracked face, detect again this many frames later (1: more coverage on hard
    footage, 427 vs 405 of 486 frames on OTB Girl, for 1.8x the detector calls). Default: none, =
    --detect-every (a fixed schedule)"""
    detect_size: int | None = None
    """longest side (px) of the downscaled copy the detector sees (never upscaled). Default: by detector, 256 for
    short range, whose model sees 128 px (a copy twice that lets its own resize antialias), 640 for full range
    (192-px model; 384 gives the same detections on close faces for ~15% less CPU at 1080p, but the crowd's
    small faces are found less consistently: more, shorter tracks)"""
    min_score: float = 0.5
    """drop detections scoring below this"""
    # decoding
    fps: float | None = None
    """resample clips to this frame rate (default: none, the source's own rate)"""
    chunk: int = 64
    """kept so that older configs and `--chunk` still load; no effect (frames stream one at a time)"""
    # tracking and smoothing
    max_gap: int = 12
    """frames without a detection before a track is split"""
    iou_match: float = 0.2
    """minimum IoU for a detection to continue a track"""
    scene_cut: float = 0.12
    """mean absolute difference (0..1) of 32x32 grey thumbnails of consecutive frames that declares a scene cut,
    which splits tracks (motion in the test videos stays below 0.10, cuts between them give 0.17-0.20)"""
    smooth: float = 1.0
    """spline time scale in frames (0: interpolate the detections; larger: smoother, more lag); 1 is the best
    accuracy/jitter trade-off on OTB Girl (docs/BENCHMARKS.md)"""
    outlier: float = 3.0
    """reject detections whose residual (RMS over centre x, y and log size) exceeds this many robust sigmas, then
    refit"""
    # crops and clips
    margin: float = 1.6
    """crop side = MARGIN x face size"""
    size: int = 64
    """output crop side in pixels"""
    gray: bool = False
    """write grayscale clips (C=1) instead of RGB"""
    frames: int = 16
    """T: frames per clip"""
    stride: int | None = None
    """frames between clip starts (default: none, = --frames: no overlap)"""
    # quality gates (pipelines/faces/quality.py): a clip failing one is dropped and counted by reason; the
    # figures behind the defaults: docs/PIPELINE.md "Quality gates"
    min_face: int = 24
    """quality gate 'small': drop a clip whose smoothed face is below this many source pixels in any frame (below
    that, 64-px crops are upscaled mush)"""
    max_padded: float = 0.6
    """quality gate 'padded': drop a clip whose crops lie outside the frame by more than this fraction on average
    (tight close-ups are legitimately 30-54% padded: corpus 034)"""
    min_coverage: float = 0.3
    """quality gate 'coverage': drop a clip in which the detector found the face in fewer than this fraction of
    its attempts"""
    min_clip_score: float = 0.0
    """quality gate 'score': drop a clip whose mean detector score is below this (0: off)"""
    min_sharpness: float = 100.0
    """quality gate 'blur': drop a clip whose face (output crop, grey) has a median variance of the Laplacian
    below this (real faces in the corpus: 243 and up)"""
    min_contrast: float = 8.0
    """quality gate 'flat': drop a clip whose face (output crop, grey) has a median standard deviation below this
    (real faces: 15 and up)"""
    min_face_check: float = 1.0
    """quality gate 'face_check': drop a clip unless dlib's HOG detector finds a centred face in at least this
    fraction of its checked crops (0: no check)"""
    face_check_frames: int = 3
    """crops per clip the face check looks at (first, middle, last)"""
    face_check_sure: float = 1.0
    """the face check looks at the middle crop first; a centred face there with a HOG score of at least this
    settles it, and the other crops are not scanned (0: always scan them all). At 1.0 no gate decision changed on
    the corpus and the shared videos (docs/BENCHMARKS.md)"""
    # identity (tracks.AppearanceCheck): split a track whose face changes
    identity: float = 0.6
    """split a track when its face's appearance distance (identity.py) from the track's reference exceeds this
    for two detections running (0: never; figures: docs/PIPELINE.md, Identity-safe tracks)"""

    def __post_init__(self):
        # a bad setting fails here, naming itself, not deep inside a worker
        problems = []
        if self.detector not in ("short", "full"):
            problems.append(f"detector must be 'short' or 'full', not {self.detector!r}")
        for name in ("chunk", "max_gap", "size", "frames", "min_face", "face_check_frames"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < (0 if name in ("min_face", "face_check_frames") else 1):
                problems.append(f"{name} must be a positive integer, not {getattr(self, name)!r}")
        if self.detect_every is not None and (not isinstance(self.detect_every, int) or self.detect_every < 1):
            problems.append(f"detect_every must be a positive integer or None, not {self.detect_every!r}")
        if self.detect_steady is not None and (not isinstance(self.detect_steady, int) or self.detect_steady < 1):
            problems.append(f"detect_steady must be a positive integer or None, not {self.detect_steady!r}")
        if self.detect_retry is not None and (not isinstance(self.detect_retry, int) or self.detect_retry < 1):
            problems.append(f"detect_retry must be a positive integer or None, not {self.detect_retry!r}")
        if self.detect_size is not None and (not isinstance(self.detect_size, int) or self.detect_size < 1):
            problems.append(f"detect_size must be a positive integer or None, not {self.detect_size!r}")
        if self.stride is not None and (not isinstance(self.stride, int) or self.stride < 1):
            problems.append(f"stride must be a positive integer or None, not {self.stride!r}")
        if self.fps is not None and not self.fps > 0:
            problems.append(f"fps must be positive or None, not {self.fps!r}")
        for name in ("margin", "outlier", "scene_cut"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.smooth < 0 or not 0 <= self.min_score <= 1 or not 0 <= self.iou_match <= 1:
            problems.append("smooth must be >= 0; min_score and iou_match must lie in [0, 1]")
        for name in ("max_padded", "min_coverage", "min_clip_score", "min_face_check"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must lie in [0, 1], not {getattr(self, name)!r}")
        for name in ("min_sharpness", "min_contrast", "identity", "face_check_sure"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, not {getattr(self, name)!r}")
        if problems:
            raise UsageError("face pipeline settings: " + "; ".join(problems))

    def detect_interval(self) -> int:
        """Frames between detections: detect_every, or the detector's default when it is None."""
        return self.detect_every if self.detect_every is not None else DETECT_EVERY[self.detector]

    def steady_interval(self) -> int:
        """Frames between detections while every open track is steady (never fewer than detect_interval)."""
        every = self.detect_interval()
        return max(self.detect_steady or DETECT_STEADY[self.detector] * every, every)

    def detect_side(self) -> int:
        """The detector copy's longest side: detect_size, or the detector's default when it is None."""
        return self.detect_size if self.detect_size is not None else DETECT_SIZE[self.detector]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FaceConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UsageError(f"unknown face pipeline settings: {', '.join(sorted(unknown))}")
        return cls(**d)
