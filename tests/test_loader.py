"""The streaming loader: equal batches on every rank, exact epochs, determinism and resume, samplers, bad data.

Shards are tiny (8×8 frames) and written with the real ShardWriter; ranks are simulated by passing
rank/world_size explicitly, workers are real DataLoader workers.
"""
from __future__ import annotations

import io
import logging
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch

from shards import ShardError, ShardWriter, write_manifest
from shards.loader import Output, make_loader, uint8_to_float
from shards.order import Deal, EpochOrder, step_sizes

SIZES = (3, 7, 1, 4, 6)  # an odd number of uneven shards
T = 10


def clip_frames(shard: int, clip: int, channels: int = 3) -> np.ndarray:
    """Frame t of a clip has value 10*t + shard at pixel (0, 0) and clip elsewhere, so tests can read it back."""
    frames = np.full((T, 8, 8, channels), clip, np.uint8)
    frames[:, 0, 0, :] = (10 * np.arange(T) + shard)[:, None]
    return frames


def add_clips(w, s: int, n: int, channels: int = 3) -> None:
    for c in range(n):
        w.add(f"src{s}_t0_c{c}", clip_frames(s, c, channels),
              {"source_id": f"src{s}", "source_path": "synthetic", "track": 0, "clip": c,
               "frame_indices": list(range(T)), "fps": 25.0, "label": s * 100 + c})


def write_dataset(root, sizes=SIZES, channels=3, manifest=True) -> list[str]:
    names = []
    for s, n in enumerate(sizes):
        names.append(f"train-{s:06d}")
        with ShardWriter(root, names[-1]) as w:
            add_clips(w, s, n, channels)
    if manifest:
        write_manifest(root, name="loader-test", config={"sizes": list(sizes)}, shard_splits={"train": names})
    return names


def all_keys(sizes=SIZES) -> list[str]:
    return [f"src{s}_t0_c{c}" for s, n in enumerate(sizes) for c in range(n)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    write_dataset(root)
    return root


def run_ranks(data, world=2, **kw) -> list[list[dict]]:
    """Batches of each simulated rank, for one epoch."""
    out = []
    for rank in range(world):
        loader = make_loader(data, rank=rank, world_size=world, **kw)
        loader.set_epoch(kw.pop("epoch", 0))
        batches = list(loader)
        assert len(batches) == len(loader)
        out.append(batches)
    return out


@pytest.mark.parametrize("resampled", [True, False])
def test_every_rank_yields_the_same_number_of_batches(dataset, resampled):
    ranks = run_ranks(dataset, batch_size=2, n_frames=4, num_workers=2, resampled=resampled)
    assert len(ranks[0]) == len(ranks[1]) > 0
    keys = [k for batches in ranks for b in batches for k in b["key"]]
    if resampled:
        # 21 samples / (2 ranks x 2 per batch) = 6 batches per rank, all full
        assert len(ranks[0]) == 6 and all(len(b["key"]) == 2 for r in ranks for b in r)
        assert set(keys) <= set(all_keys())
    else:
        # exact: every sample exactly once across ranks, only tail batches smaller
        assert Counter(keys) == Counter(all_keys())
        assert all(1 <= len(b["key"]) <= 2 for r in ranks for b in r)


def test_exact_epoch_covers_every_sample_with_three_ranks_and_no_workers(dataset):
    ranks = run_ranks(dataset, world=3, batch_size=3, n_frames=2, resampled=False)
    assert len({len(r) for r in ranks}) == 1
    assert Counter(k for r in ranks for b in r for k in b["key"]) == Counter(all_keys())


def test_exact_steps_are_full_first_and_give_every_rank_a_sample():
    assert step_sizes(7, 4, 2).tolist() == [4, 3]
    assert step_sizes(9, 4, 2).tolist() == [4, 3, 2]
    assert step_sizes(21, 6, 3).tolist() == [6, 6, 6, 3]
    assert sum(step_sizes(101, 16, 4)) == 101
    with pytest.raises(ValueError, match="per-rank batch size of 2"):
        step_sizes(7, 2, 2)  # batch 1 on 2 ranks: 7 samples cannot make 4 steps of 2


def test_a_resumed_deal_on_the_same_ranks_continues_the_same_steps():
    for n, world, batch in ((21, 2, 2), (21, 3, 4), (100, 4, 3), (9, 2, 2)):
        full = Deal(n, 0, world, batch)
        for k in range(full.steps + 1):
            rest = Deal(n, full.start_of(k), world, batch)
            assert rest.sizes.tolist() == full.sizes[k:].tolist()
            assert [rest.positions(i, r).tolist() for i in range(rest.steps) for r in range(world)] == \
                   [full.positions(i, r).tolist() for i in range(k, full.steps) for r in range(world)]


def test_the_epoch_order_is_a_permutation_that_depends_on_seed_and_epoch_only():
    counts = np.array([3, 7, 1, 4, 6, 0, 5])
    order = EpochOrder(counts, seed=1, epoch=2, block=6)
    shard, within = order.samples(np.arange(order.total))
    assert sorted(zip(shard.tolist(), within.tolist())) == [(s, i) for s, c in enumerate(counts) for i in range(c)]
    again = EpochOrder(counts, seed=1, epoch=2, block=6).dataset_index(np.arange(order.total))
    assert again.tolist() == order.dataset_index(np.arange(order.total)).tolist()
    assert again.tolist() != EpochOrder(counts, seed=1, epoch=3, block=6).dataset_index(np.arange(order.total)).tolist()
    # positions read in any grouping give the same samples
    parts = [order.samples(np.arange(a, min(a + 4, order.total)))[0] for a in range(0, order.total, 4)]
    assert np.concatenate(parts).tolist() == shard.tolist()


def epoch_batches(loader, epoch, skip=0):
    loader.set_epoch(epoch, skip_batches=skip)
    return [(b["key"], b["frame_idx"].tolist(), b["frames"]) for b in loader]


def same(a, b) -> bool:
    return len(a) == len(b) and all(ka == kb and ia == ib and torch.equal(fa, fb) for (ka, ia, fa), (kb, ib, fb) in zip(a, b))


@pytest.mark.parametrize("resampled", [True, False])
def test_same_seed_and_epoch_give_same_batches_and_resume_is_exact(dataset, resampled):
    kw = dict(batch_size=2, n_frames=3, num_workers=2, resampled=resampled, shuffle_buffer=8, seed=3,
              rank=1, world_size=2)
    loader = make_loader(dataset, **kw)
    full = epoch_batches(loader, 1)
    assert same(full, epoch_batches(make_loader(dataset, **kw), 1))  # a fresh loader: same batches
    assert same(full, epoch_batches(loader, 1))  # persistent workers re-read the epoch
    assert [k for k, _, _ in epoch_batches(loader, 2)] != [k for k, _, _ in full]
    for skip in (1, 3, len(loader)):
        assert same(epoch_batches(loader, 1, skip), full[skip:])
    with pytest.raises(ValueError, match="skip_batches"):
        loader.set_epoch(0, skip_batches=len(loader) + 1)


def test_different_seed_gives_different_order(dataset):
    a = make_loader(dataset, batch_size=2, num_workers=0, seed=0, n_frames=2)
    b = make_loader(dataset, batch_size=2, num_workers=0, seed=1, n_frames=2)
    assert [x["key"] for x in a] != [x["key"] for x in b]


def decoded_index(batch) -> np.ndarray:
    """The frame position each drawn frame came from, read back from its pixel (0, 0)."""
    return (batch["frames"][:, :, 0, 0, 0].numpy() * 255).round().astype(int) // 10


def test_window_frames_are_contiguous_and_inside_the_clip(dataset):
    for batch in make_loader(dataset, batch_size=4, sampler="window", n_frames=5, resampled=False):
        idx = batch["frame_idx"].numpy()
        assert batch["frames"].dtype == torch.float32 and batch["frame_idx"].dtype == torch.long
        assert batch["frames"].shape[1:] == (5, 3, 8, 8)
        assert 0.0 <= batch["frames"].min() and batch["frames"].max() <= 1.0
        assert (np.diff(idx, axis=1) == 1).all() and idx.min() >= 0 and idx.max() < T
        np.testing.assert_array_equal(decoded_index(batch), idx)
        clips = (batch["frames"][:, :, 0, 4, 4].numpy() * 255).round().astype(int)
        assert (clips == np.array([m["clip"] for m in batch["meta"]])[:, None]).all()
    starts = {int(i) for b in make_loader(dataset, batch_size=4, n_frames=5, random=False, resampled=False)
              for i in b["frame_idx"][:, 0]}
    assert starts == {0}


def test_frameset_frames_are_distinct_and_sorted_when_asked(dataset):
    rows_in_order = {}
    for sorted_frames in (True, False):
        loader = make_loader(dataset, batch_size=4, sampler="frameset", n_frames=6, sorted_frames=sorted_frames,
                             resampled=False)
        rows_in_order[sorted_frames] = []
        for batch in loader:
            idx = batch["frame_idx"].numpy()
            np.testing.assert_array_equal(decoded_index(batch), idx)
            assert all(len(set(row)) == 6 for row in idx.tolist()) and idx.min() >= 0 and idx.max() < T
            rows_in_order[sorted_frames] += (np.diff(idx, axis=1) > 0).all(axis=1).tolist()
    assert all(rows_in_order[True])
    assert not all(rows_in_order[False])  # 21 random 6-of-10 orders: a sorted one has odds 1/720
    idx = next(iter(make_loader(dataset, batch_size=2, sampler="frameset", n_frames=4, random=False)))["frame_idx"]
    assert idx.tolist() == [[0, 3, 6, 9]] * 2


def test_grayscale_and_uint8(tmp_path):
    write_dataset(tmp_path, sizes=(4,), channels=1)
    batch = next(iter(make_loader(tmp_path, batch_size=4, n_frames=2, as_uint8=True)))
    assert batch["frames"].dtype == torch.uint8 and batch["frames"].shape == (4, 2, 1, 8, 8)


def test_clip_shorter_than_the_sampler_is_an_error_in_any_mode(dataset):
    from shards.loader import ClipTooShort
    for strict in (True, False):
        with pytest.raises(ClipTooShort, match=r"train-00000\d\.tar: sample src\d_t0_c\d+: clip has 10 frames"):
            list(make_loader(dataset, batch_size=2, n_frames=11, strict=strict))


def truncate(path, keep: float):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def drop_member(path, member: str):
    """Rewrite a shard without one member (a sample missing its json)."""
    with tarfile.open(path) as tar:
        kept = [(i, tar.extractfile(i).read()) for i in tar.getmembers() if i.name != member]
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in kept:
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def broken(tmp_path):
    """A dataset whose shard 1 is cut in the middle and whose shard 4 lacks one sample's json."""
    write_dataset(tmp_path)
    truncate(tmp_path / "train-000001.tar", 0.5)
    drop_member(tmp_path / "train-000004.tar", "src4_t0_c2.json")
    return tmp_path


@pytest.mark.parametrize("resampled", [True, False])
def test_bad_data_is_logged_counted_and_skipped(broken, caplog, resampled):
    caplog.set_level(logging.WARNING, logger="shards.loader")
    # resampled: enough draws (100 batches) that both broken shards are surely read
    loader = make_loader(broken, batch_size=2, n_frames=2, resampled=resampled, shuffle_buffer=0,
                         epoch_samples=200 if resampled else None)
    batches = list(loader)
    assert len(batches) == len(loader)
    keys = {k for b in batches for k in b["key"]}
    assert "src4_t0_c2" not in keys
    assert loader.problems["bad_sample"] >= 1 and loader.problems["bad_tar"] >= 1
    text = caplog.text
    assert "train-000004.tar: sample src4_t0_c2: member json is missing" in text
    assert "train-000001.tar: unreadable at sample src1_t0_c" in text
    if not resampled:
        # every readable sample once; the lost ones are made up by repeats so every batch keeps its size
        readable = set(all_keys()) - {"src4_t0_c2"} - {f"src1_t0_c{c}" for c in range(3, 7)}
        seen = [k for b in batches for k in b["key"]]
        assert readable <= keys and len(seen) == sum(SIZES) and loader.problems["padded"] >= 1


def test_bad_data_in_workers_is_counted_by_the_loader(broken):
    loader = make_loader(broken, batch_size=2, n_frames=2, num_workers=2, resampled=False, shuffle_buffer=0)
    assert len(list(loader)) == len(loader) and loader.problems["bad_sample"] + loader.problems["bad_tar"] >= 2


def test_strict_mode_raises_naming_shard_and_key(broken):
    with pytest.raises(ShardError, match=r"train-000001\.tar: unreadable at sample src1_t0_c\d"):
        list(make_loader(str(broken / "train-000001.tar"), batch_size=2, epoch_samples=4, strict=True))
    with pytest.raises(ShardError, match=r"train-000004\.tar: sample src4_t0_c2: member json is missing"):
        list(make_loader(str(broken / "train-000004.tar"), batch_size=2, epoch_samples=6, strict=True))


def test_nonexistent_paths_fail_at_make_loader(tmp_path, dataset):
    missing = tmp_path / "nope-000000.tar"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        make_loader(str(missing), epoch_samples=10)
    with pytest.raises(FileNotFoundError, match="train-000009"):
        make_loader(str(dataset / "train-{000000..000009}.tar"), epoch_samples=10)
    with pytest.raises(ValueError, match="manifest.json"):
        make_loader(tmp_path)  # a directory that is not a dataset
    with pytest.raises(ValueError, match="split 'val' has no shards"):
        make_loader(dataset, split="val")


# four workers on purpose (more than shards); torch's advice on the machine's CPU count is not the point here
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
def test_exact_mode_needs_no_shard_per_worker_but_a_sample_per_rank_and_step(dataset):
    ranks = run_ranks(dataset, world=2, batch_size=2, n_frames=2, resampled=False, num_workers=4)
    assert Counter(k for r in ranks for b in r for k in b["key"]) == Counter(all_keys())  # 5 shards, 8 slots
    with pytest.raises(ValueError, match="per-rank batch size of 2"):
        make_loader(dataset, resampled=False, batch_size=1, rank=0, world_size=2)  # 21 samples, 2 ranks
    with pytest.raises(ValueError, match="epoch_samples"):
        make_loader(str(dataset / "train-000000.tar"))  # resampled URLs without a count


def test_brace_pattern_pipe_url_and_manifest_dir_read_the_same_samples(dataset):
    pattern = str(dataset / "train-{000000..000004}.tar")
    urls = [f"pipe:cat {dataset / f'train-{i:06d}.tar'}" for i in range(5)]
    seen = []
    for data in (dataset, pattern, urls):
        loader = make_loader(data, batch_size=3, n_frames=2, resampled=False, shuffle_buffer=0)
        seen.append(sorted(k for b in loader for k in b["key"]))
    assert seen[0] == seen[1] == seen[2] == sorted(all_keys())


def test_url_list_without_manifest_counts_headers(tmp_path):
    write_dataset(tmp_path, manifest=False)
    for stats in tmp_path.glob("*.stats.json"):
        stats.unlink()  # no sidecar either: the loader scans the tar headers
    loader = make_loader(str(tmp_path / "train-{000000..000004}.tar"), batch_size=2, resampled=False,
                         rank=0, world_size=2)
    other = make_loader(str(tmp_path / "train-{000000..000004}.tar"), batch_size=2, resampled=False,
                        rank=1, world_size=2)
    assert len(loader) == len(other)
    assert Counter(k for l in (loader, other) for b in l for k in b["key"]) == Counter(all_keys())


def test_tar_cut_at_a_member_boundary_is_caught(tmp_path):
    """tarfile itself ends quietly there; the missing end-of-archive blocks give it away."""
    write_dataset(tmp_path, sizes=(5,), manifest=False)
    path = tmp_path / "train-000000.tar"
    with tarfile.open(path) as tar:
        cut = tar.getmembers()[4].offset  # the header of the third sample
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ShardError, match=r"unreadable after sample src0_t0_c1: .*end-of-archive"):
        list(make_loader(str(path), batch_size=1, n_frames=2, epoch_samples=5, strict=True, shuffle_buffer=0))


def test_fsspec_url(dataset):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for i in range(2):
        fs.pipe(f"/loader-test/train-{i:06d}.tar", (dataset / f"train-{i:06d}.tar").read_bytes())
    loader = make_loader("memory://loader-test/train-{000000..000001}.tar", batch_size=5, n_frames=2,
                         resampled=False, shuffle_buffer=0)  # in-process: a memory:// fs is per process
    assert sorted(k for b in loader for k in b["key"]) == sorted(all_keys()[:10])
    with pytest.raises(FileNotFoundError, match="memory://loader-test/nope.tar"):
        make_loader("memory://loader-test/nope.tar", epoch_samples=1)


def test_one_worker_gives_the_same_batches_as_none(dataset):
    """Worker 0 of 1 reads with the same seeds as the in-process pipeline, whichever process converts to float."""
    kw = dict(batch_size=4, n_frames=3, resampled=False, seed=5)
    a, b = list(make_loader(dataset, num_workers=0, **kw)), list(make_loader(dataset, num_workers=1, **kw))
    assert len(a) == len(b) and all(x["key"] == y["key"] for x, y in zip(a, b))
    assert all(y["frames"].dtype == torch.float32 and torch.equal(x["frames"], y["frames"]) for x, y in zip(a, b))


def test_float_conversion_after_transfer_matches_the_workers():
    """Workers may send uint8 (few cores) and the main process converts: the values must not change."""
    rng = np.random.default_rng(0)
    clips = [{"key": "k", "frames": rng.integers(0, 256, (3, 5, 6, 3), dtype=np.uint8), "frame_idx": np.arange(3),
              "meta": None} for _ in range(2)]
    in_worker = Output(as_uint8=False).collate(clips)["frames"]
    on_arrival = uint8_to_float(Output(as_uint8=True).collate(clips)["frames"], pin=False)
    assert in_worker.shape == (2, 3, 3, 5, 6) and torch.equal(in_worker, on_arrival)
    expected = torch.from_numpy(clips[0]["frames"][1, :, :, 2] / np.float32(255))
    assert in_worker.max() <= 1.0 and torch.allclose(in_worker[0, 1, 2], expected, rtol=0, atol=1e-7)


def test_strict_error_from_a_worker_still_names_shard_and_key(broken):
    with pytest.raises(ShardError, match=r"train-000004\.tar: sample src4_t0_c2: member json is missing"):
        list(make_loader(str(broken / "train-000004.tar"), batch_size=2, epoch_samples=6, strict=True,
                         num_workers=1))


def test_resampled_batches_per_rank_arithmetic(dataset):
    # 20 samples over 2 ranks x batch 2: 5 per rank, rounded up to 2 workers x ceil(5 / 2) = 6
    loader = make_loader(dataset, batch_size=2, num_workers=2, rank=1, world_size=2, n_frames=2, epoch_samples=20)
    assert len(loader) == 6 and len(list(loader)) == 6
    assert len(make_loader(dataset, batch_size=2, epoch_samples=100, rank=0, world_size=2)) == 25


def test_clips_shorter_than_the_sampler_are_a_config_error(tmp_path):
    """A window longer than the clips is a misconfiguration: one clear error, not 1,000 skipped samples."""
    import numpy as np
    from shards import ShardWriter
    from shards.loader import ClipTooShort, make_loader
    with ShardWriter(tmp_path, "train-000000") as w:
        for i in range(4):
            w.add(f"v_t0_c{i}", np.zeros((6, 8, 8, 1), np.uint8),
                  {"source_id": "v", "source_path": "m", "track": 0, "clip": i, "frame_indices": list(range(6)), "fps": 1.0})
    loader = make_loader(str(tmp_path / "train-000000.tar"), batch_size=2, n_frames=10, resampled=False,
                         shuffle_buffer=0)
    with pytest.raises(ClipTooShort, match="train-000000.tar.*clip has 6 frames, the window sampler needs 10"):
        next(iter(loader))


def fill_test_shard(unit: dict, w, context: dict) -> None:
    """A build work function (shards.build): the clips of one test shard."""
    add_clips(w, unit["job"]["shard"], unit["job"]["clips"])


def build_version(root, sizes):
    from shards.build import Unit, build, recipe_key
    from shards.store import Store
    units = [Unit(f"train-{s:06d}", "train", recipe_key("loader-test", s, n), {"shard": s, "clips": n})
             for s, n in enumerate(sizes)]
    return build(Store(root), units, "test_loader:fill_test_shard", name="loader-test", config={"sizes": list(sizes)})


def test_make_loader_reads_exactly_the_version_named(tmp_path):
    """Two versions built into one directory by the build core: DIR@VERSION (id, prefix) and DIR read
    exactly their own samples, whichever is current; shards the versions share are stored once."""
    root = tmp_path / "d"
    first = build_version(root, (3, 7, 1))
    second = build_version(root, (3, 7, 4, 6))
    assert (second.reused, second.written, second.dropped) == (["train-000000", "train-000001"],
                                                                ["train-000002", "train-000003"], ["train-000002"])
    assert len(list((root / "store").glob("*.tar"))) == 5
    v1, v2 = first.manifest["version"], second.manifest["version"]
    for ref, sizes in ((f"{root}@{v1}", (3, 7, 1)), (f"{root}@{v2[:6]}", (3, 7, 4, 6)), (root, (3, 7, 4, 6))):
        loader = make_loader(ref, batch_size=2, n_frames=2, resampled=False, num_workers=0, rank=0, world_size=1)
        loader.set_epoch(0)
        assert Counter(k for b in loader for k in b["key"]) == Counter(all_keys(sizes)), ref
    with pytest.raises(ValueError, match="no version or tag"):
        make_loader(f"{root}@v9", n_frames=2)


# ---- the exact epoch's global order: any world size, any workers, resume by position (issue 16)

def global_order(data, world: int, workers: int, consumed: int = 0, **kw) -> list[list[str]]:
    """The keys of each step of an exact epoch, ranks concatenated in rank order, from `consumed` on."""
    steps = None
    for rank in range(world):
        loader = make_loader(data, rank=rank, world_size=world, num_workers=workers, resampled=False, **kw)
        loader.set_epoch(1, consumed=consumed)
        batches = list(loader)
        assert len(batches) == loader.epoch_batches
        steps = [[] for _ in batches] if steps is None else steps
        assert len(steps) == len(batches)  # every rank the same number of batches
        for step, b in zip(steps, batches):
            step += b["key"]
    return steps


def test_the_global_order_does_not_depend_on_world_size_or_workers(dataset):
    kw = dict(batch_size=2, n_frames=2, seed=4)
    flat = [k for step in global_order(dataset, 1, 0, **kw) for k in step]
    assert Counter(flat) == Counter(all_keys())
    for world, workers in ((2, 2), (3, 1)):
        assert [k for step in global_order(dataset, world, workers, **kw) for k in step] == flat
    # a resume at any position on another world size reads exactly the rest of that order
    for consumed, world, workers in ((5, 3, 2), (12, 1, 1), (19, 2, 0)):
        assert [k for step in global_order(dataset, world, workers, consumed, **kw) for k in step] == flat[consumed:]


def test_resume_reads_nothing_before_its_position(dataset, monkeypatch):
    from shards.offsets import SampleFiles
    reads = []
    original = SampleFiles.read
    monkeypatch.setattr(SampleFiles, "read", lambda self, shard, i: reads.append((shard, i)) or original(self, shard, i))
    global_order(dataset, 2, 0, consumed=15, batch_size=2, n_frames=2)
    assert len(reads) == len(set(reads)) == sum(SIZES) - 15


def test_frames_drawn_for_a_sample_do_not_depend_on_the_world_size(dataset):
    def drawn(world):
        out = {}
        for rank in range(world):
            loader = make_loader(dataset, rank=rank, world_size=world, batch_size=2, n_frames=3, resampled=False)
            for b in loader:
                out.update(zip(b["key"], b["frame_idx"].tolist()))
        return out
    assert drawn(1) == drawn(3)


def test_the_writer_writes_an_offset_index_and_shards_without_one_get_a_cached_one(tmp_path, monkeypatch):
    from shards.offsets import decode, load, scan
    from shards.loader import open_shard
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "cache"))
    write_dataset(tmp_path / "ds", sizes=(3, 4))
    tar = tmp_path / "ds" / "train-000001.tar"
    written = decode((tmp_path / "ds" / "train-000001.offsets.npy").read_bytes(), tar.stat().st_size)
    assert written.tolist() == scan(str(tar), open_shard)[0].tolist() and len(written) == 5
    (tmp_path / "ds" / "train-000001.offsets.npy").unlink()
    assert load(str(tar), open_shard)[0].tolist() == written.tolist()
    assert len(list((tmp_path / "cache" / "offsets").glob("*.npy"))) == 1  # built once, cached
    keys = [k for b in make_loader(tmp_path / "ds", batch_size=2, n_frames=2, resampled=False) for k in b["key"]]
    assert Counter(keys) == Counter(all_keys((3, 4)))


def test_a_wrong_offset_index_is_caught_naming_the_shard(tmp_path):
    from shards.offsets import encode
    write_dataset(tmp_path, sizes=(4,))
    tar = tmp_path / "train-000000.tar"
    index = tmp_path / "train-000000.offsets.npy"
    good = np.load(index)
    shifted = np.concatenate([[0], good[1:-2] + 512, good[-2:-1]])  # a plausible index of another tar
    index.write_bytes(encode(shifted, tar.stat().st_size))
    with pytest.raises(ShardError, match=r"train-000000\.tar: sample \d at byte \d+: .*(stale offset index|header)"):
        list(make_loader(tmp_path, batch_size=2, n_frames=2, resampled=False, strict=True))


def test_verify_checks_the_offset_index_against_its_tar(tmp_path):
    from shards.manifest import verify
    from shards.offsets import encode
    write_dataset(tmp_path, sizes=(3, 4))
    assert verify(tmp_path) == []
    index, tar = tmp_path / "train-000001.offsets.npy", tmp_path / "train-000001.tar"
    good = np.load(index)
    index.write_bytes(encode(np.concatenate([good[:1], good[2:-1], good[-2:-1] + 1024]), tar.stat().st_size))
    assert verify(tmp_path) == ["train-000001: offset index train-000001.offsets.npy does not match the tar's samples"]
