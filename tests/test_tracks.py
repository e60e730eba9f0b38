"""Unit tests of association, splitting, smoothing, crops and clip cutting on synthetic detections.

No model and no video: these pin down the tracking logic itself, fast. The whole-track fit
(tests/tracking_oracle.py) is the reference the streaming pieces the pipeline runs (WindowSmoother,
TrackClips) are checked against.
"""
import numpy as np
import pytest

from pipelines.faces.config import FaceConfig
from pipelines.faces.crops import crop_square
from pipelines.faces.decode import sample_indices
from pipelines.faces.detect import Detection
from pipelines.faces.tracks import CutDetector, DetectSchedule, Track, steady
from conftest import ROOT, require_shared
from tracking_oracle import associate, build_tracks, clip_spans, face_crop, smooth_track, valid_runs

RNG = np.random.default_rng(0)


def det(t, cx, cy, size, score=0.9):
    return Detection(t, cx - size / 2, cy - size / 2, size, size, score)


def by_frame(dets):
    frames = {}
    for d in dets:
        frames.setdefault(d.t, []).append(d)
    return sorted(frames.items())


def test_association_keeps_two_faces_apart():
    # two faces moving towards each other and back, close (1.2 sizes apart at their nearest), with jitter
    dets = []
    for t in range(0, 60, 2):
        gap = 60 - 40 * np.sin(np.pi * t / 60)  # 60 px apart, down to 20 px... never overlapping boxes
        for side, cy in ((-1, 100), (1, 110)):
            dets.append(det(t, 200 + side * (gap / 2 + 25) + RNG.normal(0, 1), cy + RNG.normal(0, 1), 50))
    tracks = associate(by_frame(dets), cuts=[], max_gap=12, iou_match=0.2)
    assert len(tracks) == 2
    for tr in tracks:
        assert len(tr.dets) == 30
        sides = {np.sign(d.cx - 200) for d in tr.dets}
        assert len(sides) == 1, "a track jumped from one face to the other"


def test_gap_longer_than_max_gap_splits():
    dets = [det(t, 100, 100, 40) for t in range(0, 20, 2)] + [det(t, 100, 100, 40) for t in range(34, 50, 2)]
    # last detection before the gap at frame 18, next at 34: a 16-frame gap
    assert len(associate(by_frame(dets), [], max_gap=12, iou_match=0.2)) == 2
    assert len(associate(by_frame(dets), [], max_gap=16, iou_match=0.2)) == 1


def test_scene_cut_splits_a_track():
    dets = [det(t, 100, 100, 40) for t in range(0, 40, 2)]
    tracks = associate(by_frame(dets), cuts=[21], max_gap=12, iou_match=0.2)
    assert [(tr.dets[0].t, tr.dets[-1].t) for tr in tracks] == [(0, 20), (22, 38)]


def test_cut_detector_fires_on_a_cut_only():
    # a slowly panning smooth scene (like real footage), then a different scene
    from PIL import Image

    def scene():
        small = RNG.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        return np.asarray(Image.fromarray(small).resize((80, 60), Image.BILINEAR))
    base, other = scene(), scene()
    frames = [np.roll(base, t, axis=1) for t in range(10)] + [np.roll(other, t, axis=1) for t in range(10)]
    cd = CutDetector(FaceConfig().scene_cut)
    fired = [t for t, f in enumerate(frames) if cd.feed(t, f)]
    assert fired == [10]


def test_outlier_is_rejected_and_smoothed_box_stays_on_the_face():
    ts = np.arange(0, 80, 2)
    truth = lambda t: 200 + 60 * np.sin(t / 15)
    dets = [det(int(t), truth(t) + RNG.normal(0, 1.5), 150 + RNG.normal(0, 1.5), 60 * np.exp(RNG.normal(0, 0.02)))
            for t in ts]
    dets[20] = det(40, truth(40) + 25, 150, 60)   # a false detection 0.4 face sizes off (~16 sigma)
    tr = associate(by_frame(dets), [], max_gap=12, iou_match=0.2)
    assert len(tr) == 1
    s = smooth_track(tr[0], smooth=4.0, outlier=3.0)
    assert s.outliers == {40}
    assert abs(s.cx[40 - s.t0] - truth(40)) < 3.0
    # and without rejection the same spline is pulled towards the outlier
    s_no = smooth_track(tr[0], smooth=4.0, outlier=1e9)
    assert abs(s_no.cx[40 - s_no.t0] - truth(40)) > 2 * abs(s.cx[40 - s.t0] - truth(40))


def test_spline_fills_missed_detections_close_to_truth():
    truth_x = lambda t: 300 + 80 * np.sin(t / 20)
    truth_s = lambda t: 80 + 10 * np.cos(t / 25)
    ts = [t for t in range(0, 100, 2) if not 41 <= t <= 49]  # detector misses frames 41..49
    dets = [det(t, truth_x(t) + RNG.normal(0, 1), 200 + RNG.normal(0, 1), truth_s(t)) for t in ts]
    s = smooth_track(associate(by_frame(dets), [], 12, 0.2)[0], smooth=4.0, outlier=3.0)
    for t in range(41, 50):
        assert abs(s.cx[t - s.t0] - truth_x(t)) < 0.05 * truth_s(t)
        assert abs(s.size[t - s.t0] / truth_s(t) - 1) < 0.05


@pytest.mark.parametrize("n", [5, 6, 12, 40])   # scipy needs 5 points
def test_smoothing_spline_equals_scipys(n):
    # the hand-written Reinsch solve against scipy's make_smoothing_spline, which it replaces for speed:
    # uneven spacing, several columns at once, weak and strong penalties, evaluated past both ends
    from scipy.interpolate import make_smoothing_spline
    from pipelines.faces.tracks import smoothing_spline
    t = np.sort(RNG.choice(np.arange(300), n, replace=False)).astype(float)
    y = RNG.normal(size=(n, 3)).cumsum(0)
    t_eval = np.arange(t[0] - 3, t[-1] + 4)
    for lam in (0.1, 64.0, 1e4):
        want = make_smoothing_spline(t, y, lam=lam)(t_eval)
        assert np.allclose(smoothing_spline(t, y, lam, t_eval), want, rtol=0, atol=1e-9 * (1 + np.abs(want).max()))
        assert np.allclose(smoothing_spline(t, y[:, 1], lam, t_eval), want[:, 1], rtol=0, atol=1e-8)


def test_assignment_equals_scipys_and_a_single_face_never_imports_it():
    # one open track or one detection is an argmin (ties to the first, as scipy's); the scipy route is
    # only taken with two of each, and a worker on single-face videos never imports scipy at all
    import subprocess
    import sys
    from scipy.optimize import linear_sum_assignment
    from pipelines.faces.tracks import assignment
    for shape in [(1, 1), (1, 4), (3, 1), (2, 3), (4, 2)]:
        for cost in (RNG.random(shape), RNG.integers(0, 2, shape).astype(float)):
            want = linear_sum_assignment(cost)
            got = assignment(cost)
            assert all(np.array_equal(a, b) for a, b in zip(got, want)), (cost, got, want)
    video = require_shared("videos") / "talking_head_man.mp4"
    code = ("import sys; from pipelines.faces.video import process_video; "
            f"n = sum(1 for _ in process_video({str(video)!r}, 'x')); "
            "print(n, any(m.split('.')[0] == 'scipy' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.split()
    assert int(out[0]) > 0 and out[1] == "False"


def test_smoothing_reduces_jitter_and_never_extrapolates():
    ts = np.arange(10, 90, 2)
    dets = [det(int(t), 100 + 0.5 * t + RNG.normal(0, 3), 100 + RNG.normal(0, 3), 50) for t in ts]
    s = smooth_track(associate(by_frame(dets), [], 12, 0.2)[0], smooth=4.0, outlier=3.0)
    assert (s.t0, s.t1) == (10, 88)   # first to last detection, not one frame more
    raw = np.array([d.cx for d in dets])
    assert np.abs(np.diff(s.cx[::2], 2)).mean() < np.abs(np.diff(raw, 2)).mean() / 3


def test_single_spurious_detection_gives_no_track():
    cfg = FaceConfig()
    assert build_tracks([(0, [det(0, 50, 50, 30)])], [], cfg) == []


def test_crop_at_border_is_padded_and_padding_recorded():
    frame = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    crop, pad = crop_square(frame, -5, 30, 20)      # 5 px off the left, 10 px off the bottom
    assert pad == (5, 0, 0, 10)
    assert crop.shape == (20, 20, 3)
    assert np.array_equal(crop[:10, 5:], frame[30:40, 0:15])
    assert not crop[:, :5].any() and not crop[10:].any()
    inside, pad_in = crop_square(frame, 10, 5, 20)
    assert pad_in == (0, 0, 0, 0) and np.array_equal(inside, frame[5:25, 10:30])


def test_face_crop_follows_config():
    frame = np.full((100, 100, 3), 200, np.uint8)
    s = smooth_track(associate(by_frame([det(t, 10, 50, 40) for t in range(0, 10, 2)]), [], 12, 0.2)[0], 4.0, 3.0)
    crop, pad = face_crop(frame, s, 4, FaceConfig(size=32, gray=True, margin=1.5))
    assert crop.shape == (32, 32, 1) and crop.dtype == np.uint8
    assert pad == (20, 0, 0, 0)   # side 60 centred at x=10: 20 px off the left edge
    assert crop[:, :8].max() == 0 and crop[:, 16:].min() == 200


def test_clips_drop_short_tracks_and_small_faces():
    def track(n, size):
        return smooth_track(associate(by_frame([det(t, 100, 100, size) for t in range(0, n, 2)]), [], 12, 0.2)[0],
                            4.0, 3.0)
    assert clip_spans(track(15, 40), 16, None, 24) == []              # 15 frames < one clip
    assert clip_spans(track(40, 40), 16, None, 24) == [(0, 15), (16, 31)]
    assert clip_spans(track(40, 40), 16, 8, 24) == [(0, 15), (8, 23), (16, 31)]
    assert clip_spans(track(40, 20), 16, None, 24) == []              # face smaller than min_face
    assert valid_runs(track(40, 40), 24) == [(0, 38)]


def test_fps_resampling_picks_source_frames():
    assert sample_indices(10, 25.0, None).tolist() == list(range(10))
    assert sample_indices(10, 25.0, 12.5).tolist() == [0, 2, 4, 6, 8]
    assert sample_indices(9, 30.0, 20.0).tolist() == [0, 1, 3, 4, 6, 7]
    assert sample_indices(5, 25.0, 50.0).tolist() == list(range(5))   # never invent frames


@pytest.mark.parametrize("bad, match", [({"nope": 1}, "nope"), ({"detector": "long"}, "detector"),
                                        ({"detect_every": 0}, "detect_every"), ({"frames": 2.5}, "frames"),
                                        ({"fps": -1.0}, "fps"), ({"margin": 0}, "margin")])
def test_config_rejects_bad_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        FaceConfig.from_dict(bad)
    assert FaceConfig.from_dict(FaceConfig().to_dict()) == FaceConfig()


def windowed(track, smooth, outlier, block=32, margin=24):
    """Feed a whole track's detections to WindowSmoother one at a time, as the video pipeline does."""
    from pipelines.faces.tracks import Track, WindowSmoother
    live = Track(track.id, [track.dets[0]])
    sm, out = WindowSmoother(live, smooth, outlier, block, margin), []
    for d in track.dets[1:]:
        live.dets.append(d)
        out += sm.ready()
    return out + sm.close()


def test_windowed_smoothing_matches_the_whole_track_fit():
    # a long track with jitter, missed frames and one false detection: frames come out in order, once
    # each, spanning the accepted detections, within 1% of the face size of the whole-track fit
    truth_x = lambda t: 300 + 80 * np.sin(t / 20)
    ts = [t for t in range(0, 300, 2) if not 101 <= t <= 109]
    dets = [det(t, truth_x(t) + RNG.normal(0, 2), 200 + RNG.normal(0, 2), 80 * np.exp(RNG.normal(0, 0.02)))
            for t in ts]
    dets[60] = det(dets[60].t, truth_x(dets[60].t) + 40, 200, 80)
    tr = associate(by_frame(dets), [], 12, 0.2)[0]
    whole = smooth_track(tr, smooth=1.0, outlier=3.0)
    frames = windowed(tr, 1.0, 3.0)
    assert [fb.t for fb in frames] == list(range(whole.t0, whole.t1 + 1))
    assert {fb.t for fb in frames if fb.outlier} == whole.outliers == {dets[60].t}
    for fb in frames:
        i = fb.t - whole.t0
        assert abs(fb.cx - whole.cx[i]) < 0.01 * whole.size[i] and abs(fb.cy - whole.cy[i]) < 0.01 * whole.size[i]
        assert abs(fb.size / whole.size[i] - 1) < 0.01
        assert fb.raw is tr.dets[[d.t for d in tr.dets].index(fb.t)] if fb.t in ts else fb.raw is None


@pytest.mark.parametrize("stride", [None, 8, 20])
def test_streaming_clip_cutting_matches_clip_spans(stride):
    # the video pipeline cuts candidate clips frame by frame as a track's boxes become final (TrackClips);
    # those not marked small must be exactly clip_spans' clips, also across a face too small to keep
    from pipelines.faces.tracks import FrameBox
    from pipelines.faces.video import TrackClips
    from pipelines.faces.decode import RgbPicture
    sizes = lambda t: 20 if 50 <= t < 56 else 40     # below min_face for 6 frames: two runs
    tr = smooth_track(associate(by_frame([det(t, 100, 100, sizes(t)) for t in range(0, 120, 2)]), [], 12, 0.2)[0],
                      0.0, 1e9)
    cfg = FaceConfig(frames=16, stride=stride, min_face=24, size=8)
    cutter, got = TrackClips(tr.id, cfg), []
    frame = RgbPicture(np.full((200, 200, 3), 7, np.uint8))
    for t in range(tr.t0, tr.t1 + 1):
        i = t - tr.t0
        for clip in cutter.add(FrameBox(t, tr.cx[i], tr.cy[i], tr.size[i], None, False), frame, t % 4 == 0):
            assert clip.attempted == [f % 4 == 0 for f in range(clip.boxes[0].t, clip.boxes[-1].t + 1)]
            if clip.small:
                assert any(fb.size < 24 for fb in clip.boxes)
                continue
            got.append((clip.boxes[0].t, clip.boxes[-1].t))
            assert clip.frames.shape == (16, 8, 8, 3) and (clip.frames == 7).all()
    assert got == clip_spans(tr, 16, stride, 24) and len(got) >= 3


def _track(*boxes):
    """A track of detections (t, cx, cy, size), square boxes."""
    return Track(0, [Detection(t, cx - s / 2, cy - s / 2, s, s, 0.9) for t, cx, cy, s in boxes])


def test_detect_schedule_slows_down_on_steady_faces_only():
    sched = DetectSchedule(every=4, steady=8)
    still = _track((0, 100, 100, 50), (4, 100.5, 100, 50), (8, 100.5, 100.5, 50))   # 0.25% of its size a frame
    moving = _track((0, 100, 100, 50), (4, 100, 100, 50), (8, 104, 100, 50))       # then 2% a frame
    growing = _track((0, 100, 100, 50), (4, 100, 100, 50), (8, 100, 100, 54))      # log size 1.9% a frame
    started = _track((0, 100, 100, 50), (4, 104, 100, 50), (8, 104, 100, 50))      # moved, then held still once
    assert steady(still) and not steady(moving) and not steady(growing) and not steady(started)
    assert not steady(_track((0, 100, 100, 50), (4, 100, 100, 50)))     # one interval is not enough to tell
    for tracks, due in (([still], 12), ([still, moving], 8), ([], 8), ([moving], 8)):
        sched.update(4, tracks)
        assert sched.next == due
    missed = _track((0, 100, 100, 50), (2, 100, 100, 50))           # open, not found at frame 4
    sched = DetectSchedule(every=4, retry=1, steady=8)
    sched.update(4, [still, missed])
    assert sched.next == 5
    # a scene cut brings the next attempt within `every` frames, and never postpones it
    sched.update(4, [still])
    sched.cut(6)
    assert sched.next == 10
    sched.cut(9)
    assert sched.next == 10
    # the fixed schedule (steady = every) is the schedule without the steady rule
    fixed = DetectSchedule(every=4)
    fixed.update(4, [still])
    assert fixed.steady == 4 and fixed.next == 8


def test_steady_interval_follows_the_detector_and_never_undercuts_every():
    assert FaceConfig().steady_interval() == 8 and FaceConfig().detect_interval() == 4
    assert FaceConfig(detect_every=3).steady_interval() == 6
    assert FaceConfig(detector="full").steady_interval() == FaceConfig(detector="full").detect_interval() == 2
    assert FaceConfig(detect_every=6, detect_steady=2).steady_interval() == 6
    with pytest.raises(ValueError, match="detect_steady"):
        FaceConfig(detect_steady=0)
