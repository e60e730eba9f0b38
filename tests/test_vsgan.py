"""The video-set GAN (trainers/models/vsgan.py) on CPU: shapes, how latents are drawn for a set (z_C shared,
z_M per frame), what D sees (n frames stacked on channels, real and fake in the same order), the adapter
the evaluation kit uses, and under the harness: 2 DDP ranks stay bit-identical and resume is exact.

Data: the harness tests' moving squares (32x32 RGB, 8-frame clips) written to a temp dir; models are tiny
(16x16 gray or 32x32, width 8). Facts are cheap and exact, never sample quality (MODELS.md §A)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from test_ddp import two_ranks_cut_and_resumed
from test_harness import make_dataset, read_jsonl, train_losses
from shards.loader import make_loader
from trainers import checkpoint as ckpt
from trainers import harness
from trainers.frames import fit_frames
from trainers.models import load_model_module, vsgan
from trainers.train import main as train_main

# a model that trains in a few ms a step: 16x16 gray sets of 3 from the 32x32 RGB squares
SMALL = dict(image_size=16, channels=1, ngf=8, ndf=8, batch_size=4, dim_zc=4, dim_zm=3)
SMALL_ARGS = [f"{k}={v}" for k, v in SMALL.items()]


def small(**overrides) -> vsgan.Config:
    return replace(vsgan.Config(**SMALL), **overrides)


def new_model(cfg: vsgan.Config, seed: int = 0) -> vsgan.Model:
    torch.manual_seed(seed)
    return vsgan.Model(cfg)


def make_ctx() -> harness.Context:
    return harness.Context(torch.device("cpu"), harness.Dist(), 0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads spin against each other."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


def first_batch(data: Path, cfg: vsgan.Config) -> dict:
    loader = make_loader(data, seed=0, with_meta=False, **vsgan.loader_kwargs(cfg))
    loader.set_epoch(0)
    return next(iter(loader))


# ---- networks ------------------------------------------------------------------------------------------------

def test_the_paper_networks_are_dcgan_64():
    """64x64, ngf = ndf = 64 (MODELS.md §A): G widths 512 -> 256 -> 128 -> 64 -> c, D n*c -> 64 -> ... -> 512 -> 1."""
    model = vsgan.Model(vsgan.Config())
    convs = lambda net: [m for m in net.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    assert [(m.in_channels, m.out_channels) for m in convs(model.G)] == [(100, 512), (512, 256), (256, 128),
                                                                         (128, 64), (64, 1)]
    assert [(m.in_channels, m.out_channels) for m in convs(model.D)] == [(3, 64), (64, 128), (128, 256),
                                                                         (256, 512), (512, 1)]
    assert not isinstance(model.D.net[1], torch.nn.BatchNorm2d)  # no BN on D's input layer (DCGAN)
    assert {type(m) for m in model.G.net if not isinstance(m, torch.nn.ConvTranspose2d)} == \
        {torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.Tanh}
    w = torch.cat([m.weight.detach().flatten() for m in convs(model.G) + convs(model.D)])
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.001  # N(0, 0.02)
    opt = model.optimizers()
    assert set(opt) == {"d", "g"} and opt["g"].defaults["lr"] == 2e-4 and opt["g"].defaults["betas"] == (0.5, 0.999)
    assert model.optimizers() is opt


@pytest.mark.parametrize("size, channels, n", [(64, 1, 3), (32, 3, 3), (16, 3, 5)])
def test_shapes_and_d_input_has_n_times_c_channels(size, channels, n):
    cfg = small(image_size=size, channels=channels, n_frames=n)
    model = new_model(cfg)
    frames = model.G(torch.rand(6, cfg.dim_zc + cfg.dim_zm) * 2 - 1)
    assert frames.shape == (6, channels, size, size) and frames.abs().max() <= 1
    assert model.D.net[0].in_channels == n * channels
    assert model.D(torch.zeros(2, n * channels, size, size)).shape == (2,)
    with pytest.raises(RuntimeError):  # one frame is not a set
        model.D(torch.zeros(2, channels, size, size))


def test_mbstd_lets_d_see_how_varied_the_batch_is():
    """With mbstd a set's logit depends on the other sets of its batch (a batch of copies reads spread 0);
    without it, in eval mode (BN running statistics), it does not."""
    torch.manual_seed(0)
    sets = torch.rand(4, 3, 16, 16) * 2 - 1
    others = torch.rand(4, 3, 16, 16) * 2 - 1
    copies = sets[:1].expand(4, -1, -1, -1)
    for mbstd in (False, True):
        D = new_model(small(mbstd=mbstd)).D.eval()
        with torch.no_grad():
            mixed = D(torch.cat([sets[:1], others[1:]]))[0]
            alone = D(copies)[0]
            again = D(sets)[0]
        assert D.net[-1].in_channels == 8 * 2 ** 1 + int(mbstd)   # 16x16: widths 8 -> 16 at 4x4, + the spread
        if mbstd:
            assert not torch.allclose(mixed, alone) and not torch.allclose(again, alone)
        else:
            torch.testing.assert_close(mixed, alone)
            torch.testing.assert_close(again, alone)


def test_flip_mirrors_whole_sets_some_of_the_time():
    """flip=True mirrors each real set left-right or leaves it, all frames of a set alike; over many sets
    both happen; it is off by default (the paper does not mirror)."""
    torch.manual_seed(0)
    sets = torch.rand(200, 3, 1, 4, 4)
    out = vsgan.mirror_some(sets)
    kept = (out == sets).flatten(1).all(1)
    mirrored = (out == sets.flip(-1)).flatten(1).all(1)
    assert (kept | mirrored).all()
    assert 60 < int(mirrored.sum()) < 140
    assert not vsgan.Config().flip


def test_real_label_smoothing_moves_d_s_optimum_on_real_sets():
    """real_label=1 is the paper's -log D(real); below 1, D's loss on real sets is least where D(real) equals
    the label, so D gains nothing by growing surer than that. Off (1.0) by default."""
    logits = torch.linspace(-6, 6, 1201)
    plain = torch.stack([vsgan.real_loss(l[None], 1.0) for l in logits])
    torch.testing.assert_close(plain, torch.nn.functional.softplus(-logits))
    smoothed = torch.stack([vsgan.real_loss(l[None], 0.9) for l in logits])
    best = torch.sigmoid(logits[smoothed.argmin()])
    assert abs(float(best) - 0.9) < 0.01
    assert bool((plain[1:] < plain[:-1]).all())            # at 1, surer is always better
    assert vsgan.Config().real_label == 1.0


def test_diff_augment_draws_once_per_set_and_lets_gradients_through():
    """DiffAugment: off ('') leaves the sets as they are; each policy keeps the shape, treats the n frames of
    a set alike (identical frames stay identical, so D still compares frames as the real clip has them) and
    is differentiable in the frames; translation only moves pixels (zeros come in), cutout zeroes at most a
    quarter of the frame and, with the square's centre inside it, at least a sixteenth."""
    torch.manual_seed(0)
    frame = torch.rand(64, 1, 3, 16, 16) * 2 - 1
    sets = frame.expand(-1, 3, -1, -1, -1).clone().requires_grad_(True)
    assert vsgan.diff_augment(sets, []) is sets
    for policy in (["color"], ["translation"], ["cutout"], list(vsgan.AUGMENTS)):
        out = vsgan.diff_augment(sets, policy)
        assert out.shape == sets.shape, policy
        torch.testing.assert_close(out[:, 1:], out[:, :1].expand(-1, 2, -1, -1, -1))
        assert not torch.equal(out.detach(), sets.detach()), policy
        grad, = torch.autograd.grad(out.sum(), sets)
        assert grad.abs().sum() > 0, policy
    moved = vsgan.translate(sets.detach(), 2)
    for b in range(8):
        values = set(sets[b, 0, 0].flatten().tolist()) | {0.0}
        assert set(moved[b, 0, 0].flatten().tolist()) <= values
    holes = (vsgan.cutout_mask(500, 16, 16, "cpu") == 0).flatten(1).sum(1)
    assert int(holes.max()) == 64 and int(holes.min()) >= 16


def test_mode_seeking_pairs_sets_on_z_m_and_rewards_frames_that_move_with_z_c():
    """mode_seeking > 0: set i + B//2 takes set i's z_M (z_C untouched), and the term falls as G's frames
    differ more for the same z_C difference. Off by default."""
    torch.manual_seed(0)
    z = torch.rand(6, 3, 7) * 2 - 1
    paired = vsgan.pair_motion(z, 4)
    torch.testing.assert_close(paired[3:, :, 4:], z[:3, :, 4:])
    torch.testing.assert_close(paired[:, :, :4], z[:, :, :4])
    torch.testing.assert_close(paired[:3], z[:3])
    frames = torch.rand(6, 3, 1, 8, 8)
    far = frames.clone()
    far[3:] = frames[:3] + 2 * (frames[3:] - frames[:3])
    assert float(vsgan.mode_seeking_loss(far, paired, 4)) < float(vsgan.mode_seeking_loss(frames, paired, 4))
    assert vsgan.Config().mode_seeking == 0 and vsgan.Config().diffaug == ""


def test_a_step_with_diffaug_and_mode_seeking_updates_both_networks(data):
    cfg = small(diffaug="color,translation,cutout", mode_seeking=1.0)
    model, ctx = new_model(cfg), make_ctx()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = model.training_step(first_batch(data, cfg), 0, ctx)
    assert all(torch.isfinite(v) for v in out.values())
    after = model.state_dict()
    for net in ("G", "D"):
        weights = [k for k in before if k.startswith(net + ".") and k.endswith("weight")]
        assert all(not torch.equal(before[k], after[k]) for k in weights), net


def test_spectral_norm_bounds_every_conv_of_d_and_survives_a_checkpoint(data):
    """spectral=True: D has no BN (its convs have biases instead) and, once its power iterations have run
    (every training-mode forward), each conv's weight as a matrix (out, in * k * k) has largest singular value
    1, where DCGAN's N(0, 0.02) init leaves them far from it; the state dict restores the same D. Off by
    default."""
    cfg = small(spectral=True)
    model = new_model(cfg)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.D.modules())
    convs = [m for m in model.D.modules() if isinstance(m, torch.nn.Conv2d)]
    plain = [m for m in new_model(small()).D.modules() if isinstance(m, torch.nn.Conv2d)]
    sigma = lambda conv: float(torch.linalg.matrix_norm(conv.weight.detach().flatten(1), 2))  # noqa: E731
    assert all(abs(sigma(c) - 1) > 0.3 for c in plain)
    batch = first_batch(data, cfg)
    for step in range(15):
        model.training_step(batch, step, make_ctx())
    assert all(abs(sigma(c) - 1) < 0.05 for c in convs), [sigma(c) for c in convs]
    # without BN, biases: a bias-free D would give a uniform mid-grey set logit 0 (D = 0.5) forever
    with torch.no_grad():
        assert abs(float(model.D.eval()(torch.zeros(2, 3, 16, 16))[0])) > 1e-3
    again = new_model(cfg, seed=1)
    again.load_state_dict(model.state_dict())
    sets = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(again.D.eval()(sets), model.D.eval()(sets))
    assert not vsgan.Config().spectral


def test_bad_configs_are_refused():
    for bad in (dict(image_size=48), dict(image_size=8), dict(channels=2), dict(n_frames=1), dict(dim_zm=0),
                dict(real_label=0.5), dict(real_label=1.1), dict(diffaug="color,blur"), dict(mode_seeking=-1.0),
                dict(lr_d=-1e-4), dict(lr=0.0)):
        with pytest.raises(ValueError, match="vsgan: "):
            vsgan.Model(small(**bad))


def test_two_time_scales_set_d_s_learning_rate_apart_from_g_s():
    same, ttur = new_model(small()).optimizers(), new_model(small(lr=1e-4, lr_d=4e-4)).optimizers()
    assert same["d"].param_groups[0]["lr"] == same["g"].param_groups[0]["lr"] == 2e-4
    assert ttur["d"].param_groups[0]["lr"] == 4e-4 and ttur["g"].param_groups[0]["lr"] == 1e-4


def test_presets_are_valid_and_faces_stay_64():
    presets = vsgan.PRESETS
    assert {"faces", "faces_rgb", "sprites", "mnist", "cpu_sprites", "cpu_faces"} <= set(presets)
    for name, values in presets.items():
        vsgan.check_config(vsgan.Config(**values))
    assert presets["faces"]["channels"] == 1 and presets["faces_rgb"]["channels"] == 3  # the paper is gray
    for name in ("faces", "faces_rgb", "cpu_faces"):
        assert vsgan.Config(**presets[name]).image_size == 64, name  # the identity metric is verified at 64 px
    for name in ("cpu_faces", "cpu_sprites"):
        cfg = vsgan.Config(**presets[name])
        assert cfg.ngf < 64 and cfg.ndf < 64, name
    assert load_model_module("vsgan") is vsgan


# ---- latents and what D sees ---------------------------------------------------------------------------------

def test_loader_draws_unordered_sets_of_n_frames(data):
    cfg = small(n_frames=4)
    kw = vsgan.loader_kwargs(cfg)
    assert (kw["sampler"], kw["n_frames"], kw["sorted_frames"], kw["batch_size"]) == ("frameset", 4, False, 4)
    batch = first_batch(data, cfg)
    assert batch["frames"].shape == (4, 4, 3, 32, 32)
    # a random subset of each clip's 8 frames, not kept in time order (G's frames have no order either)
    idx = torch.as_tensor(batch["frame_idx"])
    assert idx.shape == (4, 4) and all(len(set(row.tolist())) == 4 for row in idx)
    assert any(row.tolist() != sorted(row.tolist()) for row in idx)


def test_a_step_shares_z_c_within_a_set_and_draws_z_m_per_frame(data):
    """What G gets in training_step: (B * n, dim_zc + dim_zm), sets contiguous; z_C equal within a set,
    different between sets; z_M different for every frame; all in [-1, 1]."""
    cfg = small(n_frames=4)
    model = new_model(cfg)
    seen = []
    model.G.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    model.training_step(first_batch(data, cfg), 0, make_ctx())
    assert len(seen) == 1  # one G forward per step: D and G train on the same fake sets
    z = seen[0].view(cfg.batch_size, cfg.n_frames, -1)
    assert z.shape[2] == cfg.dim_zc + cfg.dim_zm and z.abs().max() <= 1 and z.min() < -0.5 < 0.5 < z.max()
    z_c, z_m = z[..., :cfg.dim_zc], z[..., cfg.dim_zc:]
    assert torch.equal(z_c, z_c[:, :1].expand_as(z_c))
    assert len({tuple(v.tolist()) for v in z_c[:, 0]}) == cfg.batch_size
    assert len({tuple(v.tolist()) for v in z_m.flatten(0, 1)}) == cfg.batch_size * cfg.n_frames
    # and the adapter draws the same way: set_latents from a seeded generator is reproducible
    g = lambda: torch.Generator().manual_seed(3)
    assert torch.equal(model.set_latents(5, g()), model.set_latents(5, g()))


@pytest.mark.parametrize("channels", [1, 3])
def test_d_sees_real_and_fake_sets_stacked_the_same_way(data, channels):
    """16x16 sets of 3 on 32x32 RGB shards: D's inputs have n * c channels; the real ones are fit_frames of
    the loader's frames (area shrink; BT.601 luma for gray) in [-1, 1], frame i in channels i*c .. i*c + c - 1,
    and frame i of a fake set (G's output) sits in the same channels; D sees real, fake, then fake again
    (G's update)."""
    cfg = small(channels=channels)
    model = new_model(cfg)
    d_in, g_out = [], []
    model.D.register_forward_pre_hook(lambda module, args: d_in.append(args[0].detach().clone()))
    model.G.register_forward_hook(lambda module, args, out: g_out.append(out.detach().clone()))
    batch = first_batch(data, cfg)
    model.training_step(batch, 0, make_ctx())
    assert len(d_in) == 3 and all(d.shape == (4, 3 * channels, 16, 16) for d in d_in)
    expected = fit_frames(batch["frames"], 16, channels) * 2 - 1  # (4, 3, c, 16, 16)
    torch.testing.assert_close(d_in[0], torch.cat([expected[:, i] for i in range(3)], 1))
    fake = g_out[0].view(4, 3, channels, 16, 16)  # (B * n, c, H, W): sets are contiguous
    assert torch.equal(d_in[1], torch.cat([fake[:, i] for i in range(3)], 1)) and torch.equal(d_in[2], d_in[1])
    assert not torch.equal(fake[:, 0], fake[:, 1])  # the frames of a fake set differ (own z_M)


def test_step_outputs_and_both_networks_update(data):
    cfg = small()
    model, ctx = new_model(cfg), make_ctx()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = model.training_step(first_batch(data, cfg), 0, ctx)
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake", "spread_real", "spread_fake"}
    for key, value in out.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad, key
    assert 0 < float(out["d_real"]) < 1 and 0 < float(out["d_fake"]) < 1 and float(out["spread_real"]) > 0
    after = model.state_dict()
    for net in ("G", "D"):
        weights = [k for k in before if k.startswith(net + ".") and k.endswith("weight")]
        assert all(not torch.equal(before[k], after[k]) for k in weights), net


def test_set_spread_is_zero_for_identical_frames_and_the_frame_std_otherwise():
    x = torch.rand(5, 1, 2, 4, 4).expand(5, 3, 2, 4, 4)
    assert float(vsgan.set_spread(x)) < 1e-6  # rounding of the mean only
    y = torch.randn(5, 3, 2, 4, 4)
    torch.testing.assert_close(vsgan.set_spread(y), y.std(1).mean())


# ---- the evaluation kit's adapter ----------------------------------------------------------------------------

def test_adapter_draws_and_generates_frames_in_0_1():
    cfg = small(image_size=32, channels=3)
    model = new_model(cfg).eval()
    assert model.static_from == "none"
    gen = torch.Generator().manual_seed(0)
    z_c, z_m = model.sample_static(4, gen), model.sample_dynamic(4, 6, gen)
    assert z_c.shape == (4, cfg.dim_zc) and z_m.shape == (4, 6, cfg.dim_zm)
    assert z_c.abs().max() <= 1 and z_m.abs().max() <= 1
    video = model.generate(z_c, z_m)
    assert video.shape == (4, 6, 3, 32, 32) and 0 <= video.min() and video.max() <= 1
    # frame (i, t) is G at (z_C[i], z_M[i, t]); in eval mode it does not depend on the other frames
    z = torch.cat([z_c[2], z_m[2, 5]])[None]
    torch.testing.assert_close(video[2, 5], (model.G(z)[0] + 1) / 2)
    # the same z_M under two z_C, the same z_C under two z_M: four different frames
    pair = model.generate(z_c[:2], z_m[:1, :2].expand(2, -1, -1))
    assert len({tuple(f.flatten().tolist()) for f in pair.flatten(0, 1)}) == 4


def test_sample_grids_show_rows_of_one_z_c_and_restore_the_mode(data):
    cfg = small(image_size=32, channels=3)
    model = new_model(cfg)
    batch = first_batch(data, cfg)
    grids = model.sample(batch)
    assert model.training
    assert grids["sets"].shape == (1, 3, 8 * 33, 8 * 33)  # 8 z_C rows x 8 z_M columns, 1-px separators
    assert grids["real"].shape == (1, 3, 4 * 33, 3 * 33)  # the batch's 4 real sets of 3
    assert 0 <= grids["sets"].min() and grids["sets"].max() <= 1
    assert torch.equal(model.sample(batch)["sets"], grids["sets"])  # the same latents at every call
    # column j has the same z_M in every row: rebuild cell (row 2, column 5) from the seeded draws
    gen = torch.Generator().manual_seed(0)
    z_c, z_m = model.sample_static(8, gen), model.sample_dynamic(1, 8, gen)
    model.eval()
    cell = model.generate(z_c[2:3], z_m[:, 5:6])[0, 0]
    torch.testing.assert_close(grids["sets"][0, :, 2 * 33:2 * 33 + 32, 5 * 33:5 * 33 + 32], cell)


# ---- under the harness ---------------------------------------------------------------------------------------

def run(*argv: str) -> None:
    assert train_main(["vsgan", *argv, "--no-progress", "--threads", "1"]) == 0


@pytest.mark.parametrize("extra", [[], ["spectral=true"]])
def test_time_limit_pieces_resume_with_exactly_the_losses_of_one_run(tmp_path, data, capsys, extra):
    """The long CPU runs go in --time-limit pieces with --resume: a run cut after every step (time limit 0)
    logs the same losses and ends with the same weights as one run (spectral: its power iterations' vectors
    are checkpointed too)."""
    common = ["--data", str(data), "--workers", "0", "--log-every", "1", "--sample-every", "0", *SMALL_ARGS, *extra]
    run(*common, "--run-dir", str(tmp_path / "full"), "--steps", "4", "--ckpt-every", "4")
    run(*common, "--run-dir", str(tmp_path / "cut"), "--steps", "4", "--ckpt-every", "4", "--time-limit", "0")
    for _ in range(3):
        run("--resume", str(tmp_path / "cut"), "--time-limit", "0")
    assert "done: 4 steps" in capsys.readouterr().err
    full, cut = train_losses(tmp_path / "full"), train_losses(tmp_path / "cut")
    assert sorted(full) == list(range(1, 5)) and full == cut
    assert full[1]["d_loss"] != full[4]["d_loss"]
    a, b = (ckpt.load_state(ckpt.latest(tmp_path / r)) for r in ("full", "cut"))
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


@pytest.mark.parametrize("extra", [[], ["spectral=true"]])
def test_two_ranks_stay_identical_and_resume_exactly(tmp_path, data, extra):
    """torchrun with 2 gloo ranks: the same weights on both ranks after every step, and a run cut at a
    checkpoint and resumed logs the losses (and holds the weights) of an uninterrupted one. With spectral,
    each rank runs its own power iterations: they depend on the weights alone, so the ranks stay equal."""
    common = ["vsgan", "--data", str(data), "--workers", "1", "--log-every", "1", "--sample-every", "0",
              "--no-progress", "--debug-hashes", *SMALL_ARGS, *extra]
    # 24 clips / (4 sets x 2 ranks) = 3 batches an epoch: cut at step 4 (in epoch 1), finish at 6; the
    # uninterrupted run also draws grids on rank 0 while rank 1 waits
    full, _ = two_ranks_cut_and_resumed(tmp_path, "vsgan", common, 6, 4, ("--ckpt-every", "2", "--sample-every", "3"))
    assert [r["epoch"] for r in full.values()] == [0, 0, 1, 1, 1, 2]
    assert sorted(p.name for p in (tmp_path / "full" / "samples").iterdir()) == \
        ["real-00000003.png", "real-00000006.png", "sets-00000003.png", "sets-00000006.png"]
    assert read_jsonl(tmp_path / "cut" / "metrics.jsonl")[-1]["step"] == 6


# ---- the evaluation recipe (trainers/eval/vsgan.py) -----------------------------------------------------------

def test_eval_on_sprites_runs_the_judge_protocol_both_ways_and_draws_the_grids(small_sprites, tmp_path, monkeypatch):
    from trainers.eval import judge as judges
    from trainers.eval import vsgan as recipe
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "cache"))
    cfg = small(image_size=32, channels=3)
    tiny_judge = judges.Settings(train_clips=96, frames_per_clip=2, test_clips=24, epochs=2)
    res = recipe.evaluate(new_model(cfg), cfg, str(small_sprites), str(tmp_path / "e"), judge_clips=16,
                          judge_settings=tiny_judge)
    appearance = ["body", "bottomwear", "topwear", "hair"]
    assert sorted(res["judge_fixed_content_agreement"]) == sorted(res["judge_entropy_ratio"]) == sorted(appearance)
    assert all(0 <= v <= 1 for v in res["judge_fixed_content_agreement"].values())
    assert all(v >= 0 for v in res["judge_entropy_ratio"].values())
    runs = res["judge_protocol"]
    assert (runs["fixed_static"]["fixed"], runs["fixed_dynamic"]["fixed"]) == ("static", "dynamic")
    assert runs["fixed_static"]["reference"] == "first" and runs["fixed_static"]["clips"] == 16
    assert "identity" in res["skipped"]
    for name in ("grid_zc_rows.png", "grid_zm_sequence.png", "eval.json"):
        assert (tmp_path / "e" / name).is_file()


def test_eval_on_faces_reports_identity_curves_per_norm_and_the_real_calibration(tmp_path):
    """On clips without synthetic labels (faces) the recipe measures identity distances; random pixels
    stand in for faces here (the metric itself is tested on real faces in test_identity.py)."""
    from test_drnet import write_unlabelled
    from trainers.eval import vsgan as recipe
    faces = write_unlabelled(tmp_path / "faces", {"train": 4, "test": 4})
    cfg = small(image_size=32, channels=3)
    res = recipe.evaluate(new_model(cfg), cfg, faces, str(tmp_path / "e"), identity_codes=3, calibration_clips=4)
    for key in ("id_dist_zm", "id_dist_zc"):
        assert list(res[key]) == [f"{n:g}" for n in recipe.NORMS]
        assert all(q1 <= med <= q3 for q1, med, q3 in res[key].values())
    assert len(res["id_dist_real_same"]) == len(res["id_dist_real_diff"]) == 3
    assert res["id_margin"] == 1.6  # its manifest records no face margin: prepare's default
    assert "judge" in res["skipped"] and (tmp_path / "e" / "identity.png").is_file()
