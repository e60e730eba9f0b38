"""Content/pose swaps: the static code of one clip generated with the dynamic codes of another, scored
against the exact counterfactual that the synthetic generators re-render from the two clips' labels
(pipelines.synthetic.common.counterfactual), beside trivial baselines; and the same-clip reconstruction."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainers.eval.data import to_tensor
from trainers.frames import fit_frames


def stacked(clips: list, T: int, device) -> torch.Tensor:
    """The first T frames of each clip as one float batch (B, T, C, H, W) in [0, 1]."""
    return torch.stack([to_tensor(f[:T]) for _, f, _ in clips]).to(device)


@torch.no_grad()
def transfer(model, static_clips: torch.Tensor, dynamic_clips: torch.Tensor) -> torch.Tensor:
    """Clip i's static code generated with the dynamic codes of dynamic_clips[i], every frame."""
    return model.generate(model.encode_static(static_clips), model.encode_dynamic(dynamic_clips)).float()


def like(x: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """Real frames at the size and channels of a model's generated frames (a preset may work at 32×32 on
    64×64 shards): the same fit_frames the model's training applies."""
    return fit_frames(x, generated.shape[-1], generated.shape[-3])


@torch.no_grad()
def reconstruction_mse(model, test: list, window: int, device) -> float:
    """Each held-out clip's first `window` frames rebuilt from its own static and dynamic codes (for a
    model reading the static code from one frame: the first)."""
    err = []
    for i in range(0, len(test), 64):
        x = stacked(test[i:i + 64], window, device)
        rec = transfer(model, x, x)
        err.append(F.mse_loss(rec, like(x, rec), reduction="none").mean((1, 2, 3, 4)).cpu())
    return float(torch.cat(err).mean())


@torch.no_grad()
def swap_scores(model, test: list, device, assets: str | None = None, batch: int = 32) -> dict | None:
    """Static code of clip i with the dynamic codes of clip i+1 (all T frames) against the exact
    re-rendering of clip i's content on clip i+1's trajectories; `assets` is the generator's asset
    directory (data.synthetic_assets). Baselines: black frames and clip i's own frames (right content,
    wrong pose). None when the clips carry no generator labels."""
    if not test or "generator" not in test[0][2]:
        return None
    from pipelines.synthetic.common import counterfactual
    n = len(test)
    T = min(f.shape[0] for _, f, _ in test)
    err, err_black, err_copy = [], [], []
    for i in range(0, n, batch):
        idx = list(range(i, min(n, i + batch)))
        xs = stacked([test[k] for k in idx], T, device)
        xd = stacked([test[(k + 1) % n] for k in idx], T, device)
        truth = torch.stack([to_tensor(counterfactual(test[k][2], test[(k + 1) % n][2], assets=assets)[:T])
                             for k in idx]).to(device)
        pred = transfer(model, xs, xd)
        truth, xs = like(truth, pred), like(xs, pred)
        per_clip = lambda a: a.flatten(1).mean(1).cpu()
        err.append(per_clip((pred - truth) ** 2))
        err_black.append(per_clip(truth ** 2))
        err_copy.append(per_clip((xs - truth) ** 2))
    mean = lambda parts: float(torch.cat(parts).double().mean())
    return {"swap_mse": mean(err), "swap_mse_black": mean(err_black), "swap_mse_copy_content_clip": mean(err_copy)}

