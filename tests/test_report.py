"""`vidshard report`: the page of a real (corpus subset) dataset loads in headless Chromium with no console
error and gives a non-blank screenshot; the console capture itself catches errors; a generated dataset of
10^5 clips gives a page under 20 MB; usage errors.

Chromium comes from the system (.ci/run installs it with apt-get); without it these tests skip, and under
CI they fail.
"""
from __future__ import annotations

import io
import os
import re
import runpy
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_shared
from pipelines import prepare as P
from pipelines import report as R

CORPUS = ("036_vexpress_radio10_man.mp4", "040_vtoonify_man.mp4", "065_grid_bbaf2n.mp4")


def need_chromium() -> None:
    if R.chromium() is None:
        msg = "no chromium on PATH (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def dataset(ray_local, tmp_path_factory):
    """A corpus subset (036: a short frame count) and two bad inputs, through `vidshard prepare`."""
    d = tmp_path_factory.mktemp("report")
    inputs = d / "inputs"
    inputs.mkdir()
    for name in CORPUS:
        (inputs / name).symlink_to(require_shared("faces", name))
    (inputs / "zero_bytes.mp4").write_bytes(b"")
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=2:size=320x240:rate=25", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(inputs / "no_face.mp4")], check=True)
    out = d / "faces"
    rc = P.main(["--input", str(inputs), "--out", str(out), "--videos-per-shard", "2", "--no-progress"])
    assert rc == P.EXIT_INPUT_FAILED   # the zero-byte file
    return out


def test_report_of_a_real_dataset_loads_in_chromium(dataset, tmp_path, capsys):
    need_chromium()
    html, png = tmp_path / "report.html", tmp_path / "first_screen.png"
    from vidshard.cli import main as cli
    assert cli(["report", str(dataset), "--out", str(html), "--check", "--screenshot", str(png)]) == 0
    printed = capsys.readouterr().out
    assert "0 console error(s)" in printed
    page = html.read_text()
    from shards import load_manifest
    m = load_manifest(dataset)
    written = m["totals"]["samples"]
    assert written >= 8
    # every written clip is shown (fewer than THUMBS), animated, with its figures on hover
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/webp;base64,', page)) == min(written, R.THUMBS)
    assert page.count("face_px:") >= min(written, R.THUMBS) and "sharpness:" in page
    # every source is listed with its status and reason; 036's short frame count is a warning, not a failure
    for s in m["sources"]:
        assert Path(s["path"]).name in page
    assert "empty file (0 bytes)" in page and "no face detected" in page
    assert "the container says 62 frames, the stream has 61" in page
    assert page.count('<figure class="track">') >= 1 and page.count('<figure class="plot">') >= 5
    # the screenshot is the page, not a blank screen
    from PIL import Image
    img = np.asarray(Image.open(io.BytesIO(png.read_bytes())).convert("RGB"))
    assert img.shape == (2000, 1280, 3) and png.stat().st_size > 50_000
    assert img.std() > 20 and len(np.unique(img.reshape(-1, 3), axis=0)) > 1000


def test_console_errors_are_caught(tmp_path):
    # the check must be able to fail: a script error, a console.error and a missing image are all reported
    need_chromium()
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("boom"); notDefined();</script>'
                   '<img src="missing.png"></body></html>')
    errors = R.check_page(bad)["errors"]
    assert any("boom" in e for e in errors) and any("notDefined" in e for e in errors)
    assert any("ERR_FILE_NOT_FOUND" in e for e in errors)


def test_a_dataset_of_1e5_clips_gives_a_small_page(tmp_path):
    bench = runpy.run_path(str(ROOT / "bench" / "report.py"))
    bench["make_dataset"](tmp_path / "big", 100_000)
    page = R.build(tmp_path / "big")
    size = len(page.encode())
    assert size <= 20 * 2**20, f"{size / 2**20:.1f} MiB"
    assert f"Clips ({R.THUMBS} of " in page and f"A sample of {R.THUMBS} written clips, picked by a hash" in page
    assert len(re.findall(r'src="data:image/webp;base64,', page)) == R.THUMBS
    assert f"the first {R.SOURCE_ROWS} of the" in page   # the sources table is capped, and says so
    if R.chromium() is not None:
        html = tmp_path / "big.html"
        html.write_text(page)
        assert R.check_page(html)["errors"] == []


def test_usage_errors(tmp_path, capsys):
    assert R.main([str(tmp_path / "nothing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert R.main([str(tmp_path)]) == 2
    assert "not a vidshard dataset" in capsys.readouterr().err
    assert R.main([f"{tmp_path}@0123456789abcdef"]) == 2  # a version of a directory that holds none
    assert "not a vidshard dataset" in capsys.readouterr().err


def text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]*>", " ", page).split())


def test_a_version_or_tag_is_reported_as_it_was(tmp_path, capsys):
    """DIR@VERSION and DIR@TAG report that version's clips and shards, not the current ones."""
    from pipelines.synthetic.cli import main as synth
    from shards.store import open_version
    from shards.versions import tag_main
    d = tmp_path / "balls"
    ids = []
    for clips in (8, 12):
        assert synth(["balls", "--out", str(d), "--clips", str(clips), "--frames", "6", "--seed", "0",
                      "--shard-size", "4"]) == 0
        ids.append(open_version(d).id)
    first, current = ids
    assert first != current and tag_main([str(d), "first", first]) == 0
    pages = {ref: R.build(R.version_dir(ref), name=ref) for ref in (str(d), f"{d}@{first[:6]}", f"{d}@first")}
    assert f"version {current}" in pages[str(d)] and f"version {first}" not in pages[str(d)]
    for ref in (f"{d}@{first[:6]}", f"{d}@first"):
        assert f"version {first}" in pages[ref] and f"vidshard report of {ref}." in pages[ref]
        assert "train 6, val 1" in text(pages[ref])  # v1: 8 clips; the current version has 12
    assert "train 10, val 1" in text(pages[str(d)])
    assert R.main([f"{d}@0123456789abcdef"]) == 2
    assert "no version or tag '0123456789abcdef'" in capsys.readouterr().err
    out = tmp_path / "v1.html"
    assert R.main([f"{d}@first", "--out", str(out)]) == 0 and out.read_text() == pages[f"{d}@first"]
