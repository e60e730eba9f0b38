"""Frame-quality measures for generated or predicted video: SSIM."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of (N, C, H, W) batches: Gaussian window 11 / sigma 1.5, K1 0.01,
    K2 0.03, valid positions only, averaged over channels and positions. Matches skimage's
    structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...).
    Frames smaller than the window use a window of the frame's (odd) size."""
    x, y = x.double(), y.double()
    C = x.shape[1]
    win = min(win, x.shape[-1] - (1 - x.shape[-1] % 2), x.shape[-2] - (1 - x.shape[-2] % 2))
    w = gaussian_window(win, sigma).to(x.device)[None, None].expand(C, 1, win, win)

    def blur(t):
        return F.conv2d(t, w, groups=C)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).float()
