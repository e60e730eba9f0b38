"""The deterministic shard writer and the per-shard stats file.

A shard is written under a temp name and renamed when complete; the bytes are hashed as they are written.
Every tar header is fixed (mtime, uid/gid, names, mode) so the same samples give the same bytes.

Two ways to finish a shard:
  ShardWriter(out_dir, name): format 1 (a plain directory): NAME.tar, its offset index NAME.offsets.npy
      (shards/offsets.py), then NAME.stats.json (the completion marker: a shard without one is not done).
  shards.store.Store.shard_writer(name): format 2: the tar goes into the store by its sha256 (its offset
      index beside it) and the stats become the unit's record (docs/FORMAT.md).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import numpy as np

from vidshard.io import atomic_write, atomic_write_json, unique_tmp

from . import offsets
from .offsets import OFFSETS_SUFFIX
from .sample import encode_sample

TAR_MTIME = 0  # fixed so that byte-identical content gives byte-identical shards
TAR_MODE = 0o444
STATS_SUFFIX = ".stats.json"


def shard_paths(out_dir: str | Path, name: str) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    return out_dir / f"{name}.tar", out_dir / f"{name}{STATS_SUFFIX}"


def is_done(out_dir: str | Path, name: str) -> bool:
    tar, stats = shard_paths(out_dir, name)
    return tar.exists() and stats.exists()


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = TAR_MTIME
    info.mode = TAR_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


class _HashingFile:
    """A write-only file that hashes and counts what goes through it (tarfile's 'w' mode never seeks)."""

    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)

    def tell(self) -> int:
        return self.size


class TarWriter:
    """Samples into one tar at `tmp_path`, hashed as written. Use as a context manager; add() per clip.

    On a clean exit `finish()` decides where the tar goes and sets `stats`; if the body raises, the temp
    file is removed and nothing else happens. Subclasses: ShardWriter (format 1), store shards (format 2).
    """

    def __init__(self, name: str, tmp_path: str | Path):
        self.name = name
        self.tmp_path = Path(tmp_path)
        self.samples = 0
        self.keys: set[str] = set()
        self.failures: list[dict] = []
        self.sources: list[dict] = []
        self.extra: dict = {}
        self.stats: dict | None = None
        self.offsets: list[int] = []  # where each sample's first header starts, then where the data ends
        self._t0 = time.time()
        self._tar = None

    def __enter__(self):
        self.tmp_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp_path, "wb")
        self._hashing = _HashingFile(self._file)
        self._tar = tarfile.open(fileobj=self._hashing, mode="w", format=tarfile.GNU_FORMAT)
        return self

    def add(self, key: str, frames: np.ndarray, meta: dict) -> None:
        self.add_members(key, encode_sample(key, frames, meta))

    def add_members(self, key: str, members: list[tuple[str, bytes]]) -> None:
        """One sample from its encoded (member name, bytes) pairs, in the format's member order."""
        if key in self.keys:
            raise ValueError(f"shard {self.name}: duplicate sample key {key}")
        self.offsets.append(self._hashing.size)
        for member, data in members:
            self._tar.addfile(_tarinfo(member, len(data)), io.BytesIO(data))
        self.keys.add(key)
        self.samples += 1

    def fail(self, source: str, reason: str, **extra) -> None:
        """Record an input that produced nothing, with why (failures are data, not crashes)."""
        self.failures.append({"source": source, "reason": reason, **extra})

    def __exit__(self, exc_type, exc, tb):
        self.offsets.append(self._hashing.size)  # tarfile pads each member as it goes: the data ends here
        try:
            self._tar.close()
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        if exc_type is not None:
            self.tmp_path.unlink(missing_ok=True)
            return False
        self.stats = {
            "shard": self.name,
            "samples": self.samples,
            "bytes": self._hashing.size,
            "sha256": self._hashing.sha.hexdigest(),
            "failures": self.failures,
            "sources": self.sources,
            "seconds": round(time.time() - self._t0, 3),
            **self.extra,
        }
        self.finish()
        return False

    def finish(self) -> None:
        raise NotImplementedError


class ShardWriter(TarWriter):
    """Format 1: writes OUT_DIR/NAME.tar (via a unique temp name), then NAME.stats.json, the completion marker.

    If the body raises, the temp file is removed and nothing named NAME.tar appears.
    """

    def __init__(self, out_dir: str | Path, name: str):
        self.out_dir = Path(out_dir)
        self.tar_path, self.stats_path = shard_paths(out_dir, name)
        super().__init__(name, unique_tmp(self.tar_path))

    def finish(self) -> None:
        os.replace(self.tmp_path, self.tar_path)
        atomic_write(self.tar_path.with_name(self.name + OFFSETS_SUFFIX), offsets.encode(self.offsets, self.stats["bytes"]))
        atomic_write_json(self.stats_path, self.stats)


def read_stats(out_dir: str | Path, name: str) -> dict:
    with open(shard_paths(out_dir, name)[1]) as f:
        return json.load(f)


def shard_name(split: str, index: int) -> str:
    """Shard names come from the plan (split and position), never from completion order."""
    return f"{split}-{index:06d}"


def config_hash(config: dict) -> str:
    """Stamped into each shard's stats so a resumed build never mixes shards made under another config."""
    from .sample import encode_json
    return hashlib.sha256(encode_json(config)).hexdigest()[:16]


def resumable(out_dir: str | Path, name: str, cfg_hash: str) -> bool:
    """Format 1: True if the shard is complete and was written under the same config (safe to skip)."""
    if not is_done(out_dir, name):
        return False
    try:
        st = read_stats(out_dir, name)
    except (OSError, json.JSONDecodeError):
        return False
    tar = shard_paths(out_dir, name)[0]
    return st.get("config_hash") == cfg_hash and st.get("bytes") == tar.stat().st_size
