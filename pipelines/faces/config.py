"""The face pipeline's settings: one dataclass, resolved into the manifest (so it versions the dataset)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

DETECT_SIZE = {"short": 256, "full": 640}   # detect_size None resolves to these
DETECT_EVERY = {"short": 4, "full": 2}      # detect_every None resolves to these


@dataclass(frozen=True)
class FaceConfig:
    # detection
    detector: str = "short"          # "short" (BlazeFace short range) or "full" (full range, small faces)
    detect_every: int | None = None  # run the detector on every k-th frame; splines fill the rest. None:
                                     # by detector (DETECT_EVERY). Short range 4: on OTB Girl the same
                                     # centre error as every frame, 85% of its coverage
                                     # (tests/test_tracks_otb.py), for a quarter of BlazeFace's cost, the
                                     # largest in the pipeline (docs/BENCHMARKS.md). Full range 2: small
                                     # faces' detections flicker; every 4th frame keeps fewer of their
                                     # tracks (1080p crowd: 5 clips instead of 9)
    detect_retry: int | None = None  # frames to the next attempt after one that missed an open track
                                     # (tracks.DetectSchedule); None: detect_every (a fixed schedule)
    detect_size: int | None = None   # longest side of the downscaled copy the detector sees (never upscaled);
                                     # None: by detector (DETECT_SIZE): 256 for short range, whose model
                                     # sees 128 px (a copy twice that lets its own resize antialias), 640
                                     # for full range (384 saves ~15% CPU at 1080p but fragments the
                                     # crowd's small faces' tracks)
    min_score: float = 0.5           # detections below this score are dropped
    # decoding
    fps: float | None = None         # resample to this rate (None: the source's own rate)
    chunk: int = 64                  # unused since frames stream one at a time (decode.stream_frames); kept so
                                     # that `vidshard prepare --chunk` and older manifests still load
    # tracking and smoothing
    max_gap: int = 12                # frames without a detection before a track is split
    iou_match: float = 0.2           # minimum IoU to continue a track
    scene_cut: float = 0.12          # mean abs difference of 32×32 gray thumbnails (0..1) that declares a cut
    smooth: float = 1.0              # spline time scale in frames (0: linear interpolation; larger: smoother,
                                     # more lag). 1.0: best accuracy/jitter on OTB Girl (docs/BENCHMARKS.md)
    outlier: float = 3.0             # reject detections whose residual (RMS over cx, cy, log size) exceeds
                                     # this many robust sigmas, then refit
    # crops and clips
    margin: float = 1.6              # crop side = margin × face size
    size: int = 64                   # output side in pixels
    gray: bool = False
    frames: int = 16                 # T: frames per clip
    stride: int | None = None        # frames between clip starts (None: = frames, no overlap)
    min_face: int = 24               # gate "small": a clip whose smoothed face is smaller (source pixels) in
                                     # any frame is dropped
    # quality gates (pipelines/faces/quality.py): a clip failing one is dropped and counted by reason
    # (defaults and the figures behind them: docs/PIPELINE.md "Quality gates")
    max_padded: float = 0.6          # gate "padded": mean fraction of the crop outside the frame (tight
                                     # close-ups are legitimately 30-54% padded: corpus 034)
    min_coverage: float = 0.3        # gate "coverage": detections / detector attempts over the clip
    min_clip_score: float = 0.0      # gate "score": mean detector score over the clip's detections (off)
    min_sharpness: float = 100.0     # gate "blur": median variance of the Laplacian of the face (output
                                     # crop, grey; real faces in the corpus: 243 and up)
    min_contrast: float = 8.0        # gate "flat": median grey standard deviation of the face (output crop;
                                     # real faces: 15 and up)
    min_face_check: float = 1.0      # gate "face_check": fraction of the checked crops in which dlib's HOG
                                     # detector finds a face near the centre; 0 turns the check off
    face_check_frames: int = 3       # crops of each clip the face check looks at (first, middle, last)
    # identity (tracks.AppearanceCheck): split a track whose face changes
    identity: float = 0.6            # appearance distance (identity.py) that splits a track when two
                                     # detections in a row exceed it; 0 turns the check off

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
        for name in ("min_sharpness", "min_contrast", "identity"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, not {getattr(self, name)!r}")
        if problems:
            raise ValueError("face pipeline settings: " + "; ".join(problems))

    def detect_interval(self) -> int:
        """Frames between detections: detect_every, or the detector's default when it is None."""
        return self.detect_every if self.detect_every is not None else DETECT_EVERY[self.detector]

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
            raise ValueError(f"unknown face pipeline settings: {', '.join(sorted(unknown))}")
        return cls(**d)
