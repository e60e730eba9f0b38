"""Frames at the size and channel count a model works at, from whatever the shards hold.

One function used by the models (a preset may train at 32×32 on 64×64 shards, or in gray on RGB face
crops) and by the evaluation kit (the judge and the metrics see real frames exactly as the model does).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma, the weights PIL's convert("L") uses
LUMA = (0.299, 0.587, 0.114)


def fit_frames(x: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """x (..., C, H, W) float in [0, 1] -> (..., channels, size, size).

    Shrinking uses area averaging (antialiased; exact for integer factors), growing bilinear; RGB -> gray
    uses BT.601 luma and gray -> RGB repeats the channel. Square frames only. Returns x itself when it
    already fits."""
    *lead, c, h, w = x.shape
    if h != w:
        raise ValueError(f"fit_frames: frames must be square, got {h}×{w}")
    if c != channels:
        if channels == 1 and c == 3:
            weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(3, 1, 1)
            x = (x * weights).sum(-3, keepdim=True)
        elif channels == 3 and c == 1:
            x = x.expand(*lead, 3, h, w)
        else:
            raise ValueError(f"fit_frames: cannot turn {c}-channel frames into {channels} channels")
    if h != size:
        flat = x.reshape(-1, channels, h, w)
        mode = dict(mode="area") if size < h else dict(mode="bilinear", align_corners=False)
        x = F.interpolate(flat, size=(size, size), **mode).reshape(*lead, channels, size, size)
    return x
