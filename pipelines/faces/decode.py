"""Opening and decoding videos: decord to probe and validate, PyAV to stream frames; frame-rate resampling.

decord opens, probes and validates files (clear reasons for bad ones); the frames themselves are streamed
by `stream_frames()` with PyAV, one at a time, in the calling thread, because decord's read-ahead cannot
be bounded (see there). Frames are full size; the detector's copy is made by `downscale()`. Every failure
becomes a VideoError with a short reason.

decord cannot open raw Annex-B streams (.264/.h264) and decoding can hang inside native code on some
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


def stream_frames(path: str | os.PathLike, indices: np.ndarray, threads: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(position, frame) for every frame of `indices` (increasing), decoding the file once, in order.

    PyAV (FFmpeg's libraries) in the calling thread: a frame is decoded only when asked for, so memory is
    one frame whatever the consumer's speed. decord cannot promise that: it decodes ahead on a thread of
    its own into an unbounded queue (dmlc/decord #208) and no seek empties it for good; with a consumer
    slower than the decoder (the face pipeline: 2.2 ms of BlazeFace every 2nd frame) RSS grew by 0.6 GiB
    per 500 frames of 844x844 in our tests. Frames are the same bytes as decord's (checked by the tests);
    frames not in `indices` are decoded (the codec needs them) but never converted to RGB. The file must
    have been opened with open_reader first (it gives the clear errors for unreadable files).
    """
    import av
    wanted = iter(enumerate(indices.tolist()))
    pos, target = next(wanted, (None, None))
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE" if threads <= 1 else "AUTO"
            stream.codec_context.thread_count = max(1, threads)
            for i, frame in enumerate(container.decode(stream)):
                if target is None:
                    break
                if i == target:
                    yield pos, frame.to_ndarray(format="rgb24")
                    pos, target = next(wanted, (None, None))
    except (av.FFmpegError, IndexError) as e:
        raise VideoError(f"decoding failed at frame {target}: {str(e)[:200] or type(e).__name__}") from None
    if target is not None:
        raise VideoError(f"decoding failed at frame {target}: the stream ends early "
                         f"(truncated file, or a wrong frame count in the container)")


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
