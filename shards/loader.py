"""The streaming clip loader: shards -> batches of clips (B, T, C, H, W), open_clip's webdataset pattern.

    from shards.loader import make_loader
    loader = make_loader("data/mnist", split="train", batch_size=16, sampler="window", n_frames=8)
    for epoch in range(epochs):
        loader.set_epoch(epoch)            # deterministic: same seed + epoch -> same batches
        for batch in loader:               # len(loader) batches, the same number on every rank
            batch["frames"]                # float32 (B, T, C, H, W) in [0, 1]

Two modes decide how samples reach a rank, and both give every rank the same number of batches, so DDP
never waits on a rank that ran out of data:
  resampled=True (endless streams): each (rank, DataLoader worker) draws shards with replacement (weighted
      by sample count) from an RNG seeded by (seed, epoch, rank, worker) and yields a fixed number of full
      batches. Its stages (ClipPipeline._stages):
          seeded shard draws -> split by node -> split by worker -> tar samples (logging error handler)
          -> shuffle buffer (raw bytes) -> decode + clip sampler (only the frames it needs) -> batch
      set_epoch(e, skip_batches=k) resumes mid-epoch exactly on the same ranks and workers, by decoding and
      dropping the first k batches.
  resampled=False (the exact epoch): one global order of the split's samples per epoch, from (seed,
      epoch) only (shards/order.py: shards shuffled, samples shuffled within blocks of shards); step i
      takes the next world_size x batch_size samples of it, rank r its r-th share, and rank batch i is
      built by DataLoader worker i % W, which reads each sample at its byte offset (shards/offsets.py).
      Every sample once per epoch; set_epoch(e, consumed=c) continues after the first c samples of the
      order on any world size and worker count, reading nothing before them.

Everything random (shard order, shuffles, frames drawn) comes from the seed and the epoch (and, resampled,
rank and worker), so a run is reproducible and resumes exactly.

Only numpy, torch and webdataset are imported here (never ray, mediapipe or decord).
"""
from __future__ import annotations

import functools
import io
import json
import logging
import math
import multiprocessing as mp
import os
import random
import signal
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from . import offsets
from .manifest import MANIFEST
from .offsets import SampleFiles
from .order import DEFAULT_BLOCK, Deal, EpochOrder
from .reader import ShardError, iter_raw_samples
from .sample import FRAMES, META, MEMBERS, SampleError

log = logging.getLogger(__name__)

SAMPLERS = ("window", "frameset")
MAX_BAD_STREAK = 1000  # consecutive bad samples or empty shards before a worker gives up instead of spinning


# ---------------------------------------------------------------------------------------------------------
# Shard lists: URLs, counts, and where an epoch's shards go


def expand_urls(data) -> list[str]:
    """A str (brace pattern, '::'-separated) or a list of them -> the list of shard URLs, in order."""
    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    urls = []
    for item in items:
        urls += wds.shardlists.expand_urls(os.fspath(item))
    if not urls:
        raise ValueError(f"no shard URLs in {data!r}")
    return urls


def is_local(url: str) -> bool:
    return not url.startswith("pipe:") and "://" not in url


def open_shard(url: str):
    """A binary stream for a local path, file://, pipe:CMD (webdataset's gopen) or any fsspec URL."""
    if url.startswith("pipe:") or is_local(url) or url.startswith("file://"):
        return wds.gopen(url, "rb")
    import fsspec
    return fsspec.open(url, "rb").open()


def check_exists(urls: list[str]) -> None:
    """Fail at make_loader time with the path, not later with a traceback from inside a worker."""
    missing = [u for u in urls if not u.startswith("pipe:") and not url_exists(u)]  # a pipe: only running tells
    if missing:
        more = f" ({len(missing)} of {len(urls)} shards missing, the last {missing[-1]})" if len(missing) > 1 else ""
        raise FileNotFoundError(f"shard {missing[0]}: no such file{more}")


def url_exists(url: str) -> bool:
    if is_local(url):
        return Path(url).is_file()
    import fsspec
    fs, path = fsspec.core.url_to_fs(url)
    return fs.exists(path)


def from_manifest(data, split: str) -> tuple[list[str], list[int]]:
    """The split's shard URLs and sample counts in the version `data` names (DIR, DIR@VERSION, DIR@TAG; a
    local path or fsspec URL). The URLs are the version's stored shards, so a build that makes another
    version current meanwhile changes nothing this loader reads."""
    from .store import StoreError, open_version
    try:
        version = open_version(data)
    except StoreError as e:
        raise ValueError(f"{e}; a dataset directory needs {MANIFEST} or versions (or pass shard URLs instead)") from None
    manifest = version.manifest
    splits = manifest.get("splits", {})
    if split not in splits or not splits[split]["shards"]:
        have = ", ".join(f"{s} ({len(v['shards'])} shards)" for s, v in splits.items()) or "none"
        raise ValueError(f"{version.label()}: split {split!r} has no shards; splits: {have}")
    by_name = {s["name"]: s for s in manifest["shards"]}
    names = splits[split]["shards"]
    return [version.shard_url(by_name[n]) for n in names], [int(by_name[n]["samples"]) for n in names]


def index_count(url: str, strict: bool = False) -> int:
    """Readable samples in one shard from its offset index (written, cached, or one scan that is cached)."""
    index, problem = offsets.load(url, open_shard)
    if problem and strict:
        raise ShardError(problem)
    return len(index) - 1


def rng_for(*parts) -> random.Random:
    """An RNG seeded from a tuple: random.Random hashes str seeds with sha512, the same in every process."""
    return random.Random(":".join(map(str, parts)))


@dataclass
class Plan:
    """Everything a worker needs to know what it reads in an epoch (picklable, identical on every rank)."""
    urls: list[str]
    counts: list[int] | None
    batch_size: int
    resampled: bool
    seed: int
    rank: int
    world_size: int
    num_workers: int
    epoch_samples: int | None = None
    worker_batches: int = 0  # resampled: batches per worker per epoch
    block: int = DEFAULT_BLOCK  # exact: samples per block of the within-block shuffle (shards/order.py)

    def order(self, epoch: int) -> EpochOrder:
        """Exact mode: the epoch's global sample order (the same for every world size and worker count)."""
        return EpochOrder(np.asarray(self.counts, dtype=np.int64), self.seed, epoch, self.block)

    def deal(self, start: int) -> Deal:
        """Exact mode: the steps of the epoch's rest from global position `start` on this world size."""
        return Deal(int(sum(self.counts)), int(start), self.world_size, self.batch_size)

    def epoch_batches(self) -> int:
        """Batches a rank yields in a whole epoch (the same on every rank)."""
        if self.resampled:
            return self.worker_batches * max(1, self.num_workers)
        return self.deal(0).steps

    def slot(self, rank: int, worker: int) -> int:
        """Resampled: the (rank, worker) slot whose RNG draws the shards."""
        return worker * self.world_size + rank


# ---------------------------------------------------------------------------------------------------------
# Pipeline stages. Each is a generator over the previous one's output, run inside a DataLoader worker.


@dataclass
class Context:
    """Who is iterating: epoch and resume point (shared with workers), rank and worker."""
    epoch: int
    skip: int   # resampled: batches of the rank to skip (decoded and dropped)
    start: int  # exact: the global position the epoch resumes at (nothing before it is read)
    rank: int
    worker: int
    num_workers: int


class SharedEpoch:
    """Epoch, skip_batches and the exact resume position in shared memory, so persistent DataLoader workers
    see set_epoch()."""

    def __init__(self):
        self.epoch = mp.Value("q", 0, lock=False)
        self.skip = mp.Value("q", 0, lock=False)
        self.start = mp.Value("q", 0, lock=False)

    def set(self, epoch: int, skip: int, start: int) -> None:
        self.epoch.value, self.skip.value, self.start.value = epoch, skip, start


def current_context(plan: Plan, shared: SharedEpoch) -> Context:
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return Context(shared.epoch.value, shared.skip.value, shared.start.value, plan.rank, worker, workers)


def epoch_shards(plan: Plan, ctx: Context):
    """Resampled: (slot, URL) of this slot's endless draws (weighted by sample count).

    Hazard: nothing here may depend on the process (pid, time), or ranks and resumes diverge: the draws
    come from (seed, epoch, rank, worker) only.
    """
    slot, rng = plan.slot(ctx.rank, ctx.worker), rng_for("draw", plan.seed, ctx.epoch, ctx.rank, ctx.worker)
    while True:
        yield slot, rng.choices(plan.urls, weights=plan.counts)[0]


def split_by_node(shards, plan: Plan, rank: int):
    """Resampled: keep this rank's slots (webdataset's split_by_node would read the rank from the environment; here
    it is explicit, so one process can stand in for any rank)."""
    return ((slot, url) for slot, url in shards if slot % plan.world_size == rank)


def split_by_worker(shards, plan: Plan, worker: int):
    """Resampled: keep this DataLoader worker's slot."""
    return (url for slot, url in shards if slot // plan.world_size == worker)


@dataclass
class Problems:
    """Bad tars and samples seen by one worker: counted, and logged with the running count."""
    strict: bool
    worker: int = 0
    counts: Counter = field(default_factory=Counter)

    def __call__(self, kind: str, message: str) -> None:
        if self.strict:
            raise ShardError(message)
        self.counts[kind] += 1
        log.warning("%s (skipped; worker %d has skipped %d so far: %s)", message, self.worker,
                    sum(self.counts.values()), dict(self.counts))


def read_tar(url: str):
    """The strict tar reader of shards/reader.py, opening pipe: and fsspec URLs as well as paths."""
    return iter_raw_samples(url, open_stream=open_shard)


def tar_samples(urls, problems: Problems):
    """Raw samples {__key__, __url__, suffix: bytes} from a stream of shard URLs (the logging handler).

    Hazard: a shard that yields nothing (all broken, or a failing pipe: command) must not make a
    resampled worker loop forever, so a long streak of empty shards is an error.
    """
    empty_streak = 0
    for url in urls:
        n = 0
        try:
            for key, members in read_tar(url):
                n += 1
                yield {"__key__": key, "__url__": url, **members}
        except ShardError as e:
            problems("bad_tar", str(e))
        empty_streak = 0 if n else empty_streak + 1
        if empty_streak >= MAX_BAD_STREAK:
            raise ShardError(f"{empty_streak} shards in a row gave no samples (last: {url}); is the data readable?")


def shuffle_samples(samples, bufsize: int, rng: random.Random):
    """Shuffle raw samples before decoding: the buffer holds encoded bytes, and decoding happens once, later."""
    if bufsize <= 1:
        return samples
    return wds.shuffle(bufsize, initial=min(100, bufsize), rng=rng)(samples)


class ClipTooShort(ValueError):
    """The dataset's clips are shorter than the sampler needs: a configuration error, not bad data."""


@dataclass
class ClipSampler:
    """Which frames of a clip to take: 'window' (contiguous) or 'frameset' (a set of n frames)."""
    kind: str
    n_frames: int
    random: bool = True
    sorted_frames: bool = True

    def indices(self, length: int, draw: int) -> np.ndarray:
        """Frame positions for a clip of `length` frames; `draw` is this sample's 64-bit random number."""
        n = self.n_frames
        if length < n:
            raise ClipTooShort(f"clip has {length} frames, the {self.kind} sampler needs {n}: use clips of at least "
                               f"{n} frames (e.g. `vidshard prepare --frames {n}`) or ask for fewer frames")
        if self.kind == "window":
            start = draw % (length - n + 1) if self.random else 0
            return np.arange(start, start + n)
        if not self.random:
            return np.linspace(0, length - 1, n).round().astype(np.int64)
        idx = random.Random(draw).sample(range(length), n)
        return np.array(sorted(idx) if self.sorted_frames else idx, dtype=np.int64)


def npy_view(data: bytes) -> np.ndarray:
    """A read-only uint8 T×H×W×C view of a .npy member without copying or unpickling anything.

    np.load would copy the whole clip; the sampler needs only a few frames of it, so parse the header
    and view the bytes (object dtypes, which would need pickle, are refused like np.load(allow_pickle=False)).
    """
    # The header is the magic, a 2- or 4-byte length and a dict literal; clips share a few headers, so
    # the parse (numpy's, which is literal_eval) is cached on the header bytes.
    major = data[6:7]
    length = int.from_bytes(data[8:10] if major == b"\x01" else data[8:12], "little")
    offset = (10 if major == b"\x01" else 12) + length
    shape = npy_header(bytes(data[:offset]))  # bytes: a cached view would pin the whole sample
    count = math.prod(shape)
    if len(data) - offset < count:
        raise ValueError(f"frames.npy holds {len(data) - offset} bytes, its header says {count}")
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=offset).reshape(shape)


@functools.lru_cache(maxsize=256)
def npy_header(header: bytes) -> tuple[int, ...]:
    f = io.BytesIO(header)
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"frames.npy: unsupported .npy version {version}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if dtype != np.uint8 or fortran or len(shape) != 4 or shape[-1] not in (1, 3):
        raise ValueError(f"frames.npy must be C-order uint8 T×H×W×C (C 1 or 3), got {dtype} {shape}")
    return shape


def decode_clip(sample: dict, sampler: ClipSampler, draw: int, with_meta: bool) -> dict:
    """Raw sample -> {key, frames (n×H×W×C uint8), frame_idx, meta}; ValueError names what is wrong.

    The frames are a view (window) or a copy of n frames (frameset), never a decoded copy of the clip;
    collate copies them into the batch right away, and the shuffle buffer sits before this stage, so no
    buffer ever holds a decoded clip.
    """
    missing = [m for m in MEMBERS if m not in sample]
    if missing:
        raise SampleError(f"member {', '.join(missing)} is missing")
    clip = npy_view(sample[FRAMES])
    idx = sampler.indices(clip.shape[0], draw)
    frames = clip[idx] if sampler.kind == "frameset" else clip[idx[0]: idx[0] + len(idx)]
    meta = json.loads(bytes(sample[META])) if with_meta else None  # ~20% of the per-clip CPU for rich labels
    return {"key": sample["__key__"], "frames": frames, "frame_idx": idx, "meta": meta}


@dataclass
class Output:
    """What a batch holds: frames as float32 in [0, 1] (or uint8), and the decoded json (or None)."""
    as_uint8: bool = False
    with_meta: bool = True

    def collate(self, clips: list[dict]) -> dict:
        """Stack in numpy and convert once: frames (B, T, C, H, W)."""
        b, (t, h, w, c) = len(clips), clips[0]["frames"].shape
        out = np.empty((b, t, c, h, w), np.uint8 if self.as_uint8 else np.float32)
        for i, clip in enumerate(clips):
            frames = clip["frames"].transpose(0, 3, 1, 2)
            if self.as_uint8:
                out[i] = frames
            else:  # uint8 in, float32 out, one pass per clip (no float64 or uint8 intermediate)
                np.multiply(frames, np.float32(1 / 255), out=out[i])
        return {"frames": torch.from_numpy(out),
                "frame_idx": torch.from_numpy(np.stack([c["frame_idx"] for c in clips]).astype(np.int64)),
                "key": [c["key"] for c in clips],
                "meta": [c["meta"] for c in clips]}


def clip_of(sample: dict, sampler: ClipSampler, draw: int, output: Output, shape: tuple | None) -> dict:
    """decode_clip, with the frame size checked against the batch's (`shape`, once a clip gave it); a clip
    too short for the sampler is a configuration error naming the shard and sample."""
    try:
        clip = decode_clip(sample, sampler, draw, output.with_meta)
    except ClipTooShort as e:
        raise ClipTooShort(f"shard {sample['__url__']}: sample {sample['__key__']}: {e}") from None
    if shape is not None and clip["frames"].shape[1:] != shape:
        raise SampleError(f"frame size {clip['frames'].shape[1:]} differs from the batch's {shape}")
    return clip


def batches(samples, sizes: list[int], skip: int, sampler: ClipSampler, rng: random.Random, problems: Problems,
            output: Output):
    """Resampled: decode, sample and batch exactly len(sizes) batches, dropping the first `skip` (resume).

    Every sample draws its random number whether it is kept or skipped, and skipped batches are decoded
    like kept ones (bad samples in them shift later batches the same way), so a resumed epoch is exactly
    the tail of the full one.
    """
    current, done, streak, shape = [], 0, 0, None
    for sample in samples:
        draw = rng.getrandbits(64)
        try:
            clip = clip_of(sample, sampler, draw, output, shape)
        except ClipTooShort:
            raise
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            problems("bad_sample", f"shard {sample['__url__']}: sample {sample['__key__']}: {e}")
            streak += 1
            if streak >= MAX_BAD_STREAK:
                raise ShardError(f"{streak} bad samples in a row (last: {sample['__key__']} in {sample['__url__']})")
            continue
        streak, shape = 0, clip["frames"].shape[1:]
        current.append(clip)
        if len(current) == sizes[done]:
            if done >= skip:
                yield output.collate(current)
            current, done = [], done + 1
            if done == len(sizes):
                return
    raise ShardError(f"the shards of this rank/worker slot gave {'too few' if done or current else 'no'} readable "
                     f"samples for its {len(sizes)} batches (stopped after {done})")


def sample_draws(seed: int, epoch: int, positions: np.ndarray) -> list[int]:
    """Exact mode: each sample's 64-bit random number (its frames) from (seed, epoch, its position in the
    epoch) only, so it is the same whichever rank, worker or batch reads it (splitmix64's mixer)."""
    z = positions.astype(np.uint64) + np.uint64((int(seed) * 0x9E3779B97F4A7C15 + int(epoch) * 0xD1B54A32D192ED03) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))).tolist()


def read_clip(files: SampleFiles, shard: int, index: int, sampler: ClipSampler, draw: int, output: Output,
              shape: tuple | None, problems: Problems) -> dict | None:
    """Exact mode: one sample by its offset, decoded; None (counted and logged) when it cannot be read."""
    try:
        key, members = files.read(shard, index)
        return clip_of({"__key__": key, "__url__": files.urls[shard], **members}, sampler, draw, output, shape)
    except ClipTooShort:
        raise
    except ShardError as e:
        problems("bad_sample", str(e))
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        problems("bad_sample", f"shard {files.urls[shard]}: sample {key}: {e}")
    return None


def padded(clips: list[dict], n: int, recent: deque, problems: Problems) -> list[dict]:
    """Exact mode: a batch that lost samples to bad data gets repeats of readable ones, so every rank still
    yields its batches at their sizes (a rank that yields fewer hangs DDP)."""
    if len(clips) == n:
        return clips
    pool = clips + list(recent)
    if not pool:
        raise ShardError(f"no readable sample for a batch of {n} (and none before it in this worker)")
    problems("padded", f"bad data left a batch {n - len(clips)} samples short; repeating readable ones")
    return clips + [pool[i % len(pool)] for i in range(n - len(clips))]


def exact_batches(plan: Plan, ctx: Context, sampler: ClipSampler, output: Output, problems: Problems):
    """Exact mode: (index among this worker's batches, batch) for this worker's steps of the epoch's rest
    (step i is worker i % W's), each the rank's share of the global order at that step, read by offset:
    nothing before ctx.start is read or decoded. batch["consumed"]: the epoch's samples consumed over all
    ranks once the step is done (the trainer's resume position)."""
    order, deal = plan.order(ctx.epoch), plan.deal(ctx.start)
    files, recent = SampleFiles(plan.urls, open_shard, problems), deque(maxlen=plan.batch_size)
    try:
        for step in range(ctx.worker, deal.steps, ctx.num_workers):
            positions = deal.positions(step, ctx.rank)
            shards, within = order.samples(positions)
            clips, shape = [], recent[0]["frames"].shape[1:] if recent else None
            for shard, index, draw in zip(shards.tolist(), within.tolist(), sample_draws(plan.seed, ctx.epoch, positions)):
                clip = read_clip(files, shard, index, sampler, draw, output, shape, problems)
                if clip is not None:
                    clips.append(clip)
                    shape = clip["frames"].shape[1:]
            clips = padded(clips, len(positions), recent, problems)
            recent.extend(clips)
            batch = output.collate(clips)
            batch["consumed"] = deal.consumed(step)
            yield step // ctx.num_workers, batch
    finally:
        files.close()


# ---------------------------------------------------------------------------------------------------------
# The dataset (one pipeline per worker) and the loader around torch's DataLoader


class ClipPipeline(IterableDataset):
    """The stages, run fresh for each epoch in each DataLoader worker (or in-process with num_workers=0)."""

    def __init__(self, plan: Plan, shared: SharedEpoch, sampler: ClipSampler, shuffle_buffer: int, strict: bool,
                 output: Output):
        super().__init__()
        self.plan, self.shared, self.sampler = plan, shared, sampler
        self.shuffle_buffer, self.strict, self.output = shuffle_buffer, strict, output
        self.problems = Problems(strict)  # the in-process counts (num_workers=0); workers report per batch

    def __iter__(self):
        ctx = current_context(self.plan, self.shared)
        self.problems.worker = ctx.worker
        if self.plan.resampled:
            skip = self.worker_skip(ctx)
            numbered = enumerate(wds.DataPipeline(self._stages(ctx, skip)), start=skip)
        else:
            numbered = exact_batches(self.plan, ctx, self.sampler, self.output, self.problems)
        for i, batch in numbered:
            # keys and meta travel as one opaque object: the DataLoader's convert and pin_memory walk every
            # list and dict they are given, which cost more than reading the clips (measured: 60% of the time)
            yield {"frames": batch.pop("frames"), "frame_idx": batch.pop("frame_idx"),
                   "rest": Opaque((batch, ctx.worker, i, dict(self.problems.counts)))}

    @staticmethod
    def worker_skip(ctx: Context) -> int:
        """How many of the rank's first `skip` batches are this worker's: rank batch i is worker i % W's."""
        return max(0, -(-(ctx.skip - ctx.worker) // ctx.num_workers))

    def _stages(self, ctx: Context, skip: int) -> list:
        """Resampled mode's stages."""
        plan, seed = self.plan, (self.plan.seed, ctx.epoch, ctx.rank, ctx.worker)
        sizes = [plan.batch_size] * plan.worker_batches
        return [
            # the slot's seeded shard draws
            partial(epoch_shards, plan, ctx),
            partial(split_by_node, plan=plan, rank=ctx.rank),
            partial(split_by_worker, plan=plan, worker=ctx.worker),
            # samples, with the logging handler: a broken tar is logged, counted and skipped (strict: raised)
            partial(tar_samples, problems=self.problems),
            # shuffle encoded samples; hazard: an unseeded buffer (webdataset's default) breaks resume
            partial(shuffle_samples, bufsize=self.shuffle_buffer, rng=rng_for("buffer", *seed)),
            # decode only the frames the sampler takes (copied, so nothing pins a whole clip), batch them
            partial(batches, sizes=sizes, skip=skip, sampler=self.sampler, rng=rng_for("frames", *seed),
                    problems=self.problems, output=self.output),
        ]


class Opaque:
    """Carries a value past the DataLoader's recursive convert / pin_memory untouched."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


TERM_GRACE = 30  # seconds a loader worker outlives a SIGTERM: Slurm's and Kubernetes' default grace period


def outlive_stop_signals(worker_id: int) -> None:
    """worker_init_fn: a loader worker outlives the stop signals that reach a whole process group (a terminal's
    Ctrl-C; Slurm's scancel and `kill -- -PGID` send SIGTERM), so that the training process can finish its
    step and write a checkpoint while its workers still feed it. SIGINT is ignored. SIGTERM arms an alarm of
    TERM_GRACE seconds instead of ending the worker at once: the trainer shuts its loader down (the worker
    exits normally) well before, and a worker that torch itself ends with SIGTERM (one that did not stop in
    time at shutdown) still exits, TERM_GRACE seconds later, instead of hanging its parent's exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, exit_after_grace)


def exit_after_grace(signum, frame) -> None:
    """SIGTERM in a loader worker: end it with SIGALRM TERM_GRACE seconds after the first SIGTERM."""
    left = signal.alarm(0)
    signal.alarm(left or TERM_GRACE)


def keep(batch):
    """collate_fn for batches the pipeline already made (the default would walk every list and dict)."""
    return batch


class ClipLoader:
    """len(loader) batches per epoch on every rank; set_epoch(e, skip_batches=k) before iterating.

    len(loader) is the whole epoch; after set_epoch(e, skip_batches=k) an iteration yields its last
    len - k batches. Iterating without calling set_epoch again repeats the same epoch (same batches).
    Exact mode also resumes at a global position: set_epoch(e, consumed=c) continues the epoch's global
    order after its first c samples, on this loader's world size and batch size (`epoch_batches` steps;
    each batch's "consumed" says where the next resume would start). skip_batches=k there means the
    position after k steps of this deal; neither reads anything before the position.
    `problems` counts the bad tars / samples skipped (and, in exact mode, samples repeated to make up for
    them) since the loader was made, summed over workers, by kind: bad_tar, bad_sample, padded.
    """

    def __init__(self, dataset: ClipPipeline, num_workers: int, pin_memory: bool, to_float: bool = False):
        self.dataset, self.plan, self.to_float, self.pin_memory = dataset, dataset.plan, to_float, pin_memory
        self.batches = self.plan.epoch_batches()
        self.epoch, self.skip, self.start = 0, 0, 0
        self.worker_problems: dict[int, dict] = {}
        # batch_size=None: the pipeline batches itself. Persistent workers keep their startup cost out of
        # every epoch; they read epoch/skip from shared memory (SharedEpoch) at the start of each epoch.
        self.dataloader = DataLoader(dataset, batch_size=None, collate_fn=keep, num_workers=num_workers,
                                     pin_memory=pin_memory, worker_init_fn=outlive_stop_signals,
                                     persistent_workers=num_workers > 0)

    def __len__(self) -> int:
        return self.batches

    def set_epoch(self, epoch: int, skip_batches: int = 0, consumed: int | None = None) -> None:
        if not 0 <= skip_batches <= self.batches:
            raise ValueError(f"skip_batches={skip_batches} is outside 0..{self.batches} (batches per epoch)")
        self.epoch, self.skip, self.start = int(epoch), int(skip_batches), 0
        if self.plan.resampled:
            if consumed is not None:
                raise ValueError("consumed= (a global resume position) needs the exact-epoch mode (resampled=False)")
            return
        total = sum(self.plan.counts)
        if consumed is not None and not 0 <= consumed <= total:
            raise ValueError(f"consumed={consumed} is outside 0..{total} (samples per epoch)")
        self.skip, self.start = 0, self.plan.deal(0).start_of(skip_batches) if consumed is None else int(consumed)

    @property
    def epoch_batches(self) -> int:
        """Batches the next iteration yields: the epoch from its resume point."""
        return self.batches - self.skip if self.plan.resampled else self.plan.deal(self.start).steps

    @property
    def problems(self) -> Counter:
        total = Counter()
        for counts in self.worker_problems.values():
            total.update(counts)
        return total

    def __iter__(self):
        self.dataset.shared.set(self.epoch, self.skip, self.start)
        # The rank's batch i is batch i // W of worker i % W. The DataLoader asks workers round-robin
        # from worker 0, which matches only when skip_batches is a multiple of W, so batches are put
        # back in rank order here (at most W - 1 wait).
        workers = max(1, self.dataloader.num_workers)
        pending, i = {}, self.skip
        for batch in self.dataloader:
            rest, worker, index, counts = batch.pop("rest").value
            batch.update(rest)
            if self.to_float:
                batch["frames"] = uint8_to_float(batch["frames"], self.pin_memory)
            self.worker_problems[int(worker)] = counts
            pending[int(worker), int(index)] = batch
            while (i % workers, i // workers) in pending:
                yield pending.pop((i % workers, i // workers))
                i += 1
        if pending:
            raise RuntimeError(f"loader: {len(pending)} batches arrived out of rank order (a worker stopped early)")


def uint8_to_float(frames: torch.Tensor, pin: bool) -> torch.Tensor:
    """frames / 255 as float32 in one pass (the same float32 multiply as Output.collate, so the values are
    identical), into pinned memory when the DataLoader pins. numpy, not torch: torch's threaded kernel
    was slower on a shared 2-core machine (bench/loader.py, docs/BENCHMARKS.md)."""
    out = torch.empty(frames.shape, dtype=torch.float32, pin_memory=pin)
    np.multiply(frames.numpy(), np.float32(1 / 255), out=out.numpy())
    return out


def default_rank() -> tuple[int, int]:
    """(rank, world_size): torch.distributed if initialized, else env RANK / WORLD_SIZE, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def make_loader(data, split: str = "train", batch_size: int = 16, sampler: str = "window", n_frames: int = 8,
                random: bool = True, sorted_frames: bool = True, resampled: bool = True,
                epoch_samples: int | None = None, num_workers: int = 0, seed: int = 0, rank: int | None = None,
                world_size: int | None = None, shuffle_buffer: int = 1000, strict: bool = False,
                as_uint8: bool = False, with_meta: bool = True, pin_memory: bool | None = None,
                shuffle_block: int = DEFAULT_BLOCK) -> ClipLoader:
    """A ClipLoader over a dataset version (its manifest gives the split's shards and counts) or shard URLs.

    data: a dataset directory (its current version), DIR@VERSION or DIR@TAG (a version id, a unique prefix
      of one, or a tag; DIR may be an fsspec URL), or a str / list of shard URLs: paths, brace patterns
      ("d/train-{000000..000003}.tar"), fsspec URLs, "pipe:CMD".
    sampler: "window" (n_frames contiguous frames; random start, or 0 with random=False) or "frameset"
      (n_frames frames of one clip; a random subset, kept in time order if sorted_frames, or evenly spaced
      with random=False).
    resampled: True draws shards with replacement and yields ceil(epoch_samples / (world_size * batch_size))
      batches per rank (rounded up to a multiple of the workers); False is the exact epoch: every sample
      once per epoch, in one global order of (seed, epoch) that does not depend on the world size or the
      workers (shards/order.py), read by byte offset (shards/offsets.py), ceil(N / (world_size *
      batch_size)) batches on every rank; set_epoch(e, consumed=c) resumes it on any world size.
    epoch_samples: samples per epoch over all ranks in resampled mode (default: the split's count).
    shuffle_buffer: resampled: samples held to shuffle; they are held encoded, so 1000 clips of 20×64×64×3
      hold ≈ 250 MB per worker.
    shuffle_block: exact: samples are shuffled within blocks of consecutive (shuffled) shards holding at
      least this many samples; the shards of a block are read at random offsets.
    as_uint8: frames stay uint8 (4x less to move; convert on the GPU). with_meta=False: skip the json
      (batch["meta"] is a list of None), when training needs no labels. pin_memory: default when CUDA is available.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r}: use one of {', '.join(SAMPLERS)}")
    for name, value in (("batch_size", batch_size), ("n_frames", n_frames)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if num_workers < 0 or shuffle_buffer < 0:
        raise ValueError(f"num_workers ({num_workers}) and shuffle_buffer ({shuffle_buffer}) must be >= 0")
    if rank is None or world_size is None:
        rank, world_size = default_rank()
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1} (world_size {world_size})")

    urls, counts = shard_list(data, split)
    if counts is not None and sum(counts) == 0:
        raise ValueError(f"{data}: split {split!r} has no samples")
    if counts is None and not resampled:
        counts = [index_count(u, strict) for u in urls]  # the exact order needs every shard's size
    plan = Plan(urls, counts, batch_size, resampled, seed, rank, world_size, num_workers, block=int(shuffle_block))
    if resampled:
        total = epoch_samples if epoch_samples is not None else (sum(counts) if counts is not None else None)
        if not total or total < 1:
            raise ValueError(f"{data}: resampled mode needs epoch_samples= (samples per epoch over all ranks) "
                             f"when there is no manifest to count them")
        per_rank = math.ceil(total / (world_size * batch_size))
        plan.epoch_samples, plan.worker_batches = total, math.ceil(per_rank / max(1, num_workers))
    else:
        plan.deal(0).sizes  # noqa: B018 -- raises now, naming why, if the steps cannot all be dealt
    clip_sampler = ClipSampler(sampler, int(n_frames), bool(random), bool(sorted_frames))
    # Where frames become float: a float batch is 4x the bytes to move between processes. With spare cores
    # the workers convert (the main process, which feeds the model, only receives); when the workers have
    # no core of their own, sending uint8 and converting on arrival costs less in all (bench/loader.py,
    # docs/BENCHMARKS.md "Loader").
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    to_float = not as_uint8 and 0 < num_workers and cores <= num_workers + 1
    output = Output(as_uint8 or to_float, with_meta)
    dataset = ClipPipeline(plan, SharedEpoch(), clip_sampler, shuffle_buffer, strict, output)
    pin = torch.cuda.is_available() if pin_memory is None else pin_memory
    return ClipLoader(dataset, num_workers, pin, to_float)


def shard_list(data, split: str) -> tuple[list[str], list[int] | None]:
    """(URLs, sample counts or None) for a dataset (DIR, DIR@VERSION, DIR@TAG) or shard URLs; missing paths
    fail here."""
    from .store import is_dataset_ref
    if is_dataset_ref(data):
        urls, counts = from_manifest(data, split)
    else:
        urls, counts = expand_urls(data), None
    check_exists(urls)
    return urls, counts
