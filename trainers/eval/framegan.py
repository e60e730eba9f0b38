"""What FrameGAN's paper reports (Albuquerque et al. 2018), measured with the kit: `vidshard eval framegan
RUN_DIR`. The ball metrics are in trainers/eval/balls.py.

For real held-out clips, the model's videos (G_V driving G_F; a stage-1 run has none) and videos of i.i.d.
z_F (G_F alone): Table 1 (frames binarised, MSE of consecutive frames, mean ± std over 30 videos), the
per-frame ball count by connected components (compared with real clips: balls overlap), the motion of the
components' centroids (a frozen video has Table 1 = 0: the metric alone cannot tell smooth from still),
strip.png and videos.gif (rows: real, generated, i.i.d.), and the Isomap of z_F trajectories against prior
samples and linear interpolations (the paper's Fig. 5).

eval.json keys: mse_real, mse_generated, mse_iid ([mean, std]), ball_count_accuracy(_real),
motion_real, motion_generated ([mean, std] pixels per frame), table1_ratio (generated / real),
table1_ratio_iid, motion_ratio, count_rate_diff, and the full reports under real / generated / iid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainers.eval import recipe
from trainers.eval.balls import ball_counts, count_rate, isomap, motion, table1
from trainers.eval.data import eval_splits, to_tensor, write_json
from trainers.eval.figures import save_gif, save_png, tile
from trainers.frames import fit_frames


def real_videos(data: str, n: int, size: int, channels: int) -> tuple[np.ndarray, list[dict]]:
    """n held-out clips (test split, else val; see trainers.eval.data) as float (n, T, H, W) in [0, 1] at the
    model's size, and their labels."""
    _, clips, _ = eval_splits(data, 0, n)
    t = min(f.shape[0] for _, f, _ in clips)
    x = torch.stack([fit_frames(to_tensor(f[:t]), size, channels) for _, f, _ in clips])
    return x[:, :, 0].numpy(), [m for _, _, m in clips]


def video_report(videos: np.ndarray, n_balls: int) -> dict:
    counts = np.stack([ball_counts(v) for v in videos])
    hist = np.bincount(np.minimum(counts.ravel(), 9), minlength=10) / counts.size
    return {"table1": table1(videos), "count_rate": count_rate(counts, n_balls),
            "count_hist": [float(h) for h in hist], "motion": motion(videos)}


def evaluate(model, cfg, data: str, out_dir: str, n_videos: int = 30, seed: int = 0, **kw) -> dict:
    """Table 1, ball counts and motion for real clips, the model's videos (G_V; stage 1 has none) and videos of
    i.i.d. z_F; ratios generated / real; strip.png and videos.gif (rows: real, generated, i.i.d.); with G_V the
    Isomap of z_F trajectories against prior samples and linear interpolations (isomap.png, isomap.json).
    Writes out_dir/eval.json and returns the metrics."""
    with recipe.evaluating(model, out_dir) as (out, device):
        return measure(model, cfg, data, out, device, n_videos, seed)


def measure(model, cfg, data: str, out: Path, device, n_videos: int, seed: int) -> dict:
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
    res.update(headline(res))
    save_figures(rows, out)
    write_json(res, out / "eval.json")
    return res


def headline(res: dict) -> dict:
    """The figures the issue asks for, flat: [mean, std] of Table 1 and the motion, count rates."""
    pair = lambda d: [d["mean"], d["std"]]
    out = {"mse_real": pair(res["real"]["table1"]), "mse_iid": pair(res["iid"]["table1"]),
           "ball_count_accuracy_real": res["real"]["count_rate"], "motion_real": pair(res["real"]["motion"])}
    if "generated" in res:
        g = res["generated"]
        out.update(mse_generated=pair(g["table1"]), ball_count_accuracy=g["count_rate"],
                   motion_generated=pair(g["motion"]))
    return out


def latent_report(model, zf, gen, out: Path) -> dict:
    """Fig. 5: the Isomap of 6 trajectories of G_V, 100 prior samples and 2 linear interpolations between
    prior samples; plus the mean norm of z_F and of its steps (the prior's norm is about sqrt(z_dim))."""
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
