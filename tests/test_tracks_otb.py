"""Tracking quality on real ground truth: the OTB-2013 "Girl" sequence (head boxes on 500 frames).

The smoothing splines must cut the box's frame-to-frame jitter to a third of the raw detector's or less,
without moving the box further from the annotated head. Figures: bench/tracking.py, docs/BENCHMARKS.md.
"""
import pytest

from conftest import require_shared

from pipelines.faces.evaluate import OTB_CONFIG, evaluate_sequence, load_otb


@pytest.fixture(scope="module")
def otb_girl():
    return require_shared("tracking", "otb_girl")


def test_otb_loader_reads_boxes_zero_based(otb_girl):
    paths, gt = load_otb(otb_girl)
    assert len(paths) == len(gt) == 500
    assert gt[0].tolist() == [56.0, 20.0, 31.0, 45.0]   # file says 57 21 31 45 (1-based)


def test_smoothing_cuts_jitter_without_losing_accuracy(otb_girl):
    m, _ = evaluate_sequence(otb_girl, OTB_CONFIG)
    # the detector finds her face on most frames; turned away (back of the head) it cannot
    assert m["detected_frames"] >= 0.8 * m["frames"]
    assert m["covered_frames"] > m["detected_frames"]          # splines fill the missed frames
    assert m["triples"] >= 300
    assert m["jitter_smoothed"] <= m["jitter_raw"] / 3
    assert m["jitter_smoothed_all"] <= m["jitter_raw"] / 3     # the filled frames are smooth too
    assert m["centre_error_smoothed"] <= m["centre_error_raw"]
    assert m["centre_error_debiased_smoothed"] <= m["centre_error_debiased_raw"]
    # the man's face that enters near the end is a track of its own, not counted as hers
    assert m["centre_error_raw"] < 0.3
