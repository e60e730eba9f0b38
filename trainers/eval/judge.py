"""The judge: a per-frame classifier of a synthetic set's factors, and the sequential-VAE protocol.

The judge is a small CNN trained on real labelled frames of a synthetic dataset at the resolution and
channel count a model works at (`trainers.frames.fit_frames` on the real frames), one softmax head per
factor of `labels.FACTORS[generator]` that varies in the training split (classes never seen there are
masked out). Moving MNIST in channel colours is read one channel at a time by one shared 1-channel digit
reader (each channel holds exactly one digit; `labels.judge_channels`): `read_digits` is also the digit
reader other recipes use on generated frames, so its full settings train it on blurred copies of the real
frames too (`Settings.blur`: a generated digit of the right shape reads even with soft strokes). A clip's
prediction pools its frames: the mean of the per-frame log-probabilities, renormalized (a geometric mean of
the frame posteriors). Factors the literature judges jointly (`labels.JOINT_FACTORS`: Sprites' 9-class
action × direction) are scored from the product of their components' clip posteriors over the combinations
seen in training.

Judges are cached by (dataset manifest version, size, channels) under `$VIDSHARD_CACHE/judges/` (default
`~/.cache/vidshard/judges/`): `<version>-<size>px-<channels>ch.pt` (a state_dict, loaded with
weights_only=True) and `.json` (architecture, classes, training settings, held-out accuracies).

The protocol (`sequential_protocol`) of DSVAE / S3VAE / C-DSVAE: fix one part of a model's code, resample
the other from the prior, generate, and report the judge's accuracy on the factors the fixed part carries
with IS, H(y|x) and H(y) (docs/EVALUATION.md says exactly what the papers' code does).

    python -m trainers.eval.judge --data data/sprites --size 64
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from trainers.frames import fit_frames
from vidshard.errors import UsageError
from vidshard.io import atomic_write, atomic_write_json, cache_dir

from . import labels
from .data import dataset_dir, iter_clips, split_shards, to_tensor

JUDGE_FORMAT = 1  # bump when the architecture or training changes: a cached judge of another format retrains
NEG = -1e4        # logit of a class never seen in training (masked out of every softmax)


# ---------------------------------------------------------------- settings

@dataclass(frozen=True)
class Settings:
    """How a judge is trained. The defaults are the cached full judge (a few CPU minutes on one thread);
    tests pass smaller ones."""
    seed: int = field(default=0, metadata={"help": "seed of the weights, the frames drawn and the batches"})
    train_clips: int = field(default=8000, metadata={"help": "at most this many clips of the train split"})
    frames_per_clip: int = field(default=2, metadata={
        "help": "frames drawn per clip (all when the clip is shorter): distinct clips beat more frames"})
    test_clips: int = field(default=900, metadata={
        "help": "held-out clips (test split, else val) scored after training, every frame"})
    epochs: int = field(default=4, metadata={"help": "passes over the training frames"})
    batch: int = field(default=64, metadata={"help": "frames (digit reader: frame channels) a step"})
    lr: float = field(default=3e-3, metadata={"help": "Adam's peak rate, one-cycle schedule (15%% warm-up, then "
                                                      "cosine decay)"})
    width: int = field(default=16, metadata={
        "help": "channels of the first conv layer (doubling down to 4×4, capped at 4×width)"})
    blur: float = field(default=0.0, metadata={
        "help": "each training frame blurred by a Gaussian of σ drawn from [0, BLUR] pixels at the judge's size, "
                "so that blurred generated frames still read"})


FULL = Settings()
# Sprites' action is told by the animation frames, and the standing first frame of spellcast, walk and slash
# differs by a few pixels only: with 2 frames a clip and 4 epochs the 32-px judge read the action of 94.85%
# of held-out frames, with every frame of a clip and 8 epochs 96.4% (the exact-pixel limit is 99.7%).
# Moving MNIST's digit reader judges which digit a generated frame shows, and generated frames are blurred: trained
# on sharp frames only, the 32-px reader read 96% of held-out frames, 82% of the same frames blurred at σ 0.7 px and
# 41% at σ 1 (digits drawn 16 px high). Trained on frames blurred at σ ≤ 1.2 it reads 96% / 96% / 95%, and still
# not a blob: 46% at σ 2 (docs/RESULTS.md, DrNet).
FULL_BY_GENERATOR = {"sprites": replace(FULL, frames_per_clip=8, epochs=8),
                     "moving-mnist": replace(FULL, blur=1.2)}
BLUR_CHECK = 1.0  # σ (px) of the blurred copies of real frames a digit reader is also scored on


def gaussian_blur(x: torch.Tensor, sigma) -> torch.Tensor:
    """x (N, C, H, W) blurred by a Gaussian of σ pixels (a number, or (N,) one per frame; 0 leaves a frame as
    it is): separable, truncated at 3σ, edges replicated."""
    n, c, h, w = x.shape
    sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(n)
    r = max(1, math.ceil(3 * float(sigma.max())))
    taps = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-taps ** 2 / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))
    k = k * (taps.abs() <= torch.ceil(3 * sigma).clamp_min(1)[:, None])  # a frame's own 3σ: batchmates don't matter
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)          # (N*C, 2r+1)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(n * c, 1, -1, 1), groups=n * c)
    return y.reshape(n, c, h, w)


def full_settings(manifest: dict) -> Settings:
    """The cached full judge's settings for a dataset: FULL, or its generator's own (FULL_BY_GENERATOR)."""
    return FULL_BY_GENERATOR.get(manifest.get("config", {}).get("generator"), FULL)


# ---------------------------------------------------------------- the network

def _trunk(in_ch: int, size: int, width: int, pooled: bool) -> tuple[nn.Sequential, int]:
    """Blocks halving the frame down to ≤ 5 px, widths doubling from `width` up to 4×width (BN, LeakyReLU),
    pooled to 4×4, then a dense layer of 128. Frame judge: conv 4×4 stride 2 blocks. Digit reader
    (`pooled`): conv 3×3 + max-pool 2 blocks, which read a small digit anywhere in the frame better for the
    same training (measured on Moving MNIST 32×32: 96% vs 93% per frame) at ~2× the cost."""
    layers, c, s = [], in_ch, size
    while s > 5:
        nxt = width if c == in_ch else min(c * 2, 4 * width)
        if pooled:
            layers += [nn.Conv2d(c, nxt, 3, 1, 1, bias=False), nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2), nn.MaxPool2d(2)]
        else:
            layers += [nn.Conv2d(c, nxt, 4, 2, 1, bias=False), nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2)]
        c, s = nxt, s // 2
    layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(c * 16, 128), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers), 128


class Judge(nn.Module):
    """Per-frame classifier of a synthetic set's factors at one size and channel count.

    `factors`: {factor: sorted class ids seen in training}; `channel_of`: {factor: channel} for the
    per-channel digit reader (Moving MNIST), else None. Log-probabilities are returned over the seen
    classes only, in the order of `factors[f]` (`classes(f)` maps indices back to label values)."""

    def __init__(self, generator: str, size: int, channels: int, factors: dict[str, list[int]],
                 channel_of: dict[str, int] | None = None, width: int = 16, meta: dict | None = None):
        super().__init__()
        self.generator, self.size, self.channels, self.width = generator, int(size), int(channels), int(width)
        self.factors = {f: [int(c) for c in cls] for f, cls in factors.items()}
        self.channel_of = None if channel_of is None else {f: int(c) for f, c in channel_of.items()}
        self.meta = dict(meta or {})
        n_classes = labels.FACTORS[generator]
        self.trunk, dim = _trunk(1 if self.channel_of else self.channels, self.size, self.width, bool(self.channel_of))
        if self.channel_of:  # one digit reader shared by every channel
            heads = {"digit": max(n_classes[f] for f in self.factors)}
            seen = {"digit": sorted({c for cls in self.factors.values() for c in cls})}
        else:
            heads = {f: n_classes[f] for f in self.factors}
            seen = self.factors
        self.heads = nn.ModuleDict({h: nn.Linear(dim, k) for h, k in heads.items()})
        for h, k in heads.items():
            mask = torch.zeros(k, dtype=torch.bool)
            mask[seen[h]] = True
            self.register_buffer(f"seen_{h}", mask, persistent=False)
        self.joint = {name: parts for name, parts in labels.JOINT_FACTORS.get(generator, {}).items()
                      if all(p in self.factors for p in parts)}
        self.joint_classes = {name: [tuple(int(v) for v in c) for c in self.meta.get("joint", {}).get(name, [])]
                              for name in self.joint}

    # -- layout
    def classes(self, factor: str) -> list:
        """Label values of the columns of a factor's log-probabilities."""
        return self.joint_classes[factor] if factor in self.joint else self.factors[factor]

    def judged(self) -> list[str]:
        return [*self.factors, *[j for j in self.joint if self.joint_classes[j]]]

    def _head_logp(self, h: str, feats: torch.Tensor) -> torch.Tensor:
        logits = self.heads[h](feats).masked_fill(~getattr(self, f"seen_{h}"), NEG)
        return F.log_softmax(logits, -1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x (N, C, size, size) in [0, 1] (N, 1, ...) for the digit reader -> {head: log-probs over all classes}."""
        feats = self.trunk(x * 2.0 - 1.0)
        return {h: self._head_logp(h, feats) for h in self.heads}

    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape[-3:]) != (self.channels, self.size, self.size):
            raise ValueError(f"judge works on {self.channels}×{self.size}×{self.size} frames, got "
                             f"{'×'.join(map(str, x.shape[-3:]))} (fit_frames(x, {self.size}, {self.channels}))")

    @torch.no_grad()
    def frame_log_probs(self, frames: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
        """frames (..., C, H, W) in [0, 1] at the judge's size -> {factor: (..., K) log-probs over seen classes}."""
        self._check(frames)
        lead = frames.shape[:-3]
        flat = frames.reshape(-1, *frames.shape[-3:])
        dev = next(self.parameters()).device
        out: dict[str, list] = {f: [] for f in self.factors}
        was = self.training
        self.eval()
        for chunk in flat.split(batch):
            chunk = chunk.to(dev, torch.float32)
            if self.channel_of:
                for f, c in self.channel_of.items():
                    out[f].append(self(chunk[:, c:c + 1])["digit"][:, self.factors[f]])
            else:
                lp = self(chunk)
                for f in self.factors:
                    out[f].append(lp[f][:, self.factors[f]])
        self.train(was)
        res = {f: torch.cat(v).reshape(*lead, -1) for f, v in out.items()}
        return self._with_joint(res)

    def _with_joint(self, lp: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        for name, parts in self.joint.items():
            combos = self.joint_classes[name]
            if not combos:
                continue
            cols = [torch.tensor([self.factors[p].index(c[i]) for c in combos], device=lp[p].device)
                    for i, p in enumerate(parts)]
            lp[name] = F.log_softmax(sum(lp[p][..., col] for p, col in zip(parts, cols)), -1)
        return lp

    @torch.no_grad()
    def clip_log_probs(self, clips: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
        """clips (B, T, C, H, W) -> {factor: (B, K)}: the mean of the frames' log-probabilities, renormalized
        (joint factors from their components' clip posteriors)."""
        lp = self.frame_log_probs(clips, batch)
        pooled = {f: F.log_softmax(lp[f].mean(1), -1) for f in self.factors}
        return self._with_joint(pooled)

    @torch.no_grad()
    def digit_log_probs(self, frames: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Moving MNIST: frames (..., C, H, W) -> (..., C, 10) log-probs of the digit in each channel (every
        channel of the frame is read; classes never seen in training get ~0)."""
        if not self.channel_of:
            raise ValueError(f"the {self.generator} judge has no digit reader")
        self._check(frames)
        lead, flat = frames.shape[:-3], frames.reshape(-1, 1, self.size, self.size)
        dev = next(self.parameters()).device
        was = self.training
        self.eval()
        out = torch.cat([self(c.to(dev, torch.float32))["digit"] for c in flat.split(batch)])
        self.train(was)
        return out.reshape(*lead, self.channels, -1)

    def read_digits(self, frames: torch.Tensor) -> torch.Tensor:
        """Moving MNIST: frames (..., C, H, W) -> int64 (..., C), the digit read in each channel."""
        return self.digit_log_probs(frames).argmax(-1)

    # -- persistence
    def describe(self) -> dict:
        return {"format": JUDGE_FORMAT, "generator": self.generator, "size": self.size, "channels": self.channels,
                "width": self.width, "factors": self.factors, "channel_of": self.channel_of, **self.meta}

    @classmethod
    def from_description(cls, d: dict) -> "Judge":
        keep = {k: v for k, v in d.items() if k not in ("format", "generator", "size", "channels", "width",
                                                       "factors", "channel_of")}
        order = list(labels.FACTORS[d["generator"]])
        factors = {f: d["factors"][f] for f in sorted(d["factors"], key=order.index)}  # json sorts keys
        return cls(d["generator"], d["size"], d["channels"], factors, d.get("channel_of"), d["width"], keep)


# ---------------------------------------------------------------- data

@dataclass
class FrameSet:
    """Real frames at native resolution (uint8 N×H×W×C) with per-frame labels {factor: int64 (N,)}, the clip
    each frame came from, and (Moving MNIST) per-frame occlusion facts."""
    frames: np.ndarray
    factors: dict[str, np.ndarray]
    clip: np.ndarray
    extra: dict[str, np.ndarray]


def held_out_split(data: str | Path) -> str:
    for split in ("test", "val"):
        if split_shards(str(data), split):
            return split
    raise ValueError(f"{data}: the manifest has no test or val split to measure the judge on")


def dataset_root(data) -> Path:
    """The dataset directory the judge trains on (data.dataset_dir), or a one-line error saying what to pass."""
    root = dataset_dir(data)
    if root is None:
        raise UsageError(f"{data}: not a dataset directory with manifest.json, nor shards inside one (the judge "
                         f"trains on a synthetic dataset's train split and is cached by its version)")
    return root


def manifest_of(data) -> dict:
    from shards import load_manifest
    return load_manifest(str(dataset_root(data)))


def occlusion(meta: dict, t: np.ndarray) -> dict[str, np.ndarray]:
    """Moving MNIST, per frame t and channel: whether the channel's digit is in front, and the fraction of its
    box covered by the other digit's box (an upper bound on how much of it is occluded)."""
    pos = np.asarray(meta["positions"], np.float64)[t]  # (F, digits, 2)
    d = float(meta["digit_size"])
    out = {}
    for c in range(labels.MNIST_CHANNELS):
        if meta["color_mode"] != "channel" or c not in meta["color_ids"]:
            continue
        n = meta["color_ids"].index(c)
        others = [m for m in range(len(meta["color_ids"])) if m != n]
        cover = np.zeros(len(t))
        for m in others:
            ov = np.clip(d - np.abs(pos[:, n] - pos[:, m]), 0, None).prod(-1) / (d * d)
            cover = np.maximum(cover, ov)
        out[f"front_ch{c}"] = np.full(len(t), meta["front"] == n)
        out[f"cover_ch{c}"] = cover
    return out


def load_frames(data: str | Path, split: str, n_clips: int, frames_per_clip: int | None, seed: int) -> FrameSet:
    """Frames and labels of the first `n_clips` clips of a split; `frames_per_clip` drawn per clip (seeded by
    (seed, clip number); None or ≥ T: every frame)."""
    frames, facs, clip, extra = [], [], [], []
    for i, (_, x, meta) in enumerate(iter_clips(split_shards(str(data), split), n_clips)):
        T = x.shape[0]
        if frames_per_clip is None or frames_per_clip >= T:
            t = np.arange(T)
        else:
            t = np.sort(np.random.default_rng([seed, i]).choice(T, frames_per_clip, replace=False))
        frames.append(x[t])
        facs.append({k: v[t] for k, v in labels.frame_factors(meta).items()})
        clip.append(np.full(len(t), i))
        ex = occlusion(meta, t) if labels.generator_of(meta) == "moving-mnist" else {}
        shared = labels.shared_pose(meta)
        if shared is not None:
            ex["shared_pose"] = shared[t]
        extra.append(ex)
    if not frames:
        raise ValueError(f"{data}: split {split!r} has no clips")
    keys = set.intersection(*(set(f) for f in facs))
    ekeys = set.intersection(*(set(e) for e in extra))
    return FrameSet(np.concatenate(frames), {k: np.concatenate([f[k] for f in facs]) for k in sorted(keys)},
                    np.concatenate(clip), {k: np.concatenate([e[k] for e in extra]) for k in sorted(ekeys)})


def _fit(x_uint8: np.ndarray, size: int, channels: int) -> torch.Tensor:
    return fit_frames(to_tensor(x_uint8), size, channels)


# ---------------------------------------------------------------- training

def build(generator: str, size: int, channels: int, train: FrameSet, width: int) -> Judge:
    """A fresh judge for the factors that vary in `train` (at least two classes seen)."""
    factors = {f: sorted(int(c) for c in np.unique(train.factors[f])) for f in labels.FACTORS[generator]
               if f in train.factors}
    constant = {f: cls[0] for f, cls in factors.items() if len(cls) < 2}
    factors = {f: cls for f, cls in factors.items() if len(cls) >= 2}
    if not factors:
        raise ValueError(f"nothing for a {generator} judge to learn: no factor of {list(labels.FACTORS[generator])} "
                         f"varies in the training split (constant: {constant})")
    channel_of = None
    channels_of_factors = labels.judge_channels({"generator": generator})
    if channels_of_factors is not None:  # factor i of FACTORS is read from channel channels_of_factors[i]
        channel_of = {f: channels_of_factors[i] for i, f in enumerate(labels.FACTORS[generator]) if f in factors}
        if max(channel_of.values()) >= channels:
            raise ValueError(f"Moving MNIST digits are read per colour channel; channels={channels} has no "
                             f"channel {max(channel_of.values())} (a gray model cannot be judged per digit)")
    joint = {}
    for name, parts in labels.JOINT_FACTORS.get(generator, {}).items():
        if all(p in factors for p in parts):
            joint[name] = sorted({tuple(int(train.factors[p][i]) for p in parts) for i in range(len(train.clip))})
    return Judge(generator, size, channels, factors, channel_of, width, {"joint": joint, "constant": constant})


def _targets(judge: Judge, fs: FrameSet, idx: np.ndarray) -> dict[str, torch.Tensor]:
    return {f: torch.from_numpy(fs.factors[f][idx]) for f in judge.factors}


def train_judge(data: str | Path, size: int, channels: int | None = None, settings: Settings = FULL,
                log=None) -> Judge:
    """Train a judge on the train split of a synthetic dataset directory and score it on its test (else val)
    split: per-factor accuracies go in `judge.meta["accuracy"]`. Deterministic for a given seed."""
    log = log or (lambda s: None)
    manifest = manifest_of(data)
    generator = manifest.get("config", {}).get("generator")
    if generator not in labels.FACTORS:
        raise ValueError(f"{data}: not a synthetic dataset with judge factors (generator {generator!r})")
    t0 = time.process_time()
    train = load_frames(data, "train", settings.train_clips, settings.frames_per_clip, settings.seed)
    channels = int(channels or train.frames.shape[-1])
    held = held_out_split(data)
    log(f"judge {generator} {size}px {channels}ch: {len(train.frames)} training frames from "
        f"{len(np.unique(train.clip))} clips of 'train'")
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        judge = build(generator, size, channels, train, settings.width)
        _fit_judge(judge, train, settings, log)
    judge.eval()
    test = load_frames(data, held, settings.test_clips, None, settings.seed)
    acc = judge_accuracy(judge, test)
    judge.meta.update({
        "dataset": {"version": manifest.get("version"), "name": manifest.get("name"), "held_out": held,
                    "train_frames": int(len(train.frames)), "test_clips": int(len(np.unique(test.clip))),
                    "test_frames": int(len(test.frames))},
        "settings": asdict(settings), "accuracy": acc, "cpu_seconds": round(time.process_time() - t0, 1)})
    return judge


def _fit_judge(judge: Judge, fs: FrameSet, s: Settings, log) -> None:
    g = torch.Generator().manual_seed(s.seed)
    opt = torch.optim.Adam(judge.parameters(), lr=s.lr)
    n = len(fs.frames)
    if judge.channel_of:  # each (frame, channel) pair is one sample of the digit reader
        items = np.array([(i, c) for c in judge.channel_of.values() for i in range(n)], np.int64)
        chan_factor = {c: f for f, c in judge.channel_of.items()}
    else:
        items = np.arange(n)[:, None]
    steps_per_epoch = math.ceil(len(items) / s.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, s.lr, total_steps=s.epochs * steps_per_epoch, pct_start=0.15)
    judge.train()
    for epoch in range(s.epochs):
        total, count = 0.0, 0
        for idx in torch.randperm(len(items), generator=g).split(s.batch):
            if len(idx) < 2:
                continue
            it = items[idx.numpy()]
            x = _fit(fs.frames[it[:, 0]], judge.size, judge.channels)
            if s.blur > 0:
                x = gaussian_blur(x, torch.rand(len(x), generator=g, dtype=x.dtype) * s.blur)
            if judge.channel_of:
                x = x[torch.arange(len(it)), torch.from_numpy(it[:, 1])][:, None]
                y = torch.from_numpy(np.array([fs.factors[chan_factor[c]][i] for i, c in it], np.int64))
                loss = F.nll_loss(judge(x)["digit"], y)
            else:
                lp = judge(x)
                loss = sum(F.nll_loss(lp[f], t) for f, t in _targets(judge, fs, it[:, 0]).items()) / len(judge.factors)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        log(f"  epoch {epoch + 1}/{s.epochs}: loss {total / max(count, 1):.4f}")


def _index(values: np.ndarray, classes: list) -> np.ndarray:
    """Label values -> column indices in `classes`; values never seen in training -> -1 (always wrong)."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, -1) for v in values], np.int64)


def _joint_values(judge: Judge, fs_factors: dict[str, np.ndarray], name: str) -> np.ndarray:
    parts = judge.joint[name]
    out = np.empty(len(fs_factors[parts[0]]), object)
    out[:] = list(zip(*(fs_factors[p].tolist() for p in parts)))
    return out


def judge_accuracy(judge: Judge, fs: FrameSet) -> dict:
    """Per-factor accuracy of a judge on real frames: per frame ("frame"), per clip with its frames pooled
    ("clip"), and for the motion factors per frame on the frames that show a pose of their own
    ("frame_own_pose": without labels.shared_pose frames, e.g. Sprites' standing frames)."""
    parts = [judge.frame_log_probs(_fit(chunk, judge.size, judge.channels))
             for chunk in np.array_split(fs.frames, max(1, len(fs.frames) // 512))]
    lp = {f: torch.cat([p[f] for p in parts]) for f in parts[0]}
    res: dict = {"frame": {}, "clip": {}}
    own_pose = ~fs.extra["shared_pose"].astype(bool) if "shared_pose" in fs.extra else None
    appearance = set(labels.APPEARANCE.get(judge.generator, ()))
    if own_pose is not None:
        res["frame_own_pose"] = {}
        res["shared_pose_frames"] = int((~own_pose).sum())
    clip_ids = np.unique(fs.clip)
    first = np.array([np.flatnonzero(fs.clip == c)[0] for c in clip_ids])
    counts = np.array([(fs.clip == c).sum() for c in clip_ids])
    same_len = bool((counts == counts[0]).all())
    pooled = None
    if same_len:  # frames of a clip are contiguous and equally many: pool them as clip_log_probs does
        T = int(counts[0])
        pooled = judge._with_joint({f: F.log_softmax(lp[f].reshape(len(clip_ids), T, -1).mean(1), -1)
                                    for f in judge.factors})
    for f in judge.judged():
        vals = _joint_values(judge, fs.factors, f) if f in judge.joint else fs.factors[f]
        truth = _index(vals, judge.classes(f))
        pred = lp[f].argmax(-1).cpu().numpy()
        res["frame"][f] = float(np.mean(pred == truth))
        if own_pose is not None and not set(judge.joint.get(f, (f,))) <= appearance:
            res["frame_own_pose"][f] = float(np.mean((pred == truth)[own_pose]))
        if pooled is not None:
            res["clip"][f] = float(np.mean(pooled[f].argmax(-1).cpu().numpy() == truth[first]))
    if judge.channel_of:
        res["occlusion"] = _occlusion_report(judge, fs, lp)
        res["blurred_sigma"], res["frame_blurred"] = BLUR_CHECK, _blurred_accuracy(judge, fs)
    return res


def _blurred_accuracy(judge: Judge, fs: FrameSet) -> dict[str, float]:
    """Per-frame accuracy of a digit reader on the held-out frames blurred at BLUR_CHECK: how much of a
    generated frame's blur it tolerates."""
    hits: dict[str, list] = {f: [] for f in judge.factors}
    for idx in np.array_split(np.arange(len(fs.frames)), max(1, len(fs.frames) // 512)):
        lp = judge.frame_log_probs(gaussian_blur(_fit(fs.frames[idx], judge.size, judge.channels), BLUR_CHECK))
        for f in judge.factors:
            hits[f].append(lp[f].argmax(-1).cpu().numpy() == _index(fs.factors[f][idx], judge.classes(f)))
    return {f: float(np.concatenate(v).mean()) for f, v in hits.items()}


COVER_BINS = (0.0, 0.25, 0.5, 1.0)


def _occlusion_report(judge: Judge, fs: FrameSet, lp: dict) -> dict:
    """Digit-reader accuracy for the front and the back digit, the back one by how much of its box the front
    digit's box covers (the front digit erases the back one where they overlap)."""
    hits = {"front": [], "back": []}
    by_cover = {i: [] for i in range(len(COVER_BINS))}
    for f, c in judge.channel_of.items():
        if f"front_ch{c}" not in fs.extra:
            continue
        ok = lp[f].argmax(-1).cpu().numpy() == _index(fs.factors[f], judge.classes(f))
        front, cover = fs.extra[f"front_ch{c}"].astype(bool), fs.extra[f"cover_ch{c}"]
        hits["front"].append(ok[front])
        hits["back"].append(ok[~front])
        bins = np.where(cover <= 0, 0, np.searchsorted(COVER_BINS, cover, side="left"))
        for b in by_cover:
            by_cover[b].append(ok[~front & (bins == b)])
    rep = {}
    for k, v in hits.items():
        a = np.concatenate(v) if v else np.array([])
        rep[k] = {"accuracy": float(a.mean()) if a.size else None, "frames": int(a.size)}
    names = ["none", *[f"({COVER_BINS[i - 1]}, {COVER_BINS[i]}]" for i in range(1, len(COVER_BINS))]]
    rep["back_by_box_cover"] = {}
    for b, v in by_cover.items():
        a = np.concatenate(v) if v else np.array([])
        rep["back_by_box_cover"][names[b]] = {"accuracy": float(a.mean()) if a.size else None, "frames": int(a.size)}
    return rep


# ---------------------------------------------------------------- the cache

def judge_dir() -> Path:
    return cache_dir("judges")


def judge_path(version: str, size: int, channels: int) -> Path:
    return judge_dir() / f"{version}-{int(size)}px-{int(channels)}ch.pt"


def save_judge(judge: Judge, path: Path) -> None:
    """Weights (state_dict) then the json, each written to a temporary file and renamed: the json is written
    last, so a judge whose json exists is complete."""
    state = {k: v.detach().cpu() for k, v in judge.state_dict().items()}
    atomic_write(path, write=lambda f: torch.save(state, f))
    atomic_write_json(path.with_suffix(".json"), judge.describe())


def load_judge(path: str | Path) -> Judge:
    """A saved judge: the json describes it, the .pt holds its state_dict (weights_only=True)."""
    path = Path(path)
    judge = Judge.from_description(json.loads(path.with_suffix(".json").read_text()))
    judge.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return judge.eval()


def judge_for(data: str | Path, size: int, channels: int | None = None, settings: Settings | None = None,
              retrain: bool = False, log=None) -> Judge:
    """The judge of a dataset at a size and channel count: from the cache when one trained with the same
    settings (default full_settings) is there, else trained (on the train split, scored on test/val) and
    cached."""
    log = log or (lambda s: None)
    data = dataset_root(data)
    manifest = manifest_of(data)
    settings = settings or full_settings(manifest)
    version = manifest.get("version")
    if channels is None:
        first = next(iter_clips(split_shards(str(data), "train"), 1), None)
        if first is None:
            raise ValueError(f"{data}: no training clips")
        channels = int(first[1].shape[-1])
    path = judge_path(version, size, channels)
    jpath = path.with_suffix(".json")
    if not retrain and path.is_file() and jpath.is_file():
        desc = json.loads(jpath.read_text())
        if desc.get("format") == JUDGE_FORMAT and desc.get("settings") == asdict(settings):
            log(f"judge from the cache: {path}")
            return load_judge(path)
        log(f"cached judge {path} was trained with other settings or an older format: retraining")
    judge = train_judge(data, size, channels, settings, log)
    save_judge(judge, path)
    log(f"judge cached: {path}")
    return judge


# ---------------------------------------------------------------- IS, H(y|x), H(y)

def scores(logp: torch.Tensor) -> dict[str, float]:
    """From per-sample log-probabilities (N, K), as the sequential-VAE papers' code computes them:
    IS = exp(E_x KL(p(y|x) ‖ p(y))), H(y|x) = E_x H(p(y|x)), H(y) = H(E_x p(y|x)) (natural logs)."""
    logp = logp.double()
    p = logp.exp()
    p_y = p.mean(0)
    log_py = p_y.clamp_min(1e-300).log()
    h_yx = float(-(p * logp).sum(-1).mean())
    h_y = float(-(p_y * log_py).sum())
    kl = float((p * (logp - log_py)).sum(-1).mean())
    return {"is": math.exp(kl), "h_yx": h_yx, "h_y": h_y}


def balanced(truth: np.ndarray) -> np.ndarray:
    """C-DSVAE's class balancing before IS/H: the first m samples of every class present, m the smallest
    class count (labels never seen in training, -1, are left out)."""
    classes = np.unique(truth[truth >= 0])
    m = min(int((truth == c).sum()) for c in classes)
    return np.concatenate([np.flatnonzero(truth == c)[:m] for c in classes])


# ---------------------------------------------------------------- the protocol

PARTS = ("static", "dynamic")


def protocol_requirements(fixed: str, reference: str) -> tuple[str, ...]:
    """The adapter methods `sequential_protocol` calls for a fixed part and a reference."""
    if fixed not in PARTS:
        raise ValueError(f"fixed must be one of {PARTS}, got {fixed!r}")
    if reference == "labels":
        return (f"encode_{fixed}", "sample_dynamic" if fixed == "static" else "sample_static", "generate")
    if reference == "first":
        return ("sample_static", "sample_dynamic", "generate")
    raise ValueError(f"reference must be 'labels' or 'first', got {reference!r}")


def missing_methods(model, fixed: str, reference: str) -> list[str]:
    return [m for m in protocol_requirements(fixed, reference) if not callable(getattr(model, m, None))]


def fixed_factors(judge: Judge, fixed: str) -> list[str]:
    """The judged factors a fixed part carries: the static part carries the appearance factors
    (labels.APPEARANCE), the dynamic part the others; a joint factor goes with its components."""
    appearance = set(labels.APPEARANCE.get(judge.generator, ()))
    out = []
    for f in judge.judged():
        static = [p in appearance for p in judge.joint.get(f, (f,))]
        if (fixed == "static" and all(static)) or (fixed == "dynamic" and not any(static)):
            out.append(f)
    return out


def _device_of(model) -> torch.device:
    p = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return p.device if p is not None else torch.device("cpu")


def _clip_truth(judge: Judge, metas: list[dict]) -> dict[str, np.ndarray]:
    """The clip-level label of every judged factor (its value at the first frame; constant in these clips)."""
    per = [labels.frame_factors(m) for m in metas]
    vals = {f: np.array([int(p[f][0]) for p in per]) for f in judge.factors if all(f in p for p in per)}
    out = {f: _index(v, judge.classes(f)) for f, v in vals.items()}
    for name in judge.joint:
        if name in judge.judged() and all(p in vals for p in judge.joint[name]):
            out[name] = _index(_joint_values(judge, vals, name), judge.classes(name))
    return out


def first_vs_later(pred: np.ndarray, k: int) -> list[list[int]]:
    """(n, draws) class predictions -> k x k counts: row = the first draw's class, column = a later draw's.
    Its diagonal over its sum is the agreement."""
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (np.repeat(pred[:, :1], pred.shape[1] - 1, 1).ravel(), pred[:, 1:].ravel()), 1)
    return counts.tolist()


@torch.no_grad()
def sequential_protocol(model, judge: Judge, clips: list, fixed: str = "dynamic", reference: str = "labels",
                        draws: int = 1, batch: int = 64, seed: int = 0) -> dict:
    """The DSVAE / S3VAE / C-DSVAE protocol on a model implementing the kit's adapter.

    clips: held-out real clips [(key, frames uint8 T×H×W×C, meta)] of the judge's dataset.
    fixed: "dynamic" (fix the motion, resample the static code from the prior: C-DSVAE's headline, judged
        on the action) or "static" (fix the appearance, resample the dynamic code).
    reference: "labels": the fixed part is encoded from each real clip and generated clips are scored
        against that clip's labels (C-DSVAE); "first": no encoder needed, the fixed part is drawn from the
        prior once per clip and `draws` samples share it; each sample after the first is scored on agreeing
        with the judge's prediction for the first (for GANs; a prior p(z | f) draws the kept dynamic codes
        given the first static draw). draws: samples per real clip (≥ 2 for "first").

    Returns per judged factor: `fixed` (whether the fixed part carries it: the headline for fixed factors;
    on a resampled factor a high score means the fixed part leaks it), `accuracy` against the real clip's
    labels ("labels") or `agreement` with the first sample ("first"), `chance` (the expected score of
    predictions independent of the reference with the same marginals: Σ_c q(c) p(c), resp. Σ_c q(c)²),
    IS, H(y|x), H(y) of the generated clips (class-balanced by the real labels for fixed factors under
    "labels", as C-DSVAE does), and `real`: the judge's figures on the real clips themselves. Under "first" also
    `first_vs_later`: which classes the later samples take when the first took each (first_vs_later()), so a
    low agreement says between which classes it is lost."""
    need = missing_methods(model, fixed, reference)
    if need:
        raise AttributeError(f"sequential protocol (fixed {fixed}, reference {reference}) needs {', '.join(need)} "
                             f"on the model")
    if reference == "first" and draws < 2:
        raise ValueError("reference 'first' scores samples 2..draws against the first: draws must be ≥ 2")
    if not clips:
        raise ValueError("sequential protocol: no clips")
    device = _device_of(model)
    judge.to(device).eval()
    was = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    metas = [m for _, _, m in clips]
    T = int(clips[0][1].shape[0])
    if any(c[1].shape[0] != T for c in clips):
        raise ValueError("sequential protocol: clips of different lengths")
    truth = _clip_truth(judge, metas)
    fixed_f = fixed_factors(judge, fixed)

    real_lp: dict[str, list] = {f: [] for f in judge.judged()}
    gen_lp: dict[str, list] = {f: [] for f in judge.judged()}   # (n, draws, K)
    try:
        for start in range(0, len(clips), batch):
            part = clips[start:start + batch]
            x = fit_frames(to_tensor(np.stack([c[1] for c in part])), judge.size, judge.channels).to(device)
            for f, v in judge.clip_log_probs(x).items():
                real_lp[f].append(v.cpu())
            B = len(part)
            if reference == "labels":
                code = getattr(model, f"encode_{fixed}")(x)
                outs = []
                for _ in range(draws):
                    if fixed == "dynamic":
                        outs.append(model.generate(model.sample_static(B, gen), code))
                    else:
                        outs.append(model.generate(code, model.sample_dynamic(B, T, gen, static=code)))
            else:
                static = model.sample_static(B, gen)
                dynamic = model.sample_dynamic(B, T, gen, static=static)
                outs = []
                for _ in range(draws):  # the first sample uses the first draws; later ones redraw one part
                    if fixed == "dynamic":
                        outs.append(model.generate(model.sample_static(B, gen) if outs else static, dynamic))
                    else:
                        redrawn = model.sample_dynamic(B, T, gen, static=static) if outs else dynamic
                        outs.append(model.generate(static, redrawn))
            for o in outs:
                if tuple(o.shape) != (B, T, judge.channels, judge.size, judge.size):
                    raise ValueError(f"generate returned {tuple(o.shape)}; the judge needs (B, T, C, H, W) = "
                                     f"{(B, T, judge.channels, judge.size, judge.size)}")
            per_draw = [judge.clip_log_probs(o.clamp(0, 1)) for o in outs]
            for f in judge.judged():
                gen_lp[f].append(torch.stack([d[f].cpu() for d in per_draw], 1))
    finally:
        if hasattr(model, "train"):
            model.train(was)

    res = {"fixed": fixed, "reference": reference, "clips": len(clips), "draws": draws, "frames": T,
           "size": judge.size, "channels": judge.channels, "pooling": "mean log-probability over a clip's frames",
           "factors": {}}
    for f in judge.judged():
        real = torch.cat(real_lp[f])
        g = torch.cat(gen_lp[f])                       # (n, draws, K)
        K = g.shape[-1]
        pred = g.argmax(-1).numpy()                    # (n, draws)
        q = np.bincount(pred.ravel(), minlength=K) / pred.size
        entry = {"fixed": f in fixed_f, "classes": K}
        t = truth.get(f)
        if reference == "labels" and t is not None:
            entry["accuracy"] = float(np.mean(pred == t[:, None]))
            entry["chance"] = float((q * np.bincount(t[t >= 0], minlength=K) / len(t)).sum())
        elif reference == "first":
            entry["agreement"] = float(np.mean(pred[:, 1:] == pred[:, :1]))
            entry["chance"] = float((q * q).sum())
            entry["first_vs_later"] = first_vs_later(pred, K)
        sel = balanced(t) if (reference == "labels" and t is not None and f in fixed_f) else slice(None)
        entry.update(scores(g[sel].reshape(-1, K)))
        real_entry = {}
        if t is not None:
            real_entry["accuracy"] = float(np.mean(real.argmax(-1).numpy() == t))
            real_entry.update(scores(real[balanced(t)]))
        else:
            real_entry.update(scores(real))
        entry["real"] = real_entry
        res["factors"][f] = entry
    return res


# ---------------------------------------------------------------- command line

def _print_accuracy(judge: Judge, out=None) -> None:
    out = out or sys.stdout
    acc, ds = judge.meta["accuracy"], judge.meta["dataset"]
    print(f"judge {judge.generator} {judge.size}px {judge.channels}ch, dataset {ds['name']} {ds['version']}; "
          f"held out: split {ds['held_out']!r}, {ds['test_clips']} clips / {ds['test_frames']} frames "
          f"(trained on {ds['train_frames']} frames, {judge.meta.get('cpu_seconds')} CPU s)", file=out)
    own = acc.get("frame_own_pose")
    print(f"{'factor':<18}{'classes':>8}{'per frame':>11}{'own pose' if own is not None else '':>10}{'per clip':>10}",
          file=out)
    for f in judge.judged():
        cells = [f"{acc['frame'][f]:.4f}", f"{own[f]:.4f}" if own and f in own else "",
                 f"{acc['clip'][f]:.4f}" if f in acc["clip"] else ""]
        print(f"{f:<18}{len(judge.classes(f)):>8}{cells[0]:>11}{cells[1]:>10}{cells[2]:>10}", file=out)
    if own is not None:
        print(f"own pose: frames other than the {acc['shared_pose_frames']} whose pose every motion class shares "
              f"(Sprites: the standing first frame of each action)", file=out)
    occ = acc.get("occlusion")
    if occ:
        print("digit reader per frame: front digit {:.4f} ({} frames), back digit {:.4f} ({} frames)".format(
            occ["front"]["accuracy"], occ["front"]["frames"], occ["back"]["accuracy"], occ["back"]["frames"]), file=out)
        for k, v in occ["back_by_box_cover"].items():
            if v["frames"]:
                print(f"  back digit, box covered {k}: {v['accuracy']:.4f} ({v['frames']} frames)", file=out)
    if "frame_blurred" in acc:
        print(f"on the same frames blurred at σ {acc['blurred_sigma']} px: " + ", ".join(
            f"{f} {v:.4f}" for f, v in acc["frame_blurred"].items()) + f" (trained with blur σ ≤ "
            f"{judge.meta['settings'].get('blur', 0.0)})", file=out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainers.eval.judge",
                                description="Train (or load from the cache) the judge of a synthetic dataset at a "
                                            "model's size and channels, and print its held-out per-factor accuracies.")
    p.add_argument("--data", required=True, help="synthetic dataset directory (manifest.json with train and test/val "
                                                  "splits)")
    p.add_argument("--size", type=int, required=True, help="frame side the model works at (real frames are resized)")
    p.add_argument("--channels", type=int, default=None, help="channels the model works at (default: the data's)")
    p.add_argument("--retrain", action="store_true", help="train even if a cached judge exists")
    for f in fields(Settings):
        by_gen = "".join(f"; {g}: {getattr(st, f.name)}" for g, st in FULL_BY_GENERATOR.items()
                         if getattr(st, f.name) != f.default)
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None,
                       help=f"{f.metadata['help']} (default: {f.default}{by_gen})")
    p.add_argument("--json", action="store_true", help="print the judge's json description instead of a table")
    a = p.parse_args(argv)
    try:
        given = {f.name: getattr(a, f.name) for f in fields(Settings) if getattr(a, f.name) is not None}
        settings = replace(full_settings(manifest_of(a.data)), **given)
        judge = judge_for(a.data, a.size, a.channels, settings, a.retrain,
                          log=lambda s: print(s, file=sys.stderr, flush=True))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(judge.describe(), indent=2, sort_keys=True))
    else:
        _print_accuracy(judge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
