"""Quality gates, identity-safe tracks and lenient decoding (issue 14) on real footage.

- the gates' units (no video): figures, reasons and their order, settings checked;
- the shared videos with both detectors: an independent face detector (OpenCV's Haar cascades, which
  neither BlazeFace nor the gates' dlib HOG check use) finds a centred face in >= 95% of every source's crop
  frames; no foreman clip after frame 190; every clip cut is written or counted by reason; the talking
  head and head turns videos keep at least 17 of their 18 clips;
- a corpus subset (one of each kind of footage, 036 among them) with both detectors: every video gives
  clips, the independent check holds per source, 036's short frame count is a warning;
- identity: a hard cut (with the cut detector off), the same cut in dim light (which the cut detector
  misses), a cross-fade, a wipe and "one person leaves, another arrives at the same place" between two
  real people: no track holds both, and without the identity check the
  same videos do give a mixed track (so the test can fail).
Test videos are made at test time from ../shared/data with imageio-ffmpeg; nothing is copied in.
"""
from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from conftest import require_shared

from pipelines.faces.config import FaceConfig
from pipelines.faces.evaluate import independent_face_check
from pipelines.faces.quality import (REASONS, CropCheck, cheap_reasons, check_positions, clip_quality, face_figures,
                                     padded_fraction)
from pipelines.faces.video import process_video

SHARED = ("talking_head_man.mp4", "head_turns_glasses.mp4", "foreman_face_leaves.mp4", "crowd_1080p.mp4")
# one of each kind of corpus footage: HDTF crop with a short frame count (036), MPEG-4 Part 2 (018), VFR
# (023), a tight close-up (034), 1080p wide shot (053), 224-px VoxCeleb crop (043), GRID (065), 10 fps (077)
CORPUS = ("036_vexpress_radio10_man.mp4", "018_sadtalker_blonde_bob.mp4", "023_retalk_man_suit.mp4",
          "034_iplap_woman_tight.mp4", "053_mead_m003.mp4", "043_pcavs_studio_man.mp4", "065_grid_bbaf2n.mp4",
          "077_lia_redhead_woman.mp4")


def ffmpeg(*args):
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *map(str, args)], check=True)


def run(path, cfg: FaceConfig):
    stats = {}
    return [(f, m) for _, f, m in process_video(path, path.stem[:12], cfg, stats=stats)], stats


def independent_rate(clips) -> float:
    return float(np.mean([independent_face_check(f) for frames, _ in clips for f in frames]))


# ------------------------------------------------------------------------------------------------ units

def test_figures_and_reasons():
    assert padded_fraction((0, 0, 0, 0), 100) == 0.0
    assert padded_fraction((50, 0, 0, 0), 100) == 0.5 and padded_fraction((50, 50, 0, 0), 100) == 0.75
    flat = np.full((40, 40), 90, np.uint8)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (40, 40), dtype=np.uint8)
    assert face_figures(flat) == (0.0, 0.0, 90.0) and face_figures(noise)[0] > 1000
    lap = cv2.Laplacian(noise, cv2.CV_32F).astype(np.float64)   # numpy's figures, in double precision
    assert np.allclose(face_figures(noise), (lap.var(), noise.std(), noise.mean()), rtol=1e-9)
    assert check_positions(16, 3) == [0, 8, 15] and check_positions(16, 1) == [8] and check_positions(16, 0) == []
    cfg = FaceConfig()
    frames = np.full((16, 64, 64, 3), 30, np.uint8)   # a dark flat blob
    q = clip_quality(frames, [100.0] * 16, [0.9, None, None, None] * 4, [True, False, False, False] * 4,
                     [[0, 0, 0, 0]] * 16, [160] * 16, cfg)
    assert q["coverage"] == 1.0 and q["attempts"] == 4 and q["score_mean"] == 0.9 and q["padded"] == 0.0
    assert cheap_reasons(q, cfg) == ["blur", "flat"]                     # every failing gate, in order
    q2 = {**q, "face_px_min": 10.0, "padded": 0.9, "coverage": 0.1, "score_mean": 0.2}
    assert cheap_reasons(q2, FaceConfig(min_clip_score=0.5)) == list(REASONS[:6])
    with pytest.raises(ValueError, match="min_coverage"):
        FaceConfig(min_coverage=1.5)
    with pytest.raises(ValueError, match="identity"):
        FaceConfig(identity=-1.0)


def test_independent_check_sees_faces_not_walls():
    # the real face of the demo photo (skimage's astronaut) vs flat grey and noise: the acceptance
    # figures are only as good as this check
    from skimage import data
    import cv2
    face = cv2.resize(data.astronaut()[20:220, 110:310], (64, 64), interpolation=cv2.INTER_AREA)
    assert independent_face_check(face)
    assert not independent_face_check(np.full((64, 64, 3), 128, np.uint8))
    assert not independent_face_check(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))


def test_hog_detector_is_cached_in_binary_form_with_the_same_detections(tmp_path, monkeypatch):
    # built by parsing dlib's text model once, then loaded from the cache: same faces, same scores; a
    # damaged cache file is rebuilt, not trusted
    import cv2
    import dlib
    from skimage import data
    from pipelines.faces import quality
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path))
    gray = cv2.cvtColor(cv2.resize(data.astronaut()[0:260, 90:350], (160, 160)), cv2.COLOR_RGB2GRAY)
    reference = dlib.get_frontal_face_detector().run(gray, 0, 0.0)
    built = quality._load_hog()
    (cached,) = (tmp_path / "dlib").glob("frontal_face_hog-*.svm")
    loaded = quality._load_hog()
    for det in (built, loaded):
        boxes, scores, which = det.run(gray, 0, 0.0)
        assert [str(b) for b in boxes] == [str(b) for b in reference[0]] and len(boxes) == 1
        assert list(scores) == list(reference[1]) and list(which) == list(reference[2])
    cached.write_bytes(cached.read_bytes()[:5000])
    assert quality._load_hog().run(gray, 0, 0.0)[1] == reference[1]
    assert cached.stat().st_size > 5000 and not list((tmp_path / "dlib").glob(".*.tmp"))


def test_face_check_scales_with_the_margin():
    # the check resizes a crop so that its face stays above dlib's 80-px window whatever --margin is: a
    # fixed 160-px upscale missed the astronaut's face in crops with margin 3 and more
    from skimage import data
    import cv2
    photo = np.pad(data.astronaut(), ((200, 200), (200, 200), (0, 0)))
    cx, cy, face = 422, 326, 100            # the face's centre and size in the padded photo (dlib's box: 87 px)
    for margin in (1.6, 2.4, 3.0, 3.5):
        h = int(margin * face / 2)
        crop = cv2.resize(photo[cy - h:cy + h, cx - h:cx + h], (64, 64), interpolation=cv2.INTER_AREA)
        check = CropCheck(FaceConfig(margin=margin))
        assert check.side == round(100 * margin) and check.score(crop) is not None, margin
        check.side = 160
        assert (check.score(crop) is not None) == (margin < 3), margin
    assert CropCheck(FaceConfig()).score(np.full((64, 64, 3), 128, np.uint8)) is None


def test_a_sure_middle_crop_settles_the_face_check():
    # the middle crop is scanned first; a score of at least face_check_sure there skips the others, so a
    # clip whose ends are no face passes only when the middle is that sure (or the setting is 0: scan all)
    from skimage import data
    import cv2
    photo = np.pad(data.astronaut(), ((200, 200), (200, 200), (0, 0)))
    h = int(1.6 * 100 / 2)
    face = cv2.resize(photo[326 - h:326 + h, 422 - h:422 + h], (64, 64), interpolation=cv2.INTER_AREA)
    clip = np.repeat(np.full((64, 64, 3), 128, np.uint8)[None], 16, axis=0)
    scanned = []
    middle = check_positions(16, 3)[1]
    clip[middle] = face
    sure = CropCheck(FaceConfig()).score(face)
    assert sure is not None and sure > 0.5
    for setting, expected, scans in ((sure, 1.0, 1), (sure + 0.01, 1 / 3, 3), (0.0, 1 / 3, 3)):
        check = CropCheck(FaceConfig(face_check_sure=setting))
        score = check.score
        check.score = lambda crop: scanned.append(1) or score(crop)
        scanned.clear()
        assert check(clip) == pytest.approx(expected) and len(scanned) == scans, setting
    clip[middle] = 128                   # no face in the middle: every crop is scanned, the face found nowhere
    assert CropCheck(FaceConfig()).__call__(clip) == 0.0


# ------------------------------------------------------------------------------------------------ shared videos

@pytest.fixture(scope="module", params=["short", "full"])
def shared_runs(request):
    return request.param, {name: run(require_shared("videos", name), FaceConfig(detector=request.param))
                           for name in SHARED}


def test_shared_videos_pass_the_acceptance(shared_runs):
    detector, runs = shared_runs
    for name, (clips, stats) in runs.items():
        # every clip cut is written or counted under one reason
        assert stats["clips"] == len(clips)
        assert stats["candidates"] == stats["clips"] + sum(stats["rejected"].values()), name
        assert set(stats["rejected"]) <= set(REASONS)
        assert len(stats["rejected_clips"]) == sum(stats["rejected"].values())
        for _, m in clips:
            q = m["quality"]
            assert q["face_check"] == 1.0 and q["coverage"] >= 0.3 and q["face_px_min"] >= 24
        if clips:   # a source the gates drop entirely is exempt
            rate = independent_rate(clips)
            assert rate >= 0.95, f"{detector} {name}: an independent detector finds a centred face in {rate:.3f}"
    foreman, _ = runs["foreman_face_leaves.mp4"]
    assert foreman and max(m["frame_indices"][-1] for _, m in foreman) <= 190
    # the full-range detector's hits on the brick wall after the face has left never make a clip
    kept = len(runs["talking_head_man.mp4"][0]) + len(runs["head_turns_glasses.mp4"][0])
    assert kept >= 17, f"{detector}: the gates keep {kept} of the 18 clips of two clean videos"


def test_wall_clips_are_cut_and_dropped_with_full_range(shared_runs):
    detector, runs = shared_runs
    _, stats = runs["foreman_face_leaves.mp4"]
    late = [r for r in stats["rejected_clips"] if r["frames"][0] > 200]
    if detector == "full":   # BlazeFace full range fires on the building after frame 200: cut, then dropped
        assert late and all(set(r["reasons"]) & {"coverage", "face_check"} for r in late)


# ------------------------------------------------------------------------------------------------ corpus subset

@pytest.mark.parametrize("detector", ["short", "full"])
def test_corpus_subset_every_video_gives_faces(detector):
    for name in CORPUS:
        clips, stats = run(require_shared("faces", name), FaceConfig(detector=detector))
        assert clips, f"{detector} {name}: no clip (dropped {stats['rejected']})"
        assert stats["candidates"] == stats["clips"] + sum(stats["rejected"].values())
        rate = independent_rate(clips)
        assert rate >= 0.95, f"{detector} {name}: independent check {rate:.3f}"
        if name.startswith("036"):
            # the container says 62 frames, 61 decode: a warning, not a failure
            assert stats["frames"] == 61 and len(clips) >= 3
            assert stats["warnings"] == ["frame count: the container says 62 frames, the stream has 61 "
                                         "(clips from those 61)"]
        else:
            assert stats["warnings"] == []


# ------------------------------------------------------------------------------------------------ identity

A, B = ("videos", "talking_head_man.mp4"), ("faces", "017_retalk_flag_woman.mp4")
SCALE = "scale=512:512,setsar=1,fps=25,settb=AVTB"


@pytest.fixture(scope="module")
def identity_videos(tmp_path_factory):
    """Two real people (a man, a woman) at the same place: hard cut at frame 75 (also dimmed, where the
    frame-difference cut detector misses it); 1 s cross-fade over frames
    50-75; 1 s wipe (the woman's picture sweeping in from the right) over frames 50-75; the man's picture
    gone at frame 75 and the woman's there from frame 80 on a plain background."""
    d = tmp_path_factory.mktemp("identity")
    a, b = require_shared(*A), require_shared(*B)
    ffmpeg("-i", a, "-i", b, "-filter_complex", f"[0:v]{SCALE},trim=end_frame=75[a];[1:v]{SCALE}[b];"
           "[a][b]concat=n=2:v=1[v]", "-map", "[v]", "-frames:v", 175, "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", d / "cut.mp4")
    ffmpeg("-i", a, "-i", b, "-filter_complex", f"[0:v]{SCALE}[a];[1:v]{SCALE}[b];"
           "[a][b]xfade=transition=fade:duration=1:offset=2[v]", "-map", "[v]", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", d / "fade.mp4")
    ffmpeg("-i", a, "-i", b, "-filter_complex", f"[0:v]{SCALE},trim=end_frame=75,eq=brightness=-0.3[a];"
           f"[1:v]{SCALE},eq=brightness=-0.3[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]", "-frames:v", 175,
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", d / "dark_cut.mp4")
    ffmpeg("-i", a, "-i", b, "-filter_complex", f"[0:v]{SCALE}[a];[1:v]{SCALE}[b];"
           "[a][b]xfade=transition=wipeleft:duration=1:offset=2[v]", "-map", "[v]", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", d / "wipe.mp4")
    ffmpeg("-f", "lavfi", "-i", "color=c=0x404040:s=640x360:r=25:d=7", "-i", a, "-i", b, "-filter_complex",
           "[1:v]scale=256:256,setsar=1,fps=25,setpts=PTS-STARTPTS[a];[2:v]scale=256:256,setsar=1,fps=25,"
           "setpts=PTS-STARTPTS[b];[0:v][a]overlay=x=192:y=52:enable='lt(t,3)'[m];"
           "[m][b]overlay=x=204:y=60:enable='gte(t,3.2)'[v]", "-map", "[v]", "-frames:v", 175, "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", d / "enter.mp4")
    return d


def spans(stats) -> list[tuple[int, int]]:
    return [tuple(t["frames"]) for t in stats["track_list"]]


@pytest.mark.parametrize("video, a_end, b_start, detector", [
    ("cut.mp4", 75, 75, "short"),      # the cut detector is switched off below: appearance alone splits
    ("dark_cut.mp4", 75, 75, "full"),  # the same cut in dim light: the frame difference stays under the threshold
    ("fade.mp4", 50, 75, "short"),
    ("fade.mp4", 50, 75, "full"),
    ("wipe.mp4", 50, 75, "short"),
    ("enter.mp4", 75, 80, "short"),
    ("enter.mp4", 75, 80, "full"),
])
def test_a_track_never_holds_two_people(identity_videos, video, a_end, b_start, detector):
    path = identity_videos / video
    off = {"scene_cut": 1.0} if video == "cut.mp4" else {}   # no thumbnail difference exceeds 1
    # the gates are off: this is about tracks, and every candidate clip should be looked at
    gates_off = {"min_face_check": 0.0, "min_coverage": 0.0}
    mixed = lambda ss: [s for s in ss if s[0] < a_end and s[1] >= b_start]   # noqa: E731
    _, plain = run(path, FaceConfig(detector=detector, identity=0.0, **off, **gates_off))
    assert plain["scene_cuts"] == 0 and mixed(spans(plain)), "without the identity check a track mixes the two"
    clips, stats = run(path, FaceConfig(detector=detector, **off, **gates_off))
    assert stats["scene_cuts"] == 0 and stats["identity_splits"] >= 1
    assert not mixed(spans(stats)), f"a track spans both people: {spans(stats)}"
    for _, m in clips:
        fi = m["frame_indices"]
        assert not (fi[0] < a_end and fi[-1] >= b_start), f"clip {fi[0]}-{fi[-1]} holds both people"
    assert any(t["end"] == "identity" for t in stats["track_list"])
    assert stats["cut_frames"] and all(a_end - 12 <= c <= b_start + 12 for c in stats["cut_frames"])
