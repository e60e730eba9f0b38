"""Square face crops: padded at frame borders (the padding recorded), shrunk to the output size.

Only the crop is touched: the square is sliced out of the frame (a view when it lies inside; a padded copy
only at frame borders) and shrunk (shrink: bilinear to a power-of-two multiple of the output size, then
exact 2x area halvings; antialiased, and deterministic: the same frame and box always give the same
bytes); grayscale conversion runs on the small output. Whole frames are never converted or copied.
"""
from __future__ import annotations

import numpy as np


def crop_box(cx: float, cy: float, face: float, margin: float) -> tuple[int, int, int]:
    """Integer square (x0, y0, side) of side margin × face centred on (cx, cy), in source pixels."""
    side = max(1, int(round(margin * face)))
    return int(np.floor(cx - side / 2 + 0.5)), int(np.floor(cy - side / 2 + 0.5)), side


def crop_square(frame: np.ndarray, x0: int, y0: int, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """frame[y0:y0+side, x0:x0+side] with black where the square leaves the frame.

    Returns (crop side×side×C, padding) with padding = pixels added (left, top, right, bottom). A square
    inside the frame comes back as a view of it (no copy).
    """
    h, w = frame.shape[:2]
    pad = (max(0, -x0), max(0, -y0), max(0, x0 + side - w), max(0, y0 + side - h))
    if not any(pad):
        return frame[y0:y0 + side, x0:x0 + side], pad
    out = np.zeros((side, side, frame.shape[2]), dtype=frame.dtype)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xb > xa and yb > ya:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = frame[ya:yb, xa:xb]
    return out, pad


def shrink(img: np.ndarray, size: int) -> np.ndarray:
    """A square image (side×side, optionally ×C) resized to size×size, antialiased and cheap.

    cv2's area filter is a true box filter but fast only at integer factors: straight from 450 to 64 px it
    costs several times more than this. So: bilinear to the largest size·2^k not above the side (a factor
    below 2, where bilinear barely aliases), then exact 2x area halvings. Within a few grey levels of the
    direct area resize (tests/test_faces.py). Upscaling (side < size) is cv2's area (bilinear) resize.
    """
    import cv2
    side = img.shape[0]
    if side <= size:
        return img if side == size else cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    target = size << int(np.floor(np.log2(side / size)))
    if side != target:
        img = cv2.resize(img, (target, target), interpolation=cv2.INTER_LINEAR)
    while img.shape[0] > size:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return img


def resize(crop: np.ndarray, size: int, gray: bool) -> np.ndarray:
    """size×size×C uint8 (C = 1 if gray, else 3), from a side×side×(1 or 3) crop."""
    import cv2
    out = shrink(crop, size).reshape(size, size, -1)
    if gray and out.shape[2] == 3:
        out = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(out.reshape(size, size, -1), dtype=np.uint8)
