"""bench/pipeline.py's own arithmetic: the CPU of a process tree and the per-size-class table."""
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = runpy.run_path(str(ROOT / "bench" / "pipeline.py"))


def test_tree_cpu_counts_the_children_of_the_command():
    # a command whose child burns CPU: the child's seconds must be counted (a Ray worker is such a child)
    burn = "import time; t = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    cmd = [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"]
    proc = subprocess.Popen(cmd)
    tree = BENCH["TreeCPU"](proc.pid, every=0.05)
    proc.wait()
    by_kind = tree.stop()
    assert by_kind["ray services"] >= 0.45          # the child (not named ray::...), seen before it exited
    assert sum(by_kind.values()) < 2.0


def test_per_class_sums_frames_and_cpu_by_longest_side():
    info = {"a": {"frames": 100, "width": 256, "height": 144}, "b": {"frames": 300, "width": 1920, "height": 1080},
            "c": {"frames": 100, "width": 480, "height": 640}}
    out = BENCH["per_class"](info, {"a": 0.1, "b": 0.9, "c": 0.2})
    assert list(out) == ["<= 256", "257-844", "> 1280 (1080p)"]
    assert out["<= 256"] == {"videos": 1, "frames": 100, "cpu_ms_per_frame": 1.0}
    assert out["> 1280 (1080p)"]["cpu_ms_per_frame"] == 3.0 and out["257-844"]["cpu_ms_per_frame"] == 2.0


def test_face_check_summary_counts_settled_clips_scans_and_changed_decisions():
    # scores: the middle crop first, then the others; None = no centred face in that crop
    summary = runpy.run_path(str(ROOT / "bench" / "face_check.py"))["summary"]
    rows = [{"video": "a", "scores": [1.3, 0.9, 1.1]},      # settled by the middle at T <= 1.3
            {"video": "b", "scores": [0.6, 0.4, 0.7]},      # settled at T <= 0.6
            {"video": "c", "scores": [1.6, None, 1.0]},     # dropped by the full check, kept by a shortcut at T <= 1.6
            {"video": "d", "scores": [None, 1.2, 1.4]}]     # dropped whatever T
    out = summary(rows)
    assert out["clips_checked"] == 4 and out["dropped_by_full_check"] == 2
    at1 = out["by_threshold"]["1.0"]
    assert at1 == {"settled_share": 0.5, "decisions_changed": 1, "changed_videos": ["c"], "scans_per_clip": 2.0}
    assert out["by_threshold"]["0.5"]["settled_share"] == 0.75 and out["by_threshold"]["0.5"]["scans_per_clip"] == 1.5


def test_report_splits_the_whole_run_target_into_decode_run_overhead_and_face_work():
    # 1,000 frames; naive 3.0 s -> target 1.0 ms a frame; decode 0.4 ms; the run spends 0.3 ms beyond its tasks
    info = {"a": {"frames": 600, "width": 256, "height": 144}, "b": {"frames": 400, "width": 1920, "height": 1080}}
    run = lambda cpu, tasks: (10.0, {"wall": 5.0, "cpu": cpu, "fixed": 3.0,  # noqa: E731
                                     "cpu_by_process": {"command": 0.1, "ray workers": cpu - 0.3, "ray services": 0.2},
                                     "task_cpu": tasks})
    runs = {"ffmpeg": [(1.0, {"a": 0.1, "b": 0.3})] * 2, "decode": [(1.0, {"a": 0.1, "b": 0.3})] * 2,
            "naive": [(5.0, {"a": 1.0, "b": 2.0})] * 2,
            "vidshard": [run(1.3, {"a": 0.4, "b": 0.6}), run(1.5, {"a": 0.5, "b": 0.7})]}
    res = BENCH["report"](info, runs, 2)
    assert res["cpu_ms_per_frame"]["decode"] == 0.4
    fl = res["floor_ms_per_frame"]
    assert fl["target"] == 1.0 and fl["decode"] == 0.4
    assert abs(fl["beyond_tasks"] - 0.3) < 1e-9               # median of 1.3 - 1.0 and 1.5 - 1.2
    # the tasks: 0.45 + 0.65 s (the median per video) = 1.1 ms a frame, less the decode
    assert abs(fl["left_for_face_work"] - 0.3) < 1e-9 and abs(fl["face_work_now"] - 0.7) < 1e-9
    assert res["classes"]["decode"]["<= 256"]["cpu_ms_per_frame"] == round(1000 * 0.1 / 600, 3)


def test_spy_table_gives_each_sample_under_the_timed_loop_to_its_innermost_stage(tmp_path):
    loop = "<module> (bench/pipeline.py:9);_video_work (bench/pipeline.py:1);process_video (pipelines/faces/video.py:3)"
    raw = tmp_path / "x.raw"
    raw.write_text("\n".join([
        f"{loop};FaceTracking.feed (pipelines/faces/video.py:5);FaceDetector.detect (pipelines/faces/detect.py:7) 6",
        # two stages on one stack: the innermost (the descriptor) takes the sample, not the tracking around it
        f"{loop};Associator.step (pipelines/faces/tracks.py:6);descriptor (pipelines/faces/identity.py:2) 2",
        f"{loop};stream_pictures (pipelines/faces/decode.py:4);_decode (pipelines/faces/decode.py:8) 1",
        f"{loop};FramePool.put (pipelines/faces/video.py:2) 1",
        "<module> (bench/pipeline.py:9);process_video (pipelines/faces/video.py:3);"
        "FaceDetector.detect (pipelines/faces/detect.py:7) 50",   # the warm-up video: not counted
    ]) + "\n")
    out = BENCH["spy_stages"](raw)
    assert out["BlazeFace"] == 0.6 and out["identity descriptors"] == 0.2
    assert out["decode (PyAV, planes)"] == 0.1 and out["other (Python, pool, bookkeeping)"] == 0.1
    assert abs(sum(out.values()) - 1) < 1e-9
