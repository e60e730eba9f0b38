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
