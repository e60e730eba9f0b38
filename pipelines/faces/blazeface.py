"""BlazeFace run on LiteRT directly: the mediapipe face-detection graph's steps, without its graph.

mediapipe's Tasks API wraps one small .tflite call (BlazeFace) in a graph of calculators, thread
hand-offs and protobuf results that cost more CPU than the inference itself. This module does the same
steps in numpy around a LiteRT interpreter, following the graph's calculators:

1. ImageToTensor: the frame letterboxed into the model's square input (keep aspect ratio, zero border,
   OpenCV's bilinear warp, uint8 then scaled to [-1, 1]);
2. the model (one thread);
3. TensorsToDetections: SSD anchors, boxes and keypoints decoded in x, y, w, h order, sigmoid scores
   clipped at ±100, kept at ≥ min_score, boxes of negative size dropped;
4. NonMaxSuppression, WEIGHTED, IoU > 0.3: each cluster's box and keypoints score-weighted, the top score kept;
5. DetectionProjection and DetectionTransformation: back to image coordinates, boxes truncated to whole
   pixels as the Tasks API's bounding boxes are.

The short-range model's settings are those of mediapipe's face detector graph (its detections match the
Tasks API's: tests/test_blazeface.py); the full-range model's (192 px, 2,304 anchors on one stride-4 layer)
those of its face_detection_full_range graph (scores about 0.01 from the Tasks API's: docs/BENCHMARKS.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelSpec:
    """One BlazeFace model's input size and SSD anchor layout (mediapipe's SsdAnchorsCalculator options)."""
    size: int
    strides: tuple[int, ...]
    anchors_per_layer: int      # aspect ratio 1.0, plus the interpolated scale where the graph sets one
    suppression: float = 0.3


SPECS = {
    "short": ModelSpec(size=128, strides=(8, 16, 16, 16), anchors_per_layer=2),
    "full": ModelSpec(size=192, strides=(4,), anchors_per_layer=1),
}


def anchor_centres(spec: ModelSpec) -> np.ndarray:
    """(n, 2) anchor centres (x, y) in [0, 1], in the model's output order: layers of one stride share a
    grid; per cell, all of that group's anchors (fixed anchor size, so only centres matter)."""
    out, i = [], 0
    while i < len(spec.strides):
        stride, j = spec.strides[i], i
        while j < len(spec.strides) and spec.strides[j] == stride:
            j += 1
        side = -(-spec.size // stride)
        ys, xs = np.meshgrid((np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, (j - i) * spec.anchors_per_layer, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The model's input for an RGB uint8 image: the image centred in a square of its longest side,
    warped to size×size as mediapipe's OpenCV converter does. Returns (1×size×size×3 float32, that side)."""
    import cv2
    h, w = image.shape[:2]
    side = float(max(w, h))
    s = size / side
    # the ROI's corners onto the output's corners, pixel indices as coordinates (as mediapipe maps them)
    m = np.float64([[s, 0, -(w - side) / 2 * s], [0, s, -(h - side) / 2 * s]])
    warped = cv2.warpAffine(np.ascontiguousarray(image), m, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
    return (warped.astype(np.float32) * np.float32(2 / 255) - np.float32(1))[None], side


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, threshold: float):
    """mediapipe's WEIGHTED non-maximum suppression. boxes (n, 4) as xmin, ymin, xmax, ymax; keypoints
    (n, k, 2); scores (n,). Returns the kept clusters as (boxes, keypoints, scores), best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    left = np.arange(len(scores))
    out_b, out_k, out_s = [], [], []
    while len(left):
        top = left[0]
        ix = np.clip(np.minimum(boxes[left, 2], boxes[top, 2]) - np.maximum(boxes[left, 0], boxes[top, 0]), 0, None)
        iy = np.clip(np.minimum(boxes[left, 3], boxes[top, 3]) - np.maximum(boxes[left, 1], boxes[top, 1]), 0, None)
        inter = ix * iy
        union = area[left] + area[top] - inter
        near = np.where(union > 0, inter / np.where(union > 0, union, 1), 0) > threshold
        if not near.any():      # a box of zero area overlaps nothing, not even itself: mediapipe stops there
            out_b.append(boxes[top])
            out_k.append(keypoints[top])
            out_s.append(scores[top])
            break
        members = left[near]
        weights = scores[members] / scores[members].sum()
        out_b.append((boxes[members] * weights[:, None]).sum(0))
        out_k.append((keypoints[members] * weights[:, None, None]).sum(0))
        out_s.append(scores[top])
        left = left[~near]
    k = keypoints.shape[1]
    return (np.array(out_b, np.float32).reshape(-1, 4), np.array(out_k, np.float32).reshape(-1, k, 2),
            np.array(out_s, np.float32))


class BlazeFace:
    """One BlazeFace model on a single-thread LiteRT interpreter. `detect(rgb)` returns
    (boxes in whole pixels as x, y, w, h; keypoints in [0, 1] of the image; scores), best first."""

    def __init__(self, model_path: str, detector: str, min_score: float):
        from ai_edge_litert.interpreter import Interpreter
        self.spec = SPECS[detector]
        self.min_score = float(min_score)
        # scores are sigmoid(logit): only logits above the threshold's (less a margin) are worth a sigmoid
        p = min(max(self.min_score, 1e-6), 1 - 1e-6)
        self.min_logit = np.log(p / (1 - p)) - 1e-3
        self.interpreter = Interpreter(model_path=str(model_path), num_threads=1)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != (1, self.spec.size, self.spec.size, 3):
            raise ValueError(f"input {tuple(inp['shape'])}, expected (1, {self.spec.size}, {self.spec.size}, 3)")
        self.input = inp["index"]
        self.anchors = anchor_centres(self.spec)
        outs = sorted(self.interpreter.get_output_details(), key=lambda d: d["shape"][-1])
        if [tuple(d["shape"]) for d in outs] != [(1, len(self.anchors), 1), (1, len(self.anchors), 16)]:
            raise ValueError(f"outputs {[tuple(d['shape']) for d in outs]}, expected {len(self.anchors)} boxes")
        self.scores_out, self.boxes_out = outs[0]["index"], outs[1]["index"]

    def raw(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs for one input tensor: (n, 16) regressors and (n,) logits."""
        self.interpreter.set_tensor(self.input, tensor)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.boxes_out)[0], self.interpreter.get_tensor(self.scores_out)[0, :, 0]

    def detect(self, rgb: np.ndarray):
        h, w = rgb.shape[:2]
        tensor, side = letterbox(rgb, self.spec.size)
        reg, logits = self.raw(tensor)
        keep = np.flatnonzero(logits >= self.min_logit)
        scores = 1 / (1 + np.exp(-np.clip(logits[keep], -100, 100)))
        keep, scores = keep[scores >= self.min_score], scores[scores >= self.min_score]
        reg, anchors = reg[keep] / self.spec.size, self.anchors[keep]
        centre, half = reg[:, :2] + anchors, reg[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        ok = (half >= 0).all(axis=1)
        keypoints = reg[ok, 4:].reshape(-1, 6, 2) + anchors[ok, None, :]
        boxes, keypoints, scores = weighted_nms(boxes[ok], keypoints, scores[ok], self.spec.suppression)
        # from the letterboxed square back to the image, in [0, 1] of its width and height
        scale = np.float32([side / w, side / h])
        offset = np.float32([(w - side) / 2 / w, (h - side) / 2 / h])
        keypoints = keypoints * scale + offset
        lo, hi = boxes[:, :2] * scale + offset, boxes[:, 2:] * scale + offset
        size = np.float32([w, h])
        # the Tasks API's pixel boxes: each of xmin, ymin, width, height truncated to int, within the image
        xy = np.clip(np.trunc(lo * size), 0, size)
        wh = np.clip(np.trunc((hi - lo) * size), 0, size)
        return np.concatenate([xy, wh], axis=1), keypoints, scores
