"""Figures: grids of frames, PNGs and GIFs. Frames are float (C, H, W) in [0, 1]."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainers.frames import fit_frames
from vidshard.io import save_animation, save_image


def to_uint8_image(img: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> H×W×3 uint8 (grayscale repeated)."""
    img = img.detach().float().clamp(0, 1).cpu()
    if img.shape[0] == 1:
        img = img.repeat(3, 1, 1)
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_png(img: torch.Tensor, path: str | Path, scale: int = 1) -> None:
    save_image(to_uint8_image(img), path, scale=scale)


def save_gif(frames: list[torch.Tensor], path: str | Path, fps: int = 10, scale: int = 1) -> None:
    """A looping GIF from (C, H, W) frames in [0, 1]."""
    save_animation([to_uint8_image(f) for f in frames], path, frame_ms=1000 / fps, scale=scale)


def tile(frames: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """(R, K, C, H, W) -> one (C, R*(H+pad), K*(W+pad)) image, rows of K frames, white separators."""
    R, K, C, H, W = frames.shape
    x = F.pad(frames, (0, pad, 0, pad), value=1.0)
    return x.permute(2, 0, 3, 1, 4).reshape(C, R * (H + pad), K * (W + pad))


@torch.no_grad()
def analogy_grid(model, static_clips: torch.Tensor, dynamic_frames: torch.Tensor) -> torch.Tensor:
    """Row i, column j: the static code of static_clips[i] (B, T, C, H, W) generated with the dynamic code
    of dynamic_frames[j] (M, C, H, W). Row 0 shows the dynamic frames, column 0 the first frame of each
    static clip (the top-left cell is blank). One (C, H', W') image."""
    from trainers.eval import codes
    n, m = len(static_clips), len(dynamic_frames)
    static = codes.repeat(model.encode_static(static_clips), m)
    dynamic = model.encode_dynamic(dynamic_frames[None])[0]              # (m, d)
    out = model.generate(static, dynamic.repeat(n, 1)[:, None]).float()  # (n*m, 1, C, H, W)
    out = out.view(n, m, *out.shape[2:])
    real = lambda x: fit_frames(x, out.shape[-1], out.shape[-3])  # a model may work at another size
    blank = torch.zeros_like(real(dynamic_frames[:1]))
    top = torch.cat([blank, real(dynamic_frames)])[None]
    rows = torch.cat([real(static_clips[:, 0, None]), out], 1)
    return tile(torch.cat([top, rows]).clamp(0, 1))


@torch.no_grad()
def code_grid(model, static, dynamic: torch.Tensor) -> torch.Tensor:
    """Row r generated from static code r (R codes), column k from dynamic code dynamic[k] (K, d): along a
    row only the dynamic code changes, down a column only the static one. One (C, H', W') image."""
    from trainers.eval import codes
    R, K = codes.size(static), len(dynamic)
    out = model.generate(codes.repeat(static, K), dynamic.repeat(R, 1)[:, None]).float()  # (R*K, 1, C, H, W)
    return tile(out.view(R, K, *out.shape[2:]).clamp(0, 1))


def sweep(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """k codes on the segment from a to b (both (d,)), ends included: (k, d)."""
    w = torch.linspace(0, 1, k, device=a.device, dtype=a.dtype)[:, None]
    return (1 - w) * a + w * b
