"""Opening and decoding videos: decord to probe and validate, PyAV to stream frames; frame-rate resampling.

decord opens, probes and validates files (clear reasons for bad ones); the frames themselves are streamed
by PyAV, one at a time, in the calling thread, because decord's read-ahead cannot be bounded (see
stream_frames). `stream_frames()` gives whole RGB frames; the face pipeline uses `stream_pictures()`,
whose frames stay the decoder's YUV planes and convert only small images (the detector's copy, face crops)
to RGB (YuvPicture; RgbPicture for other pixel formats). Every failure becomes a VideoError with a short
reason.

decord cannot open raw Annex-B streams (.264/.h264) and decoding can hang inside native code on some
broken files: the job that calls us puts each video under a process-level timeout.
"""
from __future__ import annotations

import functools

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vidshard.errors import EXIT_ERROR, VidshardError


class VideoError(VidshardError, RuntimeError):
    """A video that cannot be opened or decoded; str(e) is a short human sentence naming the reason."""
    exit_code = EXIT_ERROR


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


def read_rate(reader) -> tuple[int, float]:
    """(frame count, average frame rate) of an open reader, without decoding a frame."""
    fps = float(reader.get_avg_fps())
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"invalid frame rate {fps!r}")
    return len(reader), fps


def read_info(reader) -> VideoInfo:
    """Frame count, rate and size of an open full-resolution reader (decodes the first frame, which the
    face pipeline saves by taking the size from the first frame it streams)."""
    try:
        height, width = reader[0].shape[:2]
    except Exception as e:
        raise VideoError(f"cannot decode the first frame: {_reason(e)}") from None
    frames, fps = read_rate(reader)
    return VideoInfo(frames=frames, fps=fps, width=int(width), height=int(height))


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


COUNT_SLACK = 2   # frames: a stream this much shorter than its container's count is a wrong count, not damage


def _decode(path, indices: np.ndarray, threads: int,
            warnings: list | None = None) -> Iterator[tuple[int, "av.VideoFrame"]]:
    """(position, PyAV frame) for every frame of `indices` (increasing), decoding the file once, in order.

    A stream that ends before the last wanted frame, or breaks partway (a truncated file), raises
    VideoError; with a `warnings` list it instead ends the iteration there, after appending one sentence
    saying what happened, as long as at least one frame came out (real MP4s often count a frame or two
    more than their stream holds; a file cut in the middle still has its first frames).
    """
    import av
    wanted = iter(enumerate(indices.tolist()))
    pos, target = next(wanted, (None, None))
    decoded, error, reported = 0, None, 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            reported = int(stream.frames or 0)   # the container's own count (decord's may be lower)
            stream.thread_type = "NONE" if threads <= 1 else "AUTO"
            stream.codec_context.thread_count = max(1, threads)
            for i, frame in enumerate(container.decode(stream)):
                decoded = i + 1
                if target is None:
                    break
                if i == target:
                    yield pos, frame
                    pos, target = next(wanted, (None, None))
    except (av.FFmpegError, IndexError) as e:
        error = str(e)[:200] or type(e).__name__
    if target is None:
        return
    if warnings is None or pos == 0:
        if error is not None:
            raise VideoError(f"decoding failed at frame {target}: {error}")
        raise VideoError(f"decoding failed at frame {target}: the stream ends early "
                         f"(truncated file, or a wrong frame count in the container)")
    expected = max(int(indices[-1]) + 1, reported)
    if error is None and expected - decoded <= COUNT_SLACK:
        warnings.append(f"frame count: the container says {expected} frames, the stream has {decoded} "
                        f"(clips from those {decoded})")
    else:
        why = f"decoding failed at frame {decoded}: {error}" if error else "the stream ends early"
        warnings.append(f"truncated: {why}; clips from the {decoded} of {expected} frames that decoded are kept")


def stream_frames(path: str | os.PathLike, indices: np.ndarray, threads: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(position, RGB frame) for every frame of `indices` (increasing), decoding the file once, in order.

    PyAV (FFmpeg's libraries) in the calling thread: a frame is decoded only when asked for, so memory is
    one frame whatever the consumer's speed. decord cannot promise that: it decodes ahead on a thread of
    its own into an unbounded queue (dmlc/decord #208) and no seek empties it for good; with a consumer
    slower than the decoder (the face pipeline, waiting on BlazeFace) RSS grew by hundreds of MiB per 500
    frames of 844x844 in our tests. Frames are the same bytes as decord's (checked by the tests);
    frames not in `indices` are decoded (the codec needs them) but never converted to RGB. The file must
    have been opened with open_reader first (it gives the clear errors for unreadable files).
    """
    for pos, frame in _decode(path, indices, threads):
        yield pos, frame.to_ndarray(format="rgb24")


def stream_pictures(path: str | os.PathLike, indices: np.ndarray, threads: int = 1,
                    warnings: list | None = None) -> Iterator[tuple[int, "Picture"]]:
    """As stream_frames, but each frame is a Picture: the decoder's own YUV planes where that is safe
    (never converted as a whole: see YuvPicture), the full RGB frame otherwise (RgbPicture). With a
    `warnings` list, a stream that ends early or breaks partway ends the frames with a warning (see
    _decode) instead of a VideoError."""
    for pos, frame in _decode(path, indices, threads, warnings):
        yield pos, picture(frame)


# Colour. swscale's rgb24 (what stream_frames gives, and decord too) converts 4:2:0 with the matrix the
# frame is tagged with (BT.601 when untagged) in limited range, yuvj420p as full range, with nearest-neighbour
# chroma. OpenCV's COLOR_YUV2RGB_I420 is that conversion for BT.601; other matrices go through _yuv_affine.
# So a frame converts region by region (2x2-aligned) to what swscale gives for the whole, within rounding.
# Anything else (other pixel formats, bit depths, odd sizes, colour matrices we have not checked against
# swscale) takes the RgbPicture path.
_420 = {"yuv420p": (0, 1), "yuvj420p": (0, 1, 2)}   # accepted color_range values per format
BT601 = (0.299, 0.114)
# (Kr, Kb) per AVColorSpace: unspecified, BT470BG, SMPTE170M (all BT.601), BT.709, BT.2020 non-constant.
# On the corpus's BT.709 and BT.2020 files the plane path is within 1.0-1.1 levels (mean) of swscale's frame.
_MATRICES = {2: BT601, 5: BT601, 6: BT601, 1: (0.2126, 0.0722), 9: (0.2627, 0.0593)}
# full range -> limited range, so that cv2's limited-range conversion applies (error below one level)
_LUMA_TO_LIMITED = np.round(16 + np.arange(256) * 219 / 255).astype(np.uint8)
_CHROMA_TO_LIMITED = np.round(128 + (np.arange(256) - 128) * 224 / 255).astype(np.uint8)
# limited-range luma -> the grey level RGB2GRAY gives on the converted frame (the chroma terms cancel for
# BT.601; for the other matrices it is the frame's own luma, within a few levels of RGB2GRAY)
_LUMA_TO_GRAY = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def picture(frame) -> "Picture":
    """A YuvPicture over the frame's planes when its format is 8-bit 4:2:0 with even sizes and a matrix of
    _MATRICES; else RGB."""
    name, w, h = frame.format.name, frame.width, frame.height
    if (name in _420 and frame.color_range in _420[name] and frame.colorspace in _MATRICES
            and w % 2 == 0 and h % 2 == 0):
        full = name == "yuvj420p" or frame.color_range == 2
        planes = [np.frombuffer(pl, np.uint8).reshape(ph, pl.line_size)[:, :pw]
                  for pl, pw, ph in zip(frame.planes, (w, w // 2, w // 2), (h, h // 2, h // 2))]
        return YuvPicture(*planes, full_range=full, matrix=_MATRICES[frame.colorspace])
    return RgbPicture(frame.to_ndarray(format="rgb24"))


@functools.lru_cache(maxsize=None)
def _yuv_affine(kr: float, kb: float, full_range: bool) -> np.ndarray:
    """The 3x4 matrix taking (Y, U, V, 1) to (R, G, B) for luma weights kr, kb (cv2.transform's form)."""
    sy, sc, oy = (1.0, 1.0, 0.0) if full_range else (255 / 219, 255 / 224, 16.0)
    kg = 1 - kr - kb
    rows = [(sy, 0.0, 2 * (1 - kr) * sc), (sy, -2 * kb * (1 - kb) / kg * sc, -2 * kr * (1 - kr) / kg * sc),
            (sy, 2 * (1 - kb) * sc, 0.0)]
    return np.array([(a, b, c, -oy * a - 128 * (b + c)) for a, b, c in rows], np.float32)


def pad_of(width: int, height: int, x0: int, y0: int, side: int) -> tuple[int, int, int, int]:
    """Pixels a side×side square at (x0, y0) reaches past a width×height frame: (left, top, right, bottom)."""
    return max(0, -x0), max(0, -y0), max(0, x0 + side - width), max(0, y0 + side - height)


class RgbPicture:
    """A whole RGB frame (the fallback): the detector copy is cv2-downscaled, crops are slices."""

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb
        self.height, self.width = rgb.shape[:2]

    def small(self, width: int, height: int) -> np.ndarray:
        return downscale(self.rgb, width, height)

    def crop(self, x0: int, y0: int, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        from .crops import crop_square
        return crop_square(self.rgb, x0, y0, side)

    def crop_resized(self, x0: int, y0: int, side: int, size: int, gray: bool = False):
        """(size×size×C output crop, padding): crop() then crops.resize()."""
        from .crops import resize
        crop, pad = self.crop(x0, y0, side)
        return resize(crop, size, gray), pad


class YuvPicture:
    """A frame kept as the decoder's 4:2:0 planes (half the bytes of RGB, no copy): only the detector's
    small copy and the face crops are ever converted to RGB, each at its own small size."""

    def __init__(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, full_range: bool, matrix=BT601):
        self.y, self.u, self.v, self.full_range, self.matrix = y, u, v, full_range, matrix
        self.height, self.width = y.shape

    def _rgb(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        import cv2
        h, w = y.shape
        if self.matrix != BT601:
            up = lambda c: cv2.resize(c, (w, h), interpolation=cv2.INTER_NEAREST)  # noqa: E731
            return cv2.transform(cv2.merge([np.ascontiguousarray(y), up(u), up(v)]),
                                 _yuv_affine(*self.matrix, self.full_range))
        i420 = np.empty((h * 3 // 2, w), np.uint8)   # I420 layout: Y, then U and V each h/4 rows of w
        i420[:h] = y
        i420[h:].reshape(2, h // 2, w // 2)[:] = (u, v)
        if self.full_range:
            i420[:h] = _LUMA_TO_LIMITED[i420[:h]]
            i420[h:] = _CHROMA_TO_LIMITED[i420[h:]]
        return cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)

    def gray(self, short_side: int = 128) -> np.ndarray:
        """A grey image of the frame from the luma plane alone, subsampled to about `short_side` pixels
        on its short side (for scene-cut thumbnails: a strided copy costs a fraction of converting or
        area-filtering the whole frame). 128: a third of the cost of 256, and ordinary motion still stays
        well below the cut threshold (tracks.CutDetector; figures: docs/BENCHMARKS.md "Face pipeline")."""
        import cv2
        step = max(1, min(self.height, self.width) // short_side)
        y = np.ascontiguousarray(self.y[::step, ::step])
        return y if self.full_range else cv2.LUT(y, _LUMA_TO_GRAY)   # cv2.LUT: 6x numpy's fancy indexing

    def small(self, width: int, height: int) -> np.ndarray:
        """The detector's RGB copy: each plane downscaled (as downscale() does RGB), then converted."""
        return self._rgb(downscale(self.y, width, height), downscale(self.u, width // 2, height // 2),
                         downscale(self.v, width // 2, height // 2))

    def crop(self, x0: int, y0: int, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """As crops.crop_square on the RGB frame: the square (black beyond the frame) and its padding.

        Only the part inside the frame, widened to even coordinates (chroma is one sample per 2×2), is
        converted."""
        pad = pad_of(self.width, self.height, x0, y0, side)
        out = np.zeros((side, side, 3), np.uint8)
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x0 + side, self.width), min(y0 + side, self.height)
        if xb <= xa or yb <= ya:
            return out, pad
        ex, ey = xa // 2 * 2, ya // 2 * 2
        fx, fy = (xb + 1) // 2 * 2, (yb + 1) // 2 * 2
        rgb = self._rgb(self.y[ey:fy, ex:fx], self.u[ey // 2:fy // 2, ex // 2:fx // 2],
                        self.v[ey // 2:fy // 2, ex // 2:fx // 2])[ya - ey:yb - ey, xa - ex:xb - ex]
        if not any(pad):
            return rgb, pad
        out[ya - y0:yb - y0, xa - x0:xb - x0] = rgb
        return out, pad

    def crop_resized(self, x0: int, y0: int, side: int, size: int, gray: bool = False):
        """(size×size×C output crop, padding), as crops.resize(*crop()) gives, within a few grey levels.

        A big square (side >= 2·size) is shrunk plane by plane before any colour conversion: luma to
        2·size, chroma to size, converted to RGB at 2·size and halved. The colour conversion then costs
        (2·size)² pixels instead of side², and the resize runs on 1.5 bytes a pixel instead of 3 (on a
        450-px face about a quarter of the time: docs/BENCHMARKS.md "Face pipeline"). Chroma squares start at x0 // 2, y0 // 2 (half a source pixel
        off for odd corners: a fraction of an output pixel). gray: the luma plane alone.
        """
        import cv2
        from .crops import resize, shrink
        pad = pad_of(self.width, self.height, x0, y0, side)
        if side < 2 * size and not gray:
            crop, _ = self.crop(x0, y0, side)
            return resize(crop, size, gray), pad
        black = 0 if self.full_range else 16   # luma of black; chroma 128 is neutral in both ranges
        y = shrink(_square(self.y, x0, y0, side, black), 2 * size if not gray else size)
        if gray:
            y = y if self.full_range else _LUMA_TO_GRAY[y]
            return y.reshape(size, size, 1), pad
        cside = (side + 1) // 2
        u = shrink(_square(self.u, x0 // 2, y0 // 2, cside, 128), size)
        v = shrink(_square(self.v, x0 // 2, y0 // 2, cside, 128), size)
        return cv2.resize(self._rgb(y, u, v), (size, size), interpolation=cv2.INTER_AREA), pad


def _square(plane: np.ndarray, x0: int, y0: int, side: int, fill: int) -> np.ndarray:
    """plane[y0:y0+side, x0:x0+side], filled with `fill` where it leaves the plane (a view when inside)."""
    h, w = plane.shape
    if x0 >= 0 and y0 >= 0 and x0 + side <= w and y0 + side <= h:
        return plane[y0:y0 + side, x0:x0 + side]
    out = np.full((side, side), fill, np.uint8)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xb > xa and yb > ya:
        out[ya - y0:yb - y0, xa - x0:xb - x0] = plane[ya:yb, xa:xb]
    return out


Picture = RgbPicture | YuvPicture


def downscale(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` resized to width×height for the detector, cheaply but without aliasing.

    cv2's area filter is fast only at integer factors (an arbitrary factor costs an order of magnitude more),
    and a bilinear resize aliases beyond 2×: so halve with the area filter while the frame is
    more than twice too big, then finish bilinearly (a factor below 2).
    """
    import cv2
    while frame.shape[1] >= 2 * width and frame.shape[0] >= 2 * height:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (frame.shape[1], frame.shape[0]) != (width, height):
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    return frame
