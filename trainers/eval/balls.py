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

evaluate(model, data, out_dir) is the recipe for a model with the evaluation adapter (trainers/eval/__init__.py)
that makes 30-frame videos of balls: FrameGAN's `generate`, `sample_dynamic` and `generate_iid`.
"""
from __future__ import annotations

import math
from pathlib import Path

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


# ---- the recipe ----------------------------------------------------------------------------------------------

def real_videos(data: str, n: int, size: int, channels: int) -> tuple[np.ndarray, list[dict]]:
    """n held-out clips (test split, else val; see trainers.eval.data) as float (n, T, H, W) in [0, 1] at the
    model's size, and their labels."""
    import torch
    from trainers.eval.data import eval_splits, to_tensor
    from trainers.frames import fit_frames
    _, clips, _ = eval_splits(data, 0, n)
    t = min(f.shape[0] for _, f, _ in clips)
    x = torch.stack([fit_frames(to_tensor(f[:t]), size, channels) for _, f, _ in clips])
    return x[:, :, 0].numpy(), [m for _, _, m in clips]


def video_report(videos: np.ndarray, n_balls: int) -> dict:
    counts = np.stack([ball_counts(v) for v in videos])
    hist = np.bincount(np.minimum(counts.ravel(), 9), minlength=10) / counts.size
    return {"table1": table1(videos), "count_rate": count_rate(counts, n_balls),
            "count_hist": [float(h) for h in hist], "motion": motion(videos)}


def evaluate(model, data: str, out_dir: str, n_videos: int = 30, seed: int = 0, **kw) -> dict:
    """Table 1, ball counts and motion for real clips, the model's videos (G_V; stage 1 has none) and videos of
    i.i.d. z_F; ratios generated / real; strip.png and videos.gif (rows: real, generated, i.i.d.); with G_V the
    Isomap of z_F trajectories against prior samples and linear interpolations (isomap.png, isomap.json).
    Writes out_dir/eval.json and returns the metrics."""
    import torch
    from trainers.eval.data import write_json
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    device = next(model.parameters()).device
    real, meta = real_videos(data, n_videos, cfg.image_size, cfg.channels)
    n, t = len(real), real.shape[1]
    labelled = [m.get("n_balls") for m in meta if m and "n_balls" in m]
    n_balls = int(labelled[0]) if labelled else int(np.bincount(ball_counts(real[0])).argmax())
    gen = torch.Generator(device).manual_seed(seed)
    iid = model.generate_iid(n, t, gen)[:, :, 0].cpu().numpy()
    res = {"data": str(data), "videos": n, "frames": t, "n_balls": n_balls, "skipped": {},
           "real": video_report(real, n_balls), "iid": video_report(iid, n_balls)}
    rows = {"real": real, "iid": iid}
    if getattr(model, "gv", None) is None:
        res["skipped"]["generated"] = "no video generator (phase=frames): the i.i.d. row shows G_F's frames"
    else:
        zf = model.sample_dynamic(n, t, gen)
        video = model.generate(None, zf)[:, :, 0].cpu().numpy()
        rows["generated"] = video
        res["generated"] = video_report(video, n_balls)
        g, r = res["generated"], res["real"]
        res["table1_ratio"] = g["table1"]["mean"] / r["table1"]["mean"]
        res["motion_ratio"] = g["motion"]["mean"] / r["motion"]["mean"]
        res["count_rate_diff"] = g["count_rate"] - r["count_rate"]
        res.update(latent_report(model, zf, gen, out))
    res["table1_ratio_iid"] = res["iid"]["table1"]["mean"] / res["real"]["table1"]["mean"]
    save_figures(rows, out)
    write_json(res, out / "eval.json")
    return res


def latent_report(model, zf, gen, out: Path) -> dict:
    """Fig. 5: the Isomap of 6 trajectories of G_V, 100 prior samples and 2 linear interpolations between
    prior samples; plus the mean norm of z_F and of its steps (the prior's norm is about sqrt(z_dim))."""
    import torch
    from trainers.eval.data import write_json
    trajectories = zf[:6].float().cpu()
    t, d = trajectories.shape[1:]
    prior = model.sample_iid(1, 100, gen)[0].float().cpu()
    ends = model.sample_iid(2, 2, gen).float().cpu()
    w = torch.linspace(0, 1, t)[None, :, None]
    lines = ends[:, :1] * (1 - w) + ends[:, 1:] * w
    groups = [f"video{i}" for i in range(len(trajectories)) for _ in range(t)] + ["prior"] * 100 + \
             [f"interp{i}" for i in range(2) for _ in range(t)]
    points = torch.cat([trajectories.reshape(-1, d), prior, lines.reshape(-1, d)]).numpy()
    xy = isomap(points)
    write_json({"groups": groups, "xy": xy.tolist()}, out / "isomap.json")
    draw_scatter(xy, groups, out / "isomap.png")
    return {"zf_norm": float(zf.float().norm(dim=-1).mean()),
            "zf_step": float((zf[:, 1:] - zf[:, :-1]).float().norm(dim=-1).mean()),
            "prior_step": float((prior[1:] - prior[:-1]).norm(dim=-1).mean())}


def save_figures(rows: dict, out: Path, per_row: int = 3) -> None:
    """strip.png: per_row videos of each kind (real, generated, iid), one per row, every frame; videos.gif:
    the same videos in a grid, animated."""
    import torch
    from trainers.eval.figures import save_gif, save_png, tile
    kinds = [k for k in ("real", "generated", "iid") if k in rows]
    clips = torch.from_numpy(np.concatenate([rows[k][:per_row] for k in kinds]).astype(np.float32))[:, :, None]
    save_png(tile(clips), out / "strip.png", scale=2)
    grid = clips.view(len(kinds), -1, *clips.shape[1:])  # (kinds, per_row, T, 1, H, W)
    save_gif([tile(grid[:, :, i]) for i in range(grid.shape[2])], out / "videos.gif", scale=3)


def draw_scatter(xy: np.ndarray, groups: list[str], path: Path, size: int = 480) -> None:
    """Points on a white square, one colour per group (prior: grey crosses; interpolations: black)."""
    from PIL import Image, ImageDraw
    lo, hi = xy.min(0), xy.max(0)
    p = (xy - lo) / np.maximum(hi - lo, 1e-12) * (size - 40) + 20
    im = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(im)
    palette = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]
    names = sorted({g for g in groups if g.startswith("video")})
    for (x, y), g in zip(p, groups):
        if g == "prior":
            draw.line([(x - 3, y - 3), (x + 3, y + 3)], fill=(150, 150, 150))
            draw.line([(x - 3, y + 3), (x + 3, y - 3)], fill=(150, 150, 150))
        elif g.startswith("interp"):
            draw.polygon([(x, y - 3), (x - 3, y + 3), (x + 3, y + 3)], fill=(0, 0, 0))
        else:
            c = palette[names.index(g) % len(palette)]
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=c)
    im.save(path)
