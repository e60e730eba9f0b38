"""Decoding a video with decord in bounded chunks, with optional frame-rate resampling.

Nothing here holds a whole video: `chunks()` yields at most `chunk` frames at a time. Detection reads a
downscaled copy (decord scales inside the decoder, so no full-size RGB frame is materialized for it);
crops read full-resolution frames. Every decord failure becomes a VideoError with a short reason.

decord cannot open raw Annex-B streams (.264/.h264) and `get_batch` can hang inside native code on some
broken files: the job that calls us puts each video under a process-level timeout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np


class VideoError(RuntimeError):
    """A video that cannot be opened or decoded; str(e) is a short human sentence naming the reason."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int       # frames in the source, as the container reports them
    fps: float        # the source's average frame rate
    width: int
    height: int


def _reason(err: Exception) -> str:
    """decord's messages carry C++ file/line noise; keep the informative part."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "cannot find video stream" in text:
        return "no video stream (audio only, or not a video)"
    if "Failed to measure duration" in text or "broken metadata" in text:
        return "cannot read the stream's duration/frame count (raw .264 stream, or broken metadata)"
    if "Error reading" in text or "Invalid data" in text:
        return "not a readable video container (not a video, or truncated: index/moov missing)"
    return f"decoder error: {text[-200:]}"


def open_reader(path: str | os.PathLike, width: int = -1, height: int = -1, threads: int = 1):
    """A decord VideoReader, or VideoError explaining why there is none."""
    import decord  # imported here so that importing this module stays light
    path = Path(path)
    if not path.is_file():
        raise VideoError("file not found")
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=threads)
    except Exception as e:  # decord raises RuntimeError or its DECORDError for every kind of bad input
        raise VideoError(_reason(e)) from None
    if len(reader) == 0:
        raise VideoError("the video stream has no frames")
    return reader


def read_info(reader) -> VideoInfo:
    """Frame count, rate and size of an open full-resolution reader (decodes the first frame)."""
    try:
        height, width = reader[0].shape[:2]
    except Exception as e:
        raise VideoError(f"cannot decode the first frame: {_reason(e)}") from None
    fps = float(reader.get_avg_fps())
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"invalid frame rate {fps!r}")
    return VideoInfo(frames=len(reader), fps=fps, width=int(width), height=int(height))


def probe(path: str | os.PathLike) -> VideoInfo:
    return read_info(open_reader(path))


def sample_indices(n_frames: int, src_fps: float, fps: float | None) -> np.ndarray:
    """Source frame indices for the target rate: the frame shown at each output time k/fps.

    fps None (or >= the source rate) keeps every frame: we never invent frames by duplicating them.
    """
    if fps is None or fps >= src_fps:
        return np.arange(n_frames, dtype=np.int64)
    n_out = int(np.floor((n_frames - 1) * fps / src_fps)) + 1
    idx = np.floor(np.arange(n_out) * src_fps / fps + 1e-9).astype(np.int64)
    return idx[idx < n_frames]


def detect_shape(width: int, height: int, detect_size: int) -> tuple[int, int]:
    """(w, h) of the copy the detector sees: longest side detect_size, never larger than the source.

    BlazeFace resizes its input to 128 or 192 pixels internally, so upscaling would only cost time.
    Sizes are even because some decoders' scalers want them so.
    """
    scale = min(1.0, detect_size / max(width, height))
    if scale >= 1.0:
        return width, height
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def chunks(reader, indices: np.ndarray, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions, frames) for consecutive slices of `indices` (positions index into `indices`)."""
    for start in range(0, len(indices), chunk):
        pos = np.arange(start, min(start + chunk, len(indices)))
        try:
            frames = reader.get_batch(indices[pos].tolist()).asnumpy()
        except Exception as e:
            raise VideoError(f"decoding failed at frame {int(indices[pos[0]])}: {_reason(e)}") from None
        if frames.shape[0] != len(pos):
            raise VideoError(f"decoder returned {frames.shape[0]} frames for {len(pos)} requested at frame "
                             f"{int(indices[pos[0]])}")
        yield pos, frames
