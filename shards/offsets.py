"""The offset index of a shard, and reading one sample by its byte offset (the exact-epoch loader's seek).

`NAME.offsets.npy`, beside `NAME.tar` (format 2: `store/<sha256>.offsets.npy` beside the object), is an
int64 `.npy` array of N + 2 numbers for a shard of N samples: where each sample's first tar header starts,
where the last sample's data ends (the end-of-archive blocks), and the tar's size in bytes. The writer writes it with the tar
(shards/writer.py); a shard without one (datasets written before it, shard URL lists) gets it from one
pass over its tar headers, cached under the vidshard cache (`offsets/`), keyed by the shard's path, size and
mtime (a remote shard without an index is scanned by each reader). An index is checked when loaded (it
names the tar's size, starts at 0, increases, ends inside the file; a local one is not older than its
tar), and every read checks what it finds at the offset: tar
headers with valid checksums, one key, regular files. A stale or wrong index thus fails loudly, naming the
shard, and `vidshard verify` compares an index with its tar.
"""
from __future__ import annotations

import collections
import hashlib
import io
import os
import tarfile

import numpy as np

from vidshard.io import atomic_write, cache_dir, is_url, local_path

from .reader import ShardError, split_member, tar_mode

OFFSETS_SUFFIX = ".offsets.npy"
BLOCK = tarfile.BLOCKSIZE


def offsets_url(url: str) -> str | None:
    """Where a shard's written index is: X.tar -> X.offsets.npy (none for pipe: URLs)."""
    if url.startswith("pipe:") or not url.endswith(".tar"):
        return None
    return url[: -len(".tar")] + OFFSETS_SUFFIX


def encode(offsets, size: int) -> bytes:
    """The file's bytes: the offsets (N + 1) and the tar's size."""
    buf = io.BytesIO()
    np.save(buf, np.append(np.asarray(offsets, dtype=np.int64), np.int64(size)), allow_pickle=False)
    return buf.getvalue()


def decode(data: bytes, size: int | None) -> np.ndarray:
    """The offsets (N + 1) of an index file for a tar of `size` bytes; ValueError naming what is wrong."""
    index = np.load(io.BytesIO(data), allow_pickle=False)
    if index.dtype != np.int64 or index.ndim != 1 or len(index) < 2 or index[0] != 0:
        raise ValueError(f"not an offset index ({index.dtype}, shape {index.shape})")
    offsets, named = index[:-1], int(index[-1])
    if size is not None and named != size:
        raise ValueError(f"the index is for a tar of {named} bytes, the shard has {size}")
    if np.any(np.diff(offsets) < BLOCK) or offsets[-1] + 2 * BLOCK > named:
        raise ValueError("offsets do not increase by tar blocks within the shard")
    return offsets


def scan(url: str, open_stream) -> tuple[np.ndarray, str | None]:
    """The index from one pass over the tar headers (a local file seeks past the data). A tar that breaks
    part-way gives the samples before the break and the reason, naming the shard."""
    starts, key, end = [], None, 0
    try:
        with open_stream(url) as stream, tarfile.open(fileobj=stream, mode=tar_mode(stream)) as tar:
            for info in tar:
                tar.members = []  # tarfile keeps every header otherwise
                k = split_member(info.name)[0]
                if k != key:
                    starts.append(info.offset)
                    key = k
                end = info.offset_data + -(-info.size // BLOCK) * BLOCK
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        where = f"at sample {key}" if key is not None else "before its first sample"
        # the last sample listed may be incomplete: only the ones before it have an end
        return np.array(starts or [0], dtype=np.int64), f"shard {url}: unreadable {where}: {type(e).__name__}: {e}"
    return np.array(starts + [end] if starts else [0], dtype=np.int64), None


def file_size(url: str) -> int | None:
    if url.startswith("pipe:"):
        return None
    if not is_url(url):
        return os.stat(local_path(url)).st_size
    import fsspec
    fs, path = fsspec.core.url_to_fs(url)
    return int(fs.size(path))


def cache_path(url: str):
    """The cached index of a local shard without a written one, by its path, size and mtime (a shard
    rewritten in place gets a new one); None for URLs (a remote shard without an index is scanned)."""
    if url.startswith("pipe:") or is_url(url):
        return None
    path = os.path.abspath(local_path(url))
    st = os.stat(path)
    return cache_dir("offsets", hashlib.sha256(f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest() + ".npy")


def read_bytes(url: str, open_stream) -> bytes | None:
    try:
        with open_stream(url) as f:
            return f.read()
    except OSError:
        return None


def load(url: str, open_stream) -> tuple[np.ndarray, str | None]:
    """A shard's index: the written one, else the cached one, else one scan (cached when complete). Returns
    it and, for a shard that breaks part-way, why it stops early."""
    size, beside, cached = file_size(url), offsets_url(url), cache_path(url)
    if beside is not None and not is_url(beside) and os.path.exists(local_path(beside)) and \
            os.stat(local_path(beside)).st_mtime_ns < os.stat(local_path(url)).st_mtime_ns:
        beside = None  # the tar was rewritten after its index was written
    for source, read in ((beside, lambda: read_bytes(beside, open_stream)), (cached, None)):
        if source is None:
            continue
        try:
            data = read() if read else (source.read_bytes() if source.is_file() else None)
            if data is not None:
                return decode(data, size), None
        except (ValueError, OSError):
            pass  # a bad or foreign index is not trusted: scan the tar instead
    offsets, problem = scan(url, open_stream)
    if problem is None and cached is not None:
        atomic_write(cached, encode(offsets, size))
    return offsets, problem


def parse_sample(buf: memoryview) -> tuple[str, dict[str, memoryview]]:
    """(key, {suffix: data}) from the bytes of one sample's tar members; ValueError if they are not that."""
    pos, key, members, long_name = 0, None, {}, None
    while pos < len(buf):
        header = bytes(buf[pos: pos + BLOCK])
        if len(header) < BLOCK:
            raise EOFError("the shard ends inside a tar header")
        if tarfile.nti(header[148:156]) not in tarfile.calc_chksums(header):
            raise ValueError(f"no valid tar header at this sample's offset + {pos} (a stale offset index?)")
        size, kind = tarfile.nti(header[124:136]), header[156:157]
        data, pos = pos + BLOCK, pos + BLOCK + -(-size // BLOCK) * BLOCK
        if len(buf) < data + size:
            raise EOFError("the shard ends inside a member")
        if kind == tarfile.GNUTYPE_LONGNAME:
            long_name = bytes(buf[data: data + size]).rstrip(b"\0").decode()
            continue
        name, long_name = long_name or header[:100].split(b"\0", 1)[0].decode(), None
        if kind not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise ValueError(f"member {name!r} is not a regular file")
        k, suffix = split_member(name)
        if key is not None and k != key:
            raise ValueError(f"members of two samples ({key}, {k}) between two offsets (a stale offset index?)")
        key, members[suffix] = k, buf[data: data + size]
    if key is None:
        raise ValueError("no member between two offsets")
    return key, members


class SampleFiles:
    """Samples by (shard, index in shard) through the offset indexes, for one worker: the indexes are loaded
    when a shard is first read (arrays only), open files are kept in a small LRU, and a pipe: shard (which
    cannot seek) is held in memory while it is among the open ones."""

    def __init__(self, urls: list[str], open_stream, problems, max_open: int = 64):
        self.urls, self.open_stream, self.problems = urls, open_stream, problems
        self.indexes: dict[int, np.ndarray] = {}
        self.files: collections.OrderedDict = collections.OrderedDict()
        self.max_open = max_open

    def offsets(self, shard: int) -> np.ndarray:
        if shard not in self.indexes:
            self.indexes[shard], problem = load(self.urls[shard], self.open_stream)
            if problem:
                self.problems("bad_tar", problem)
        return self.indexes[shard]

    def handle(self, shard: int):
        if shard in self.files:
            self.files.move_to_end(shard)
            return self.files[shard]
        url = self.urls[shard]
        if url.startswith("pipe:"):
            f = io.BytesIO(read_bytes(url, self.open_stream) or b"")
        elif not is_url(url):
            f = open(local_path(url), "rb", buffering=0)
        else:
            f = self.open_stream(url)
        self.files[shard] = f
        if len(self.files) > self.max_open:
            self.files.popitem(last=False)[1].close()
        return f

    def read(self, shard: int, index: int) -> tuple[str, dict]:
        """One sample's key and members; ShardError naming the shard for anything that is not a sample."""
        url, offsets = self.urls[shard], self.offsets(shard)
        if index + 1 >= len(offsets):
            raise ShardError(f"shard {url}: sample {index} is missing (the shard holds {len(offsets) - 1} readable)")
        start, end = int(offsets[index]), int(offsets[index + 1])
        try:
            f = self.handle(shard)
            if isinstance(f, io.FileIO):
                data = os.pread(f.fileno(), end - start, start)
            else:
                f.seek(start)
                data = f.read(end - start)
            return parse_sample(memoryview(data))
        except (OSError, EOFError, ValueError, tarfile.TarError) as e:
            raise ShardError(f"shard {url}: sample {index} at byte {start}: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        while self.files:
            self.files.popitem()[1].close()
