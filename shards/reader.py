"""Strict reading of one shard for verify and inspect (training reads through shards/loader.py).

Tar member names are split into (key, suffix) and never used as filesystem paths.
"""
from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Iterator

from vidshard.errors import DataError

from .sample import MEMBERS, decode_sample


class ShardError(DataError):
    """A shard that cannot be read; the message names the shard (and the key where there is one)."""


def split_member(name: str) -> tuple[str, str]:
    """'abc_t0_c1.frames.npy' -> ('abc_t0_c1', 'frames.npy'); directories in names are rejected."""
    if "/" in name or "\\" in name or name.startswith(".") or "." not in name:
        raise ValueError(f"unexpected tar member name {name!r}")
    key, suffix = name.split(".", 1)
    return key, suffix


def iter_raw_samples(source, open_stream=None, want=None) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {suffix: bytes}) per sample, streaming; a broken tar raises ShardError naming shard and key.

    `source` is a path, or any URL that `open_stream(source)` turns into a binary stream (the loader passes
    one that knows pipe: and fsspec URLs). Tar member names only become (key, suffix) strings, never paths.
    A sample is complete when the next key starts, so at a truncation the sample being read is the one
    named (if it already has every member it is kept: the tar broke after it). `want(key)` False skips a
    sample without reading its data (a seekable file seeks past it).
    """
    open_stream = open_stream or (lambda src: open(src, "rb"))
    key, members = None, {}
    try:
        with open_stream(source) as stream, tarfile.open(fileobj=stream, mode=tar_mode(stream)) as tar:
            for info in tar:
                tar.members = []  # tarfile keeps every header otherwise: memory would grow with the shard
                if not info.isfile():
                    raise ValueError(f"member {info.name!r} is not a regular file")
                k, suffix = split_member(info.name)
                if want is not None and not want(k):
                    continue
                if k != key:
                    if key is not None:
                        yield key, members
                    key, members = k, {}
                data = tar.extractfile(info).read()
                if len(data) != info.size:
                    raise EOFError(f"member {info.name} is truncated")
                members[suffix] = data
            check_end(stream, tar)
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        if key is not None and all(m in members for m in MEMBERS):
            yield key, members
            where = f"after sample {key}"
        else:
            where = f"at sample {key}" if key is not None else "before its first sample"
        raise ShardError(f"shard {source}: unreadable {where}: {type(e).__name__}: {e}") from e
    if key is not None:
        yield key, members


def check_end(stream, tar: tarfile.TarFile) -> None:
    """tarfile ends quietly when a file is cut at a member boundary; a complete tar has two zero blocks
    after its last member, so a seekable file shorter than that was truncated (a stream cannot tell)."""
    if tar_mode(stream) == "r:" and stream.seek(0, os.SEEK_END) < tar.offset + 2 * tarfile.BLOCKSIZE:
        raise EOFError("the tar ends without its end-of-archive blocks (cut at a member boundary)")


def tar_mode(stream) -> str:
    """Seekable files are read member by member ('r:', each read goes straight to the file); pipes and
    remote streams go through tarfile's stream buffer ('r|')."""
    try:
        return "r:" if stream.seekable() else "r|"
    except (AttributeError, OSError):
        return "r|"


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
