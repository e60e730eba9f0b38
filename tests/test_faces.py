"""The face pipeline on real videos (../shared/data/videos) with the real BlazeFace models and decord.

Covers: the model cache, clips that contain faces, a face that leaves, small faces in a crowd (full
range only), bad inputs giving VideoError with a reason, a faceless video, determinism, resampling and
bounded streaming decoding (Python allocations and real RSS).
"""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import require_shared

from pipelines.faces.config import FaceConfig
from pipelines.faces.decode import VideoError, open_reader
from pipelines.faces.model import MODELS, ModelError, face_model_path, sha256_file
from pipelines.faces.video import main as video_main, process_video


def video(name):
    return require_shared("videos", name)


def run(path, cfg=FaceConfig(), **kw):
    stats = {}
    clips = list(process_video(path, "vid", cfg, stats=stats, **kw))
    return clips, stats


def ffmpeg(*args):
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def talking_head():
    return run(video("talking_head_man.mp4"))


@pytest.fixture(scope="module")
def foreman():
    return run(video("foreman_face_leaves.mp4"))


# ------------------------------------------------------------------------------------------------- model

def test_models_are_cached_and_checked():
    for det, (_, digest) in MODELS.items():
        path = face_model_path(det)
        assert path.is_file() and sha256_file(path) == digest


def test_face_model_override_errors_are_one_line(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        face_model_path("short", tmp_path / "missing.tflite")
    bogus = tmp_path / "bogus.tflite"
    bogus.write_text("not a model")
    with pytest.raises(ModelError, match="cannot be loaded") as e:
        run(video("foreman_face_leaves.mp4"), model_path=bogus)
    assert "\n" not in str(e.value)


def test_wheel_member_with_wrong_hash_is_refused(tmp_path, monkeypatch):
    import zipfile
    from pipelines.faces import model as M
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "cache"))
    wheel = tmp_path / "mediapipe-0.10.21-fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MODELS["short"][0], b"tampered")
    with pytest.raises(ModelError, match="sha256"):
        M.extract_models(wheel, M.cache_dir(), ["short"])
    with pytest.raises(ModelError, match="has no"):
        M.extract_models(wheel, M.cache_dir(), ["full"])
    assert not M.cached_path("short").exists()


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    # an empty cache and a package index that refuses connections: real pip, no network needed
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    from pipelines.faces.model import main as model_main
    with pytest.raises(ModelError, match="could not download"):
        face_model_path("short")
    assert model_main(["--fetch"]) == 1


# ------------------------------------------------------------------------------------------- real videos

def test_probe_reads_the_container():
    from pipelines.faces.decode import probe
    info = probe(video("foreman_face_leaves.mp4"))
    assert (info.frames, info.fps, info.width, info.height) == (299, 25.0, 352, 288)


def test_talking_head_gives_face_clips(talking_head):
    clips, stats = talking_head
    assert stats["frames"] == 125 and stats["tracks"] == 1 and stats["clips"] == len(clips) == 7
    from pipelines.faces.detect import FaceDetector
    from PIL import Image
    detector = FaceDetector("short", 0.5)
    for key, frames, meta in clips:
        assert key == f"vid_t0_c{meta['clip']}"
        assert frames.shape == (16, 64, 64, 3) and frames.dtype == np.uint8
        assert len(meta["frame_indices"]) == len(meta["boxes_raw"]) == len(meta["boxes_smoothed"]) == 16
        assert len(meta["scores"]) == len(meta["padding"]) == 16
        assert meta["fps"] == 25.0 and (meta["width"], meta["height"]) == (844, 844)
        # the short-range default detects every 4th frame, every 8th while the face holds still: 2-4 raw
        # boxes a clip, the splines fill the rest
        cfg = FaceConfig()
        assert 16 // cfg.steady_interval() <= sum(b is not None for b in meta["boxes_raw"]) <= 16 // cfg.detect_interval()
        # the crop really holds a face, near its centre
        big = np.asarray(Image.fromarray(frames[8]).resize((192, 192), Image.BILINEAR))
        faces = detector.detect(0, big)
        assert faces, f"no face found in the crop of {key}"
        assert abs(faces[0].cx - 96) < 30 and abs(faces[0].cy - 96) < 30
    # a talking head holds still: the steady schedule spends at most 3/4 of the fixed schedule's 32 calls,
    # and still tracks the face to the last frame (one more attempt there: tracks never extrapolate)
    assert stats["detect_frames"] <= 0.75 * -(-stats["frames"] // FaceConfig().detect_interval())
    assert [t["frames"] for t in stats["track_list"]] == [[0, 124]]
    assert stats["detect_frames"] == 22    # 21 on the schedule and that last attempt


def test_face_that_leaves_ends_its_track(foreman):
    clips, stats = foreman
    assert clips, "the face is visible for ~180 frames"
    last = max(i for _, _, m in clips for i in m["frame_indices"])
    assert last <= 190, f"a clip contains frame {last}, after the face has left (about frame 192)"
    # the quality gates drop the clips where the head is turned far away (tests/test_quality.py); those
    # left span most of the time the face is there, and every clip cut is written or counted by reason
    assert min(i for _, _, m in clips for i in m["frame_indices"]) < 50 and last >= 100 and len(clips) >= 5
    assert stats["clips"] + sum(stats["rejected"].values()) == stats["candidates"]


def test_crowd_full_range_finds_several_tracks_short_range_none():
    path = video("crowd_1080p.mp4")
    clips, stats = run(path, FaceConfig(detector="full"))
    tracks = {m["track"] for _, _, m in clips}
    # 3 with mediapipe's Tasks API; on LiteRT the full-range model's scores differ by ~0.01 (the same 187
    # detections over the video) and the third face's clips fall to the coverage gate (docs/BENCHMARKS.md)
    assert len(tracks) >= 2
    # distinct faces: at frames shared by two tracks, their boxes are apart
    boxes = {}
    for _, _, m in clips:
        for i, b in zip(m["frame_indices"], m["boxes_smoothed"]):
            boxes.setdefault(i, {})[m["track"]] = b
    for per_track in boxes.values():
        centres = [(b[0] + b[2] / 2, b[1] + b[3] / 2, b[2]) for b in per_track.values()]
        for a in range(len(centres)):
            for b in range(a + 1, len(centres)):
                assert np.hypot(centres[a][0] - centres[b][0], centres[a][1] - centres[b][1]) > centres[a][2] / 2
    _, short = run(path, FaceConfig(detector="short"))
    assert short["detections"] == 0 and short["clips"] == 0


def test_same_video_same_clips(foreman):
    again, _ = run(video("foreman_face_leaves.mp4"))
    assert [k for k, _, _ in again] == [k for k, _, _ in foreman[0]]
    for (_, fa, ma), (_, fb, mb) in zip(foreman[0], again):
        assert np.array_equal(fa, fb) and ma == mb


def test_resampling_and_gray(tmp_path):
    clips, stats = run(video("foreman_face_leaves.mp4"),
                       FaceConfig(fps=12.5, frames=8, gray=True, size=32, detect_every=1))
    assert clips and stats["frames"] == 150
    for _, frames, meta in clips:
        assert frames.shape == (8, 32, 32, 1)
        assert meta["fps"] == 12.5
        assert np.all(np.diff(meta["frame_indices"]) == 2)


def test_streamed_frames_equal_decords_random_access():
    # the pipeline streams frames with PyAV (bounded memory) and indexes them as decord does: frame i must
    # be the same bytes as decord's frame i, also when only some frames are asked for (fps resampling)
    from pipelines.faces.decode import stream_frames
    path = video("foreman_face_leaves.mp4")
    want = np.array([0, 1, 2, 5, 9, 40, 41, 150, 151, 152, 153, 160, 298])
    ref = open_reader(path).get_batch(want.tolist()).asnumpy()
    got = list(stream_frames(path, want))
    assert [i for i, _ in got] == list(range(len(want)))
    for (i, f), r in zip(got, ref):
        assert np.array_equal(f, r), f"frame {want[i]} differs"
    with pytest.raises(VideoError, match="ends early"):
        list(stream_frames(path, np.array([10, 299])))


def crops_vs_rgb(path, positions=range(0, 100, 9)):
    """Worst (mean, 99.9th percentile) abs difference, over squares inside and across the borders, between
    the crops (and detector copies) the pipeline cuts from the frames as decoded and those of the whole RGB
    frame. (Not the max: swscale converts the bottom row of some sizes differently, up to 16 levels on
    foreman's 352x288, a few pixels in 10^4.)"""
    from pipelines.faces.crops import crop_square
    from pipelines.faces.decode import _decode, detect_shape, downscale, picture
    mean = worst = 0
    kinds = set()
    for _, frame in _decode(path, np.array(list(positions)), 1):
        pic, rgb = picture(frame), frame.to_ndarray(format="rgb24")
        kinds.add(type(pic).__name__)
        h, w = rgb.shape[:2]
        for x0, y0, side in [(11, 21, 101), (w // 2 - 31, h // 3 + 1, 77), (-15, -9, 60), (w - 40, h - 33, 91),
                             (w + 5, 3, 20)]:
            (a, pa), (b, pb) = pic.crop(x0, y0, side), crop_square(rgb, x0, y0, side)
            assert pa == pb and a.shape == b.shape == (side, side, 3)
            d = np.abs(a.astype(int) - b)
            mean, worst = max(mean, d.mean()), max(worst, np.percentile(d, 99.9))
        for x0, y0, side in [(11, 21, 101), (w // 4 + 1, h // 5, min(w, h) // 2 + 1), (-40, h // 2 - 150, 300),
                             (w - 100, -20, 260)]:
            check_output_crop(pic, rgb, x0, y0, side)
        dw, dh = detect_shape(w, h, 640)
        d = np.abs(pic.small(dw, dh).astype(int) - downscale(rgb, dw, dh))
        assert d.mean() < 2, f"detector copy differs by {d.mean():.2f} grey levels on average"
    return kinds, mean, worst


def check_output_crop(pic, rgb, x0, y0, side, size=64):
    """The pipeline's 64x64 crop (crop_resized: shrunk plane by plane for big squares) against the
    reference: the RGB frame's square resized in one step with cv2's area filter (a true box filter)."""
    import cv2
    from pipelines.faces.crops import crop_square
    ref, pad = crop_square(rgb, x0, y0, side)
    ref = cv2.resize(np.ascontiguousarray(ref), (size, size), interpolation=cv2.INTER_AREA)
    for gray in (False, True):
        out, p = pic.crop_resized(x0, y0, side, size, gray)
        want = cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY)[..., None] if gray else ref
        assert p == pad and out.shape == want.shape and out.dtype == np.uint8
        d = np.abs(out.astype(int) - want).mean()
        assert d < 2.5, f"{side}-px square at ({x0}, {y0}), gray={gray}: output crop off by {d:.2f} levels"


@pytest.mark.parametrize("name", ["talking_head_man.mp4", "foreman_face_leaves.mp4", "head_turns_glasses.mp4",
                                  "crowd_1080p.mp4"])
def test_crops_from_yuv_planes_match_the_rgb_frame(name):
    # frames are never converted to RGB as a whole: crops are converted from the 4:2:0 planes region by
    # region; they must show what the whole-frame conversion shows, with the same padding
    kinds, mean, worst = crops_vs_rgb(video(name))
    assert kinds == {"YuvPicture"}
    assert mean < 2 and worst < 8, f"{name}: crops differ by {mean:.2f} on average, {worst} in 1/1000 pixels"


@pytest.fixture(scope="module")
def other_formats(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    src = video("foreman_face_leaves.mp4")
    for fmt, codec, ext in [("yuv444p", "libx264", "mp4"), ("gray", "ffv1", "mkv"), ("yuvj420p", "mjpeg", "avi")]:
        ffmpeg("-i", src, "-frames:v", "60", "-pix_fmt", fmt, "-c:v", codec, d / f"{fmt}.{ext}")
    ffmpeg("-i", src, "-frames:v", "60", "-vf", "scale=351:287", "-c:v", "ffv1", "-pix_fmt", "yuv420p",
           d / "odd.mkv")
    for space in ("bt709", "bt2020nc"):   # tagged with another colour matrix, as HD footage is
        ffmpeg("-i", src, "-frames:v", "60", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-colorspace", space,
               d / f"{space}.mp4")
    return d


@pytest.mark.parametrize("name, kind", [("yuv444p.mp4", "RgbPicture"), ("gray.mkv", "RgbPicture"),
                                        ("odd.mkv", "RgbPicture"), ("yuvj420p.avi", "YuvPicture"),
                                        ("bt709.mp4", "YuvPicture"), ("bt2020nc.mp4", "YuvPicture")])
def test_other_pixel_formats(other_formats, name, kind):
    # 4:4:4, gray and odd-sized 4:2:0 fall back to whole RGB frames; full-range yuvj420p keeps its planes and
    # is converted with the full-range scale; BT.709 and BT.2020 keep their planes and are converted with
    # their own matrix (swscale's whole-frame conversion honours the tag); either way the crops match the
    # RGB frame and clips come out
    kinds, mean, worst = crops_vs_rgb(other_formats / name, range(0, 60, 7))
    assert kinds == {kind}
    assert mean < 2 and worst < 8, f"{name}: crops differ by {mean:.2f} on average, {worst} in 1/1000 pixels"
    clips, stats = run(other_formats / name, FaceConfig(frames=8))
    assert stats["frames"] == 60 and clips
    assert all(f.shape == (8, 64, 64, 3) for _, f, _ in clips)


# -------------------------------------------------------------------------------------------- bad inputs

@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    src = video("foreman_face_leaves.mp4")
    (d / "zero.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n")
    data = src.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])          # its index (moov) is at the end
    ffmpeg("-i", src, "-c", "copy", "-movflags", "+faststart", d / "faststart.mp4")
    fs = (d / "faststart.mp4").read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(fs[: len(fs) // 2])   # index intact, frames missing
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", d / "audio.mp4")
    ffmpeg("-i", src, "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", d / "raw.264")
    return d


@pytest.mark.parametrize("name, reason", [
    ("zero.mp4", "empty file"),
    ("text.mp4", "not a readable video"),
    ("truncated.mp4", "truncated"),
    ("audio.mp4", "no video stream"),
    ("raw.264", "raw .264"),
    ("missing.mp4", "file not found"),
])
def test_bad_input_raises_video_error_with_reason(bad_inputs, name, reason):
    with pytest.raises(VideoError, match=reason.replace(".", r"\.")):
        run(bad_inputs / name)


def test_truncated_file_keeps_the_clips_of_the_frames_that_decoded(bad_inputs):
    # index intact, the second half of the data missing: the frames before the break give their clips,
    # and the stats say what happened (vidshard prepare prints it and keeps it in the source record)
    clips, stats = run(bad_inputs / "truncated_faststart.mp4")
    assert 100 < stats["frames"] < 299 and clips
    assert max(m["frame_indices"][-1] for _, _, m in clips) < stats["frames"]
    assert len(stats["warnings"]) == 1 and stats["warnings"][0].startswith("truncated: decoding failed at frame")
    assert f"clips from the {stats['frames']} of 299 frames that decoded are kept" in stats["warnings"][0]


def test_video_without_faces_yields_nothing(tmp_path):
    # the real Foreman footage after the face has left (frames 200..298), re-encoded
    out = tmp_path / "no_face.mp4"
    ffmpeg("-i", video("foreman_face_leaves.mp4"), "-vf", "select=gte(n\\,200)", "-fps_mode", "passthrough",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out)
    clips, stats = run(out)
    assert clips == [] and stats["clips"] == 0 and stats["frames"] == 99


def test_cli_on_one_video_writes_a_shard(tmp_path, capsys):
    from shards import iter_samples
    assert video_main([str(video("foreman_face_leaves.mp4")), "--frames", "32", "--out", str(tmp_path)]) == 0
    keys = [k for k, _, _ in iter_samples(tmp_path / "faces-000000.tar")]
    assert len(keys) >= 3 and all(k.startswith("foreman-face-leaves_t") for k in keys)
    assert f"clips={len(keys)}" in capsys.readouterr().out
    assert video_main([str(tmp_path / "nothing.mp4")]) == 1
    assert video_main([str(video("foreman_face_leaves.mp4")), "--face-model", str(tmp_path / "none.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_scene_cut_in_real_footage_splits_tracks(tmp_path):
    # Foreman's first 100 frames, then the talking head scaled to the same size: the two faces sit at
    # nearly the same place and size (IoU > 0.5 across the junction), so only the cut detector keeps
    # them apart.
    out = tmp_path / "cut.mp4"
    ffmpeg("-i", video("foreman_face_leaves.mp4"), "-i", video("talking_head_man.mp4"), "-filter_complex",
           "[0:v]trim=end_frame=100,setpts=PTS-STARTPTS[a];[1:v]scale=352:288,setsar=1,setpts=PTS-STARTPTS[b];"
           "[a][b]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-r", "25", out)
    clips, stats = run(out)
    assert stats["frames"] == 225 and stats["scene_cuts"] == 1
    spans = {}
    for _, _, m in clips:
        lo, hi = spans.get(m["track"], (10**9, -1))
        spans[m["track"]] = (min(lo, m["frame_indices"][0]), max(hi, m["frame_indices"][-1]))
    assert len(spans) == 2
    (a0, a1), (b0, b1) = sorted(spans.values())
    assert a1 < 100 <= b0, f"a track crosses the cut at frame 100: {sorted(spans.values())}"


def test_memory_does_not_grow_with_video_length(foreman, tmp_path):
    # the same footage, once and looped twice (598 frames, two faces' worth of tracks): the peak of
    # Python/numpy allocations must stay the same, since only one smoothing window and open clips are held
    import tracemalloc
    looped = tmp_path / "looped.mp4"
    ffmpeg("-stream_loop", "1", "-i", video("foreman_face_leaves.mp4"), "-c", "copy", looped)
    cfg = FaceConfig(detect_every=4)
    peaks = []
    for path in (video("foreman_face_leaves.mp4"), looped):   # the foreman fixture already loaded the model
        stats = {}
        tracemalloc.start()
        n = sum(1 for _ in process_video(path, "vid", cfg, stats=stats))   # consume, keep nothing
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # (the quality gates drop the clips where he looks away: 12 of the 18 cut are written)
    assert stats["frames"] == 598 and stats["tracks"] == 2 and n == stats["clips"] >= 10 and stats["candidates"] >= 16
    assert peaks[1] < 1.1 * peaks[0], f"peak allocations grew from {peaks[0] / 1e6:.1f} MB to {peaks[1] / 1e6:.1f} MB"


def test_worker_rss_does_not_grow_with_video_length(tmp_path):
    # decoded frames live in decord's own buffers (not seen by tracemalloc), and decord decodes ahead on a
    # thread of its own: so measure the real peak RSS of a fresh process on the talking head (844x844,
    # 2 MiB a frame) looped 2x and 6x. Holding the video, or an unbounded read-ahead, would add ~1 GiB;
    # the pipeline holds one smoothing window of frames.
    import sys
    paths = []
    for loops in (2, 6):
        paths.append(tmp_path / f"looped{loops}.mp4")
        ffmpeg("-stream_loop", loops - 1, "-i", video("talking_head_man.mp4"), "-c", "copy", paths[-1])
    code = ("import resource, sys; from pipelines.faces.config import FaceConfig; "
            "from pipelines.faces.video import process_video; st = {}; "
            "n = sum(1 for _ in process_video(sys.argv[1], 'v', stats=st)); "
            "print(st['frames'], n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    peaks = []
    for path in paths:
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
        peaks.append(tuple(map(int, out.stdout.split())))
    (f2, c2, p2), (f6, c6, p6) = peaks
    assert (f2, f6) == (250, 750) and c6 >= 3 * c2 - 3
    assert p6 < p2 + 64, f"peak RSS grew from {p2} MiB ({f2} frames) to {p6} MiB ({f6} frames)"


@pytest.mark.parametrize("colorspace", [1, 5, 9])   # AVColorSpace: BT.709, BT.470BG (BT.601), BT.2020 NCL
def test_plane_conversion_follows_the_colour_matrix(colorspace):
    # saturated random colours, where the matrices differ by tens of levels: the plane path converts as
    # swscale's whole-frame rgb24 does for the frame's tag
    import av
    from pipelines.faces.decode import BT601, YuvPicture, picture
    rng = np.random.default_rng(colorspace)
    h, w = 64, 96
    chroma = lambda: np.repeat(np.repeat(rng.integers(16, 241, (h // 4, w // 4), dtype=np.uint8), 2, 0), 2, 1)  # noqa: E731
    i420 = np.concatenate([rng.integers(16, 236, (h, w), dtype=np.uint8).ravel(), chroma().ravel(), chroma().ravel()])
    frame = av.VideoFrame.from_ndarray(i420.reshape(h * 3 // 2, w), format="yuv420p")
    frame.colorspace, frame.color_range = colorspace, 1
    want = frame.to_ndarray(format="rgb24").astype(int)
    pic = picture(frame)
    assert isinstance(pic, YuvPicture)
    d = np.abs(pic.crop(0, 0, w)[0][:h].astype(int) - want)
    assert d.mean() < 1.0 and d.max() <= 4, f"colorspace {colorspace}: off by {d.mean():.2f} (max {d.max()})"
    if colorspace != 5:   # the BT.601 conversion would be far off: the test sees the matrix
        wrong = YuvPicture(pic.y, pic.u, pic.v, full_range=False, matrix=BT601).crop(0, 0, w)[0][:h]
        assert np.abs(wrong.astype(int) - want).mean() > 3


GOLDEN = Path(__file__).parent / "golden" / "clips_shared_videos.json"


@pytest.mark.parametrize("name", ["talking_head_man.mp4", "foreman_face_leaves.mp4", "head_turns_glasses.mp4",
                                  "crowd_1080p.mp4"])
def test_speed_work_keeps_the_clips_of_the_shared_videos(name):
    # The clips the default config gives on the shared videos, recorded from the build that issue 15's speed
    # work started from (e278549; byte-identical shards since): the same keys and frame indices, and each
    # clip's first crop within 2 grey levels (mean over an 8x8 area-shrunk thumbnail) of the recorded one.
    # A change that moves clips must update this file and say why in docs/BENCHMARKS.md "Face pipeline"
    # (the steady detection schedule of 2026-12-03 moved no clip here).
    import cv2
    want = json.loads(GOLDEN.read_text())[name]
    clips, _ = run(video(name))
    assert [(k, [m["frame_indices"][0], m["frame_indices"][-1]]) for k, _, m in clips] == \
        [(w["key"], w["frames"]) for w in want]
    for (key, frames, _), w in zip(clips, want):
        thumb = cv2.resize(frames[0], (8, 8), interpolation=cv2.INTER_AREA).reshape(-1).astype(int)
        d = np.abs(thumb - np.array(w["thumb"])).mean()
        assert d <= 2.0, f"{key}: first crop {d:.2f} grey levels from the recorded one"
