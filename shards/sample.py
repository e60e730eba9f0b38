"""One sample = one clip: how a clip becomes tar members and back.

Members of a sample with key K (docs/FORMAT.md):
  K.frames.npy   uint8 array T×H×W×C (C = 1 or 3), written with numpy's .npy format, no pickle
  K.json         metadata: provenance, frame indices, labels, boxes

Keys never contain dots: webdataset splits a member name at the first dot of the basename.
"""
from __future__ import annotations

import io
import json
import re

import numpy as np

from vidshard.errors import DataError

FRAMES = "frames.npy"
META = "json"
MEMBERS = (FRAMES, META)  # the fixed order members are written in
REQUIRED_META = ("source_id", "source_path", "track", "clip", "frame_indices", "fps")

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class SampleError(DataError):
    """A sample that does not follow the format; the message names the key."""


def make_key(source_id: str, track: int, clip: int) -> str:
    key = f"{source_id}_t{int(track)}_c{int(clip)}"
    check_key(key)
    return key


def check_key(key: str) -> None:
    if not _KEY_RE.match(key):
        raise SampleError(f"sample key {key!r}: only letters, digits, '_' and '-' are allowed (no dots, no slashes)")


def to_jsonable(obj):
    """Plain Python types only, so json.dumps is exact and deterministic."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def encode_json(meta: dict) -> bytes:
    return json.dumps(to_jsonable(meta), sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_frames(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(frames), allow_pickle=False)
    return buf.getvalue()


def decode_frames(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def decode_json(data: bytes) -> dict:
    return json.loads(data.decode("utf-8"))


def check_frames(key: str, frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise SampleError(f"sample {key}: frames must be a uint8 numpy array")
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or frames.shape[0] < 1:
        raise SampleError(f"sample {key}: frames must be T×H×W×C with C in (1, 3), got shape {frames.shape}")


def check_meta(key: str, meta: dict) -> None:
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise SampleError(f"sample {key}: json lacks {', '.join(missing)}")


def encode_sample(key: str, frames: np.ndarray, meta: dict) -> list[tuple[str, bytes]]:
    """The (member name, bytes) pairs of one sample, in the fixed member order."""
    check_key(key)
    check_frames(key, frames)
    check_meta(key, meta)
    if len(meta["frame_indices"]) != frames.shape[0]:
        raise SampleError(f"sample {key}: {len(meta['frame_indices'])} frame_indices for {frames.shape[0]} frames")
    return [(f"{key}.{FRAMES}", encode_frames(frames)), (f"{key}.{META}", encode_json(meta))]


def decode_sample(key: str, members: dict[str, bytes]) -> tuple[np.ndarray, dict]:
    """Strict decode of one sample's members (suffix -> bytes); raises SampleError naming the key."""
    for m in MEMBERS:
        if m not in members:
            raise SampleError(f"sample {key}: member {m} is missing")
    try:
        frames = decode_frames(members[FRAMES])
        meta = decode_json(members[META])
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as e:
        raise SampleError(f"sample {key}: cannot decode: {e}") from e
    check_frames(key, frames)
    return frames, meta
