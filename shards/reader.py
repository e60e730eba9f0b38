"""Strict reading of one shard for verify and inspect (training reads through shards/loader.py).

Tar member names are split into (key, suffix) and never used as filesystem paths.
"""
from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Iterator

from .sample import decode_sample


class ShardError(ValueError):
    """A shard that cannot be read; the message names the shard (and the key where there is one)."""


def split_member(name: str) -> tuple[str, str]:
    """'abc_t0_c1.frames.npy' -> ('abc_t0_c1', 'frames.npy'); directories in names are rejected."""
    if "/" in name or "\\" in name or name.startswith(".") or "." not in name:
        raise ValueError(f"unexpected tar member name {name!r}")
    key, suffix = name.split(".", 1)
    return key, suffix


def iter_raw_samples(path: str | Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {suffix: bytes}) per sample, in tar order; raises ShardError on a broken tar."""
    path = Path(path)
    key, members = None, {}
    try:
        with tarfile.open(path, mode="r|") as tar:
            for info in tar:
                if not info.isfile():
                    raise ShardError(f"{path}: member {info.name!r} is not a regular file")
                k, suffix = split_member(info.name)
                if k != key:
                    if key is not None:
                        yield key, members
                    key, members = k, {}
                f = tar.extractfile(info)
                members[suffix] = f.read()
                if len(members[suffix]) != info.size:
                    raise ShardError(f"{path}: member {info.name} is truncated")
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        if isinstance(e, ShardError):
            raise
        raise ShardError(f"{path}: unreadable tar after sample {key!r}: {e}") from e
    if key is not None:
        yield key, members


def iter_samples(path: str | Path):
    """(key, frames, meta) per sample, decoded strictly: a bad sample raises naming shard and key."""
    for key, members in iter_raw_samples(path):
        try:
            frames, meta = decode_sample(key, members)
        except ValueError as e:
            raise ShardError(f"{path}: {e}") from e
        yield key, frames, meta


def count_samples(path: str | Path) -> int:
    return sum(1 for _ in iter_raw_samples(path))
