"""What every evaluation recipe (trainers/eval/<model>.py) does around its measurements."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch


@contextmanager
def evaluating(model, out_dir: str):
    """The output directory (created) and the model's device, with the model in eval mode for the block
    (its training mode restored after, whatever happens)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        yield out, next(model.parameters()).device
    finally:
        model.train(was_training)


def fresh_model(model, cfg, device):
    """The same architecture at initialization (seed 0), in eval mode, without touching the caller's RNG
    streams: the untrained baseline beside a trained model's figures."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = type(model)(cfg)
    return m.to(device).eval()
