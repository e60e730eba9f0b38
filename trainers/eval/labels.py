"""Every dataset-specific label the evaluation reads, in one place: the synthetic generators' json keys
turned into the factors the kit measures. Models never see these names.

Three views of a clip's json (`meta`):
    content_targets(meta)          clip-level factors a static code should carry (probe targets)
    position_targets(meta, frames) per-frame positions a dynamic code should carry (ridge R² targets)
    frame_factors(meta)            per-frame factors a judge classifies, {name: int array (T,)}, with
                                   FACTORS[generator] naming them and their number of classes
                                   (JOINT_FACTORS: those judged as one class, shared_pose: frames that
                                   cannot show the motion factors)
"""
from __future__ import annotations

import numpy as np

SPRITE_ATTRIBUTES = ("body", "bottomwear", "topwear", "hair")   # appearance: constant in a clip
SPRITE_VALUES = 6                                               # sheets 0-5 of each attribute layer
SPRITE_ACTIONS = 6                                              # spellcast, thrust, walk, slash, shoot, hurt
SPRITE_DIRECTIONS = 4                                           # back, left, front, right
MNIST_CHANNELS = 2                                              # digits judged per colour channel

# generator -> {factor: number of classes}; judged per frame
FACTORS: dict[str, dict[str, int]] = {
    "sprites": {**{a: SPRITE_VALUES for a in SPRITE_ATTRIBUTES}, "action": SPRITE_ACTIONS,
                "direction": SPRITE_DIRECTIONS},
    "moving-mnist": {f"digit_ch{c}": 10 for c in range(MNIST_CHANNELS)},
    "balls": {"n_balls": 8},
}
# factors the sequential-VAE literature judges as one class: its Sprites "action" is action × direction
# (9 classes for 3 actions × 3 directions: DSVAE, S3VAE, C-DSVAE); the judge scores it from its components
JOINT_FACTORS: dict[str, dict[str, tuple[str, ...]]] = {
    "sprites": {"action_direction": ("action", "direction")},
}
# the factors a clip's static part carries when the clip is the unit (appearance); the rest move
APPEARANCE: dict[str, tuple[str, ...]] = {
    "sprites": SPRITE_ATTRIBUTES,
    "moving-mnist": tuple(FACTORS["moving-mnist"]),
    "balls": ("n_balls",),
}


def generator_of(meta: dict) -> str | None:
    """The synthetic generator that made a clip, or None (faces and other real footage)."""
    return meta.get("generator")


def _hashable(v):
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def content_targets(meta: dict) -> dict[str, object]:
    """Clip-level content labels a probe should read from a static code (and not from a dynamic one).
    Pairs are sorted: which digit is "first" is invisible in palette frames, so an ordered pair could not
    be predicted."""
    gen = generator_of(meta)
    if gen == "moving-mnist":
        return {"digits": tuple(sorted(meta["digit_classes"])),
                "colors": tuple(sorted(meta["color_ids"]))}  # constant (skipped) unless --colors palette
    if gen == "sprites":
        return {k: _hashable(meta[k]) for k in SPRITE_ATTRIBUTES if k in meta}
    return {}


def position_targets(meta: dict, frames: list[int]) -> np.ndarray | None:
    """Per-frame position features (len(frames), D). Moving MNIST in channel colours: each digit's (x, y) in the
    order of its RGB channel, which tells the digits apart. Otherwise, invariant to object order: the sorted x
    and the sorted y coordinates (the bounding box of two digits) -- a min and a max, of which a linear read-out
    of even the exact per-object coordinates explains only about 0.75 (R²) for two independent objects.
    None if the data has no positions."""
    if "positions" not in meta:
        return None
    pos = np.asarray(meta["positions"], np.float64)[frames]  # (F, objects, 2)
    if generator_of(meta) == "moving-mnist" and meta.get("color_mode") == "channel":
        return pos[:, np.argsort(np.asarray(meta["color_ids"]))].reshape(len(frames), -1)
    return np.sort(pos, axis=1).reshape(len(frames), -1)


def frame_factors(meta: dict) -> dict[str, np.ndarray]:
    """{factor: int64 array (T,)} of a synthetic clip, the judge's targets; {} for unlabelled clips.

    Moving MNIST: digit_chC is the class of the digit drawn in RGB channel C (--colors channel; in gray
    clips channel 0 holds every digit, so only a one-digit gray clip is judged)."""
    gen = generator_of(meta)
    if gen == "sprites":
        T = len(meta["sheet_rows"])
        values = {**{a: meta[a] for a in SPRITE_ATTRIBUTES}, "action": meta["action_id"],
                  "direction": meta["direction_id"]}
        return {k: np.full(T, int(v), np.int64) for k, v in values.items()}
    if gen == "moving-mnist":
        T = len(meta["positions"])
        if meta["color_mode"] == "channel":
            by_channel = {int(c): int(d) for c, d in zip(meta["color_ids"], meta["digit_classes"])}
            return {f"digit_ch{c}": np.full(T, by_channel[c], np.int64)
                    for c in range(MNIST_CHANNELS) if c in by_channel}
        if meta["color_mode"] == "gray" and len(meta["digit_classes"]) == 1:
            return {"digit_ch0": np.full(T, int(meta["digit_classes"][0]), np.int64)}
        return {}
    if gen == "balls":
        return {"n_balls": np.full(len(meta["positions"]), int(meta["n_balls"]), np.int64)}
    return {}


def judge_channels(meta: dict) -> list[int] | None:
    """For Moving MNIST in channel colours, the channel each digit factor is read from (the judge reads
    one channel at a time: one digit per channel); None where the judge reads whole frames."""
    if generator_of(meta) == "moving-mnist":
        return list(range(MNIST_CHANNELS))
    return None


def shared_pose(meta: dict) -> np.ndarray | None:
    """Per frame (T,), True where the frame shows a pose every motion class shares, so that one frame cannot
    tell the clip's motion factors: Sprites' sheet column 0, the standing pose each action starts from (at
    32×32, spellcast and slash differ there by a median L1 of ~1 over the whole frame; for some characters
    not at all). None where there are no such frames."""
    if generator_of(meta) == "sprites":
        return np.asarray(meta["sheet_cols"]) == 0
    return None
