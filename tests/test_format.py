"""The shard format: deterministic bytes, atomic writes, manifest versions, verify."""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from shards import ShardWriter, write_manifest, verify, iter_samples, ShardError, SampleError
from shards.manifest import verify_main, diff_main, load_manifest


def _meta(i):
    return {"source_id": "src", "source_path": "mem", "track": 0, "clip": i, "frame_indices": [0, 1, 2], "fps": 25.0}


def _write(root, n=3, config=None, shards=("train-000000", "val-000000")):
    rng = np.random.default_rng(0)
    for name in shards:
        with ShardWriter(root, name) as w:
            for i in range(n):
                w.add(f"src_t0_c{i}", rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8), _meta(i))
    return write_manifest(root, name="t", config=config or {"seed": 0},
                          shard_splits={s.split("-")[0]: [s] for s in shards})


def test_same_input_same_bytes_and_version(tmp_path):
    m1, m2 = _write(tmp_path / "a"), _write(tmp_path / "b")
    assert m1["version"] == m2["version"]
    for s in ("train-000000.tar", "val-000000.tar"):
        assert (tmp_path / "a" / s).read_bytes() == (tmp_path / "b" / s).read_bytes()
    assert _write(tmp_path / "c", config={"seed": 1})["version"] != m1["version"]


def test_tar_headers_are_fixed(tmp_path):
    _write(tmp_path)
    with tarfile.open(tmp_path / "train-000000.tar") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos[:2]] == ["src_t0_c0.frames.npy", "src_t0_c0.json"]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.mode) for i in infos} == {(0, 0, 0, "", 0o444)}


def test_roundtrip_and_stats(tmp_path):
    _write(tmp_path)
    samples = list(iter_samples(tmp_path / "train-000000.tar"))
    assert [k for k, _, _ in samples] == ["src_t0_c0", "src_t0_c1", "src_t0_c2"]
    assert samples[0][1].shape == (3, 8, 8, 3) and samples[0][2]["clip"] == 0
    stats = json.loads((tmp_path / "train-000000.stats.json").read_text())
    assert stats["samples"] == 3 and len(stats["sha256"]) == 64


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path, "train-000000") as w:
            w.add("src_t0_c0", np.zeros((3, 4, 4, 1), np.uint8), _meta(0))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bad_samples_rejected(tmp_path):
    with ShardWriter(tmp_path, "x") as w:
        with pytest.raises(SampleError, match="no dots"):
            w.add("a.b", np.zeros((3, 4, 4, 1), np.uint8), _meta(0))
        with pytest.raises(SampleError, match="uint8"):
            w.add("a", np.zeros((3, 4, 4, 1), np.float32), _meta(0))
        with pytest.raises(SampleError, match="lacks fps"):
            w.add("a", np.zeros((3, 4, 4, 1), np.uint8), {k: v for k, v in _meta(0).items() if k != "fps"})


def test_verify_names_flipped_deleted_truncated(tmp_path, capsys):
    _write(tmp_path, shards=("train-000000", "train-000001", "val-000000"))
    write_manifest(tmp_path, name="t", config={"seed": 0},
                   shard_splits={"train": ["train-000000", "train-000001"], "val": ["val-000000"]})
    assert verify(tmp_path) == [] and verify_main([str(tmp_path)]) == 0
    p = tmp_path / "train-000000.tar"
    data = bytearray(p.read_bytes())
    data[700] ^= 1
    p.write_bytes(bytes(data))
    (tmp_path / "train-000001.tar").unlink()
    v = tmp_path / "val-000000.tar"
    v.write_bytes(v.read_bytes()[:1500])
    capsys.readouterr()
    assert verify_main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "BAD train-000000: sha256" in out
    assert "BAD train-000001: missing" in out
    assert "BAD val-000000: size" in out and "val-000000: " in out


def test_truncated_shard_strict_read_names_shard(tmp_path):
    _write(tmp_path)
    p = tmp_path / "train-000000.tar"
    p.write_bytes(p.read_bytes()[:1200])
    with pytest.raises(ShardError, match="train-000000.tar"):
        list(iter_samples(p))


def test_parent_and_diff(tmp_path, capsys):
    m1 = _write(tmp_path, config={"seed": 0})
    m2 = _write(tmp_path, config={"seed": 1})
    assert m2["parent"] == m1["version"]
    m3 = _write(tmp_path, config={"seed": 1})
    assert m3["parent"] == m1["version"] and m3["version"] == m2["version"]
    other = tmp_path / "other"
    _write(other, config={"seed": 0})
    assert diff_main([str(other), str(tmp_path)]) == 0
    assert "config seed: 0 -> 1" in capsys.readouterr().out


def test_verify_not_a_dataset(tmp_path, capsys):
    assert verify_main([str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert verify_main([str(tmp_path)]) == 2


def test_version_id_formula_is_the_same_in_every_format():
    """Format 2 changed where shards are stored, not what a version is: the id hashes the config and the
    ordered (name, sha256) of the shards exactly as format 1 did, so an upgraded dataset keeps its id."""
    from shards.manifest import dataset_version
    shards = [{"name": "train-000000", "sha256": "ab" * 32, "object": "store/x.tar"}, {"name": "val-000000", "sha256": "cd" * 32}]
    assert dataset_version({"seed": 0, "split": [0.8, 0.1, 0.1]}, shards) == "d703fc8e5f2a036b"


def test_two_writers_of_one_shard_name_never_share_a_file(tmp_path):
    """Each writer has its own temp name (pid and random), so two processes or retries never write one file."""
    a, b = ShardWriter(tmp_path, "train-000000"), ShardWriter(tmp_path, "train-000000")
    assert a.tmp_path != b.tmp_path and a.tmp_path.parent == tmp_path
    with a, b:
        a.add("src_t0_c0", np.zeros((3, 4, 4, 1), np.uint8), _meta(0))
        b.add("src_t0_c0", np.zeros((3, 4, 4, 1), np.uint8), _meta(0))
    assert a.stats["sha256"] == b.stats["sha256"] and sorted(p.name for p in tmp_path.iterdir()) == [
        "train-000000.offsets.npy", "train-000000.stats.json", "train-000000.tar"]


def test_split_reading_is_one_rule_and_keeps_fractions_that_sum_to_one():
    from shards.build import parse_split
    for text in ("0.8,0.1,0.1", "0.9998,0.0001,0.0001", "0.4,0.3,0.3", "0.8,0,0.2", "1,0,0", "0.5,0.25,0.25"):
        assert parse_split(text) == tuple(float(x) for x in text.split(","))
    assert parse_split("8,1,1") == (0.8, 0.1, 0.1) and parse_split("2,1,1") == (0.5, 0.25, 0.25)
    for bad in ("0,1,1", "1,1", "x,1,1", "1,-1,1", "inf,1,1"):
        with pytest.raises(ValueError, match="--split"):
            parse_split(bad)


def test_references_resolve_ids_prefixes_and_tags(tmp_path):
    from shards.store import Store, StoreError, open_version, split_ref
    assert split_ref("data/x@v1") == ("data/x", "v1") and split_ref("data/x") == ("data/x", None)
    assert split_ref("s3://b/x@ab12") == ("s3://b/x", "ab12")
    (tmp_path / "odd@name").mkdir()
    assert split_ref(str(tmp_path / "odd@name")) == (str(tmp_path / "odd@name"), None)  # a real path stays a path
    m = _write(tmp_path / "f1")
    assert open_version(tmp_path / "f1").id == m["version"] == open_version(f"{tmp_path / 'f1'}@{m['version'][:5]}").id
    with pytest.raises(StoreError, match="format-1 dataset holds one version"):
        open_version(f"{tmp_path / 'f1'}@ffff")
    with pytest.raises(StoreError, match="not a vidshard dataset"):
        Store(tmp_path / "odd@name").resolve()
    with pytest.raises(StoreError, match="tag 'abcd'"):
        Store(tmp_path).set_tag("abcd", m["version"])         # would read as a version prefix
