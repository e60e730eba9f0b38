"""Decoding a video with decord in bounded chunks, with optional frame-rate resampling.

Nothing here holds a whole video: `read_frames()` yields one frame at a time, reading sequentially, and keeps
decord's own read-ahead queue bounded. Detection reads a
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


SKIP_LIMIT = 48           # a gap of up to this many frames is decoded through (skip_frames); a longer one seeks
READ_AHEAD_CHUNKS = 2     # decoded-ahead frames tolerated, in chunks of frames (see read_frames())


def _rss() -> int:
    import psutil
    return psutil.Process().memory_info().rss


def read_frames(reader, indices: np.ndarray, chunk: int = 64) -> Iterator[tuple[int, np.ndarray]]:
    """(position, frame) for every frame of `indices` in order (position indexes into `indices`).

    `indices` must be increasing. Frames come one at a time from `next()` and the caller is expected to
    drop each before taking the next: on the shared test videos a sequential `next()` costs 2.3-3.0 ms CPU
    per frame, where `get_batch` of 64 costs 4.7-4.9 (its fresh 64-frame buffer page-faults in ~1 ms of
    kernel time per frame, and it re-checks its position per batch). Short gaps are decoded through with
    `skip_frames` (no colour conversion), long ones seek to a key frame.

    decord decodes ahead on a thread of its own into an unbounded queue (dmlc/decord #208): harmless while
    we consume faster than it decodes, but a slow consumer would let the queue grow with the video. So every
    `chunk` frames the process's RSS is compared with its level at the start, and above READ_AHEAD_CHUNKS
    chunks of frames more the queue is dropped by seeking (accurately) to the next frame we need: decoding
    resumes from its key frame, costing at most one GOP of extra decoding per drop.
    """
    if len(indices) and np.any(np.diff(indices) <= 0):
        raise ValueError("read_frames() needs increasing frame indices")
    state = {"next": 0}
    base, budget = _rss(), None
    for i, index in enumerate(indices.tolist()):
        frame = _read(reader, index, state)
        if budget is None:
            budget = READ_AHEAD_CHUNKS * chunk * frame.nbytes
        yield i, frame
        del frame
        if (i + 1) % chunk == 0 and i + 1 < len(indices) and _rss() - base > budget:
            _seek(reader, int(indices[i + 1]), state)
            base = _rss()   # what is still above the old level after the drop is not the queue's


def downscale(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` resized to width×height for the detector, cheaply but without aliasing.

    cv2's area filter is fast only at integer factors (0.7 ms for 1080p -> 960×540, 10 ms for an arbitrary
    factor), and a bilinear resize aliases beyond 2×: so halve with the area filter while the frame is
    more than twice too big, then finish bilinearly (a factor below 2).
    """
    import cv2
    while frame.shape[1] >= 2 * width and frame.shape[0] >= 2 * height:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (frame.shape[1], frame.shape[0]) != (width, height):
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    return frame


def chunks(reader, indices: np.ndarray, chunk: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(positions, frames) for consecutive slices of at most `chunk` frames of `indices` (read_frames in
    groups, for callers that want batches; holding a batch costs the page faults read_frames avoids)."""
    pos, frames = [], []
    for i, frame in read_frames(reader, indices, chunk):
        pos.append(i)
        frames.append(frame)
        if len(pos) == chunk:
            yield np.array(pos), frames
            pos, frames = [], []
    if pos:
        yield np.array(pos), frames


def _seek(reader, index: int, state: dict) -> None:
    try:
        reader.seek_accurate(index)
    except Exception as e:
        raise VideoError(f"decoding failed at frame {index}: cannot seek: {_reason(e)}") from None
    state["next"] = index


def _read(reader, index: int, state: dict) -> np.ndarray:
    """Frame `index` as an H×W×3 uint8 array, reading forward from the reader's position."""
    try:
        gap = index - state["next"]
        if gap < 0 or gap > SKIP_LIMIT:
            _seek(reader, index, state)
        elif gap > 0:
            reader.skip_frames(gap)
        frame = reader.next().asnumpy()
    except VideoError:
        raise
    except StopIteration:
        raise VideoError(f"decoding failed at frame {index}: the stream ends early "
                         f"(truncated file, or a wrong frame count in the container)") from None
    except Exception as e:
        raise VideoError(f"decoding failed at frame {index}: {_reason(e)}") from None
    state["next"] = index + 1
    return frame
