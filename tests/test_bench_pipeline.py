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
