"""Codes as the model adapters return them: a tensor (B, d), or a tuple (vector, *extras) whose extras are
batch-first tensors the generator also needs (DrNet's U-Net skip maps)."""
from __future__ import annotations

import torch


def vector(code) -> torch.Tensor:
    """The (B, d) vector of a code: what probes read and what a perturbation moves."""
    return code[0] if isinstance(code, tuple) else code


def with_vector(code, v: torch.Tensor):
    """The code with its vector replaced by v (extras kept)."""
    return (v, *code[1:]) if isinstance(code, tuple) else v


def take(code, idx):
    """Rows idx (a tensor or list of indices) of every part of a code."""
    if isinstance(code, tuple):
        return tuple(take(c, idx) for c in code)
    return code[torch.as_tensor(idx, dtype=torch.long, device=code.device)]


def repeat(code, k: int):
    """Each row repeated k times in place: rows (a, b) -> (a, a, ..., b, b, ...)."""
    if isinstance(code, tuple):
        return tuple(repeat(c, k) for c in code)
    return code.repeat_interleave(k, 0)


def cat(parts: list):
    """Concatenate codes of several batches along the batch."""
    if isinstance(parts[0], tuple):
        return tuple(cat([p[i] for p in parts]) for i in range(len(parts[0])))
    return torch.cat(parts)


def size(code) -> int:
    return vector(code).shape[0]
