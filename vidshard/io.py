"""Small file helpers every part of vidshard uses: content hashes, atomic writes, the cache directory, URL or
local path, images and animations.

Imports stay light (the standard library; fsspec and PIL only inside the functions that need them), so the
format package (`shards/`) and the training side can use it.

    sha256_file(path_or_url) -> hex              file_digest(path_or_url) -> (hex, bytes)
    sha256_stream(f) -> (hex, bytes)             unique_tmp(path) -> PATH.<pid>-<random>.tmp
    atomic_write(path, data | write=fn(f))      atomic_write_json(path, obj)      json_bytes(obj)
    cache_dir(*parts)                            $VIDSHARD_CACHE, else ~/.cache/vidshard
    is_url(path), local_path(path)               'file://' paths are local
    save_image(array, path, scale=1)             save_animation(frames, path_or_file, frame_ms, ...)
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

CACHE_ENV = "VIDSHARD_CACHE"
CHUNK = 1 << 20


# ------------------------------------------------------------------------------------- where things are

def cache_dir(*parts: str) -> Path:
    """vidshard's cache ($VIDSHARD_CACHE, else ~/.cache/vidshard), or a folder in it; not created here.
    Everything vidshard caches lives below it: face models, MNIST downloads, the synthetic asset registry,
    judges, the staging folders of remote dataset directories."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "vidshard").joinpath(*parts)


def is_url(path: str | os.PathLike) -> bool:
    """An fsspec URL (s3://, gs://, https://, memory://, ...); file:// URLs and plain paths are local."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def local_path(path: str | os.PathLike) -> str:
    """A local path as the file system names it ('file://' stripped)."""
    text = os.fspath(path)
    return text[len("file://"):] if text.startswith("file://") else text


# ------------------------------------------------------------------------------------- hashes

def sha256_stream(f, chunk: int = CHUNK) -> tuple[str, int]:
    """(sha256 hex, bytes read) of a binary stream, read to its end."""
    h, n = hashlib.sha256(), 0
    while block := f.read(chunk):
        h.update(block)
        n += len(block)
    return h.hexdigest(), n


def file_digest(path: str | os.PathLike) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a local file or an fsspec URL, streamed."""
    if is_url(path):
        import fsspec
        with fsspec.open(os.fspath(path), "rb") as f:
            return sha256_stream(f)
    with open(local_path(path), "rb") as f:
        return sha256_stream(f)


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex of a local file or an fsspec URL."""
    return file_digest(path)[0]


# ------------------------------------------------------------------------------------- atomic writes

def unique_tmp(path: str | os.PathLike) -> Path:
    """PATH.<pid>-<random>.tmp: a temp name no other process (or retry of this one) can be writing."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def json_bytes(obj) -> bytes:
    """The JSON files vidshard writes for people and tools (manifests, stats, records): sorted keys,
    indented, a final newline."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def atomic_write(path: str | os.PathLike, data: bytes | str | None = None, *, write=None,
                 mkdir: bool = True) -> Path:
    """Write a whole file so that a reader sees the old file or the new one, never part of one: into a
    unique temp file beside it, flushed and fsynced, then renamed over `path`. Give the content as `data`
    (bytes, or str as UTF-8) or as `write(f)` filling a binary file (torch.save, a download); if it raises,
    the temp file is removed and `path` is untouched."""
    if (data is None) == (write is None):
        raise TypeError("atomic_write: give exactly one of data and write")
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = unique_tmp(path)
    try:
        with open(tmp, "wb") as f:
            if write is not None:
                write(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """atomic_write of json_bytes(obj)."""
    return atomic_write(path, json_bytes(obj))


# ------------------------------------------------------------------------------------- images

def _pil_frames(frames, scale: int):
    from PIL import Image
    images = []
    for frame in frames:
        im = Image.fromarray(frame[..., 0] if frame.ndim == 3 and frame.shape[-1] == 1 else frame)
        if scale > 1:
            im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
        images.append(im)
    return images


def save_image(image, path: str | os.PathLike, scale: int = 1, **save_kw) -> None:
    """One uint8 image (H×W, H×W×1 or H×W×3) as a file whose suffix names the format (.png, ...);
    `scale` enlarges it by pixel repetition."""
    _pil_frames([image], scale)[0].save(path, **save_kw)


def save_animation(frames, out, frame_ms: int, scale: int = 1, format: str | None = None, **save_kw) -> None:
    """uint8 frames (each H×W, H×W×1 or H×W×3) as a looping animation, each frame shown `frame_ms`
    milliseconds: a .gif path, or any format PIL animates into a file object (format="WEBP")."""
    images = _pil_frames(frames, scale)
    images[0].save(out, format=format, save_all=True, append_images=images[1:], duration=int(frame_ms), loop=0,
                   **save_kw)
