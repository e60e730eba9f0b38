"""Identity-safe tracks: a cheap appearance descriptor on the detector's boxes, and the test that splits a
track whose face changes (a cross-fade, a wipe, one person leaving as another arrives at the same place:
changes the frame-difference cut detector does not see, and that IoU association happily follows).

The descriptor (`descriptor`) is the CIE Lab colour layout of the face: the square of CONTEXT × the
detection's size around its centre (face, hair, ears, collar: what the crop will show), shrunk to 32 px
(YuvPicture.crop_resized, which shrinks a big face before converting it), then 4×4 cells of mean L, a, b over that square and
4×4 over its central 20 px (the face itself), 96 numbers in [0, 1] scaled so that distances are Euclidean.
It is computed once per detection (every cfg.detect_interval()-th frame), never on frames in between.

The test (`AppearanceCheck.observe`, run by tracks.Associator on every detection it links to a track):
a track's reference is the mean descriptor of its first ENROL detections, then follows the face slowly
(an exponential average, rate ALPHA, fed only by detections closer than UPDATE × threshold, so a
cross-fade cannot drag it along); PERSIST detections in a row, spanning at least PERSIST_FRAMES frames,
farther than cfg.identity from it split the track: those detections start a new track (with a reference
of their own) and the old one ends before them. One odd detection (a blink, a hand, motion blur) does
not split.

Chosen on ../shared/data/faces (81 people) and ../shared/data/videos with the short-range detector every
4th frame (4,543 detections): a split anywhere in those one-person videos is a false split (it costs at
most the clip that straddles it); a sequence of one video's detections followed by another's is a switch
that should split within PERSIST detections; a blend of the two over 8 detections is a cross-fade. Over
162 switch pairs (cfg.identity: switches caught, cross-fades caught, false splits in 84 videos): 0.4:
141, 135, 21; 0.5: 136, 126, 9; 0.6: 121, 103, 2; 0.7: 95, 71, 1 (with UPDATE 0.3 instead of 0.5, 0.6
gives 120, 117, 4 in this simulation, but 2-3 times the false splits of the full-range detector in the
pipeline; a grey 16×16 layout: 70 switches for 1 false split at its best; HOG 22; the colour layout of the
bare detection box: 111 / 109 for 9). In the pipeline at the default 0.6, the test cross-fade, wipe and
"one leaves, another arrives" videos (tests/test_quality.py) split with both detectors; the false splits
on the corpus and shared videos are in docs/PIPELINE.md.
"""
from __future__ import annotations

import numpy as np

CONTEXT = 1.6      # the descriptor's square, in detection sizes (the crop's default margin)
CHIP = 32          # px: the square is shrunk to this before the descriptor is taken
INNER = (6, 26)    # the face itself within the chip (rows and columns)
GRID = 4           # cells a side
ENROL = 4          # detections averaged into a track's first reference
ALPHA = 0.1        # reference update rate per detection
UPDATE = 0.5       # only detections closer than UPDATE × threshold update the reference
PERSIST = 2        # detections in a row beyond the threshold that split a track...
PERSIST_FRAMES = 4  # ... spanning at least this many frames (at full range's every 2nd frame: 3 detections)


def _layout(lab: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.resize(lab, (GRID, GRID), interpolation=cv2.INTER_AREA).ravel() / 255.0


def descriptor_of_chip(chip: np.ndarray) -> np.ndarray:
    """The descriptor of a CHIP×CHIP RGB image centred on a face (see the module docstring)."""
    import cv2
    lab = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2LAB).astype(np.float32)
    a, b = INNER
    return (np.concatenate([_layout(lab), _layout(np.ascontiguousarray(lab[a:b, a:b]))]) / np.sqrt(2.0)
            ).astype(np.float32)


def descriptor(picture, det) -> np.ndarray:
    """The appearance descriptor of detection `det` (source pixels) in a decoded frame (decode.Picture)."""
    side = max(2, int(round(CONTEXT * det.size)))
    x0, y0 = int(round(det.cx - side / 2)), int(round(det.cy - side / 2))
    chip, _ = picture.crop_resized(x0, y0, side, CHIP)
    return descriptor_of_chip(chip)


class AppearanceCheck:
    """Per-track appearance state and the split test; tracks.Associator calls observe() for every
    detection it links to an open track."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.state: dict[int, dict] = {}   # track id -> {"ref", "n", "pending": [Detection]}

    def start(self, track_id: int, dets) -> None:
        """A new track (possibly born of a split, with several detections)."""
        st = {"ref": None, "n": 0, "pending": []}
        self.state[track_id] = st
        for d in dets:
            self._enrol(st, d)

    @staticmethod
    def _enrol(st: dict, det) -> None:
        if det.feat is None:
            return
        st["n"] += 1
        st["ref"] = det.feat.copy() if st["ref"] is None else st["ref"] + (det.feat - st["ref"]) / st["n"]

    def observe(self, track_id: int, det) -> list:
        """`det` was linked to the track. Returns [] normally; when the track must split, the detections
        (already in the track, oldest first, then `det`) that start the new track."""
        st = self.state.setdefault(track_id, {"ref": None, "n": 0, "pending": []})
        if det.feat is None:
            return []
        if st["n"] < ENROL:
            self._enrol(st, det)
            return []
        dist = float(np.linalg.norm(det.feat - st["ref"]))
        if dist <= self.threshold:
            st["pending"] = []
            if dist < UPDATE * self.threshold:
                st["ref"] = st["ref"] + ALPHA * (det.feat - st["ref"])
            return []
        st["pending"].append(det)
        if len(st["pending"]) < PERSIST or det.t - st["pending"][0].t < PERSIST_FRAMES:
            return []
        moved = st["pending"]
        st["pending"] = []
        return moved

    def end(self, track_id: int) -> None:
        self.state.pop(track_id, None)
