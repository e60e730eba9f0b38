"""Dataset versions (issue 13): a content-addressed store, incremental builds, lineage, gc, concurrency, crashes.

The face pipeline runs for real (the local executor: no Ray) on four short videos of ../shared/data/faces,
one video per shard and every video in train: a grown or shrunk source set writes exactly the shards that
change, the per-video cache serves the other videos without decoding them (counted by the processor
below, in the worker processes), and the result is the from-scratch build, byte for byte. Crashes,
concurrency, remotes, gc and format-1 upgrades use the synthetic generators (the same build core).
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_shared
from test_harness import toy  # noqa: F401 -- the harness tests' toy model (a fixture)
from pipelines import prepare as P
from shards import ShardWriter, write_manifest
from shards.loader import make_loader
from shards.manifest import verify, verify_main
from shards.store import LOCK, Store, StoreError, open_version
from shards.versions import gc, upgrade
from vidshard.cli import main as cli

# the four smallest corpus videos with faces (39-150 frames each)
VIDEOS = ("040_vtoonify_man.mp4", "038_vtoonify_long_hair.mp4", "028_fomm_stubble_man.mp4",
          "003_lp_d5_man_blue_shirt.mp4")
FAST = ["--videos-per-shard", "1", "--split", "1,0,0", "--detect-every", "3", "--executor", "local",
        "--workers", "1", "--no-progress"]
DECODES = "VIDSHARD_TEST_DECODES"


def counting_processor(path, source_id, cfg, model_path=None, stats=None):
    """process_video, noting each video it decodes in $VIDSHARD_TEST_DECODES (runs in the pool's processes)."""
    with open(os.environ[DECODES], "a") as f:
        f.write(source_id + "\n")
    from pipelines.faces.video import process_video
    yield from process_video(path, source_id, cfg, model_path=model_path, stats=stats)


class Faces:
    """Builds with the counting processor; `decoded` is what the last build decoded."""

    def __init__(self, tmp: Path, monkeypatch):
        self.log = tmp / "decodes.txt"
        monkeypatch.setenv(DECODES, str(self.log))
        self.videos = {name: require_shared("faces", name) for name in VIDEOS}

    def build(self, out: Path, names, *extra) -> tuple[int, str, list[str]]:
        self.log.write_text("")
        argv = [a for n in names for a in ("--input", str(self.videos[n]))] + ["--out", str(out), *FAST, *extra]
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = P.prepare(P.build_parser().parse_args(argv), processor="test_versions:counting_processor")
        return rc, buf.getvalue(), self.log.read_text().split()


def objects(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every stored shard: (inode, mtime_ns, bytes): a rewritten file would change at least one."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in (root / "store").glob("*.tar")}


def version_bytes(ref) -> dict[str, bytes]:
    """name -> tar bytes of a version's shards."""
    v = open_version(ref)
    return {s["name"]: v.store.read_bytes(v.shard_rel(s)) for s in v.manifest["shards"]}


def loader_keys(ref, split: str = "train") -> list[str]:
    loader = make_loader(ref, split=split, batch_size=1, n_frames=1, resampled=False, shuffle_buffer=0,
                         num_workers=0, rank=0, world_size=1)
    loader.set_epoch(0)
    return sorted(k for batch in loader for k in batch["key"])


def manifest_keys(ref, split: str = "train") -> list[str]:
    """The sample keys of a version's split, read from the shards its manifest lists."""
    from shards.reader import iter_raw_samples
    v = open_version(ref)
    return sorted(k for s in v.manifest["shards"] if s["split"] == split
                  for k, _ in iter_raw_samples(v.shard_rel(s), open_stream=v.store.open))


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """A: 3 videos; B: a 4th added; C: one of the first 3 removed; and from-scratch builds of B's and C's
    source sets elsewhere. Everything the acceptance tests look at, built once."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("versions")
    faces = Faces(tmp, mp)
    d, out = tmp / "d", {}
    out["a"] = faces.build(d, VIDEOS[:3])
    out["objects_a"] = objects(d)
    assert cli(["tag", str(d), "v1"]) == 0
    out["b"] = faces.build(d, VIDEOS)
    out["objects_b"] = objects(d)
    out["c"] = faces.build(d, (VIDEOS[0], VIDEOS[2], VIDEOS[3]))
    out["scratch_b"] = faces.build(tmp / "scratch_b", VIDEOS)
    out["scratch_c"] = faces.build(tmp / "scratch_c", (VIDEOS[0], VIDEOS[2], VIDEOS[3]))
    mp.undo()
    return d, tmp, out


def ids(manifest_or_ref) -> str:
    return open_version(manifest_or_ref).id


def test_adding_a_video_writes_one_shard_and_equals_a_build_from_scratch(grown):
    d, tmp, out = grown
    (rc_a, _, dec_a), (rc_b, text_b, dec_b) = out["a"], out["b"]
    assert rc_a == rc_b == P.EXIT_OK and len(dec_a) == 3
    va, vb = open_version(f"{d}@v1"), open_version(f"{d}@{ids(tmp / 'scratch_b')}")
    new_id = next(s["id"] for s in vb.manifest["sources"] if s["id"] not in {x["id"] for x in va.manifest["sources"]})
    assert dec_b == [new_id]                                    # only the new video was decoded
    assert "shards: 1 written, 3 reused, 0 dropped" in text_b
    before, after = out["objects_a"], out["objects_b"]
    assert set(before) < set(after) and len(set(after) - set(before)) == 1   # exactly one new shard stored
    assert all(after[name] == before[name] for name in before)             # no other tar rewritten
    # the incremental version is the from-scratch build of the same 4 videos: same id, same bytes
    assert vb.id == ids(tmp / "scratch_b") and version_bytes(vb.label()) == version_bytes(tmp / "scratch_b")
    assert len(out["scratch_b"][2]) == 4


def test_removing_a_video_writes_nothing_decodes_nothing_and_equals_scratch(grown):
    d, tmp, out = grown
    rc, text, decoded = out["c"]
    assert rc == P.EXIT_OK and decoded == []
    assert "shards: 0 written, 3 reused, 1 dropped" in text
    assert ids(d) == ids(tmp / "scratch_c") and version_bytes(d) == version_bytes(tmp / "scratch_c")
    assert len(list((d / "store").glob("*.tar"))) == 4       # the removed video's shard stays for A and B


def test_regrouping_shards_decodes_nothing(grown, tmp_path, monkeypatch):
    """Other --videos-per-shard: every shard is new, every video comes from the per-video cache."""
    d, tmp, out = grown
    work = tmp_path / "d"
    shutil.copytree(d, work, symlinks=True)
    faces = Faces(tmp_path, monkeypatch)
    rc, text, decoded = faces.build(work, VIDEOS, "--videos-per-shard", "2")
    rc2, _, decoded2 = faces.build(tmp_path / "scratch", VIDEOS, "--videos-per-shard", "2")
    assert rc == rc2 == P.EXIT_OK and decoded == [] and len(decoded2) == 4
    assert "videos: 0 decoded, 4 from the per-video cache" in text
    assert ids(work) == ids(tmp_path / "scratch") and version_bytes(work) == version_bytes(tmp_path / "scratch")


def test_every_version_stays_loadable_by_id_and_by_tag(grown):
    d, tmp, _ = grown
    store = Store(d)
    assert len(store.version_ids()) == 3 and store.current_id() == ids(tmp / "scratch_c")
    v1 = open_version(f"{d}@v1")
    assert v1.id == store.resolve(v1.id[:6])
    assert loader_keys(f"{d}@v1") == manifest_keys(f"{d}@v1") == loader_keys(f"{d}@{v1.id}")
    assert len(loader_keys(f"{d}@v1")) == v1.manifest["totals"]["samples"]
    for vid in store.version_ids():
        assert verify(f"{d}@{vid}") == []
        assert loader_keys(f"{d}@{vid}") == manifest_keys(f"{d}@{vid}")
    # the directory itself reads as its current version, in the plain layout other readers use
    assert json.loads((d / "manifest.json").read_text())["version"] == store.current_id()
    assert loader_keys(d) == manifest_keys(d)
    with pytest.raises(ValueError, match="no version or tag 'nope'"):
        loader_keys(f"{d}@nope")


def test_a_flipped_byte_in_a_shared_shard_is_reported_for_every_version_using_it(grown, tmp_path, capsys):
    d, _, _ = grown
    work = tmp_path / "d"
    shutil.copytree(d, work, symlinks=True)
    store = Store(work)
    users = Counter(s["sha256"] for v in store.version_ids() for s in store.manifest(v)["shards"])
    shared = next(sha for sha, n in users.items() if n == 3)
    path = work / "store" / f"{shared}.tar"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    for vid in store.version_ids():
        problems = verify(f"{work}@{vid}")
        names = [s["name"] for s in store.manifest(vid)["shards"] if s["sha256"] == shared]
        assert len(problems) == 1 and problems[0].startswith(f"{names[0]}: sha256"), (vid, problems)
    capsys.readouterr()
    assert verify_main([str(work), "--all", "--quick"]) == 1
    assert capsys.readouterr().out.count("BAD ") == 3


def test_gc_removes_only_what_no_kept_version_uses(grown, tmp_path, capsys):
    d, _, _ = grown
    work = tmp_path / "d"
    shutil.copytree(d, work, symlinks=True)
    store = Store(work)
    (work / "tmp" / "leftover.tar.123-abcd.tmp").write_bytes(b"a killed build's file")
    a, b, c = sorted(store.version_ids(), key=lambda v: store.manifest(v)["created"])
    before = objects(work)
    assert cli(["gc", str(work)]) == 0                          # every version kept: no shard removed
    assert objects(work) == before and not list((work / "tmp").iterdir())
    with pytest.raises(StoreError, match="current version or a tagged one"):
        gc(store, drop=("v1",))
    report = gc(store, drop=(b,))                               # B shares every shard with A or C
    assert report["versions"] == [b] and report["shards"] == [] and objects(work) == before
    assert cli(["tag", str(work), "v1", "--delete"]) == 0
    report = gc(store, keep_last=1)                             # drops A: its one shard C lacks goes
    only_a = {s["sha256"] for s in store.manifest(c)["shards"]} ^ set(n[:-4] for n in before)
    assert report["versions"] == [a] and set(report["shards"]) == only_a and len(only_a) == 1
    assert len(report["cache"]) == 1 and len(report["units"]) == 1
    assert store.version_ids() == [c] and verify(work) == [] and loader_keys(work) == manifest_keys(work)
    # the cache entries left are C's videos', each pointing at a stored shard that holds its clips
    m = store.manifest(c)
    assert sorted(n[:-5] for n in store.listdir("cache")) == sorted(f"{s['sha256']}-{m['cache_config']}" for s in m["sources"])
    assert all(store.cache_entry(f"{s['sha256']}-{m['cache_config']}") for s in m["sources"])
    capsys.readouterr()
    assert cli(["log", str(work)]) == 0
    log = capsys.readouterr().out
    assert log.startswith(f"version {c}") and log.count("\nversion ") == 0 and f"parent {b} (dropped)" in log


def test_log_and_diff_tell_what_changed(grown, capsys):
    d, _, _ = grown
    capsys.readouterr()
    assert cli(["log", str(d)]) == 0
    log = capsys.readouterr().out
    assert [line.split()[1] for line in log.splitlines() if line.startswith("version ")] == \
        sorted(Store(d).version_ids(), key=lambda v: Store(d).manifest(v)["created"], reverse=True)
    assert "(current)" in log and "tag v1" in log
    assert "sources: 1 added, 0 removed, 0 changed" in log and "sources: 0 added, 1 removed, 0 changed" in log
    assert cli(["diff", f"{d}@v1", str(d)]) == 0
    diff = capsys.readouterr().out
    added, removed = VIDEOS[3], VIDEOS[1]
    assert f"source added: {require_shared('faces', added)}" in diff and "clips)" in diff
    assert f"source removed: {require_shared('faces', removed)}" in diff
    assert "shards: 2 shared (same bytes), 1 added, 1 removed" in diff


def test_an_upgraded_format_1_faces_dataset_grows_decoding_only_new_videos(grown, tmp_path, monkeypatch):
    """A format-1 faces directory (here: C's 3 videos, flattened) upgraded in place keeps its version id; the
    next build fills the per-video cache from its records and shards, so adding a video decodes just it."""
    _, tmp, _ = grown
    source = open_version(tmp / "scratch_c")
    old = tmp_path / "old"
    old.mkdir()
    for path in source.view.iterdir():
        if path.name != "manifest.json":
            (old / path.name).write_bytes(path.read_bytes())
    m = {k: v for k, v in source.manifest.items() if k not in ("created", "build", "cache_config")}
    m.update(format_version=1, shards=[{k: v for k, v in e.items() if k != "object"} for e in m["shards"]])
    (old / "manifest.json").write_text(json.dumps(m))
    assert cli(["upgrade", str(old)]) == 0 and ids(old) == source.id and verify(old) == []
    monkeypatch.setattr(P, "PROCESSOR", "test_versions:counting_processor")   # what made these clips
    rc, text, decoded = Faces(tmp_path, monkeypatch).build(old, VIDEOS)
    added = require_shared("faces", VIDEOS[1])
    assert rc == P.EXIT_OK and decoded == [next(s["id"] for s in open_version(old).manifest["sources"]
                                                if s["path"] == str(added))]
    assert "videos: 1 decoded, 3 from the per-video cache" in text
    assert ids(old) == ids(tmp / "scratch_b") and version_bytes(old) == version_bytes(tmp / "scratch_b")


def test_a_new_face_code_version_remakes_every_video(grown, tmp_path, monkeypatch):
    """Clips made by older face processing code are never reused: the same videos and settings decode
    nothing again, but with pipelines.faces.VERSION raised every video is decoded again, and the manifest
    says which code made it."""
    _, tmp, _ = grown
    work = tmp_path / "c"
    shutil.copytree(tmp / "scratch_c", work, symlinks=True)
    faces, names = Faces(tmp_path, monkeypatch), (VIDEOS[0], VIDEOS[2], VIDEOS[3])
    rc, _, decoded = faces.build(work, names)
    assert rc == P.EXIT_OK and decoded == [] and ids(work) == ids(tmp / "scratch_c")
    monkeypatch.setattr(P, "FACE_CODE_VERSION", P.FACE_CODE_VERSION + 1)
    rc, _, decoded = faces.build(work, names)
    assert rc == P.EXIT_OK and len(decoded) == 3
    assert open_version(work).manifest["config"]["face_code_version"] == P.FACE_CODE_VERSION
    assert ids(work) != ids(tmp / "scratch_c")


# ----------------------------------------------------------------------------------------- synthetic builds

def synth(out, *args) -> int:
    from pipelines.synthetic.cli import main
    return main(["balls", "--out", str(out), "--frames", "4", "--shard-size", "4", *args])


def synth_cmd(out, *args) -> list[str]:
    return [sys.executable, "-m", "vidshard", "synth", "balls", "--out", str(out), "--frames", "4",
            "--shard-size", "4", *args]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_build_killed_at_a_seeded_random_point_keeps_the_current_version_and_reruns(tmp_path, seed):
    base = tmp_path / "base"
    assert synth(base, "--clips", "24") == 0
    v1, keys1 = ids(base), loader_keys(base)
    # where a build can die: every fault point of growing the set, traced on a copy
    trace, points = tmp_path / "trace", tmp_path / "points.txt"
    shutil.copytree(base, trace, symlinks=True)
    env = {**os.environ, "VIDSHARD_TEST_FAULT": f"points:{points}"}
    assert subprocess.run(synth_cmd(trace, "--clips", "40"), cwd=ROOT, env=env, capture_output=True).returncode == 0
    names = points.read_text().split()
    assert {"object", "unit", "version", "links", "current"} <= set(names)
    k = random.Random(seed).randrange(1, len(names) + 1)
    work = tmp_path / "work"
    shutil.copytree(base, work, symlinks=True)
    env = {**os.environ, "VIDSHARD_TEST_FAULT": f"die:{k}"}
    died = subprocess.run(synth_cmd(work, "--clips", "40"), cwd=ROOT, env=env, capture_output=True)
    assert died.returncode == 70, (k, names[k - 1], died.stderr[-500:])
    store = Store(work)
    # killed before the switch to the new version, v1 is still current; after it, the new one is, complete
    assert store.current_id() == (v1 if k - 1 < names.index("current") else ids(trace)), (k, names[k - 1])
    assert open_version(f"{work}@{v1}").id == v1 and verify(f"{work}@{v1}") == []
    assert loader_keys(f"{work}@{v1}") == keys1 and verify(work) == [] and loader_keys(work) == manifest_keys(work)
    rerun = subprocess.run(synth_cmd(work, "--clips", "40"), cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert ids(work) == ids(trace) and version_bytes(work) == version_bytes(trace)
    assert verify(f"{work}@{v1}") == [] and loader_keys(f"{work}@{v1}") == keys1


def test_two_builds_into_one_directory_the_second_refuses_at_once(tmp_path):
    out, gate = tmp_path / "d", tmp_path / "gate"
    gate.touch()   # the first build waits at its first step on disk (holding the lock) until the gate goes
    env = {**os.environ, "VIDSHARD_TEST_FAULT": f"wait:{gate}"}
    first = subprocess.Popen(synth_cmd(out, "--clips", "40"), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and first.poll() is None:
        if (out / LOCK).exists() and "pid" in (out / LOCK).read_text():
            break
        time.sleep(0.05)
    with open(out / LOCK) as f, pytest.raises(BlockingIOError):
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)           # held by the first build
    second = subprocess.run(synth_cmd(out, "--clips", "40", "--seed", "1"), cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 2 and "is being written by another process" in second.stderr
    assert f"pid {first.pid}" in second.stderr and first.poll() is None
    assert not list((out / "store").glob("*")) and not list((out / "tmp").glob("*"))  # nothing written by either yet
    gate.unlink()
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    v_first = ids(out)
    assert synth(out, "--clips", "40", "--seed", "1") == 0       # once the first is done, the second runs
    assert ids(out) != v_first and verify(f"{out}@{v_first}") == [] and verify(out) == []
    assert loader_keys(f"{out}@{v_first}") == manifest_keys(f"{out}@{v_first}")


def test_growing_clips_reuses_full_shards_and_any_version_equals_scratch(tmp_path, capsys):
    assert synth(tmp_path / "d", "--clips", "20") == 0
    capsys.readouterr()
    assert synth(tmp_path / "d", "--clips", "30") == 0
    assert "(4 written, 4 reused, 2 dropped)" in capsys.readouterr().out  # train 16 -> 24, val and test 2 -> 3
    assert synth(tmp_path / "scratch", "--clips", "30") == 0
    assert ids(tmp_path / "d") == ids(tmp_path / "scratch")
    assert version_bytes(tmp_path / "d") == version_bytes(tmp_path / "scratch")
    assert synth(tmp_path / "d", "--clips", "20") == 0           # back to the first set: the same version, nothing written
    assert "(0 written, 6 reused, 4 dropped)" in capsys.readouterr().out and len(Store(tmp_path / "d").version_ids()) == 2


def test_a_memory_url_holds_versions_read_by_id(tmp_path):
    url = f"memory://vidshard-test-{os.getpid()}/d"
    assert synth(url, "--clips", "12") == 0
    v1 = ids(url)
    assert synth(url, "--clips", "20") == 0
    v2 = ids(url)
    assert v1 != v2 and Store(url).current_id() == v2
    assert loader_keys(f"{url}@{v1}") == manifest_keys(f"{url}@{v1}") and len(loader_keys(f"{url}@{v1}")) == 10
    assert verify(f"{url}@{v1}") == [] and verify(url) == []
    assert synth(tmp_path / "local", "--clips", "20") == 0
    assert v2 == ids(tmp_path / "local") and version_bytes(url) == version_bytes(tmp_path / "local")


def test_format_1_reads_and_upgrades_keeping_its_version(tmp_path, capsys):
    root = tmp_path / "old"
    rng = np.random.default_rng(0)
    for name in ("train-000000", "val-000000"):
        with ShardWriter(root, name) as w:
            for i in range(3):
                w.add(f"{name.replace('-', '')}_t0_c{i}", rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8),
                      {"source_id": "s", "source_path": "mem", "track": 0, "clip": i, "frame_indices": [0, 1, 2, 3],
                       "fps": 10.0})
    m = write_manifest(root, name="old", config={"seed": 0}, shard_splits={"train": ["train-000000"],
                                                                            "val": ["val-000000"]})
    assert open_version(f"{root}@{m['version'][:6]}").id == m["version"] and loader_keys(root)
    before = {p.name: p.read_bytes() for p in root.glob("*.tar")}
    assert cli(["upgrade", str(root)]) == 0
    assert ids(root) == m["version"] and verify(root) == [] and Store(root).format() == 2
    assert {p.name: p.read_bytes() for p in root.glob("*.tar")} == before
    assert loader_keys(root, "val") == ["val000000_t0_c0", "val000000_t0_c1", "val000000_t0_c2"]
    assert upgrade(str(root)) == m["version"]                      # again: nothing to do
    # a build into a format-1 directory refuses, naming the command that converts it
    old2 = tmp_path / "old2"
    shutil.copytree(root / "versions" / m["version"], old2)
    for p in old2.iterdir():
        if p.is_symlink():
            data = p.read_bytes()
            p.unlink()
            p.write_bytes(data)
    capsys.readouterr()
    assert synth(old2, "--clips", "8") == 2 and "vidshard upgrade" in capsys.readouterr().err


def test_training_records_its_data_version_and_resume_and_eval_warn_on_another(tmp_path, toy, capsys):
    from trainers.evaluate import main as eval_main
    from trainers.train import main as train_main
    data = tmp_path / "d"
    assert synth(data, "--clips", "24", "--res", "32") == 0
    v1 = ids(data)
    common = ["--workers", "0", "--no-progress", "--threads", "1", "--sample-every", "0"]
    assert train_main([toy, "channels=1", "--data", str(data), *common, "--run-dir", str(tmp_path / "r"),
                       "--steps", "2", "--ckpt-every", "2"]) == 0
    run = json.loads((tmp_path / "r" / "config.json").read_text())
    assert run["dataset"] == {"ref": str(data), "version": v1, "name": "synth-balls", "split": "train"}
    assert synth(data, "--clips", "32", "--res", "32") == 0
    v2 = ids(data)
    capsys.readouterr()
    assert train_main([toy, "--resume", str(tmp_path / "r"), "--steps", "4", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"version {v1}" in err and f"is version {v2}" in err and f"--data {data}@{v1}" in err
    assert eval_main([toy, str(tmp_path / "r"), "--out", str(tmp_path / "e")]) == 0
    assert f"is version {v2}" in capsys.readouterr().err
    assert eval_main([toy, str(tmp_path / "r"), "--data", f"{data}@{v1}", "--out", str(tmp_path / "e1")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert train_main([toy, "channels=1", "--data", f"{data}@nope", *common, "--run-dir", str(tmp_path / "x")]) == 2
    assert "no version or tag 'nope'" in capsys.readouterr().err
