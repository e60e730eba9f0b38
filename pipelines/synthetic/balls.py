"""Bouncing balls as FrameGAN uses them: Sutskever's simulation (MODELS.md §C).

A box of side 10 (simulation units) holds 1 or 3 balls of radius 1.2 and equal mass. Start positions are
uniform in [2, 10] per axis, redrawn until no ball overlaps a wall or another ball; velocities are
standard normal, scaled so that the norm over all balls is 0.5. Each frame advances 2 sub-steps of 0.5:
move, reflect off walls (elastic), then resolve ball pairs that overlap by exchanging the velocity
components along the line of centres (elastic, equal masses). Frames render each ball as
exp(-((d²)/r²)^4) on a res×res grid of pixel centres, summed and clipped to 1, as one uint8 channel.

Coordinates: x is the column axis, y the row axis. A simulation point p lies at pixel p*res/box - 0.5
(the centre of pixel k is at (k + 0.5)*box/res). Velocities are in units per frame.
"""
from __future__ import annotations

import math

import numpy as np

from .common import SynthError

NAME = "balls"
DEFAULT_FRAMES = 30
CONTENT_KEYS = ("n_balls",)
POSE_KEYS = ("positions", "velocities", "positions_px", "velocities_px")
RENDER_KEYS = ("res", "box", "radius")
COMPAT_KEYS = ("n_balls", "res", "box", "radius")

BOX = 10.0       # side of the box in simulation units
RADIUS = 1.2     # every ball
SPEED = 0.5      # norm of all balls' velocities together
SUBSTEPS = 2     # of length 1/SUBSTEPS each per frame


def add_args(p) -> None:
    g = p.add_argument_group("balls options")
    g.add_argument("--balls", type=int, default=1, choices=(1, 2, 3),
                   help="balls per clip; FrameGAN uses 1 and 3 (default: 1)")
    g.add_argument("--res", type=int, default=30, help="frame side in pixels (default: 30)")


def options(args, fractions=None) -> tuple[dict, None, dict]:
    """(options, no asset directory, nothing for the manifest): balls need no assets."""
    if args.res < 4:
        raise SynthError(f"--res {args.res}: must be >= 4")
    return {"n_balls": args.balls, "res": args.res, "box": BOX, "radius": RADIUS}, None, {}


def initial_positions(rng: np.random.Generator, n: int, r: float) -> np.ndarray:
    """Uniform in [2, 10] per axis, redrawn until nothing overlaps a wall or another ball."""
    while True:
        x = 2.0 + rng.random((n, 2)) * 8.0
        inside = np.all((x - r >= 0) & (x + r <= BOX))
        dist = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.eye(n) * 2 * r
        if inside and np.all(dist >= 2 * r):
            return x


def collide(x: list, v: list, r: float) -> None:
    """In place: walls flip the offending component; overlapping pairs exchange their normal velocities.

    Plain Python floats: with at most a few balls this is several times faster than small numpy arrays."""
    for p, q in zip(x, v):
        for k in (0, 1):
            if p[k] - r < 0:
                q[k] = abs(q[k])
            if p[k] + r > BOX:
                q[k] = -abs(q[k])
    for i in range(len(x)):
        for j in range(i):
            wx, wy = x[i][0] - x[j][0], x[i][1] - x[j][1]
            dist = math.hypot(wx, wy)
            if dist < 2 * r:
                wx, wy = wx / dist, wy / dist
                # equal masses: the 1-D elastic collision swaps the velocity components along the centres
                swap = (wx * v[j][0] + wy * v[j][1]) - (wx * v[i][0] + wy * v[i][1])
                v[i][0] += wx * swap
                v[i][1] += wy * swap
                v[j][0] -= wx * swap
                v[j][1] -= wy * swap


def simulate(rng: np.random.Generator, frames: int, n: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities at each frame, T × n × (x, y), in simulation units (per frame)."""
    v = rng.standard_normal((n, 2))
    v = (v / np.linalg.norm(v) * SPEED).tolist()
    x = initial_positions(rng, n, r).tolist()
    xs, vs = np.empty((frames, n, 2)), np.empty((frames, n, 2))
    for t in range(frames):
        xs[t], vs[t] = x, v
        for _ in range(SUBSTEPS):
            for p, q in zip(x, v):
                p[0] += q[0] / SUBSTEPS
                p[1] += q[1] / SUBSTEPS
            collide(x, v, r)
    return xs, vs


def sample(rng: np.random.Generator, frames: int, opts: dict, split=None, assets=None) -> dict:
    positions, velocities = simulate(rng, frames, opts["n_balls"], opts["radius"])
    scale = opts["res"] / opts["box"]
    return {
        **opts,
        "positions": positions,
        "velocities": velocities,
        "positions_px": positions * scale - 0.5,
        "velocities_px": velocities * scale,
    }


def render(labels: dict, assets=None) -> np.ndarray:
    """uint8 T×res×res×1 from the per-frame positions (simulation units)."""
    res, box, r = labels["res"], labels["box"], labels["radius"]
    positions = np.asarray(labels["positions"], dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 2:
        raise SynthError(f"balls: positions must be T×n×2, got shape {positions.shape}")
    centres = (np.arange(res) + 0.5) * (box / res)
    dx2 = ((centres[None, None, :] - positions[:, :, 0, None]) ** 2)[:, :, None, :]  # T × n × 1 × res (columns)
    dy2 = ((centres[None, None, :] - positions[:, :, 1, None]) ** 2)[:, :, :, None]  # T × n × res × 1 (rows)
    q = (dx2 + dy2) / r ** 2
    q *= q  # (d²/r²)^4 by squaring twice: cheaper than a power
    q *= q
    image = np.exp(-q).sum(axis=1)
    return np.rint(np.minimum(image, 1.0) * 255.0).astype(np.uint8)[..., None]
