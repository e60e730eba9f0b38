"""The deterministic shard writer and the per-shard stats file.

A shard NAME.tar is written as NAME.tar.tmp and renamed when complete; then NAME.stats.json is written
(also via a temp name). The stats file is the completion marker: a shard without one is not done.
Every tar header is fixed (mtime, uid/gid, names, mode) so the same samples give the same bytes.
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


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: str | Path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = TAR_MTIME
    info.mode = TAR_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


class ShardWriter:
    """Writes one shard. Use as a context manager; call add() per clip; close() renames and writes stats.

    If the body raises, the temp file is removed and nothing named NAME.tar appears.
    """

    def __init__(self, out_dir: str | Path, name: str):
        self.out_dir = Path(out_dir)
        self.name = name
        self.tar_path, self.stats_path = shard_paths(out_dir, name)
        self.tmp_path = self.tar_path.with_name(self.tar_path.name + ".tmp")
        self.samples = 0
        self.keys: set[str] = set()
        self.failures: list[dict] = []
        self.sources: list[dict] = []
        self.extra: dict = {}
        self._t0 = time.time()
        self._tar = None

    def __enter__(self):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp_path, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.GNU_FORMAT)
        return self

    def add(self, key: str, frames: np.ndarray, meta: dict) -> None:
        if key in self.keys:
            raise ValueError(f"shard {self.name}: duplicate sample key {key}")
        for member, data in encode_sample(key, frames, meta):
            self._tar.addfile(_tarinfo(member, len(data)), io.BytesIO(data))
        self.keys.add(key)
        self.samples += 1

    def fail(self, source: str, reason: str, **extra) -> None:
        """Record an input that produced nothing, with why (failures are data, not crashes)."""
        self.failures.append({"source": source, "reason": reason, **extra})

    def __exit__(self, exc_type, exc, tb):
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if exc_type is not None:
            self.tmp_path.unlink(missing_ok=True)
            return False
        os.replace(self.tmp_path, self.tar_path)
        self.stats = self._stats()
        write_json_atomic(self.stats_path, self.stats)
        return False

    def _stats(self) -> dict:
        return {
            "shard": self.name,
            "samples": self.samples,
            "bytes": self.tar_path.stat().st_size,
            "sha256": sha256_file(self.tar_path),
            "failures": self.failures,
            "sources": self.sources,
            "seconds": round(time.time() - self._t0, 3),
            **self.extra,
        }


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
    """True if the shard is complete and was written under the same config (safe to skip on resume)."""
    if not is_done(out_dir, name):
        return False
    try:
        st = read_stats(out_dir, name)
    except (OSError, json.JSONDecodeError):
        return False
    tar = shard_paths(out_dir, name)[0]
    return st.get("config_hash") == cfg_hash and st.get("bytes") == tar.stat().st_size
