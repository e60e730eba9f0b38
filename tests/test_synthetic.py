"""Synthetic datasets: determinism and versions, physics and labels against the pixels, exact re-rendering
and counterfactuals, resume, clear errors. Real assets from ../shared/data (MNIST t10k, LPC sprites)."""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, require_shared
from pipelines.synthetic import balls, common, counterfactual, moving_mnist, render, sprites
from pipelines.synthetic.cli import build_parser, main
from shards import iter_samples, load_manifest
from shards.manifest import verify_main


def synth(out: Path, *args: str) -> int:
    return main([args[0], "--out", str(out), *args[1:]])


def all_samples(root: Path) -> list[tuple[str, np.ndarray, dict]]:
    m = load_manifest(root)
    return [s for shard in m["shards"] for s in iter_samples(root / shard["file"])]


def tar_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.tar"))}


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """A fresh $VIDSHARD_CACHE for this module: the asset registry starts empty and ~/.cache is untouched."""
    import os
    old = os.environ.get("VIDSHARD_CACHE")
    os.environ["VIDSHARD_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["VIDSHARD_CACHE"]
    else:
        os.environ["VIDSHARD_CACHE"] = old


@pytest.fixture(scope="module")
def mnist_dir() -> Path:
    return require_shared("mnist")


@pytest.fixture(scope="module")
def sprites_dir() -> Path:
    return require_shared("sprites", "li_mandt")


@pytest.fixture(scope="module")
def mnist_data(tmp_path_factory, mnist_dir) -> Path:
    out = tmp_path_factory.mktemp("mnist")
    assert synth(out, "moving-mnist", "--clips", "30", "--frames", "12", "--seed", "1", "--shard-size", "10",
                 "--mnist", str(mnist_dir)) == 0
    return out


@pytest.fixture(scope="module")
def sprites_data(tmp_path_factory, sprites_dir) -> Path:
    out = tmp_path_factory.mktemp("sprites")
    assert synth(out, "sprites", "--clips", "24", "--frames", "10", "--seed", "2", "--sprites", str(sprites_dir),
                 "--actions", "spellcast,thrust,walk,slash,shoot,hurt", "--directions", "back,left,front,right") == 0
    return out


# ---------------------------------------------------------------- determinism, versions, resume

def test_balls_same_options_same_bytes_any_workers(tmp_path):
    base = ("balls", "--clips", "40", "--frames", "12", "--seed", "3", "--shard-size", "8", "--balls", "3")
    assert synth(tmp_path / "a", *base) == 0
    assert synth(tmp_path / "b", *base, "--workers", "2") == 0
    a, b = tar_bytes(tmp_path / "a"), tar_bytes(tmp_path / "b")
    assert len(a) == 6 and a == b  # train 32 clips -> 4 shards, val 4, test 4
    va = load_manifest(tmp_path / "a")["version"]
    assert va == load_manifest(tmp_path / "b")["version"]
    assert verify_main([str(tmp_path / "a")]) == 0
    changed = [("--seed", "4"), ("--balls", "1"), ("--frames", "13"), ("--split", "0.5,0.25,0.25")]
    for i, (option, value) in enumerate(changed):
        args = list(base)
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
        assert synth(tmp_path / f"c{i}", *args) == 0
        assert load_manifest(tmp_path / f"c{i}")["version"] != va, option


def test_resume_reuses_stored_shards_other_options_make_another_version(tmp_path, capsys):
    base = ("balls", "--clips", "20", "--frames", "5", "--shard-size", "5")
    assert synth(tmp_path, *base) == 0
    objects = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "store").glob("*.tar")}
    version = load_manifest(tmp_path)["version"]
    capsys.readouterr()
    assert synth(tmp_path, *base) == 0                       # everything stored: nothing runs
    assert "(0 written, 6 reused, 0 dropped)" in capsys.readouterr().out
    # as if the build had died before recording train-000001: that unit runs again, to the same bytes
    from pipelines.synthetic.cli import plan_units, resolve_config
    config = resolve_config(build_parser().parse_args(list(base) + ["--out", str(tmp_path)]))[0]
    unit = next(u for u in plan_units(config, 5) if u.name == "train-000001")
    (tmp_path / "units" / f"{unit.key}.json").unlink()
    assert synth(tmp_path, *base) == 0
    assert "(1 written, 5 reused, 0 dropped)" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "store").glob("*.tar")} == objects
    assert load_manifest(tmp_path)["version"] == version
    # other options: another version in the same directory; the first stays readable by its id
    assert synth(tmp_path, *base[:-1], "4") == 0
    m = load_manifest(tmp_path)
    assert m["version"] != version and m["parent"] == version and verify_main([f"{tmp_path}@{version}"]) == 0
    capsys.readouterr()
    assert synth(tmp_path, *base[:-1], "4", "--overwrite") == 0  # written again, to the same bytes
    assert "(6 written, 0 reused, 0 dropped)" in capsys.readouterr().out
    assert load_manifest(tmp_path)["version"] == m["version"] and verify_main([str(tmp_path)]) == 0


def test_mnist_same_options_same_bytes_and_colors_change_version(tmp_path, mnist_dir, mnist_data):
    args = ("moving-mnist", "--clips", "30", "--frames", "12", "--seed", "1", "--shard-size", "10",
            "--mnist", str(mnist_dir))
    assert synth(tmp_path / "again", *args) == 0
    assert tar_bytes(tmp_path / "again") == tar_bytes(mnist_data)
    m = load_manifest(mnist_data)
    assert m["version"] == load_manifest(tmp_path / "again")["version"]
    assert m["config"]["options"]["assets"]["t10k-images-idx3-ubyte.gz"] == \
        common.sha256_file(mnist_dir / "t10k-images-idx3-ubyte.gz")
    assert verify_main([str(mnist_data)]) == 0
    assert synth(tmp_path / "pal", *args, "--colors", "palette") == 0
    assert load_manifest(tmp_path / "pal")["version"] != m["version"]


# ---------------------------------------------------------------- Moving MNIST labels and physics

def mnist_options(mnist_dir, fractions=(0.8, 0.1, 0.1), mnist_set="auto") -> dict:
    args = argparse.Namespace(mnist=str(mnist_dir), mnist_set=mnist_set, size=64, digits=2, colors="channel",
                              gray=False)
    return moving_mnist.options(args, list(fractions))[0]


def test_mnist_bounce_rule_and_ranges(mnist_dir):
    opts = mnist_options(mnist_dir)
    bounces = 0
    for i in range(200):
        lab = moving_mnist.sample(common.clip_rng(0, "train", i), 20, opts, "train", mnist_dir)
        pos, vel = np.asarray(lab["positions"]), np.asarray(lab["velocities"])
        assert pos.min() >= 0 and pos.max() <= 31 and np.abs(vel).max() <= 4
        raw = pos[:-1] + vel[:-1]
        clamped = (raw < 0) | (raw > 31)
        assert np.array_equal(pos[1:], np.clip(raw, 0, 31))
        assert np.array_equal(vel[1:], np.where(clamped, -vel[:-1], vel[:-1]))  # flips exactly at a clamp
        bounces += int(clamped.sum())
    assert bounces > 100  # the rule was really exercised


def test_mnist_pixels_only_where_labels_put_digits(mnist_data, mnist_dir):
    occluding = 0
    for _, frames, meta in all_samples(mnist_data):
        assert frames.shape == (12, 64, 64, 3)
        pos, d = np.asarray(meta["positions"]), meta["digit_size"]
        front = meta["front"]
        for t in range(frames.shape[0]):
            boxes = np.zeros((2, 64, 64), bool)
            for n in range(2):
                x, y = pos[t, n]
                boxes[n, y:y + d, x:x + d] = True
            for n in range(2):  # channel mode: digit n lights channel n only inside its own box
                assert not frames[t, ~boxes[n], n].any()
            assert not frames[t, ..., 2].any()
            # occlusion: wherever the front digit is fully opaque, the pixel is exactly its colour
            fx, fy = pos[t, front]
            alpha = moving_mnist.digit_alpha(str(mnist_dir.resolve()), meta["mnist_set"], meta["mnist_indices"][front], d)
            opaque = np.zeros((64, 64), bool)
            opaque[fy:fy + d, fx:fx + d] = alpha >= 1.0
            assert np.array_equal(frames[t][opaque], np.broadcast_to(meta["colors"][front], (opaque.sum(), 3)))
            occluding += int((opaque & boxes[1 - front]).sum())
    assert occluding > 0
    classes = load_mnist_labels(mnist_dir)
    assert meta["digit_classes"] == [int(classes[i]) for i in meta["mnist_indices"]]


def load_mnist_labels(directory: Path) -> np.ndarray:
    with gzip.open(directory / "t10k-labels-idx1-ubyte.gz") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8)


def test_mnist_palette_colors_are_distinct_and_gray_is_one_channel(tmp_path, mnist_dir):
    assert synth(tmp_path / "p", "moving-mnist", "--clips", "40", "--frames", "3", "--size", "32", "--colors",
                 "palette", "--mnist", str(mnist_dir)) == 0
    pairs = set()
    for _, frames, meta in all_samples(tmp_path / "p"):
        assert frames.shape == (3, 32, 32, 3) and meta["digit_size"] == 16
        a, b = meta["color_ids"]
        assert a != b and meta["colors"] == [list(moving_mnist.PALETTE[a]), list(moving_mnist.PALETTE[b])]
        pairs.add((a, b))
    assert len(pairs) > 10  # ordered colour pairs vary (30 possible)
    assert synth(tmp_path / "g", "moving-mnist", "--clips", "2", "--frames", "3", "--gray", "--split", "1,0,0",
                 "--mnist", str(mnist_dir)) == 0
    (_, frames, meta), = all_samples(tmp_path / "g")[:1]
    assert frames.shape == (3, 64, 64, 1) and frames.max() > 200 and meta["color_mode"] == "gray"


# ---------------------------------------------------------------- balls labels and physics

def test_balls_energy_conserved_and_inside_box():
    opts = {"n_balls": 3, "res": 30, "box": 10.0, "radius": 1.2}
    collisions = 0
    for i in range(40):
        lab = balls.sample(common.clip_rng(0, "train", i), 30, opts)
        pos, vel = lab["positions"], lab["velocities"]
        energy = (vel ** 2).sum(axis=(1, 2))
        np.testing.assert_allclose(energy, 0.25, rtol=1e-9)  # elastic walls and collisions, norm 0.5 at start
        slack = balls.SPEED / balls.SUBSTEPS  # a ball may cross a wall by at most one sub-step before it turns
        assert pos.min() >= 1.2 - slack and pos.max() <= 10 - 1.2 + slack
        speeds = np.linalg.norm(vel, axis=-1)
        collisions += int((np.abs(np.diff(speeds, axis=0)) > 1e-9).any(axis=1).sum())  # only ball-ball changes speed
    assert collisions > 0


@pytest.mark.parametrize("n, low, high", [(1, 0.0210, 0.0235), (3, 0.0330, 0.0385)])
def test_balls_match_framegan_reference_statistic(n, low, high):
    """FrameGAN's Table 1 metric on real clips (binarized frames, MSE of consecutive frames), re-measured on
    the reference generator (MODELS.md §C): 1 ball 0.0223 ± 0.0004, 3 balls 0.0358 ± 0.0019."""
    opts = {"n_balls": n, "res": 30, "box": 10.0, "radius": 1.2}
    per_clip = []
    for i in range(30):
        b = balls.render(balls.sample(common.clip_rng(7, "train", i), 30, opts))[..., 0] > 127
        per_clip.append(np.mean((b[1:].astype(float) - b[:-1]) ** 2))
    assert low < np.mean(per_clip) < high


def test_balls_json_positions_match_rendered_pixels(tmp_path):
    assert synth(tmp_path, "balls", "--clips", "12", "--frames", "30", "--balls", "3", "--split", "1,0,0") == 0
    yy, xx = np.mgrid[:30, :30]
    checked = 0
    for _, frames, meta in all_samples(tmp_path):
        assert frames.shape == (30, 30, 30, 1)
        px, pos = np.asarray(meta["positions_px"]), np.asarray(meta["positions"])
        np.testing.assert_allclose(px, pos * 3.0 - 0.5)
        for t in range(30):
            f = frames[t, ..., 0].astype(float)
            for n in range(3):
                others = np.delete(px[t], n, axis=0)
                if np.linalg.norm(others - px[t, n], axis=1).min() < 12:
                    continue  # overlapping blobs: a centroid cannot separate them
                near = (xx - px[t, n, 0]) ** 2 + (yy - px[t, n, 1]) ** 2 < 5.0 ** 2
                w = f * near
                centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
                assert np.abs(centroid - px[t, n]).max() < 0.3
                checked += 1
    assert checked > 300


# ---------------------------------------------------------------- sprites labels

def composite_sheet(directory: Path, attrs: dict) -> np.ndarray:
    """The whole character sheet composited independently of the generator (whole sheets, not cells)."""
    out = Image.new("RGBA", (832, 1344), (0, 0, 0, 255))
    for layer in ("body", "bottomwear", "topwear", "hair"):
        out = Image.alpha_composite(out, Image.open(directory / layer / f"{attrs[layer]}.png").convert("RGBA"))
    out = Image.alpha_composite(out, Image.open(directory / "shoes" / "1.png").convert("RGBA"))
    return np.asarray(out.convert("RGB"))


def test_sprites_frames_are_the_labelled_sheet_cells(sprites_data, sprites_dir):
    counts = {"spellcast": 7, "thrust": 8, "walk": 9, "slash": 6, "shoot": 13, "hurt": 6}  # non-empty cells
    actions = set()
    for _, frames, meta in all_samples(sprites_data):
        assert frames.shape == (10, 64, 64, 3)
        sheet = composite_sheet(sprites_dir, meta)
        rows, cols = meta["sheet_rows"], meta["sheet_cols"]
        action = meta["action"]
        expected_row = 20 if action == "hurt" else 4 * sprites.ACTIONS.index(action) + meta["direction_id"]
        assert set(rows) == {expected_row} and sprites.DIRECTIONS[meta["direction_id"]] == meta["direction"]
        assert all(c2 == (c1 + 1) % counts[action] for c1, c2 in zip(cols, cols[1:]))  # cycles its frames
        for t, (r, c) in enumerate(zip(rows, cols)):
            assert np.array_equal(frames[t], sheet[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64])
            assert frames[t].any()
        actions.add(action)
    assert len(actions) >= 4
    opts = load_manifest(sprites_data)["config"]["options"]
    assert [opts["frames_per_row"][4 * i] for i in range(5)] + [opts["frames_per_row"][20]] == list(counts.values())


# ---------------------------------------------------------------- render and counterfactual

@pytest.mark.parametrize("dataset", ["balls", "mnist", "sprites"])
def test_render_from_json_reproduces_shard_and_self_swap_is_identity(dataset, tmp_path, request):
    if dataset == "balls":
        assert synth(tmp_path, "balls", "--clips", "10", "--balls", "3") == 0
        root = tmp_path
    else:
        root = request.getfixturevalue(f"{dataset}_data")
    samples = all_samples(root)
    for _, frames, meta in samples:
        meta = json.loads(json.dumps(meta))  # exactly what a reader of the shard sees
        assert np.array_equal(render(meta), frames)
        assert np.array_equal(counterfactual(meta, meta), frames)


def test_counterfactual_puts_content_on_other_pose(mnist_data, sprites_data, sprites_dir):
    (_, fa, a), (_, fb, b) = all_samples(mnist_data)[:2]
    swap = counterfactual(a, b)
    assert swap.shape == fb.shape and not np.array_equal(swap, fb)
    expected = moving_mnist.render({**a, "positions": b["positions"], "velocities": b["velocities"]})
    assert np.array_equal(swap, expected)
    assert np.array_equal(counterfactual(a, b, frames=[3, 4, 7]), expected[[3, 4, 7]])
    lit = swap.any(axis=-1)  # pixels only inside b's boxes
    for t, boxes in enumerate(np.asarray(b["positions"])):
        inside = np.zeros((64, 64), bool)
        for x, y in boxes:
            inside[y:y + 32, x:x + 32] = True
        assert not lit[t, ~inside].any()
    s = all_samples(sprites_data)
    (_, _, c), (_, _, d) = s[0], next(x for x in s[1:] if x[2]["action"] != s[0][2]["action"])
    swap = counterfactual(c, d)
    sheet = composite_sheet(sprites_dir, c)
    for t, (r, col) in enumerate(zip(d["sheet_rows"], d["sheet_cols"])):
        assert np.array_equal(swap[t], sheet[r * 64:(r + 1) * 64, col * 64:(col + 1) * 64])
    with pytest.raises(common.SynthError, match="content clip is 'moving-mnist'"):
        counterfactual(a, c)


def test_render_accepts_moved_assets_and_names_missing_ones(mnist_data, mnist_dir, sprites_dir, tmp_path,
                                                              monkeypatch):
    _, frames, meta = all_samples(mnist_data)[0]
    copy = tmp_path / "elsewhere"
    shutil.copytree(mnist_dir, copy)
    assert np.array_equal(render(meta, assets=copy), frames)
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "empty-cache"))  # nothing noted: must be told
    with pytest.raises(common.SynthError, match=r"MNIST t10k assets with sha256 digest \w+ not found.*assets=DIR") as e:
        render(meta)
    assert "\n" not in str(e.value)
    with pytest.raises(common.SynthError, match="/nonexistent/mnist: MNIST t10k asset directory does not exist"):
        render(meta, assets="/nonexistent/mnist")
    with pytest.raises(common.SynthError, match="lacks t10k-images-idx3-ubyte.gz"):
        render(meta, assets=sprites_dir)
    # same names, other content: the sha256 catches it
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress((copy / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    common._digest_of.cache_clear()
    with pytest.raises(common.SynthError, match="assets do not match the clip: holds other files"):
        render(meta, assets=copy)


def test_asset_copies_give_same_bytes_and_version(tmp_path, mnist_dir, sprites_dir):
    """The asset directory's path reaches neither the shards nor the version: two copies, same dataset."""
    runs = {"moving-mnist": ("--mnist", mnist_dir, "--clips", "12", "--frames", "4", "--shard-size", "5"),
            "sprites": ("--sprites", sprites_dir, "--clips", "12", "--frames", "4", "--shard-size", "5")}
    for gen, (option, source, *rest) in runs.items():
        outs = []
        for copy in ("one", "two"):
            assets = tmp_path / copy / gen
            shutil.copytree(source, assets)
            outs.append(tmp_path / f"{gen}-{copy}")
            assert synth(outs[-1], gen, option, str(assets), *rest) == 0
        a, b = (load_manifest(o) for o in outs)
        assert tar_bytes(outs[0]) == tar_bytes(outs[1]) and len(tar_bytes(outs[0])) == 4
        assert a["version"] == b["version"] and a["config"] == b["config"]
        assert a["synthetic"]["assets_dir"] == str((tmp_path / "one" / gen).resolve())
        assert str(tmp_path) not in json.dumps(a["config"])
        shutil.rmtree(tmp_path / "one")  # the copy the registry notes last ("two") still renders
        for _, frames, meta in all_samples(outs[0]):
            assert str(tmp_path) not in json.dumps(meta) and "/" not in json.dumps(meta).replace("synthetic:", "")
            assert np.array_equal(render(meta), frames)
            assert np.array_equal(render(meta, assets=tmp_path / "two" / gen), frames)
            assert np.array_equal(counterfactual(meta, meta), frames)
        (tmp_path / "one").mkdir()


def test_generators_import_only_numpy_pil_scipy():
    code = ("import sys; import pipelines.synthetic, pipelines.synthetic.moving_mnist, pipelines.synthetic.balls, "
            "pipelines.synthetic.sprites; heavy = {'ray', 'mediapipe', 'decord', 'torch', 'webdataset', 'tqdm', "
            "'shards'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("args, message", [
    (("balls", "--clips", "0"), "--clips 0"),
    (("balls", "--clips", "5", "--split", "0.8,0.1"), "--split '0.8,0.1'"),
    (("balls", "--clips", "5", "--split", "0,0.5,0.5"), "train > 0"),
    (("balls", "--clips", "5", "--shard-size", "0"), "--shard-size 0"),
    (("moving-mnist", "--clips", "5", "--mnist", "/nonexistent/dir"), "/nonexistent/dir: no such directory"),
    (("sprites", "--clips", "5"), "needs --sprites DIR"),
    (("sprites", "--clips", "5", "--sprites", "/nonexistent/sp"), "/nonexistent/sp: no such directory"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, args, message):
    assert synth(tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_mnist_files_are_named(tmp_path, capsys, sprites_dir):
    (tmp_path / "m").mkdir()
    assert synth(tmp_path / "out", "moving-mnist", "--clips", "5", "--mnist", str(tmp_path / "m")) == 2
    assert "missing t10k-images-idx3-ubyte.gz" in capsys.readouterr().err
    with gzip.open(tmp_path / "m" / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + b"\x00" * 100)  # a labels magic where images belong
    with gzip.open(tmp_path / "m" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02")
    assert synth(tmp_path / "out", "moving-mnist", "--clips", "5", "--mnist", str(tmp_path / "m")) == 2
    err = capsys.readouterr().err
    assert "t10k-images-idx3-ubyte.gz: not an MNIST idx file" in err
    assert synth(tmp_path / "out", "sprites", "--clips", "5", "--sprites", str(sprites_dir),
                 "--actions", "walk,dance") == 2
    assert "--actions 'walk,dance'" in capsys.readouterr().err


def test_without_mnist_dir_downloads_into_cache_with_md5_check(tmp_path, monkeypatch, capsys, mnist_dir):
    """The download path, served from a file:// mirror of the shared files (no internet here)."""
    import hashlib
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(moving_mnist, "MNIST_URL", mnist_dir.as_uri() + "/")
    files = {**moving_mnist.MNIST_FILES, "t10k": tuple((n, "0" * 32) for n, _ in moving_mnist.MNIST_FILES["t10k"])}
    monkeypatch.setattr(moving_mnist, "MNIST_FILES", files)
    assert synth(tmp_path / "out", "moving-mnist", "--clips", "2", "--mnist-set", "t10k") == 2  # wrong md5: refused, nothing kept
    assert "does not match the published" in capsys.readouterr().err
    assert not any((tmp_path / "cache" / "mnist").iterdir())
    real = {**files, "t10k": tuple((n, hashlib.md5((mnist_dir / n).read_bytes()).hexdigest()) for n, _ in files["t10k"])}
    monkeypatch.setattr(moving_mnist, "MNIST_FILES", real)
    assert synth(tmp_path / "out", "moving-mnist", "--clips", "2", "--mnist-set", "t10k", "--split", "1,0,0") == 0
    cached = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    _, frames, meta = all_samples(tmp_path / "out")[0]
    assert load_manifest(tmp_path / "out")["synthetic"]["assets_dir"] == str(cached.resolve())
    assert meta["mnist_set"] == "t10k" and str(tmp_path) not in json.dumps(meta)
    (cached.parent / "synth-assets" / meta["mnist_sha256"]).unlink()  # the default cache dir is found anyway
    assert np.array_equal(render(meta), frames)


def test_help_answers_with_defaults_and_examples(capsys):
    assert main(["--help"]) == 0
    assert "vidshard synth balls --out" in capsys.readouterr().out
    assert main(["moving-mnist", "--help"]) == 0
    out = capsys.readouterr().out
    assert "default: 64" in out and "--colors" in out and "palette" in out


# ---------------------------------------------------------------- splits share no characters or digit images

def test_sprites_splits_have_disjoint_characters(tmp_path, sprites_dir):
    pools = sprites.character_pools([0.8, 0.1, 0.1])
    sets = {s: set(p.tolist()) for s, p in pools.items()}
    assert {s: len(v) for s, v in sets.items()} == {"train": 1036, "val": 130, "test": 130}
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    assert set().union(*sets.values()) == set(range(1296))
    assert synth(tmp_path, "sprites", "--clips", "300", "--frames", "1", "--split", "0.4,0.3,0.3",
                 "--shard-size", "300", "--sprites", str(sprites_dir)) == 0
    m = load_manifest(tmp_path)
    pools = sprites.character_pools(m["config"]["split"])
    assert m["synthetic"]["characters"] == {s: len(p) for s, p in pools.items()} == \
        {"train": 518, "val": 389, "test": 389}
    seen = {s: set() for s in pools}
    for _, _, meta in all_samples(tmp_path):
        cid = sprites.character_id([meta[a] for a in sprites.ATTRIBUTES])
        assert sprites.character_attrs(cid) == [meta[a] for a in sprites.ATTRIBUTES]
        assert cid in set(pools[meta["split"]].tolist()), meta["source_id"]
        seen[meta["split"]].add(cid)
    assert all(len(v) > 50 for v in seen.values())
    assert not (seen["train"] & seen["val"] or seen["train"] & seen["test"] or seen["val"] & seen["test"])


def digit_images_by_split(root: Path) -> dict[str, set]:
    out = {"train": set(), "val": set(), "test": set()}
    for _, _, meta in all_samples(root):
        out[meta["split"]].update((meta["mnist_set"], i) for i in meta["mnist_indices"])
    return out


def test_mnist_splits_draw_disjoint_digit_images_from_one_set(tmp_path, mnist_dir):
    assert synth(tmp_path, "moving-mnist", "--clips", "300", "--frames", "1", "--size", "16", "--split",
                 "0.4,0.3,0.3", "--shard-size", "300", "--mnist", str(mnist_dir)) == 0
    m = load_manifest(tmp_path)
    assert m["synthetic"]["digit_images"] == {"source": "partition", "train": {"set": "t10k", "images": 4000},
                                              "val": {"set": "t10k", "images": 3000},
                                              "test": {"set": "t10k", "images": 3000}}
    used = digit_images_by_split(tmp_path)
    assert all(len(v) > 100 for v in used.values())
    assert not (used["train"] & used["val"] or used["train"] & used["test"] or used["val"] & used["test"])
    pools = moving_mnist.digit_pools(m["config"]["options"])
    for split, images in used.items():
        assert {i for _, i in images} <= set(pools[split].tolist())


def test_mnist_with_train_set_uses_train_for_train_val_and_t10k_for_test(tmp_path, mnist_dir):
    both = tmp_path / "both"
    shutil.copytree(mnist_dir, both)
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as f:  # a stand-in train set: 3000 of the images
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:3000]
    labels = load_mnist_labels(mnist_dir)[:3000]
    with gzip.open(both / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([2051, 3000, 28, 28], ">u4").tobytes() + images.tobytes())
    with gzip.open(both / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([2049, 3000], ">u4").tobytes() + labels.tobytes())
    assert synth(tmp_path / "out", "moving-mnist", "--clips", "200", "--frames", "1", "--size", "16",
                 "--split", "0.5,0.25,0.25", "--shard-size", "200", "--mnist", str(both)) == 0
    m = load_manifest(tmp_path / "out")
    assert m["synthetic"]["digit_images"] == {"source": "train+t10k", "train": {"set": "train", "images": 2000},
                                              "val": {"set": "train", "images": 1000},
                                              "test": {"set": "t10k", "images": 10000}}
    assert set(m["config"]["options"]["assets"]) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    used = digit_images_by_split(tmp_path / "out")
    assert {s for s, _ in used["train"] | used["val"]} == {"train"} and {s for s, _ in used["test"]} == {"t10k"}
    assert used["train"] and used["val"] and not used["train"] & used["val"]
    for _, frames, meta in all_samples(tmp_path / "out"):
        assert np.array_equal(render(meta), frames)
        classes = labels if meta["mnist_set"] == "train" else load_mnist_labels(mnist_dir)
        assert meta["digit_classes"] == [int(classes[i]) for i in meta["mnist_indices"]]
    # --mnist-set t10k: only t10k, dealt to the three splits
    assert synth(tmp_path / "t", "moving-mnist", "--clips", "4", "--frames", "1", "--mnist-set", "t10k",
                 "--mnist", str(both)) == 0
    assert load_manifest(tmp_path / "t")["synthetic"]["digit_images"]["source"] == "partition"


def test_a_split_with_clips_but_no_characters_is_an_error(tmp_path, capsys, sprites_dir):
    assert synth(tmp_path / "o", "sprites", "--clips", "20000", "--split", "0.9998,0.0001,0.0001",
                 "--sprites", str(sprites_dir)) == 2  # val and test: 2 clips each, round(0.13) = 0 characters
    err = capsys.readouterr().err
    assert "split 'val' has clips but no characters of its own" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
