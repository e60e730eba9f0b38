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


# ---- prediction ------------------------------------------------------------------------------------------------

@torch.no_grad()
def prediction_scores(predict, test: list, n_past: int, steps: int, device) -> dict:
    """Per-step MSE and SSIM of `predict(past (B, n_past, C, H, W), steps) -> (B, steps, C, H, W)` on held-out
    clips for the first `steps` steps after n_past observed frames, beside copying the last observed frame."""
    from trainers.eval.swaps import stacked
    T = min(f.shape[0] for _, f, _ in test)
    steps = min(steps, T - n_past)
    mse, sim, mse_copy, sim_copy = (torch.zeros(steps) for _ in range(4))
    for i in range(0, len(test), 64):
        x = stacked(test[i:i + 64], T, device)
        pred = predict(x[:, :n_past], steps).float()
        truth, last = x[:, n_past:n_past + steps], x[:, n_past - 1]
        for k in range(steps):
            mse[k] += F.mse_loss(pred[:, k], truth[:, k], reduction="none").mean((1, 2, 3)).sum().cpu()
            sim[k] += ssim(pred[:, k], truth[:, k]).sum().cpu()
            mse_copy[k] += F.mse_loss(last, truth[:, k], reduction="none").mean((1, 2, 3)).sum().cpu()
            sim_copy[k] += ssim(last, truth[:, k]).sum().cpu()
    n = len(test)
    return {"pred_mse": (mse / n).tolist(), "pred_ssim": (sim / n).tolist(),
            "pred_mse_copy_last": (mse_copy / n).tolist(), "pred_ssim_copy_last": (sim_copy / n).tolist(),
            "pred_steps": steps}


@torch.no_grad()
def rollout_gif(predict, clips: list, n_past: int, steps: int, path, device) -> None:
    """A GIF of clips side by side: true frames on top (black past the clip's end), observed then
    predicted frames below."""
    from trainers.eval.figures import save_gif, tile
    from trainers.eval.swaps import stacked
    T = min(f.shape[0] for _, f, _ in clips)
    x = stacked(clips, T, device)
    seq = torch.cat([x[:, :n_past], predict(x[:, :n_past], steps).float()], 1)
    true = x[:, :n_past + steps]
    if true.shape[1] < seq.shape[1]:
        true = torch.cat([true, torch.zeros_like(x[:, :1]).expand(-1, seq.shape[1] - true.shape[1], -1, -1, -1)], 1)
    save_gif([tile(torch.stack([true[:, t], seq[:, t]])) for t in range(seq.shape[1])], path, scale=2)
