"""Source listing, content hashing and the work plan of `vidshard prepare`.

Inputs are local paths or fsspec URLs (s3://, gs://, https://...):
  * a directory: every video file below it (recursive; extensions in VIDEO_EXTS, case-insensitive);
  * a glob (`clips/**/*.mp4`, `s3://bucket/raw/*.mov`);
  * a list file (.txt / .lst / .list: one path or URL a line, `#` comments; .csv: the `path` or `url`
    column, else the first column); relative entries are relative to the list file;
  * anything else: one video file, whatever its extension (a file you name explicitly is never skipped:
    if it is not a video its failure is recorded).

The video id is the content hash (sha256 of the bytes, first 16 hex digits), so renaming or moving a
video keeps its id, and the same content given twice is processed once.

The plan: sources sorted by id; each goes to train/val/test by a hash of its id (stable as the source set
grows: a video never changes split); each split is cut into work units by the videos themselves: a unit
ends after a video whose boundary hash falls under 1/videos_per_shard (content-defined, as rsync and
restic cut files), so a unit's members depend only on the videos near it, and unit i of split s becomes
shard `shards.shard_name(s, i)`. Adding or removing k videos changes at most about k units (plan_units).
"""
from __future__ import annotations

import csv
import glob as globlib
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import fsspec

from shards import shard_name
from vidshard.errors import UsageError
from vidshard.io import file_digest, is_url, local_path

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
              ".264", ".h264")
# Raw H.264 elementary streams have no container: no timestamps, no frame rate, no index to seek.
# They are listed (so the failure is recorded, not silently skipped) but never decoded.
RAW_STREAM_EXTS = (".264", ".h264")
LIST_EXTS = (".txt", ".lst", ".list", ".csv")
SPLITS = ("train", "val", "test")
ID_DIGITS = 16


class SourceError(UsageError):
    """An input argument that names nothing usable (a usage error: exit status 2)."""


@dataclass
class Source:
    path: str                       # as given / listed: a local path or a URL (goes into the manifest)
    id: str = ""                    # first ID_DIGITS hex digits of sha256
    sha256: str = ""
    bytes: int = 0
    duplicates: list[str] = field(default_factory=list)   # other paths with the same content

    def to_dict(self) -> dict:
        return {"path": self.path, "id": self.id, "sha256": self.sha256, "bytes": self.bytes,
                "duplicates": list(self.duplicates)}


@dataclass
class WorkUnit:
    """One Ray task's work = one output shard."""
    name: str
    split: str
    sources: list[Source]


def is_raw_stream(path: str) -> bool:
    return path.lower().endswith(RAW_STREAM_EXTS)


def _is_video_name(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTS)


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def url_fs(url: str):
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root, fs.unstrip_protocol


def read_list_file(path: str) -> list[str]:
    """Entries of a .txt/.lst/.list (one a line) or .csv (column path/url, else the first) list file."""
    with fsspec.open(path, "r") as f:
        text = f.read()
    if path.lower().endswith(".csv"):
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        if not rows:
            return []
        header = [c.strip().lower() for c in rows[0]]
        col = next((header.index(n) for n in ("path", "url", "file", "video") if n in header), None)
        if col is None:
            entries = [r[0].strip() for r in rows]
        else:
            entries = [r[col].strip() for r in rows[1:] if len(r) > col]
    else:
        entries = [ln.strip() for ln in text.splitlines()]
        entries = [e for e in entries if e and not e.startswith("#")]
    base = path.rsplit("/", 1)[0] if is_url(path) else str(Path(local_path(path)).parent)
    return [_join(base, e) for e in entries]


def _join(base: str, entry: str) -> str:
    """A list entry relative to its list file's folder (absolute paths and URLs as they are)."""
    if is_url(entry) or os.path.isabs(entry):
        return entry
    return f"{base}/{entry}" if is_url(base) else str(Path(base) / entry)


def expand_input(arg: str, _depth: int = 0) -> list[str]:
    """Every video path or URL one --input argument names; SourceError if it names nothing."""
    if is_url(arg):
        return _expand_url(arg, _depth)
    path = local_path(arg)
    if _has_glob(path):
        hits = sorted(p for p in globlib.glob(path, recursive=True) if os.path.isfile(p))
        if not hits:
            raise SourceError(f"{arg}: the pattern matches no file")
        return hits
    if os.path.isdir(path):
        hits = sorted(str(p) for p in Path(path).rglob("*") if p.is_file() and _is_video_name(p.name))
        if not hits:
            raise SourceError(f"{arg}: directory holds no video file ({', '.join(VIDEO_EXTS)})")
        return hits
    if not os.path.exists(path):
        raise SourceError(f"{arg}: no such file or directory")
    if path.lower().endswith(LIST_EXTS):
        return _expand_list(arg, _depth)
    return [path]


def _expand_url(url: str, depth: int) -> list[str]:
    fs, root, unstrip = url_fs(url)
    if _has_glob(root):
        hits = sorted(unstrip(p) for p in fs.glob(root) if fs.isfile(p))
    elif fs.isdir(root):
        hits = sorted(unstrip(p) for p in fs.find(root) if _is_video_name(p))
    elif fs.exists(root):
        return _expand_list(url, depth) if url.lower().endswith(LIST_EXTS) else [url]
    else:
        raise SourceError(f"{url}: no such file, directory or object")
    if not hits:
        raise SourceError(f"{url}: matches no video file")
    return hits


def _expand_list(path: str, depth: int) -> list[str]:
    if depth > 0:
        raise SourceError(f"{path}: list files inside list files are not supported")
    entries = read_list_file(path)
    if not entries:
        raise SourceError(f"{path}: the list file is empty")
    out = []
    for e in entries:
        try:
            out += expand_input(e, depth + 1)
        except SourceError as err:
            raise SourceError(f"{path}: {err}") from None
    return out


def list_sources(inputs: list[str]) -> list[str]:
    """All video paths/URLs named by the inputs, each once, in a stable order."""
    seen, out = set(), []
    for arg in inputs:
        for p in expand_input(arg):
            key = p if is_url(p) else os.path.abspath(p)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def hash_sources(paths: list[str], threads: int = 4, progress: bool = True) -> list[Source]:
    """Hash every source (threads: hashing is I/O bound, remote sources most of all)."""
    from tqdm import tqdm
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(tqdm(pool.map(file_digest, paths), total=len(paths), desc="hashing", unit="file",
                            disable=not progress, leave=False))
    return [Source(path=p, id=digest[:ID_DIGITS], sha256=digest, bytes=n) for p, (digest, n) in zip(paths, results)]


def dedupe(sources: list[Source]) -> list[Source]:
    """One Source per content id, sorted by id; the lexically first path is kept, the others listed."""
    by_id: dict[str, list[Source]] = {}
    for s in sources:
        by_id.setdefault(s.id, []).append(s)
    out = []
    for vid in sorted(by_id):
        group = sorted(by_id[vid], key=lambda s: s.path)
        keep = group[0]
        keep.duplicates = [s.path for s in group[1:]]
        out.append(keep)
    return out


def parse_split(text: str) -> tuple[float, float, float]:
    """--split as every pipeline reads it (shards.build.parse_split): '8,1,1' -> (0.8, 0.1, 0.1)."""
    from shards.build import parse_split as parse
    try:
        return parse(text)
    except ValueError as e:
        raise SourceError(str(e)) from None


def split_position(video_id: str) -> float:
    """A number in [0, 1) fixed by the id alone (a second hash, so it is independent of the sort order)."""
    return int(hashlib.sha256(f"split:{video_id}".encode()).hexdigest()[:12], 16) / 16 ** 12


def assign_splits(sources: list[Source], fractions: tuple[float, float, float]) -> dict[str, list[Source]]:
    """Split BY SOURCE VIDEO: position(id) < train -> train, < train+val -> val, else test.

    A video's split depends on its id only, so growing the source set never moves a video between
    splits. With few videos the draw may leave train empty; then the video with the smallest position
    goes to train, so even a one-video run makes a training split.
    """
    bounds = (fractions[0], fractions[0] + fractions[1])
    out = {s: [] for s in SPLITS}
    for src in sources:
        u = split_position(src.id)
        out["train" if u < bounds[0] else "val" if u < bounds[1] else "test"].append(src)
    if sources and not out["train"]:
        first = min(sources, key=lambda s: split_position(s.id))
        for split in ("val", "test"):
            if first in out[split]:
                out[split].remove(first)
        out["train"].append(first)
    for split in SPLITS:
        out[split].sort(key=lambda s: s.id)
    return out


def boundary_position(video_id: str) -> float:
    """A third hash of the id, in [0, 1): where the plan may end a unit."""
    return int(hashlib.sha256(f"shard:{video_id}".encode()).hexdigest()[:12], 16) / 16 ** 12


def plan_units(sources: list[Source], fractions: tuple[float, float, float], videos_per_shard: int) -> list[WorkUnit]:
    """Work units in plan order. Per split, videos sorted by id; a unit ends after a video whose
    boundary_position is under 1/videos_per_shard, or once it holds 4 x videos_per_shard videos (so its
    size is videos_per_shard on average, at most 4x). The cuts depend on the videos alone, never on how
    many came before: a video added or removed changes the unit it falls in (or splits or joins one at its
    boundary) and no other, except when that unit was cut at the cap, which can move the cuts up to the next
    natural boundary. videos_per_shard=1 gives one video per unit."""
    if videos_per_shard < 1:
        raise SourceError("--videos-per-shard must be at least 1")
    cap, units = 4 * videos_per_shard, []
    for split, group in assign_splits(sources, fractions).items():
        current: list[Source] = []
        for src in group:
            current.append(src)
            if boundary_position(src.id) < 1 / videos_per_shard or len(current) >= cap:
                units.append(WorkUnit(shard_name(split, sum(u.split == split for u in units)), split, current))
                current = []
        if current:
            units.append(WorkUnit(shard_name(split, sum(u.split == split for u in units)), split, current))
    return units


def shard_splits(units: list[WorkUnit]) -> dict[str, list[str]]:
    out = {s: [] for s in SPLITS}
    for u in units:
        out[u.split].append(u.name)
    return out


def fetch_local(path: str, tmp_dir: str) -> str:
    """A local file path for decoding: local paths as they are; URLs copied into tmp_dir first."""
    if not is_url(path):
        return local_path(path)
    name = path.rstrip("/").rsplit("/", 1)[-1] or "video"
    dest = os.path.join(tmp_dir, name)
    with fsspec.open(path, "rb") as src, open(dest, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    return dest
