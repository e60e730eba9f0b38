"""Bouncing-balls video metrics (FrameGAN, MODELS.md §C) and the recipe that applies them to a video generator.

Pure functions on frame arrays: numpy (or anything np.asarray takes) of shape (..., H, W), or the shards'
(..., H, W, 1); uint8 frames are binarised at > 127, float frames (in [0, 1]) at > 0.5, the same cut.

    table1_mse(video)      the paper's Table 1 for one video (T, H, W): frames binarised, the MSE between
                           consecutive frames averaged over the T - 1 pairs (real 1 ball ≈ 0.0222,
                           3 balls ≈ 0.036 on `vidshard synth balls`)
    table1(videos)         mean ± std over videos (the paper: 30 videos)
    ball_counts(video)     per frame, the number of connected components (8-connected) of the binarised frame
    count_rate(counts, n)  the fraction of frames showing exactly n components; balls overlap, so real clips
                           of 3 balls score below 1: compare generated with real
    video_motion(video)    the mean displacement (pixels per frame) of component centroids between
                           consecutive frames, components matched by minimum total distance
    motion(videos)         mean ± std of video_motion over videos
    isomap(points)         a 2-D Isomap embedding (k-nearest-neighbour graph, shortest paths, classical MDS)

FrameGAN's recipe (trainers/eval/framegan.py) applies them to real, generated and i.i.d.-z videos.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), bool)  # 8-connectivity: diagonal neighbours join one component


# ---- metrics on frame arrays ---------------------------------------------------------------------------------

def binarize(frames) -> np.ndarray:
    """Boolean frames (..., H, W): uint8 > 127, float > 0.5; a trailing channel axis of 1 is dropped."""
    a = np.asarray(frames)
    if a.ndim >= 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a > 127 if a.dtype == np.uint8 else a > 0.5


def table1_mse(video) -> float:
    """Mean over consecutive pairs of the MSE between binarised frames (T >= 2)."""
    b = binarize(video).astype(np.float64)
    if b.ndim != 3 or b.shape[0] < 2:
        raise ValueError(f"table1_mse: expected a video (T >= 2, H, W), got shape {b.shape}")
    return float(np.mean((b[1:] - b[:-1]) ** 2))


def summary(values) -> dict:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if v.size else math.nan, "std": float(v.std()) if v.size else math.nan,
            "n": int(v.size)}


def table1(videos) -> dict:
    """Table 1 over videos: {"mean", "std" (over videos, ddof 0), "n"}."""
    return summary([table1_mse(v) for v in videos])


def components(frame, min_pixels: int = 1) -> tuple[np.ndarray, int]:
    """Labels of the 8-connected components of a binarised frame with at least min_pixels pixels."""
    labels, n = ndimage.label(binarize(frame), structure=EIGHT)
    if min_pixels > 1 and n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = np.flatnonzero(sizes >= min_pixels)
        keep = keep[keep > 0]
        remap = np.zeros(n + 1, np.int64)
        remap[keep] = np.arange(1, keep.size + 1)
        labels, n = remap[labels], int(keep.size)
    return labels, n


def ball_counts(video, min_pixels: int = 1) -> np.ndarray:
    """Components per frame, (T,) ints."""
    return np.array([components(f, min_pixels)[1] for f in binarize(video)], np.int64)


def count_rate(counts, n: int) -> float:
    """Fraction of frames with exactly n components."""
    c = np.asarray(counts).ravel()
    return float(np.mean(c == n)) if c.size else math.nan


def centroids(frame, min_pixels: int = 1) -> np.ndarray:
    """(m, 2) component centroids (row, column) in pixels."""
    labels, n = components(frame, min_pixels)
    if n == 0:
        return np.zeros((0, 2))
    return np.array(ndimage.center_of_mass(labels > 0, labels, range(1, n + 1)), np.float64).reshape(n, 2)


def matched_displacements(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between the centroids a (m, 2) and b (m', 2) paired by minimum total distance
    (min(m, m') pairs)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0)
    from scipy.optimize import linear_sum_assignment
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    rows, cols = linear_sum_assignment(d)
    return d[rows, cols]


def video_motion(video, min_pixels: int = 1) -> float:
    """Mean centroid displacement in pixels per frame over all matched components of all consecutive
    pairs; nan if no pair of frames both show a component."""
    cs = [centroids(f, min_pixels) for f in binarize(video)]
    d = np.concatenate([matched_displacements(a, b) for a, b in zip(cs[:-1], cs[1:])] or [np.zeros(0)])
    return float(d.mean()) if d.size else math.nan


def motion(videos, min_pixels: int = 1) -> dict:
    """video_motion over videos: {"mean", "std", "n"} (videos without any matched pair are left out)."""
    return summary([video_motion(v, min_pixels) for v in videos])


def isomap(points, n_neighbors: int = 10, dims: int = 2) -> np.ndarray:
    """Isomap (Tenenbaum et al. 2000): geodesic distances on the symmetric k-nearest-neighbour graph, then
    classical MDS. k is doubled until the graph is connected. points (n, d) -> (n, dims)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components, shortest_path
    x = np.asarray(points, np.float64)
    n = len(x)
    d = np.sqrt(np.maximum(((x[:, None] - x[None]) ** 2).sum(-1), 0))
    k = min(n_neighbors, n - 1)
    while True:
        nearest = np.argsort(d, axis=1)[:, 1:k + 1]
        w = np.zeros_like(d)
        rows = np.repeat(np.arange(n), k)
        w[rows, nearest.ravel()] = d[rows, nearest.ravel()]
        graph = csr_matrix(np.maximum(w, w.T))
        if connected_components(graph, directed=False)[0] == 1 or k >= n - 1:
            break
        k = min(2 * k, n - 1)
    g = shortest_path(graph, directed=False)
    centred = -0.5 * (g ** 2 - (g ** 2).mean(0) - (g ** 2).mean(1)[:, None] + (g ** 2).mean())
    vals, vecs = np.linalg.eigh(centred)
    top = np.argsort(vals)[::-1][:dims]
    return vecs[:, top] * np.sqrt(np.maximum(vals[top], 0))
