"""`vidshard prepare` end to end on real videos, real Ray, the real face pipeline and real shards.

Covers: the job on ../shared/data/videos (verify passes, crops hold a centred face), determinism
(byte-identical shards after the driver is killed and resumed, and after a worker dies mid-task, and
with the local executor instead of Ray), bad inputs recorded with their reasons, the per-video timeout
(Ray and local), a shard failing past its retries, a remote (fsspec URL) output, and usage errors.
Versions, incremental builds and the per-video cache: tests/test_versions.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_shared
from pipelines import prepare as P
from shards import iter_samples, load_manifest, verify
from shards.store import open_version

# Small and fast, but the real pipeline: detector on every 3rd frame, one video per shard.
FAST = ["--detect-every", "3", "--videos-per-shard", "1", "--no-progress"]


def run_prepare(inputs, out, *extra) -> int:
    argv = [a for i in inputs for a in ("--input", str(i))] + ["--out", str(out), *FAST, *extra]
    return P.main(argv)


def shard_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(root).glob("*.tar"))}


def ffmpeg(*args):
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def videos():
    return require_shared("videos")


@pytest.fixture(scope="module")
def clean(ray_local, videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "faces"
    rc = run_prepare([videos], out)
    return rc, out


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    from pipelines.demo_video import write_demo
    path = tmp_path_factory.mktemp("demo") / "astronaut.mp4"
    write_demo(path, seconds=3.0)
    return path


def test_real_videos_make_a_verified_dataset(clean, videos):
    rc, out = clean
    assert rc == P.EXIT_OK
    assert verify(out) == []
    from shards.manifest import verify_main
    assert verify_main([str(out)]) == 0
    m = load_manifest(out)
    n_videos = len(list(videos.glob("*.mp4")))
    assert len(m["sources"]) == n_videos and m["failures"] == []
    assert {s["status"] for s in m["sources"]} <= {"ok", "no_face"}
    assert sum(s["status"] == "ok" for s in m["sources"]) >= 3
    assert m["totals"]["samples"] == sum(s["clips"] for s in m["sources"]) > 0
    # split by source video: every source in exactly one split, and train is not empty
    assert sorted(s["split"] for s in m["sources"]).count("train") >= 1
    assert sum(len(v["shards"]) for v in m["splits"].values()) == n_videos
    # the resolved config versions the data; where it ran does not
    cfg = m["config"]
    assert cfg["face"]["detect_every"] == 3 and cfg["videos_per_shard"] == 1 and "split" in cfg
    assert not {"workers", "address", "out", "overwrite"} & set(cfg)
    assert {"decord2", "ai-edge-litert", "ray", "dlib-bin"} <= set(m["software"])
    # the quality gates: every clip cut is written or counted under one reason, per source and in total,
    # and each shard's stats list every candidate clip (the report's table)
    q = m["quality"]
    assert q["written"] == m["totals"]["samples"] and q["candidates"] == q["written"] + sum(q["rejected"].values())
    rows = []
    for shard in m["shards"]:
        st = json.loads((out / f"{shard['name']}.stats.json").read_text())
        rows += st["clip_table"]
        assert {r["source"] for r in st["track_table"]} <= {s["id"] for s in st["sources"]}
    assert len(rows) == q["candidates"] and sum(not r["reasons"] for r in rows) == q["written"]
    for s in m["sources"]:
        assert s["candidates"] == s["clips"] + sum(s["rejected"].values())
        assert sum(1 for r in rows if r["key"].startswith(s["id"]) and r["reasons"]) == sum(s["rejected"].values())


def test_clips_hold_a_centred_face(clean):
    """Re-detect faces on upscaled crops: nearly every checked frame has a face near the crop centre."""
    from PIL import Image
    from pipelines.faces.detect import FaceDetector
    _, out = clean
    det = FaceDetector("short", 0.5)
    checked = centred = 0
    for tar in sorted(out.glob("*.tar")):
        for _, frames, meta in iter_samples(tar):
            T = frames.shape[0]
            assert meta["frame_indices"] == sorted(meta["frame_indices"]) and len(meta["frame_indices"]) == T
            for t in (0, T // 2, T - 1):
                img = np.asarray(Image.fromarray(frames[t]).resize((192, 192), Image.Resampling.BICUBIC))
                faces = det.detect(t, img)
                checked += 1
                centred += any(abs(f.cx - 96) < 0.2 * 192 and abs(f.cy - 96) < 0.2 * 192 for f in faces)
    assert checked >= 60
    assert centred / checked >= 0.9, f"{centred}/{checked} checked frames have a centred face"


def test_resume_after_killing_the_driver_is_byte_identical(clean, videos, tmp_path):
    rc, ref = clean
    out = tmp_path / "faces"
    cmd = [sys.executable, "-m", "vidshard", "prepare", "--input", str(videos), "--out", str(out), *FAST,
           "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while not list(out.glob("units/*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started, mid-run
    proc.wait()
    # Ray's workers notice the dead driver within a few seconds; one may complete its shard meanwhile
    # (atomically: the shard into the store, then its unit record). Count once nothing moves any more.
    done = -1
    while done != len(list(out.glob("units/*.json"))):
        done = len(list(out.glob("units/*.json")))
        time.sleep(3)
    assert 1 <= done < len(list(ref.glob("*.tar"))), "the kill did not land mid-run"
    assert not (out / "manifest.json").exists() and not (out / "current").exists()
    resumed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == P.EXIT_OK, resumed.stdout + resumed.stderr
    assert f"({done} already done, skipped)" in resumed.stdout
    assert shard_bytes(out) == shard_bytes(ref)
    assert load_manifest(out)["version"] == load_manifest(ref)["version"]
    assert not list(out.glob("*.tmp"))


def test_videos_run_in_their_own_pool_of_one_process_a_cpu(ray_local, videos, tmp_path):
    # units wait on their videos' tasks; were both in one worker pool, units and videos would swap processes
    # and every process would load the face models in turn. Four units on two CPUs, after the other tests
    # have used this session's Ray: the videos' clips come from at most two processes, all of the video pool
    out = tmp_path / "faces"
    argv = ["--input", str(videos), "--out", str(out), *FAST, "--workers", "2"]
    assert P.prepare(P.build_parser().parse_args(argv), processor="tests.ray_pool_processor:tagged_process_video") == 0
    metas = [meta for tar in sorted(out.glob("*.tar")) for _, _, meta in iter_samples(tar)]
    assert len({m["source_id"] for m in metas}) >= 3
    assert {m["worker_pool"] for m in metas} == {"video"}
    pids = {m["worker_pid"] for m in metas}
    assert len(pids) <= int(ray_local.cluster_resources()["CPU"]), f"videos ran in {len(pids)} processes"


CLUSTER = """
import subprocess, sys
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})   # a head node and a second
cluster.add_node(num_cpus=1)                                              # node: separate raylets
cluster.wait_for_nodes()
try:
    rc = subprocess.call([sys.executable, "-m", "vidshard", "prepare", "--address", cluster.address, *sys.argv[1:]])
finally:
    cluster.shutdown()
sys.exit(rc)
"""


def test_address_joins_a_two_node_cluster_and_writes_the_same_shards(clean, videos, tmp_path):
    # --address: the driver joins a running cluster (here two Ray nodes on this machine, each with its
    # own raylet and workers) instead of starting Ray; units spread over the nodes, and the dataset is the
    # one a local run writes, byte for byte
    rc, ref = clean
    out = tmp_path / "faces"
    run = subprocess.run([sys.executable, "-c", CLUSTER, "--input", str(videos), "--out", str(out), *FAST],
                         cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert run.returncode == P.EXIT_OK, run.stdout[-2000:] + run.stderr[-3000:]
    assert "Connecting to existing Ray cluster" in run.stderr + run.stdout
    assert shard_bytes(out) == shard_bytes(ref)
    assert load_manifest(out)["version"] == load_manifest(ref)["version"]


def test_a_worker_dying_mid_task_is_retried_to_identical_bytes(clean, videos, tmp_path, monkeypatch):
    _, ref = clean
    victim = load_manifest(ref)["splits"]["train"]["shards"][-1]
    out = tmp_path / "faces"
    marker = P.fault_marker(str(out.absolute()), victim)
    marker.unlink(missing_ok=True)
    monkeypatch.setenv(P.FAULT_ENV, f"crash-once:{victim}")
    try:
        assert run_prepare([videos], out) == P.EXIT_OK
        assert marker.exists(), "the injected crash never happened"
    finally:
        marker.unlink(missing_ok=True)
    assert shard_bytes(out) == shard_bytes(ref)
    assert load_manifest(out)["version"] == load_manifest(ref)["version"]


@pytest.fixture(scope="module")
def bad_inputs(astronaut, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "good.mp4").write_bytes(astronaut.read_bytes())
    (d / "zz").mkdir()
    (d / "zz" / "same_bytes.mp4").write_bytes(astronaut.read_bytes())  # a duplicate, one folder down
    (d / "zero_bytes.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes(astronaut.read_bytes()[: astronaut.stat().st_size // 3])
    (d / "text.mp4").write_text("this is a text file, not a video\n")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(d / "audio_only.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", str(d / "no_face.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1:size=320x240:rate=25", "-c:v", "libx264", "-f", "h264",
           str(d / "raw_stream.264"))
    return d


def test_bad_inputs_are_recorded_with_reasons(ray_local, bad_inputs, tmp_path, capsys):
    out = tmp_path / "faces"
    rc = run_prepare([bad_inputs], out, "--videos-per-shard", "4")
    printed = capsys.readouterr().out
    assert rc == P.EXIT_INPUT_FAILED
    m = load_manifest(out)
    assert verify(out) == []
    by_name = {Path(s["path"]).name: s for s in m["sources"]}
    assert len(by_name) == 7
    assert by_name["good.mp4"]["status"] == "ok" and by_name["good.mp4"]["clips"] > 0
    assert by_name["good.mp4"]["duplicates"] == [str(bad_inputs / "zz" / "same_bytes.mp4")]  # done once
    assert by_name["no_face.mp4"]["status"] == "no_face" and by_name["no_face.mp4"]["frames"] == 50
    expected = {"zero_bytes.mp4": "empty", "text.mp4": "not a readable video",
                "audio_only.mp4": "no video stream", "raw_stream.264": "raw H.264"}
    # the demo's index comes first: 13 frames of its first third decode (too few for a clip here), a warning
    cut = by_name["truncated.mp4"]
    assert cut["status"] in ("ok", "no_face") and 0 < cut["frames"] < 75
    assert len(cut["warnings"]) == 1 and cut["warnings"][0].startswith("truncated: ")
    assert f"WARNING   {cut['path']}: {cut['warnings'][0]}" in printed
    failures = {Path(f["source"]).name: f["reason"] for f in m["failures"]}
    assert set(failures) == set(expected)
    for name, words in expected.items():
        assert by_name[name]["status"] == "failed" and words in failures[name]
        assert f"FAILED    {by_name[name]['path']}: {failures[name]}" in printed
    assert "no_face.mp4" in printed and f"{1 + (cut['status'] == 'no_face')} without a usable face" in printed
    # every clip written comes from the good video or the readable part of the truncated one, and all
    # their clips are there
    keys = [k for tar in sorted(out.glob("*.tar")) for k, _, _ in iter_samples(tar)]
    assert len(keys) == by_name["good.mp4"]["clips"] + cut["clips"]
    assert all(k.startswith((by_name["good.mp4"]["id"], cut["id"])) for k in keys)


def test_a_hung_video_times_out_and_is_recorded(ray_local, astronaut, tmp_path, monkeypatch, capsys):
    from vidshard.io import sha256_file
    vid = sha256_file(astronaut)[:16]
    monkeypatch.setenv(P.FAULT_ENV, f"hang:{vid}")
    out = tmp_path / "faces"
    assert run_prepare([astronaut], out, "--video-timeout", "4") == P.EXIT_INPUT_FAILED
    m = load_manifest(out)
    assert [f["reason"] for f in m["failures"]] == ["timed out after 4 s"]
    assert "timed out after 4 s" in capsys.readouterr().out


def test_a_shard_failing_past_its_retries_is_named_and_others_kept(ray_local, astronaut, bad_inputs, tmp_path,
                                                                    monkeypatch, capsys):
    out = tmp_path / "faces"
    monkeypatch.setenv(P.FAULT_ENV, "crash:train-000000")
    rc = run_prepare([astronaut, bad_inputs / "no_face.mp4"], out, "--retries", "1", "--split", "1,1,1")
    printed = capsys.readouterr().out
    assert rc == P.EXIT_SHARD_FAILED
    assert "SHARD FAILED train-000000" in printed and "no version written" in printed
    assert not (out / "manifest.json").exists() and not (out / "train-000000.tar").exists()
    # the other shard is stored and recorded: a rerun reuses it
    assert len(list(out.glob("units/*.json"))) == 1 and len(list(out.glob("store/*.tar"))) == 1


def test_remote_output_is_uploaded_shard_by_shard(ray_local, astronaut, tmp_path):
    remote = tmp_path / "bucket" / "faces"
    rc = run_prepare([astronaut], f"local://{remote}", "--staging", str(tmp_path / "staging"))
    assert rc == P.EXIT_OK
    assert (remote / "manifest.json").exists() and verify(remote) == [] and verify(f"local://{remote}") == []
    assert load_manifest(remote)["totals"]["samples"] > 0
    version = open_version(f"local://{remote}")
    assert (remote / "current").read_text().strip() == version.id == load_manifest(remote)["version"]
    # staging keeps no tar once it is uploaded: a big job's node (or the driver) never holds the dataset
    assert not list((tmp_path / "staging").glob("*.tar"))
    # ...and the clips follow the demo's known face track (ground truth written beside the video)
    truth = json.loads(astronaut.with_suffix(".json").read_text())["boxes"]
    errors = []
    for shard in version.manifest["shards"]:
        for _, _, meta in iter_samples(remote / shard["object"]):
            for t, (x, y, w, h) in zip(meta["frame_indices"], meta["boxes_smoothed"]):
                x0, y0, x1, y1 = truth[t]
                errors.append(np.hypot(x + w / 2 - (x0 + x1) / 2, y + h / 2 - (y0 + y1) / 2) / (x1 - x0))
    assert len(errors) >= 64
    assert np.median(errors) < 0.1 and max(errors) < 0.25, (np.median(errors), max(errors))


def test_summary_accounts_for_every_clip_and_warning():
    records = [{"path": "a.mp4", "status": "ok", "frames": 100, "clips": 5, "candidates": 8,
                "rejected": {"face_check": 2, "coverage": 1}},
               {"path": "b.mp4", "status": "ok", "frames": 61, "clips": 3, "candidates": 3, "rejected": {},
                "warnings": ["frame count: the container says 62 frames, the stream has 61 (clips from those 61)"]},
               {"path": "c.mp4", "status": "no_face", "frames": 50, "clips": 0, "candidates": 2,
                "rejected": {"small": 2}, "note": "every clip was dropped by the quality gates: small 2"}]
    lines = P.summarize([1], records, {}, 0, 1.0, "out")
    assert "8 clips written of 13 cut (5 dropped by the quality gates: small 2, coverage 1, face_check 2)" in lines[0]
    assert "  WARNING   b.mp4: frame count: the container says 62 frames, the stream has 61 (clips from those 61)" in lines
    assert "  no face   c.mp4: every clip was dropped by the quality gates: small 2" in lines
    assert P.quality_totals(records) == {"candidates": 13, "written": 8, "warnings": 1,
                                         "rejected": {"face_check": 2, "coverage": 1, "small": 2}}


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert P.main(["--input", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")]) == P.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.mp4: no such file" in err
    (tmp_path / "v.mp4").write_bytes(b"x")
    assert P.main(["--input", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "o"), "--split", "1,2"]) == P.EXIT_USAGE
    assert "--split" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_help_documents_flags_exit_codes_and_examples(capsys):
    with pytest.raises(SystemExit):
        P.main(["--help"])
    text = capsys.readouterr().out
    for needle in ("--detect-every", "--gray", "--min-face", "--video-timeout", "--videos-per-shard", "--address",
                   "exit status", "examples", "s3://"):
        assert needle in text


def test_rerun_skips_done_shards_overwrite_and_new_config_redo_them(ray_local, astronaut, tmp_path, capsys):
    out = tmp_path / "faces"
    assert run_prepare([astronaut], out) == P.EXIT_OK
    first = shard_bytes(out)
    capsys.readouterr()
    assert run_prepare([astronaut], out) == P.EXIT_OK
    assert "(1 already done, skipped)" in capsys.readouterr().out
    assert run_prepare([astronaut], out, "--overwrite") == P.EXIT_OK
    assert "(0 already done, skipped)" in capsys.readouterr().out and shard_bytes(out) == first
    version = load_manifest(out)["version"]
    assert run_prepare([astronaut], out, "--size", "32") == P.EXIT_OK  # another config: nothing is reused
    assert "(0 already done, skipped)" in capsys.readouterr().out
    m = load_manifest(out)
    assert m["version"] != version and m["parent"] == version and m["config"]["face"]["size"] == 32
    _, frames, _ = next(iter_samples(out / "train-000000.tar"))
    assert frames.shape[1:3] == (32, 32)


def test_local_executor_writes_the_bytes_ray_writes(clean, videos, tmp_path):
    _, ref = clean
    out = tmp_path / "faces"
    assert run_prepare([videos], out, "--executor", "local", "--workers", "2") == P.EXIT_OK
    assert shard_bytes(out) == shard_bytes(ref)
    assert load_manifest(out)["version"] == load_manifest(ref)["version"]


def test_local_executor_kills_a_hung_video_and_goes_on(astronaut, bad_inputs, tmp_path, monkeypatch, capsys):
    from vidshard.io import sha256_file
    vid = sha256_file(astronaut)[:16]
    monkeypatch.setenv(P.FAULT_ENV, f"hang:{vid}")
    out = tmp_path / "faces"
    # the limit also bounds the other video, which starts a fresh process (imports, models): 4 s was too
    # little for it on a loaded machine
    rc = run_prepare([astronaut, bad_inputs / "no_face.mp4"], out, "--video-timeout", "12", "--executor", "local",
                     "--workers", "1")
    assert rc == P.EXIT_INPUT_FAILED
    m = load_manifest(out)
    assert [f["reason"] for f in m["failures"]] == ["timed out after 12 s"]
    # the killed process was replaced: the other video ran in a fresh one
    assert [s["status"] for s in m["sources"] if s["path"].endswith("no_face.mp4")] == ["no_face"]
