"""Sprites as Li & Mandt (2018) build them from the LPC character layers.

A character is the layers body, bottomwear, topwear, hair (each one of 6 sheets, 0-5: 1,296 characters)
and shoes/1, alpha-composited in that order on black. Every sheet is 832×1344 = 13 columns × 21 rows of
64×64 frames: rows 0-3 spellcast, 4-7 thrust, 8-11 walk, 12-15 slash, 16-19 shoot, 20 hurt; within a
four-row group the directions are back, left, front, right (hurt has one row, drawn facing front).

The actions do not all have 13 frames: the number of non-empty cells of each row is counted from the
body sheets (spellcast 7, thrust 8, walk 9, slash 6, shoot 13, hurt 6 in the LPC sheets), and a clip
cycles through its action's frames from a random start phase. Li & Mandt use walk, spellcast and slash
seen from left, front and right: those are the defaults.

Characters are split as Li & Mandt split them (1000 train / 296 test): train, val and test draw from
disjoint sets of characters, dealt by a fixed permutation of the 1,296 cut by the --split fractions
(common.split_pools). The json identifies the layer files by their sha256 digest (`sprites_sha256`), not
their directory, so a copy of the layers elsewhere gives the same bytes.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from vidshard.io import sha256_file

from .common import SPLIT_IDS, SynthError, assets_digest, locate_assets, remember_assets, split_pools

NAME = "sprites"
DEFAULT_FRAMES = 8  # Li & Mandt's clip length
ATTRIBUTES = ("body", "bottomwear", "topwear", "hair")
CONTENT_KEYS = ATTRIBUTES
POSE_KEYS = ("action", "action_id", "direction", "direction_id", "sheet_rows", "sheet_cols")
RENDER_KEYS = ("sprites_sha256", "shoes")
COMPAT_KEYS = ()
VALUES = 6          # sheets 0-5 of each varied layer
SHOES = 1           # the fixed shoes sheet
CELL, COLS, ROWS = 64, 13, 21
ACTIONS = ("spellcast", "thrust", "walk", "slash", "shoot", "hurt")  # row groups, in sheet order
DIRECTIONS = ("back", "left", "front", "right")
DEFAULT_ACTIONS = ("walk", "spellcast", "slash")
DEFAULT_DIRECTIONS = ("left", "front", "right")


def action_row(action: str, direction: str) -> int:
    if action == "hurt":
        return 20
    return 4 * ACTIONS.index(action) + DIRECTIONS.index(direction)


# ---------------------------------------------------------------- assets

def layer_path(directory: Path, layer: str, value: int) -> Path:
    return directory / layer / f"{value}.png"


def layer_files(directory: Path) -> list[Path]:
    return [layer_path(directory, a, v) for a in ATTRIBUTES for v in range(VALUES)] + \
           [layer_path(directory, "shoes", SHOES)]


LAYER_NAMES = tuple(str(p) for p in layer_files(Path("")))  # the sheets' names relative to the layer dir
CHARACTERS = VALUES ** len(ATTRIBUTES)                       # 1,296


def character_id(attrs) -> int:
    """A character's number 0..1295: its attributes (body, bottomwear, topwear, hair) as base-6 digits."""
    return int(np.ravel_multi_index(tuple(int(a) for a in attrs), (VALUES,) * len(ATTRIBUTES)))


def character_attrs(cid: int) -> list[int]:
    return [int(a) for a in np.unravel_index(int(cid), (VALUES,) * len(ATTRIBUTES))]


def character_pools(fractions) -> dict[str, np.ndarray]:
    """The character ids each split draws from: disjoint, together all 1,296, the same for every --seed."""
    return split_pools(CHARACTERS, tuple(fractions), "sprites:characters")


@functools.lru_cache(maxsize=32)
def load_sheet(path: str) -> np.ndarray:
    """A layer sheet as RGBA uint8 (1344×832×4), decoded once per process."""
    try:
        with Image.open(path) as im:
            sheet = np.asarray(im.convert("RGBA"))
    except OSError as e:
        raise SynthError(f"{path}: cannot read sprite sheet ({e})") from e
    if sheet.shape[:2] != (ROWS * CELL, COLS * CELL):
        raise SynthError(f"{path}: sheet is {sheet.shape[1]}×{sheet.shape[0]}, expected {COLS * CELL}×{ROWS * CELL}")
    return sheet


@functools.lru_cache(maxsize=4)
def frames_per_row(directory: str) -> tuple[int, ...]:
    """Non-empty cells per sheet row, counted on the body sheets (the body is in every frame)."""
    alpha = np.stack([load_sheet(str(layer_path(Path(directory), "body", v)))[..., 3] for v in range(VALUES)])
    filled = alpha.max(axis=0).reshape(ROWS, CELL, COLS, CELL).max(axis=(1, 3)) > 0
    counts = []
    for r, row in enumerate(filled):
        n = int(row.sum())
        if n == 0 or not row[:n].all():
            raise SynthError(f"{directory}/body: sheet row {r} is not a run of frames from column 0")
        counts.append(n)
    return tuple(counts)


@functools.lru_cache(maxsize=4096)
def frame(directory: str, attrs: tuple[int, ...], shoes: int, row: int, col: int) -> np.ndarray:
    """One composited 64×64 RGB frame of a character (layers in order over black)."""
    box = (slice(row * CELL, (row + 1) * CELL), slice(col * CELL, (col + 1) * CELL))
    out = Image.new("RGBA", (CELL, CELL), (0, 0, 0, 255))
    layers = [*zip(ATTRIBUTES, attrs), ("shoes", shoes)]
    for layer, value in layers:
        cell = load_sheet(str(layer_path(Path(directory), layer, value)))[box]
        out = Image.alpha_composite(out, Image.fromarray(np.ascontiguousarray(cell), "RGBA"))
    return np.asarray(out.convert("RGB"))


# ---------------------------------------------------------------- options

def parse_names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in names if s not in allowed]
    if not names or bad:
        raise SynthError(f"{option} {value!r}: choose a comma-separated subset of {','.join(allowed)}")
    return [s for s in allowed if s in names]  # canonical order, so the config does not depend on spelling


def add_args(p) -> None:
    g = p.add_argument_group("sprites options")
    g.add_argument("--sprites", metavar="DIR", required=False,
                   help="the LPC layer directory (body/, bottomwear/, topwear/, hair/, shoes/ with N.png sheets), "
                        "e.g. ../shared/data/sprites/li_mandt (required for sprites). Train, val and test draw from "
                        "disjoint sets of the 1296 characters, dealt by the --split fractions")
    g.add_argument("--actions", default=",".join(DEFAULT_ACTIONS),
                   help=f"comma-separated subset of {','.join(ACTIONS)} (default: {','.join(DEFAULT_ACTIONS)}, "
                        "as Li & Mandt)")
    g.add_argument("--directions", default=",".join(DEFAULT_DIRECTIONS),
                   help=f"comma-separated subset of {','.join(DIRECTIONS)} (default: {','.join(DEFAULT_DIRECTIONS)}); "
                        "hurt is always front")


def options(args, fractions) -> tuple[dict, Path, dict]:
    if args.sprites is None:
        raise SynthError("sprites needs --sprites DIR (the LPC layers, e.g. ../shared/data/sprites/li_mandt)")
    directory = Path(args.sprites)
    if not directory.is_dir():
        raise SynthError(f"--sprites {args.sprites}: no such directory")
    directory = directory.resolve()
    missing = [str(p.relative_to(directory)) for p in layer_files(directory) if not p.is_file()]
    if missing:
        raise SynthError(f"--sprites {directory}: missing layer sheets {', '.join(missing[:4])}"
                         f"{' ...' if len(missing) > 4 else ''}")
    counts = frames_per_row(str(directory))
    assets = {name: sha256_file(directory / name) for name in LAYER_NAMES}
    digest = assets_digest(assets)
    remember_assets(digest, directory)
    opts = {
        "sprites_sha256": digest, "shoes": SHOES,
        "actions": parse_names(args.actions, ACTIONS, "--actions"),
        "directions": parse_names(args.directions, DIRECTIONS, "--directions"),
        "frames_per_row": list(counts),
        "characters": {"split": list(fractions), "by": "fixed permutation of the 1296 cut by --split"},
        "assets": assets,
    }
    pools = character_pools(fractions)
    return opts, directory, {"characters": {s: int(len(pools[s])) for s in SPLIT_IDS}}


# ---------------------------------------------------------------- clips

def sample(rng: np.random.Generator, frames: int, opts: dict, split: str, assets=None) -> dict:
    pool = character_pools(opts["characters"]["split"])[split]
    if len(pool) == 0:
        raise SynthError(f"--split {','.join(map(str, opts['characters']['split']))}: split {split!r} has clips "
                         f"but no characters of its own; give it a larger fraction")
    attrs = character_attrs(pool[int(rng.integers(len(pool)))])
    action = opts["actions"][int(rng.integers(len(opts["actions"])))]
    direction = opts["directions"][int(rng.integers(len(opts["directions"])))]
    if action == "hurt":
        direction = "front"
    row = action_row(action, direction)
    n = opts["frames_per_row"][row]
    start = int(rng.integers(n))
    return {
        "sprites_sha256": opts["sprites_sha256"], "shoes": opts["shoes"],
        **dict(zip(ATTRIBUTES, attrs)),
        "action": action, "action_id": ACTIONS.index(action),
        "direction": direction, "direction_id": DIRECTIONS.index(direction),
        "sheet_rows": [row] * frames,
        "sheet_cols": [(start + t) % n for t in range(frames)],
    }


def render(labels: dict, assets=None) -> np.ndarray:
    """uint8 T×64×64×3: the character's composited sheet cells at the labelled rows and columns."""
    directory = str(locate_assets("sprites", labels["sprites_sha256"], LAYER_NAMES, assets))
    attrs = tuple(int(labels[a]) for a in ATTRIBUTES)
    if not all(0 <= a < VALUES for a in attrs):
        raise SynthError(f"sprite attributes {attrs} outside 0-{VALUES - 1}")
    cells = list(zip(labels["sheet_rows"], labels["sheet_cols"]))
    if not all(0 <= r < ROWS and 0 <= c < COLS for r, c in cells):
        raise SynthError(f"sprite sheet cells {cells} outside the {ROWS}×{COLS} sheet")
    return np.stack([frame(directory, attrs, int(labels["shoes"]), int(r), int(c)) for r, c in cells])
