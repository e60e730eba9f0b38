"""The exact-epoch order: one global order of a split's samples per epoch, and how steps deal it to ranks.

The order depends on (seed, epoch, the shards' sample counts, block) only, never on the world size or the
worker count, so a job resumed on any number of ranks or workers continues it where it stopped:

    shards, permuted by (seed, epoch)      -> consecutive runs of shards form blocks of >= `block` samples
    the samples of each block, permuted    -> by (seed, epoch, block index); computed when a block is first
                                              needed, so planning holds O(shards) numbers, never O(samples)

(mosaicml/streaming's block shuffles, e.g. py1b, order samples the same way: shards shuffled, then samples
within fixed-size spans.) A position p in 0..N-1 of the epoch names one sample (shard, index in shard).

Steps (`Deal`): after `start` samples have been consumed, the remaining N - start are cut into
K = ceil((N - start) / global_batch) steps, full ones first, the last ones smaller but never under the
number of ranks (each rank gets at least one sample a step); a step's samples go to ranks in rank order,
as even as possible. Every rank thus takes part in every step (no DDP hang) and the epoch's samples are
read exactly once, whatever the world size before and after a resume.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

DEFAULT_BLOCK = 1 << 16  # samples a block holds at least: the reach of the within-block shuffle


def generator(seed: int, *parts: int) -> np.random.Generator:
    """A numpy Generator from (seed, parts...): the same stream in every process and on every machine."""
    return np.random.default_rng([int(seed) % 2**63, *map(int, parts)])


@dataclass(frozen=True, eq=False)
class EpochOrder:
    """The global sample order of one epoch over shards of `counts` samples (manifest order)."""
    counts: np.ndarray
    seed: int
    epoch: int
    block: int = DEFAULT_BLOCK
    shard_order: np.ndarray = field(init=False, repr=False)   # permuted position -> shard index
    starts: np.ndarray = field(init=False, repr=False)        # permuted shard's first position (pre-shuffle)
    block_starts: np.ndarray = field(init=False, repr=False)  # first position of each block, then N

    def __post_init__(self):
        counts = np.asarray(self.counts, dtype=np.int64)
        order = generator(self.seed, self.epoch, 0).permutation(len(counts))
        sizes = counts[order]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        first = np.unique(starts[:-1] // max(1, self.block), return_index=True)[1]  # a block starts at a shard
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "shard_order", order)
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "block_starts", np.append(starts[first], starts[-1]))

    @property
    def total(self) -> int:
        return int(self.starts[-1])

    @functools.lru_cache(maxsize=4)
    def block_permutation(self, b: int) -> np.ndarray:
        n = int(self.block_starts[b + 1] - self.block_starts[b])
        return generator(self.seed, self.epoch, 1, b).permutation(n)

    def samples(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard index, index within the shard) of the samples at these positions of the epoch."""
        positions = np.asarray(positions, dtype=np.int64)
        blocks = np.searchsorted(self.block_starts, positions, side="right") - 1
        unshuffled = np.empty_like(positions)
        for b in np.unique(blocks):
            here = blocks == b
            first = self.block_starts[b]
            unshuffled[here] = first + self.block_permutation(int(b))[positions[here] - first]
        permuted = np.searchsorted(self.starts, unshuffled, side="right") - 1
        return self.shard_order[permuted], unshuffled - self.starts[permuted]

    def dataset_index(self, positions: np.ndarray) -> np.ndarray:
        """Each sample's index in the dataset's own order (shards in manifest order): for shuffle figures."""
        shard, within = self.samples(positions)
        return np.concatenate([[0], np.cumsum(self.counts)])[shard] + within


def step_sizes(n: int, global_batch: int, ranks: int) -> np.ndarray:
    """n samples as ceil(n / global_batch) steps: full ones first, later ones >= `ranks` samples each."""
    k = -(-n // global_batch)
    if n < k * ranks:
        raise ValueError(f"exact epoch: {n} samples cannot fill {k} steps with at least one sample for each of "
                         f"{ranks} ranks; use a per-rank batch size of 2 or more, or another world size")
    # greedy: each step as full as possible while every later step keeps `ranks` samples, which gives
    # `full` full steps, one step of what is left over, then steps of exactly `ranks`
    i = np.arange(k, dtype=np.int64)
    full = int(np.count_nonzero(n - (i + 1) * global_batch - (k - 1 - i) * ranks >= 0))
    sizes = np.full(k, ranks, dtype=np.int64)
    sizes[:full] = global_batch
    if full < k:
        sizes[full] = n - full * global_batch - (k - 1 - full) * ranks
    return sizes


@dataclass(frozen=True)
class Deal:
    """The steps of the rest of an epoch, from global position `start`, on `world_size` ranks of `batch_size`."""
    total: int
    start: int
    world_size: int
    batch_size: int

    @functools.cached_property
    def sizes(self) -> np.ndarray:
        if not 0 <= self.start <= self.total:
            raise ValueError(f"exact epoch: resume position {self.start} is outside 0..{self.total}")
        return step_sizes(self.total - self.start, self.world_size * self.batch_size, self.world_size)

    @functools.cached_property
    def ends(self) -> np.ndarray:
        """Global position after each step."""
        return self.start + np.cumsum(self.sizes)

    @property
    def steps(self) -> int:
        return len(self.sizes)

    def positions(self, step: int, rank: int) -> np.ndarray:
        """The global positions rank `rank` reads at `step`, and (`consumed`) where the step ends."""
        size = int(self.sizes[step])
        begin = self.start_of(step)
        share, extra = divmod(size, self.world_size)
        offset = rank * share + min(rank, extra)
        return np.arange(begin + offset, begin + offset + share + (rank < extra))

    def consumed(self, step: int) -> int:
        """Samples of the epoch consumed over all ranks once `step` is done."""
        return int(self.ends[step])

    def start_of(self, steps: int) -> int:
        """The global position after the first `steps` steps of this deal (skip_batches as a position)."""
        return int(self.ends[steps - 1]) if steps else self.start
