"""Network pieces that more than one model in trainers/models uses (each model file stays the one place
for its own architecture; only what would otherwise be copied lives here)."""
from __future__ import annotations

import torch


def spread_of(f: torch.Tensor, batch_dim: int, feature_dims: tuple) -> torch.Tensor:
    """Minibatch standard deviation (Karras et al. 2018, "Progressive growing of GANs"): the std over the
    batch of every feature, averaged over the features. A discriminator that sees it can tell a batch of
    near-copies (a collapsed generator) from a batch as varied as the data."""
    std = torch.sqrt(f.var(batch_dim, unbiased=False, keepdim=True) + 1e-8)
    return std.mean(feature_dims, keepdim=True).squeeze(batch_dim)
