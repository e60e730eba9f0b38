"""The judge (trainers/eval/judge.py) and the sequential-VAE protocol, on CPU.

Data: small Sprites and Moving MNIST sets made once per module with `vidshard synth` from the real assets in
../shared/data; three judges (Sprites at 64×64 and 32×32, the Moving MNIST digit reader at 32×32) are
trained once per module with CI settings and shared by the tests. The protocol is checked against models
whose answer is known: one that copies real clips (the judge's own accuracy), one that outputs noise
(chance), and one that renders the exact counterfactual clip from the synthetic generator (a perfect
disentangler: fixed factors at the judge's accuracy, resampled ones at chance).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import require_shared
from pipelines.synthetic import counterfactual
from pipelines.synthetic.cli import main as synth_main
from trainers.eval import judge as J
from trainers.eval import labels
from trainers.eval.data import iter_clips, split_shards, to_tensor
from trainers.frames import fit_frames

SPRITES = J.Settings(train_clips=640, frames_per_clip=8, test_clips=120, epochs=4)
MNIST = J.Settings(train_clips=7200, frames_per_clip=1, test_clips=800, epochs=4)


@pytest.fixture(scope="module", autouse=True)
def one_thread_own_cache(tmp_path_factory):
    """One intra-op thread (the machine is shared) and a fresh $VIDSHARD_CACHE: judges cache there."""
    import os
    n, old = torch.get_num_threads(), os.environ.get("VIDSHARD_CACHE")
    torch.set_num_threads(1)
    os.environ["VIDSHARD_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    torch.set_num_threads(n)
    if old is None:
        del os.environ["VIDSHARD_CACHE"]
    else:
        os.environ["VIDSHARD_CACHE"] = old


@pytest.fixture(scope="module")
def sprites_dir():
    return require_shared("sprites", "li_mandt")


@pytest.fixture(scope="module")
def sprites_data(tmp_path_factory, sprites_dir):
    """800 clips of Li & Mandt's setting (walk, spellcast, slash × left, front, right): 640 train, 120 test."""
    out = tmp_path_factory.mktemp("sprites")
    assert synth_main(["sprites", "--out", str(out), "--clips", "800", "--seed", "3", "--split", "0.8,0.05,0.15",
                       "--shard-size", "400", "--sprites", str(sprites_dir)]) == 0
    return out


@pytest.fixture(scope="module")
def mnist_data(tmp_path_factory):
    """8000 clips of 6 frames, 32×32, two digits in channel colours: 7200 train, 800 test (disjoint digit
    images: the reader is data-bound, so it trains on one frame of many clips)."""
    out = tmp_path_factory.mktemp("mnist")
    assert synth_main(["moving-mnist", "--out", str(out), "--clips", "8000", "--frames", "6", "--size", "32",
                       "--seed", "3", "--split", "0.9,0,0.1", "--mnist", str(require_shared("mnist"))]) == 0
    return out


@pytest.fixture(scope="module")
def judge64(sprites_data):
    return J.judge_for(sprites_data, 64, settings=SPRITES)


@pytest.fixture(scope="module")
def judge32(sprites_data):
    return J.judge_for(sprites_data, 32, settings=SPRITES)


@pytest.fixture(scope="module")
def mnist_judge(mnist_data):
    return J.judge_for(mnist_data, 32, settings=MNIST)


@pytest.fixture(scope="module")
def held_out(sprites_data):
    return list(iter_clips(split_shards(str(sprites_data), "test"), 120))


def report(judge: J.Judge) -> str:
    acc = judge.meta["accuracy"]
    rows = [f"{f}: frame {acc['frame'][f]:.4f}"
            + (f" own-pose {acc['frame_own_pose'][f]:.4f}" if f in acc.get("frame_own_pose", {}) else "")
            + (f" clip {acc['clip'][f]:.4f}" if f in acc["clip"] else "") for f in judge.judged()]
    return f"{judge.generator} {judge.size}px: " + "; ".join(rows)


# ---------------------------------------------------------------- the judge on real frames

@pytest.mark.parametrize("size", [64, 32])
def test_sprites_judge_reads_every_factor_on_held_out_characters(request, size):
    """≥ 95% per frame on the test split's characters (none seen in training) for the four appearance
    factors and the direction; the action ≥ 95% on the frames that show it (the standing first frame of
    spellcast, walk and slash is nearly the same picture: at 32×32 spellcast and slash differ there by an L1
    of ~1 over the whole frame) and ≥ 90% on all frames; every factor ≥ 95% per clip."""
    judge = request.getfixturevalue(f"judge{size}")
    print(report(judge))
    acc = judge.meta["accuracy"]
    assert judge.size == size and judge.channels == 3
    assert list(judge.factors) == [*labels.SPRITE_ATTRIBUTES, "action", "direction"]
    assert judge.factors["action"] == [0, 2, 3] and judge.factors["direction"] == [1, 2, 3]  # only what varies
    assert judge.classes("action_direction") == [(a, d) for a in (0, 2, 3) for d in (1, 2, 3)]
    for f in (*labels.SPRITE_ATTRIBUTES, "direction"):
        assert acc["frame"][f] >= 0.95, (f, acc["frame"][f])
    for f in ("action", "action_direction"):
        assert acc["frame_own_pose"][f] >= 0.95, (f, acc["frame_own_pose"][f])
        assert acc["frame"][f] >= 0.90, (f, acc["frame"][f])
    assert acc["shared_pose_frames"] > 0
    for f in judge.judged():
        assert acc["clip"][f] >= 0.95, (f, acc["clip"][f])
    ds = judge.meta["dataset"]
    assert ds["held_out"] == "test" and ds["test_clips"] == 120 and ds["test_frames"] == 960


def test_mnist_digit_reader_reads_each_channel(mnist_judge, mnist_data):
    """The digit of each colour channel: ≥ 95% per clip, ≥ 95% per frame for the front digit; the back digit
    loses where the front one covers it (reported by how much of its box is covered)."""
    print(report(mnist_judge), json.dumps(mnist_judge.meta["accuracy"]["occlusion"]))
    acc = mnist_judge.meta["accuracy"]
    assert mnist_judge.channel_of == {"digit_ch0": 0, "digit_ch1": 1}
    for f in ("digit_ch0", "digit_ch1"):
        assert acc["clip"][f] >= 0.95, (f, acc["clip"][f])
        assert acc["frame"][f] >= 0.90, (f, acc["frame"][f])
    occ = acc["occlusion"]
    assert occ["front"]["accuracy"] >= 0.95
    assert occ["front"]["frames"] == occ["back"]["frames"] == 800 * 6
    covered = occ["back_by_box_cover"]
    assert covered["(0.5, 1.0]"]["accuracy"] < occ["front"]["accuracy"]  # occlusion costs the back digit
    # the reader on frames given directly: one digit per channel, as DrNet's issue reads generated frames
    clips = list(iter_clips(split_shards(str(mnist_data), "test"), 50))
    x = fit_frames(to_tensor(np.stack([c[1] for c in clips])), 32, 3)
    digits = mnist_judge.read_digits(x)                           # (50, 6, 3)
    assert digits.shape == (50, 6, 3)
    truth = torch.tensor([[labels.frame_factors(m)[f"digit_ch{c}"][0] for c in range(2)] for _, _, m in clips])
    assert (digits[..., :2] == truth[:, None]).float().mean() >= 0.9
    assert mnist_judge.digit_log_probs(x[:2, :1]).shape == (2, 1, 3, 10)


def test_gaussian_blur_per_frame_sigma():
    """σ 0 leaves a frame exactly as it is; each frame gets its own σ; a blur spreads a dot without losing its
    mass (away from the edges) and more σ spreads it further."""
    x = torch.zeros(3, 2, 15, 15)
    x[:, :, 7, 7] = 1.0
    y = J.gaussian_blur(x, torch.tensor([0.0, 0.8, 1.6]))
    assert torch.equal(y[0], x[0])
    assert torch.allclose(y.sum((-2, -1)), torch.ones(3, 2), atol=1e-5)
    assert y[2, 0, 7, 7] < y[1, 0, 7, 7] < 1.0
    assert torch.allclose(y[1:2], J.gaussian_blur(x[1:2], 0.8))
    assert torch.equal(y[:, 0], y[:, 1])  # channels alike


def test_blur_trained_reader_reads_blurred_digits(mnist_judge, mnist_data):
    """Generated frames are blurred: a reader trained on sharp frames only loses most blurred digits, one trained
    with blur (the full Moving MNIST setting) reads them about as well as sharp ones, and sharp ones as before."""
    robust = J.train_judge(mnist_data, 32, 3, J.replace(MNIST, blur=1.2))
    sharp_acc, robust_acc = mnist_judge.meta["accuracy"], robust.meta["accuracy"]
    print("sharp-trained", sharp_acc["frame"], sharp_acc["frame_blurred"], "blur-trained", robust_acc["frame"],
          robust_acc["frame_blurred"])
    assert robust_acc["blurred_sigma"] == J.BLUR_CHECK == 1.0
    for f in ("digit_ch0", "digit_ch1"):
        assert robust_acc["frame_blurred"][f] >= 0.88, robust_acc["frame_blurred"]
        assert robust_acc["frame_blurred"][f] >= sharp_acc["frame_blurred"][f] + 0.15
        assert robust_acc["frame"][f] >= 0.90
    black = torch.zeros(200, 3, 32, 32)  # nothing drawn reads as one class, not as the true digits
    assert robust.read_digits(black)[:, :2].unique().numel() <= 2


def test_mnist_judge_needs_colour_channels(mnist_data):
    with pytest.raises(ValueError, match="per colour channel"):
        J.train_judge(mnist_data, 32, 1, J.Settings(train_clips=20, frames_per_clip=1, epochs=1, test_clips=5))


def test_training_is_deterministic(sprites_data):
    tiny = J.Settings(train_clips=40, frames_per_clip=2, test_clips=10, epochs=1, seed=7)
    a, b = (J.train_judge(sprites_data, 32, None, tiny) for _ in range(2))
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = J.train_judge(sprites_data, 32, None, J.Settings(**{**tiny.__dict__, "seed": 8}))
    assert not torch.equal(sa["heads.body.weight"], c.state_dict()["heads.body.weight"])


def test_cache_reuses_and_retrains(sprites_data, judge32, held_out, capsys):
    """Cached by (dataset version, size, channels): a second request loads the same weights (weights_only);
    other settings retrain; the json records settings and accuracies."""
    version = J.manifest_of(sprites_data)["version"]
    path = J.judge_path(version, 32, 3)
    assert path.name == f"{version}-32px-3ch.pt" and path.is_file()
    desc = json.loads(path.with_suffix(".json").read_text())
    assert desc["settings"] == SPRITES.__dict__ and desc["accuracy"] == judge32.meta["accuracy"]
    assert not list(path.parent.glob("*.tmp"))
    logs = []
    again = J.judge_for(sprites_data, 32, settings=SPRITES, log=logs.append)
    assert any("from the cache" in s for s in logs)
    x = fit_frames(to_tensor(np.stack([c[1] for c in held_out[:8]])), 32, 3)
    for f, v in judge32.clip_log_probs(x).items():
        assert torch.allclose(v, again.clip_log_probs(x)[f])
    assert all(isinstance(v, torch.Tensor) for v in torch.load(path, weights_only=True).values())
    logs.clear()
    other = J.judge_for(sprites_data, 32, settings=J.Settings(train_clips=30, frames_per_clip=1, epochs=1,
                                                             test_clips=10), log=logs.append)
    assert any("retraining" in s for s in logs) and other.meta["settings"]["train_clips"] == 30
    J.save_judge(judge32, path)  # leave the module's judge in the cache for the CLI test


def test_cli_prints_accuracies(sprites_data, judge32, capsys):
    assert J.main(["--data", str(sprites_data), "--size", "32", *settings_args(SPRITES)]) == 0
    out = capsys.readouterr().out
    assert "action_direction" in out and "own pose" in out
    body = next(line for line in out.splitlines() if line.startswith("body"))
    assert f"{judge32.meta['accuracy']['frame']['body']:.4f}" in body
    with pytest.raises(SystemExit):
        J.main(["--help"])
    assert "--frames-per-clip" in capsys.readouterr().out
    assert J.main(["--data", str(sprites_data / "nope"), "--size", "32"]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_full_settings_are_the_generators_own_and_the_cli_overrides_them_one_by_one(sprites_data, mnist_data,
                                                                                     monkeypatch):
    """Sprites' full judge reads every frame of a clip for 8 epochs (the action needs the animation frames);
    the others keep FULL; a CLI flag changes its setting and leaves the rest at the dataset's full values."""
    sprites, mnist = (J.full_settings(J.manifest_of(d)) for d in (sprites_data, mnist_data))
    assert (sprites.frames_per_clip, sprites.epochs) == (8, 8) and mnist == J.replace(J.FULL, blur=1.2)
    seen = []
    monkeypatch.setattr(J, "judge_for", lambda data, size, channels, settings, retrain, log: seen.append(settings))
    monkeypatch.setattr(J, "_print_accuracy", lambda judge: None)
    assert J.main(["--data", str(sprites_data), "--size", "32", "--epochs", "2"]) == 0
    assert J.main(["--data", str(mnist_data), "--size", "32"]) == 0
    assert seen == [J.replace(sprites, epochs=2), mnist]


def settings_args(s: J.Settings) -> list[str]:
    return [a for k, v in s.__dict__.items() for a in (f"--{k.replace('_', '-')}", str(v))]


# ---------------------------------------------------------------- IS, H(y|x), H(y)

def test_scores_on_known_distributions():
    K = 6
    confident = torch.full((K * 10, K), -1e4).scatter_(1, torch.arange(K * 10)[:, None] % K, 0.0).log_softmax(-1)
    s = J.scores(confident)
    assert math.isclose(s["is"], K, rel_tol=1e-9) and s["h_yx"] < 1e-9 and math.isclose(s["h_y"], math.log(K))
    uniform = torch.full((50, K), -math.log(K), dtype=torch.float64)
    s = J.scores(uniform)
    assert math.isclose(s["is"], 1.0) and math.isclose(s["h_yx"], math.log(K)) and math.isclose(s["h_y"], math.log(K))
    one_class = torch.full((50, K), -1e4).index_fill_(1, torch.tensor([2]), 0.0).log_softmax(-1)
    s = J.scores(one_class)
    assert math.isclose(s["is"], 1.0, rel_tol=1e-9) and s["h_y"] < 1e-9
    assert list(J.balanced(np.array([0, 1, 1, 2, 2, 2, 0]))) == [0, 6, 1, 2, 3, 4]


# ---------------------------------------------------------------- the protocol

class CopyModel:
    """Codes are the clip itself: the fixed part's code is the real clip and `generate` returns it; the
    resampled part is noise that changes nothing."""

    def __init__(self, shape):
        self.shape = shape  # (T, C, H, W)

    def encode_static(self, frames):
        return frames.flatten(1)

    def encode_dynamic(self, frames):
        return frames.flatten(2)

    def sample_static(self, n, generator):
        return torch.rand(n, 1, generator=generator)

    def sample_dynamic(self, n, t, generator, static=None):
        return torch.rand(n, t, 1, generator=generator)

    def generate(self, static, dynamic):
        if static.shape[1] > 1:
            return static.view(-1, *self.shape)
        return dynamic.reshape(dynamic.shape[0], *self.shape)


class NoiseModel(CopyModel):
    """Every generated frame is uniform noise."""

    def generate(self, static, dynamic):
        g = torch.Generator().manual_seed(int(1e6 * float(static.flatten()[0])) % (2 ** 31))
        return torch.rand(static.shape[0], *self.shape, generator=g)


class CounterfactualModel:
    """A perfect disentangler: codes index real held-out clips, and `generate` renders the appearance of the
    static code's clip moving as the dynamic code's clip (the synthetic generator's exact counterfactual)."""

    def __init__(self, clips, size, assets):
        self.metas = [m for _, _, m in clips]
        self.size, self.assets = size, assets
        self.index = {self._key(fit_frames(to_tensor(c[1]), size, 3)): i for i, c in enumerate(clips)}

    @staticmethod
    def _key(x):
        return x.numpy().tobytes()

    def encode_static(self, frames):
        return torch.tensor([[float(self.index[self._key(x)])] for x in frames])

    def encode_dynamic(self, frames):
        return self.encode_static(frames)[:, None].expand(-1, frames.shape[1], 1)

    def sample_static(self, n, generator):
        return torch.randint(len(self.metas), (n, 1), generator=generator).float()

    def sample_dynamic(self, n, t, generator, static=None):
        return self.sample_static(n, generator)[:, None].expand(-1, t, 1)

    def generate(self, static, dynamic):
        self.grad_enabled = torch.is_grad_enabled()   # the protocol generates without building graphs
        out = [counterfactual(self.metas[int(s)], self.metas[int(d[0])], assets=self.assets)
               for s, d in zip(static[:, 0], dynamic[:, :, 0])]
        return fit_frames(to_tensor(np.stack(out)), self.size, 3)


def test_requirements_and_factor_split(judge32):
    assert J.protocol_requirements("dynamic", "labels") == ("encode_dynamic", "sample_static", "generate")
    assert J.protocol_requirements("static", "first") == ("sample_static", "sample_dynamic", "generate")
    assert J.missing_methods(object(), "static", "labels") == ["encode_static", "sample_dynamic", "generate"]
    assert J.fixed_factors(judge32, "static") == list(labels.SPRITE_ATTRIBUTES)
    assert J.fixed_factors(judge32, "dynamic") == ["action", "direction", "action_direction"]
    with pytest.raises(AttributeError, match="encode_dynamic"):
        J.sequential_protocol(object(), judge32, [1], "dynamic")


@pytest.mark.parametrize("fixed", ["dynamic", "static"])
def test_protocol_on_copied_real_clips_gives_the_judges_own_figures(judge32, held_out, fixed):
    T = held_out[0][1].shape[0]
    res = J.sequential_protocol(CopyModel((T, 3, 32, 32)), judge32, held_out, fixed, draws=2, batch=50)
    assert res["clips"] == 120 and res["draws"] == 2
    for f, e in res["factors"].items():
        assert e["fixed"] == (f in J.fixed_factors(judge32, fixed))
        assert abs(e["accuracy"] - e["real"]["accuracy"]) < 1e-9, f
        if e["fixed"]:  # same clips, same class balancing: the same IS and entropies
            for k in ("is", "h_yx", "h_y"):
                assert math.isclose(e[k], e["real"][k], rel_tol=1e-6, abs_tol=1e-9), (f, k)
    headline = res["factors"]["action_direction" if fixed == "dynamic" else "body"]
    assert headline["accuracy"] >= 0.95 and headline["h_y"] > math.log(3)


def test_protocol_on_noise_gives_chance(judge32, held_out):
    """Noise frames carry no label, so accuracy can only be what predictions independent of the labels get:
    chance = Σ_c q(c) p(c) (q: how often the judge answers c, p: how often c is the label), which is at
    most the largest label share. Tolerance: 4 binomial standard deviations of 120 clips × 3 draws, with
    the draws of a clip counted as one (≤ 0.18 for the 3-class factors, 0.14 for 6 classes)."""
    T = held_out[0][1].shape[0]
    res = J.sequential_protocol(NoiseModel((T, 3, 32, 32)), judge32, held_out, "dynamic", draws=3, batch=60)
    for f, e in res["factors"].items():
        p = e["chance"]
        tol = 4 * math.sqrt(max(p * (1 - p), 0.05) / res["clips"])
        assert abs(e["accuracy"] - p) <= tol, (f, e["accuracy"], p)
        assert e["accuracy"] < e["real"]["accuracy"] - 0.3, f
        share = max(np.mean([labels.frame_factors(m)[f][0] == c for _, _, m in held_out]) for c in judge32.classes(f)) \
            if f in judge32.factors else 1.0
        assert p <= share + 1e-9


def test_protocol_on_a_perfect_disentangler(judge32, held_out, sprites_dir):
    """Exact counterfactual renders: the fixed part's factors score as on real clips, the resampled part's
    factors fall to chance, and resampling spreads them (H(y) well above 0)."""
    model = CounterfactualModel(held_out, 32, sprites_dir)
    for fixed in ("dynamic", "static"):
        res = J.sequential_protocol(model, judge32, held_out, fixed, draws=1, batch=60, seed=1)
        for f, e in res["factors"].items():
            if e["fixed"]:
                assert e["accuracy"] >= 0.95, (fixed, f, e["accuracy"])
            else:
                assert e["accuracy"] <= e["chance"] + 4 * math.sqrt(0.25 / res["clips"]), (fixed, f, e)
                assert e["h_y"] > 0.5 * math.log(len(judge32.classes(f))), (fixed, f)


def test_protocol_first_reference_for_models_without_encoders(judge32, held_out, sprites_dir):
    """'first': the fixed part drawn from the prior is shared by the draws of a clip; agreement with the
    first draw is (near) 1 on the fixed factors of a perfect disentangler and chance-level on the resampled ones."""
    model = CounterfactualModel(held_out, 32, sprites_dir)
    res = J.sequential_protocol(model, judge32, held_out[:60], "dynamic", reference="first", draws=3, seed=2)
    assert model.grad_enabled is False
    for f, e in res["factors"].items():
        assert "accuracy" not in e
        m = np.asarray(e["first_vs_later"])
        assert m.shape == (e["classes"],) * 2 and m.sum() == 60 * 2
        assert np.trace(m) / m.sum() == pytest.approx(e["agreement"])
        if e["fixed"]:
            assert e["agreement"] >= 0.95, (f, e["agreement"])
        else:
            assert e["agreement"] <= e["chance"] + 4 * math.sqrt(0.25 / 60), (f, e)
    with pytest.raises(ValueError, match="draws"):
        J.sequential_protocol(model, judge32, held_out, "dynamic", reference="first", draws=1)
