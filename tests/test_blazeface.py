"""BlazeFace on LiteRT (pipelines/faces/blazeface.py) against mediapipe's Tasks API, its reference."""
from __future__ import annotations

import os
import runpy
from pathlib import Path

import numpy as np
import pytest

from pipelines.faces.blazeface import SPECS, BlazeFace, anchor_centres, weighted_nms
from pipelines.faces.model import face_model_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TasksApiDetector = runpy.run_path(str(ROOT / "bench" / "pipeline.py"))["TasksApiDetector"]


def test_anchor_layouts_match_the_models_outputs():
    short, full = anchor_centres(SPECS["short"]), anchor_centres(SPECS["full"])
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # stride 8: a 16x16 grid, 2 anchors a cell, row by row; then the three stride-16 layers, 6 a cell
    assert np.allclose(short[:4], [[1 / 32, 1 / 32]] * 2 + [[3 / 32, 1 / 32]] * 2)
    assert np.allclose(short[512:518], [[1 / 16, 1 / 16]] * 6)
    assert np.allclose(short[-1], [15 / 16, 15 / 16]) and np.allclose(full[-1], [95 / 96, 95 / 96])


def test_weighted_nms_averages_a_cluster_by_score_and_keeps_its_top_score():
    boxes = np.float32([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
    kps = np.zeros((3, 6, 2), np.float32)
    kps[:, 0] = [[5, 5], [6, 6], [55, 55]]
    scores = np.float32([0.6, 0.9, 0.7])
    b, k, s = weighted_nms(boxes, kps, scores, 0.3)
    assert np.allclose(s, [0.9, 0.7])
    assert np.allclose(b[0], [0.6 / 1.5 * 0 + 0.9 / 1.5 * 1, 0.6, 10.6, 10.6])
    assert np.allclose(k[0, 0], [5.6, 5.6]) and np.allclose(b[1], [50, 50, 60, 60])


def test_a_file_that_is_not_the_model_is_refused(tmp_path):
    from pipelines.faces.detect import load_detector
    from pipelines.faces.model import ModelError
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="x.tflite: cannot be loaded"):
        load_detector(bad, 0.5, "short")
    with pytest.raises(ModelError, match="'full' BlazeFace"):   # the short model read as the full one
        load_detector(face_model_path("short", None), 0.5, "full")


def corpus_frames(every_video: int, frames_per_video: int):
    """The detector's copy (longest side 256, as the pipeline makes it) of frames spread over a sample of
    the corpus videos."""
    from pipelines.faces.decode import detect_shape, probe, stream_pictures
    videos = sorted((SHARED / "faces").glob("*.mp4"))
    if not videos:
        if os.environ.get("CI"):
            pytest.fail(f"no corpus videos under {SHARED / 'faces'}")
        pytest.skip("corpus videos not available")
    for path in videos[::every_video]:
        info = probe(path)
        dw, dh = detect_shape(info.width, info.height, 256)
        idx = np.linspace(0, max(info.frames - 1, 0), frames_per_video).astype(int)
        for _, pic in stream_pictures(path, np.unique(idx), warnings=[]):   # a short stream ends early
            yield path.name, pic.small(dw, dh)


@pytest.mark.slow
def test_detections_match_the_tasks_api_on_the_corpus():
    # The same model, preprocessing, decoding and suppression as mediapipe's graph: on frames of every 4th
    # corpus video the same faces, boxes within a pixel of the detector's copy, scores within 0.01.
    ref, ours = TasksApiDetector("short", 0.5), BlazeFace(face_model_path("short", None), "short", 0.5)
    frames = faces = 0
    try:
        for name, image in corpus_frames(every_video=4, frames_per_video=6):
            b0, k0, s0 = ref.detect(image)
            b1, k1, s1 = ours.detect(image)
            assert len(b0) == len(b1), f"{name}: {len(b0)} faces by the Tasks API, {len(b1)} here"
            if len(b0):
                assert np.abs(b0 - b1).max() <= 1, f"{name}: boxes {b0.tolist()} vs {b1.tolist()}"
                assert np.abs(k0 - k1).max() * max(image.shape) <= 0.5 and np.abs(s0 - s1).max() <= 0.01
            frames, faces = frames + 1, faces + len(b0)
    finally:
        ref.close()
    assert frames >= 100 and faces >= 0.8 * frames
