"""The face identity metric (trainers/eval/identity.py) on real face crops made by `vidshard prepare`.

Covers: the calibration separates people (frames of one video are under the 0.6 threshold, frames of
different videos over it), embeddings are deterministic and per frame, gray crops are the repeated-channel
RGB case, the perturbation test on a toy generator whose identity lives in the static code only (static
perturbations change identity, dynamic ones do not; tuple codes, clipping into the box, eval mode), the
box plot, the command line, and clear errors.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import require_shared
from pipelines import prepare as P
from shards import iter_samples, load_manifest
from trainers.eval import identity as I

# Four short videos of four different people (../shared/data/faces/SOURCES.md): 13 clips in all.
VIDEOS = ["040_vtoonify_man.mp4", "038_vtoonify_long_hair.mp4", "066_grid_brbk7n.mp4", "074_grid_swiz3n.mp4"]


@pytest.fixture(scope="module")
def faces(ray_local, tmp_path_factory):
    """A small face dataset: 64×64 crops of VIDEOS, the project's pipeline and default face settings."""
    paths = [require_shared("faces", v) for v in VIDEOS]
    out = tmp_path_factory.mktemp("faces") / "faces64"
    argv = [a for p in paths for a in ("--input", str(p))]
    assert P.main(argv + ["--out", str(out), "--videos-per-shard", "1", "--no-progress"]) == P.EXIT_OK
    return out


@pytest.fixture(scope="module")
def clips(faces):
    m = load_manifest(faces)
    out = [c for s in m["shards"] for c in iter_samples(faces / s["file"])]
    assert len({meta["source_id"] for _, _, meta in out}) == len(VIDEOS)
    return out


@pytest.fixture(scope="module")
def calibration(clips):
    return I.real_calibration(clips, frames_per_clip=2, pairs=400, seed=0)


def test_calibration_separates_same_video_from_different_videos(calibration, clips):
    c = calibration
    assert c["counts"]["videos"] == len(VIDEOS) and c["counts"]["clips"] == len(clips)
    assert c["counts"]["frames"] == 2 * len(clips)
    q1s, med_same, q3s = c["same"]
    q1d, med_diff, q3d = c["diff"]
    assert q1s <= med_same <= q3s and q1d <= med_diff <= q3d
    # the property the perturbation figures rest on: one person's frames under the threshold, others over
    assert med_same < I.THRESHOLD < med_diff
    assert q3s < I.THRESHOLD < q1d
    assert c["same_below_threshold"] > 0.9 and c["diff_below_threshold"] < 0.1
    assert len(c["distances"]["same"]) == len(c["distances"]["diff"]) == 400
    assert min(c["distances"]["same"]) > 0  # two distinct frames, never a frame with itself


def test_calibration_pairs_follow_the_seed(clips, calibration):
    sub = clips[:8]
    a = I.real_calibration(sub, frames_per_clip=1, pairs=50, seed=3)
    assert a == I.real_calibration(sub, frames_per_clip=1, pairs=50, seed=3)
    assert a["distances"] != I.real_calibration(sub, frames_per_clip=1, pairs=50, seed=4)["distances"]


def test_embeddings_are_deterministic_per_frame_and_gray_is_repeated(clips):
    frames = np.stack([clips[0][1][0], clips[0][1][8], clips[-1][1][0]])
    e = I.embed(frames)
    assert e.shape == (3, 128) and e.dtype == np.float32 and np.all(np.isfinite(e))
    np.testing.assert_array_equal(e, I.embed(frames))
    # a row depends on its own frame only: order and batch size change nothing
    np.testing.assert_array_equal(I.embed(frames[::-1], batch=1), e[::-1])
    gray = I.to_gray(frames)
    np.testing.assert_array_equal(I.embed(gray), I.embed(np.repeat(gray, 3, axis=3)))
    # a frame of the same clip is the same person; the last clip is another video
    d = I.distances(e[[0, 0]], e[[1, 2]])
    assert d[0] < I.THRESHOLD < d[1]
    assert I.embed(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 128)


def test_model_files_are_found_by_path_without_importing_the_package():
    import sys
    paths = I.model_paths()
    assert paths["predictor"].is_file() and paths["resnet"].is_file()
    assert "face_recognition_models" not in sys.modules


class ToyFaces:
    """A generator whose identity lives in the static code only: the signs of the static vector's two
    coordinates pick one of four real people; the dynamic code's first coordinate picks a frame of that
    person's clip (pose, expression, mouth). The static code is a tuple (vector, row ids) like DrNet's codes
    with skip maps: the extras must reach generate with the vector."""

    def __init__(self, people: list[np.ndarray]):
        self.frames = torch.from_numpy(np.stack(people)).permute(0, 1, 4, 2, 3).float() / 255  # (P, T, 3, H, W)
        self.training = True
        self.max_abs_static = 0.0

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def sample_static(self, n, generator):
        v = torch.rand((n, 2), generator=generator) * 2 - 1
        return v, torch.arange(n, dtype=torch.float32)[:, None]

    def sample_dynamic(self, n, t, generator, static=None):
        assert static is not None
        return torch.rand((n, t, 3), generator=generator) * 2 - 1

    def generate(self, static, dynamic):
        v, rows = static
        assert not self.training, "the kit must generate in eval mode"
        assert torch.equal(rows[:, 0], torch.arange(len(v), dtype=torch.float32)), "extras lost or reordered"
        self.max_abs_static = max(self.max_abs_static, float(v.abs().max()))
        person = (v[:, 0] > 0).long() * 2 + (v[:, 1] > 0).long()
        T = self.frames.shape[1]
        frame = ((dynamic[..., 0] + 1) / 2 * (T - 1)).round().long().clamp(0, T - 1)  # (B, t)
        return self.frames[person[:, None], frame]


@pytest.fixture(scope="module")
def toy(clips):
    """Four people: the first clip of four different videos."""
    people, seen = [], set()
    for _, frames, meta in clips:
        if meta["source_id"] not in seen and len(people) < 4:
            seen.add(meta["source_id"])
            people.append(frames)
    # precondition: the four are pairwise different people to the metric
    e = I.embed(np.stack([p[0] for p in people]))
    i, j = np.triu_indices(4, 1)
    assert I.distances(e[i], e[j]).min() > I.THRESHOLD
    return ToyFaces(people)


def test_static_perturbations_change_identity_dynamic_ones_do_not(toy, tmp_path, calibration):
    norms = [0.02, 3.0]
    st = I.perturbation_distances(toy, "static", norms, 16, torch.Generator().manual_seed(0))
    dy = I.perturbation_distances(toy, "dynamic", norms, 16, torch.Generator().manual_seed(0))
    assert toy.training, "the model's mode is restored"
    assert set(st["quartiles"]) == set(dy["quartiles"]) == {"0.02", "3"}
    for r in (st, dy):
        for k in ("0.02", "3"):
            assert len(r["distances"][k]) == 16
            q1, med, q3 = r["quartiles"][k]
            assert q1 <= med <= q3
            low, high = r["median_ci95"][k]
            assert min(r["distances"][k]) <= low <= med <= high <= max(r["distances"][k])
    # a tiny static step rarely crosses a sign: the same person (identical frames give exactly 0)
    assert st["quartiles"]["0.02"][1] == 0.0
    # a large static step lands on another person most of the time
    assert st["quartiles"]["3"][1] > I.THRESHOLD and st["above_threshold"]["3"] >= 0.5
    # dynamic steps only move within one person's clip
    for k in ("0.02", "3"):
        assert dy["quartiles"][k][1] < I.THRESHOLD and dy["above_threshold"][k] <= 0.1
    assert max(dy["distances"]["3"]) > 0  # the frame did change
    assert st["median_area"] > 2 * dy["median_area"]
    # clipping keeps the static vector in the prior's box and shortens the step
    assert toy.max_abs_static <= 1.0
    assert st["effective_norm"]["3"] < 3.0 and st["effective_norm"]["0.02"] == pytest.approx(0.02, abs=1e-6)
    png = I.box_plot([dy, st], tmp_path / "identity.png", calibration=calibration, title="toy")
    from PIL import Image
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width >= 400 and im.height >= 300
        assert len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 10


def test_median_interval_holds_the_median_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    widths = []
    for n in (25, 100, 400):
        d = rng.normal(0.6, 0.1, n)
        low, high = I.median_ci(d)
        assert low < np.median(d) < high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # about 95% of intervals from samples of a known median cover it
    cover = [low <= 0.6 <= high for low, high in (I.median_ci(rng.normal(0.6, 0.1, 100)) for _ in range(400))]
    assert 0.9 <= np.mean(cover) <= 0.99


def test_without_a_box_the_step_is_not_clipped(toy):
    toy.max_abs_static = 0.0
    r = I.perturbation_distances(toy, "static", [3.0], 4, torch.Generator().manual_seed(1), box=None)
    assert toy.max_abs_static > 1.0
    assert r["effective_norm"]["3"] == pytest.approx(3.0, rel=1e-5) and r["box"] is None


def test_command_line_prints_the_calibration(faces, capsys):
    with pytest.raises(SystemExit) as e:
        I.main(["--help"])
    assert e.value.code == 0 and "--data" in capsys.readouterr().out
    assert I.main(["--data", str(faces), "--limit", "6", "--frames-per-clip", "1", "--pairs", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["clips"] == 6 and len(out["same"]) == len(out["diff"]) == 3 and "distances" not in out
    assert I.main(["--data", str(faces / "nothing")]) == 2
    assert "not a dataset directory" in capsys.readouterr().err


def test_errors_are_clear(clips):
    frame = clips[0][1][:1]
    with pytest.raises(I.IdentityError, match="3 \\(RGB\\) or 1 \\(gray\\) channels; got 2"):
        I.embed(frame[..., :2])
    with pytest.raises(I.IdentityError, match="uint8"):
        I.embed(frame.astype(np.float32) / 255)
    with pytest.raises(I.IdentityError, match="\\(N, H, W, C\\)"):
        I.embed(frame[0])
    with pytest.raises(I.IdentityError, match="square"):
        I.embed(frame[:, :, :48])
    with pytest.raises(I.IdentityError, match="numpy"):
        I.embed(torch.zeros(1, 64, 64, 3, dtype=torch.uint8))
    with pytest.raises(I.IdentityError, match="one shape"):
        I.distances(np.zeros((2, 128)), np.zeros((3, 128)))
    with pytest.raises(I.IdentityError, match="source_id"):
        I.real_calibration([("k", clips[0][1], {})])
    with pytest.raises(I.IdentityError, match="at least 2 videos"):
        I.real_calibration([c for c in clips if c[2]["source_id"] == clips[0][2]["source_id"]][:2], frames_per_clip=1)
    with pytest.raises(I.IdentityError, match="part must be"):
        I.perturbation_distances(object(), "content", [1.0], 2, torch.Generator())
    with pytest.raises(I.IdentityError, match="non-negative"):
        I.perturbation_distances(object(), "static", [-1.0], 2, torch.Generator())


def test_missing_model_files_name_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(I, "model_dir", lambda: tmp_path)
    with pytest.raises(I.IdentityError, match="shape_predictor.*is missing"):
        I.model_paths()


def test_the_face_box_follows_the_margin_the_data_was_cut_with(faces, clips, tmp_path, monkeypatch):
    """A dataset cut with a tighter margin has a larger face in each crop: the metric reads the margin from
    the manifest and places the landmarks' box with it."""
    assert I.data_margin(faces) == I.MARGIN == load_manifest(faces)["config"]["face"]["margin"]
    tight = tmp_path / "tight"
    tight.mkdir()
    m = load_manifest(faces)
    m["config"]["face"]["margin"] = 1.25
    (tight / "manifest.json").write_text(json.dumps(m))
    assert I.data_margin(tight) == 1.25
    assert I.data_margin([str(faces / m["shards"][0]["file"])]) == I.MARGIN  # shard files: prepare's default
    m["config"]["face"]["margin"] = 0.9
    (tight / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(I.IdentityError, match="margin must be a number > 1"):
        I.data_margin(tight)
    frames = np.stack([c[1][0] for c in clips[:4]])
    import dlib
    boxes, rectangle = [], dlib.rectangle
    monkeypatch.setattr(dlib, "rectangle", lambda *a: boxes.append(a) or rectangle(*a))
    I.embed(frames[:1])
    I.embed(frames[:1], margin=1.25)
    assert [b[2] - b[0] + 1 for b in boxes] == pytest.approx([I.UPSCALE / I.MARGIN, I.UPSCALE / 1.25], abs=1.5)
