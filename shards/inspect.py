"""`vidshard inspect DIR|SHARD`: what is in a dataset or a shard, and one clip as a GIF or a frame strip.

Examples:
  vidshard inspect data/balls                         # manifest summary + a look at the first shard
  vidshard inspect data/balls@v1                      # another version: DIR@VERSION or DIR@TAG
  vidshard inspect data/balls/train-000000.tar        # one shard: samples, clip shapes, label keys
  vidshard inspect data/balls --dump KEY --out clip.gif   # one clip as an animation
  vidshard inspect data/balls --dump KEY --out clip.png   # ... or as a strip of frames
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from vidshard.cli import entry
from vidshard.errors import DataError, UsageError
from vidshard.io import save_animation, save_image

from .reader import iter_samples
from .sample import REQUIRED_META
from .store import Version, is_dataset_ref, open_version

# Keys every face clip carries per frame; summarizing them as "labels" would only be noise.
_PER_FRAME_PROVENANCE = {"boxes_raw", "boxes_smoothed", "scores", "padding"}


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024


def summarize_samples(samples) -> list[str]:
    """Clip shapes and label keys of an iterable of (key, frames, meta)."""
    shapes, labels, n = Counter(), {}, 0
    for _, frames, meta in samples:
        n += 1
        shapes["×".join(map(str, frames.shape))] += 1
        for k, v in meta.items():
            if k in REQUIRED_META or k in _PER_FRAME_PROVENANCE:
                continue
            labels.setdefault(k, Counter())[_label_repr(v)] += 1
    lines = [f"clips read: {n}", "clip shape (T×H×W×C): " + ", ".join(f"{s} ({c})" for s, c in shapes.most_common())]
    if labels:
        lines.append("labels:")
        for k in sorted(labels):
            vals = labels[k]
            shown = ", ".join(v for v, _ in vals.most_common(6))
            lines.append(f"  {k}: {len(vals)} distinct value(s) e.g. {shown}")
    return lines


def _label_repr(v) -> str:
    if isinstance(v, list):
        return f"[list of {len(v)}]"
    if isinstance(v, dict):
        return "{" + ", ".join(sorted(v)) + "}"
    return repr(v)


def dataset_summary(version: Version, peek: int) -> list[str]:
    m = version.manifest
    t = m["totals"]
    lines = [f"dataset {m['name']} at {version.root}",
             f"version {m['version']}  parent {m.get('parent')}  format {m['format_version']}"
             + (f"  created {m['created']}" if m.get("created") else ""),
             f"totals: {t['shards']} shards, {t['samples']} clips, {human_bytes(t['bytes'])}, {t.get('failures', 0)} failure(s)"]
    order = {name: i for i, name in enumerate(("train", "val", "test"))}
    for split, s in sorted(m["splits"].items(), key=lambda kv: (order.get(kv[0], 9), kv[0])):
        lines.append(f"  {split:<5} {len(s['shards'])} shard(s), {s['samples']} clips")
    if m.get("sources"):
        status = Counter(s.get("status", "?") for s in m["sources"])
        lines.append("sources: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    for f in m.get("failures", [])[:20]:
        lines.append(f"  FAILED {f.get('source')}: {f.get('reason')}")
    lines.append("config: " + ", ".join(f"{k}={v}" for k, v in sorted(m["config"].items()) if not isinstance(v, dict)))
    first = next((s for s in m["shards"] if s["samples"]), None)
    if first is not None:
        lines.append(f"first {peek} clips of {first['file']}:")
        lines += ["  " + x for x in summarize_samples(_take(iter_samples(version.shard_url(first)), peek))]
    return lines


def shard_summary(path: Path) -> list[str]:
    size = path.stat().st_size
    lines = [f"shard {path} ({human_bytes(size)})"]
    lines += summarize_samples(iter_samples(path))
    return lines


def _take(it, n):
    for i, x in enumerate(it):
        if i >= n:
            return
        yield x


def shard_files(target: str) -> list[str]:
    """A dataset version's shards (DIR, DIR@VERSION, DIR@TAG) in plan order, or the one shard file given."""
    if is_dataset_ref(target):
        version = open_version(target)
        return [version.shard_url(s) for s in version.manifest["shards"]]
    return [target]


def find_clip(target: str, key: str):
    """(frames, meta) of the sample named key, searching a shard or every shard of a dataset version."""
    for f in shard_files(target):
        for k, frames, meta in iter_samples(f):
            if k == key:
                return frames, meta
    raise DataError(f"no clip with key {key!r} in {target}")


def upscale(frames: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour enlarge so tiny clips (30×30 balls) are visible; exact pixels, no smoothing."""
    k = max(1, -(-min_side // min(frames.shape[1:3])))
    return frames.repeat(k, axis=1).repeat(k, axis=2)


def write_clip(frames: np.ndarray, out: Path, fps: float = 10.0, min_side: int = 128) -> None:
    """One clip as a looping .gif or a .png strip of its frames, enlarged to at least min_side pixels."""
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".png"):
        raise UsageError(f"--out {out}: use a .gif (animation) or .png (frame strip) file name")
    frames = upscale(frames, min_side)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        save_animation(frames, out, frame_ms=1000 / max(fps, 1))
    else:
        gap = np.zeros((frames.shape[1], 2) + frames.shape[3:], np.uint8)
        save_image(np.concatenate([x for f in frames for x in (f, gap)][:-1], axis=1), out)


def inspect_command(argv) -> int:
    p = argparse.ArgumentParser(prog="vidshard inspect", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="a dataset (DIR, DIR@VERSION or DIR@TAG) or one .tar shard")
    p.add_argument("--peek", type=int, default=16, help="clips of the first shard to summarize (default 16)")
    p.add_argument("--dump", metavar="KEY", help="write the clip with this sample key (see a shard summary for keys)")
    p.add_argument("--out", type=Path, help="output for --dump: F.gif (animation) or F.png (frame strip)")
    p.add_argument("--keys", action="store_true", help="list every sample key")
    args = p.parse_args(argv)
    target = args.target
    if not is_dataset_ref(target) and not Path(target).exists():
        raise UsageError(f"{target}: no such file or directory")
    if args.dump and not args.out:
        raise UsageError("--dump needs --out F.gif or F.png")
    if args.dump:
        frames, meta = find_clip(target, args.dump)
        write_clip(frames, args.out, fps=float(meta.get("fps") or 10.0))
        print(f"wrote {args.out} ({frames.shape[0]} frames of {frames.shape[1]}×{frames.shape[2]})")
    elif args.keys:
        for f in shard_files(target):
            for k, _, _ in iter_samples(f):
                print(k)
    elif is_dataset_ref(target):
        print("\n".join(dataset_summary(open_version(target), args.peek)))
    else:
        print("\n".join(shard_summary(Path(target))))
    return 0


main = entry("inspect")
