"""FrameGAN (trainers/models/framegan.py) and the bouncing-balls metrics (trainers/eval/balls.py).

The K discriminators run as one batched network: its outputs and one whole training step must equal the
looped reference (K modules, K optimisers) on the same weights to 1e-5 relative, in both phases. G_V is
batch-first (no sample sees another's), its z_F is bounded as configured, stage 2 loads and freezes a
stage-1 G_F. Training: 2-process DDP keeps the ranks bit-identical and a cut + resumed run logs exactly the
losses of an uninterrupted one (stage 1 under torchrun, stage 2 in --time-limit pieces). The metrics are
checked on real clips from `vidshard synth balls`: Table 1's real rows, ball counts, centroid motion
against the simulation's own positions."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.synthetic.cli import main as synth_main
from shards import iter_samples, load_manifest
from test_ddp import two_ranks_cut_and_resumed
from test_harness import train_losses
from trainers import checkpoint as ckpt
from trainers import harness
from trainers.eval import balls
from trainers.models import framegan as fg
from trainers.runconfig import build_config
from trainers.train import main as train_main

TINY = ["--preset", "tiny", "batch_size=4"]


def tiny(**over) -> fg.Config:
    return replace(build_config(fg, "framegan", "tiny", []), **over)


def model(seed: int = 0, **over) -> fg.Model:
    if over.get("phase") == "video":
        over.setdefault("frames_run", "set-but-unused")  # read at training step 0 only
    torch.manual_seed(seed)
    return fg.Model(tiny(**over))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| (Frobenius; the absolute difference for a zero b). A norm, not the worst element:
    a first RMSprop step, lr g / (0.1 |g| + eps), turns the rounding of a gradient entry that sums to ~1e-9
    (another summation order) into a difference of a sizeable fraction of lr in that one entry."""
    a, b = a.detach().double(), b.detach().double()
    scale = b.norm().item()
    diff = (a - b).norm().item()
    return diff / scale if scale > 0 else diff


def make_balls(root: Path, n_balls: int, clips: int = 30, split: str = "1,0,0") -> Path:
    assert synth_main(["balls", "--out", str(root), "--clips", str(clips), "--frames", "30", "--balls", str(n_balls),
                       "--seed", "7", "--shard-size", "8", "--split", split]) == 0
    return root


def clips_of(root: Path) -> list[tuple[np.ndarray, dict]]:
    m = load_manifest(root)
    return [(f, meta) for shard in m["shards"] for _, f, meta in iter_samples(root / shard["file"])]


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> dict[int, list]:
    base = tmp_path_factory.mktemp("balls")
    return {n: clips_of(make_balls(base / f"b{n}", n)) for n in (1, 3)}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """16 training clips of 1 ball (4 shards) and 8 held-out ones: the training runs' dataset."""
    return make_balls(tmp_path_factory.mktemp("train") / "balls", 1, clips=24, split="0.67,0.165,0.165")


# ---- networks ------------------------------------------------------------------------------------------------

def test_shapes_ranges_and_adapter():
    m = model(phase="video").eval()
    z = torch.randn(5, 100)
    assert m.gf(z).shape == (5, 1, 30, 30) and m.gf(z).abs().max() <= 1
    zf = m.gv(z)
    assert zf.shape == (5, 30, 100) and zf.abs().max() < m.cfg.zf_bound
    assert m.disc(torch.randn(5, 1, 30, 30, 30)).shape == (5, m.cfg.n_vdisc)
    assert model().disc(torch.randn(5, 1, 30, 30)).shape == (5, m.cfg.n_disc)
    gen = torch.Generator().manual_seed(0)
    codes = m.sample_dynamic(3, 12, gen)
    assert codes.shape == (3, 12, 100)
    frames = m.generate(None, codes)
    assert frames.shape == (3, 12, 1, 30, 30) and 0 <= frames.min() and frames.max() <= 1
    iid = m.generate_iid(2, 7, torch.Generator().manual_seed(1))
    assert iid.shape == (2, 7, 1, 30, 30)
    assert torch.equal(m.sample_dynamic(3, 12, torch.Generator().manual_seed(0)), codes)
    with pytest.raises(ValueError, match="makes 30 steps"):
        m.sample_dynamic(1, 31, gen)
    with pytest.raises(RuntimeError, match="phase=video"):
        model().sample_dynamic(1, 5, gen)
    m.train()
    m.generate(None, m.sample_dynamic(1, 3, gen))
    assert m.static_from == "none" and m.training and not m.gf.training  # the adapter restores the mode


def test_loader_kwargs_by_phase():
    assert fg.loader_kwargs(tiny())["n_frames"] == 1
    kw = fg.loader_kwargs(tiny(phase="video", epoch_samples=50))
    assert (kw["n_frames"], kw["sampler"], kw["epoch_samples"], kw["batch_size"]) == (30, "window", 50, 8)


def test_bad_configs_are_refused_with_reasons():
    for over, words in [(dict(image_size=32), "image_size must be 30"), (dict(phase="x"), "phase must be"),
                        (dict(g_loss="max"), "g_loss must be"), (dict(phase="video", frames=20), "frames must be >= 30"),
                        (dict(g_loss="hypervolume", nadir_slack=1.0), "nadir_slack must be > 1"),
                        (dict(phase="video"), "phase=video needs frames_run")]:
        with pytest.raises(ValueError, match=words):
            fg.Model(tiny(**over))


def test_projections_are_frozen_unit_norm_and_differ():
    m = model()
    proj = m.disc.proj.flatten(1)
    torch.testing.assert_close(proj.norm(dim=1), torch.ones(len(proj)))
    assert (proj @ proj.t() - torch.eye(len(proj))).abs().max() > 0.05  # K different directions
    assert not any(p is m.disc.proj for p in m.disc.parameters())
    before = m.disc.proj.clone()
    ctx = harness.Context(torch.device("cpu"), harness.Dist(), 0)
    m.training_step({"frames": torch.rand(8, 1, 1, 30, 30), "key": list("abcdefgh")}, 0, ctx)
    assert torch.equal(m.disc.proj, before) and "disc.proj" in m.state_dict()


def test_video_generator_keeps_samples_apart():
    """Batch-first: in eval mode each z_V's z_F sequence is what it is alone, in any batch order (the
    reference's view(30, B, -1) made sample i's steps out of other samples' features)."""
    gv = model(phase="video").gv.eval()
    z = torch.randn(6, 100)
    with torch.no_grad():
        full = gv(z)
        alone = torch.cat([gv(z[i:i + 1]) for i in range(6)])
        perm = torch.tensor([3, 0, 5, 1, 4, 2])
        torch.testing.assert_close(full, alone, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(gv(z[perm]), full[perm], rtol=1e-5, atol=1e-6)


def test_zf_bound():
    z = torch.randn(64, 100) * 50  # large inputs push the output layer far out
    for bound in (3.0, 1.0):
        gv = model(phase="video", zf_bound=bound).gv.eval()
        with torch.no_grad():
            gv.out.weight.mul_(100)
            out = gv(z)
        assert out.abs().max() <= bound and out.abs().max() > 0.9 * bound
    gv = model(phase="video", zf_bound=0.0).gv.eval()
    with torch.no_grad():
        gv.out.weight.mul_(100)
        assert gv(z).abs().max() > 10  # unbounded: linear
    gv = model(phase="video", zf_sphere=True).gv.eval()
    with torch.no_grad():
        gv.out.weight.mul_(100)
        norms = gv(z).norm(dim=-1)
    assert torch.allclose(norms, torch.full_like(norms, 100 ** 0.5), rtol=1e-5)  # every z_F on the prior's shell


def test_zf_batchnorm_gives_every_dimension_the_priors_moments_and_keeps_samples_apart_in_eval():
    gv = model(phase="video", zf_batchnorm=True, zf_bound=0.0).gv.train()
    z = torch.randn(8, 100)
    with torch.no_grad():
        gv.out.bias.add_(5.0)  # a shared offset that, unnormalised, would put every code in one spot
        gv.out.weight.mul_(10)  # the test model's spread is near batch-norm's eps
        zf = gv(z).reshape(-1, 100)
    torch.testing.assert_close(zf.mean(0), torch.zeros(100), atol=1e-3, rtol=0)
    torch.testing.assert_close(zf.var(0, unbiased=False), torch.ones(100), atol=1e-2, rtol=0)
    gv.eval()  # running statistics: one clip's codes do not depend on the others in its batch
    with torch.no_grad():
        torch.testing.assert_close(gv(z)[:3], gv(z[:3]), rtol=1e-5, atol=1e-6)


# ---- batched = looped ----------------------------------------------------------------------------------------

WIDE = dict(d_widths=(16, 80, 16), vd_widths=(16, 80, 16))  # 16 x 80 > LOOP_ABOVE: the CPU's per-discriminator path


@pytest.mark.parametrize("phase, shape", [("frames", (8, 1, 30, 30)), ("video", (4, 1, 30, 30, 30))])
@pytest.mark.parametrize("mbstd, wide", [(False, False), (True, False), (True, True)])
def test_bank_outputs_equal_the_looped_modules(phase, shape, mbstd, wide):
    over = dict(phase=phase, mbstd=mbstd, **(WIDE if wide else {}))
    batched, looped = model(**over), model(batched=False, **over)
    assert any(batched.disc.loop_on_cpu) == wide
    x = torch.rand(shape) * 2 - 1
    for groups in (1, 2):
        out = batched.disc(x, groups)
        assert rel(out, looped.disc(x, groups)) < 1e-5
        for k, member in enumerate(looped.disc.members):
            assert rel(member(x, groups), out[:, k]) < 1e-5
            assert torch.equal(member.proj[0], batched.disc.proj[k])
    # with mbstd a sample's logit depends on its own group's spread only (real and fake are measured apart)
    half = shape[0] // 2
    y = x.clone()
    y[-1] = -1
    moved = (batched.disc(y, 2) - batched.disc(x, 2)).abs().amax(1)
    assert (moved[:half] == 0).all()
    assert (moved[half:-1] > 0).all() == mbstd


@pytest.mark.parametrize("phase, optimizer, mbstd, wide", [
    ("frames", "rmsprop", False, False), ("frames", "adam", False, False), ("frames", "rmsprop", True, False),
    ("frames", "rmsprop", True, True), ("video", "rmsprop", False, False), ("video", "adam", True, True)])
def test_one_training_step_equals_the_looped_reference(phase, optimizer, mbstd, wide, tmp_path):
    """Same weights, same batch, same random draws: after one step (every D_k, then G) every discriminator
    slice and every optimiser state slice of the batched model equal the looped reference's, whose
    discriminators are K modules with K optimisers, and so does the generator (1e-5 relative)."""
    over = dict(phase=phase, optimizer=optimizer, n_disc=5, n_vdisc=3, mbstd=mbstd, disc_lr_mult=2.0,
                **(WIDE if wide else {}))
    batched, looped = model(**over), model(batched=False, **over)
    with torch.no_grad():  # away from init, where D(real) = D(fake) and the last bias's gradient cancels to ~0
        for p in [*batched.disc.parameters(), *looped.disc.parameters()]:
            p.mul_(8)
    if phase == "video":  # a trained-looking G_F: the frames run is a state file here
        torch.save({"model": model().state_dict()}, tmp_path / "state.pt")
        for m in (batched, looped):
            m.cfg.frames_run = str(tmp_path / "state.pt")
    frames = torch.rand(4, 30 if phase == "video" else 1, 1, 30, 30)
    ctx = harness.Context(torch.device("cpu"), harness.Dist(), 0)
    logs = {}
    for name, m in (("batched", batched), ("looped", looped)):
        torch.manual_seed(11)
        logs[name] = m.training_step({"frames": frames, "key": list("abcd")}, 0, ctx)
    for key in logs["batched"]:
        assert rel(logs["batched"][key], logs["looped"][key]) < 1e-5, key
    gen = batched.gf if phase == "frames" else batched.gv
    gen_ref = looped.gf if phase == "frames" else looped.gv
    for (name, p), q in zip(gen.state_dict().items(), gen_ref.state_dict().values()):
        assert rel(p, q) < 1e-5, name
    bank, opts = batched.disc, batched.optimizers()
    members = looped.disc.members
    member_states = [looped.optimizers()[f"disc{k:02d}"].state for k in range(len(members))]
    for i, stacked in enumerate([*bank.weights, *bank.biases]):
        own = [[*m.weights, *m.biases][i] for m in members]  # discriminator k's copy of this tensor
        assert rel(stacked, torch.stack(own)) < 1e-5, i
        for key, value in opts["disc"].state[stacked].items():
            if value.ndim:  # exp_avg / square_avg: K optimisers' states, stacked; "step" is one scalar
                assert rel(value, torch.stack([st[p][key] for st, p in zip(member_states, own)])) < 1e-5, key
    moved = rel(bank.weights[1], 8 * model(**over).disc.weights[1])
    assert moved > 1e-4  # the step did move the discriminators


def test_each_discriminator_gets_only_its_own_gradient():
    """The bank's loss is the sum of the K losses: changing discriminator 2's weights changes no other
    discriminator's gradient."""
    x = torch.rand(6, 1, 30, 30) * 2 - 1

    def grads(m):
        y = m.disc(x)
        loss = fg.per_disc_bce(y[:3], 1.0) + fg.per_disc_bce(y[3:], 0.0)
        return torch.autograd.grad(loss.sum(), list(m.disc.weights))
    a, b = model(), model()
    with torch.no_grad():
        for w in b.disc.weights:
            w[2].mul_(1.5)
    ga, gb = grads(a), grads(b)
    for wa, wb in zip(ga, gb):
        keep = [k for k in range(a.cfg.n_disc) if k != 2]
        torch.testing.assert_close(wa[keep], wb[keep])
        assert not torch.allclose(wa[2], wb[2])


def test_hypervolume_weights_the_worse_discriminators_more():
    losses = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    cfg = tiny(g_loss="hypervolume", nadir_slack=1.5)
    loss = fg.generator_loss(losses, cfg)
    eta = 3.0 + 1e-8
    assert abs(loss.item() + np.mean(np.log(eta - np.array([0.5, 1.0, 2.0])))) < 1e-6
    (g,) = torch.autograd.grad(loss, losses)
    assert g[0] < g[1] < g[2]  # 1 / (K (eta - l_k)): the generator attends to the discriminators it fools least
    assert fg.generator_loss(losses, tiny()).item() == pytest.approx(7 / 6)


# ---- stage 2 on a stage-1 run ---------------------------------------------------------------------------------

def run(run_dir: Path, data: Path, *extra: str) -> None:
    argv = ["framegan", "--data", str(data), "--run-dir", str(run_dir), "--workers", "0", "--log-every", "1",
            "--sample-every", "0", "--no-progress", "--threads", "1", *extra]
    assert train_main(argv) == 0


@pytest.fixture(scope="module")
def frames_run(tmp_path_factory, data) -> Path:
    path = tmp_path_factory.mktemp("stage1") / "run"
    run(path, data, *TINY, "--steps", "3", "--ckpt-every", "3", "--sample-every", "3")
    assert {p.name for p in (path / "samples").iterdir()} == {"real-00000003.png", "generated-00000003.png"}
    return path


def test_video_phase_loads_and_freezes_the_frame_generator(tmp_path, data, frames_run, capsys):
    over = ["phase=video", f"frames_run={frames_run}"]
    run(tmp_path / "v", data, *TINY, *over, "--steps", "2", "--ckpt-every", "2", "--sample-every", "2")
    stage1 = ckpt.load_state(ckpt.latest(frames_run))["model"]
    stage2 = ckpt.load_state(ckpt.latest(tmp_path / "v"))["model"]
    gf = [k for k in stage1 if k.startswith("gf.")]
    assert gf and all(torch.equal(stage1[k], stage2[k]) for k in gf)  # weights and BN statistics untouched
    assert any(k.startswith("gv.") for k in stage2) and (tmp_path / "v" / "samples" / "videos-00000002.png").is_file()
    # a frames_run that names no checkpoint is the user's to fix: one line, exit 2, no traceback
    assert train_main(["framegan", "--data", str(data), "--run-dir", str(tmp_path / "none"), "--workers", "0",
                       "--no-progress", "--threads", "1", *TINY, "phase=video", f"frames_run={tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint found" in err and "Traceback" not in err


def test_video_phase_resumes_exactly_in_time_limit_pieces(tmp_path, data, frames_run):
    over = [*TINY, "phase=video", f"frames_run={frames_run}"]
    run(tmp_path / "full", data, *over, "--steps", "5", "--ckpt-every", "5")
    run(tmp_path / "cut", data, *over, "--steps", "5", "--ckpt-every", "5", "--time-limit", "0")
    resume = ["framegan", "--resume", str(tmp_path / "cut"), "--no-progress", "--threads", "1"]
    assert train_main(resume + ["--time-limit", "0"]) == 0
    assert train_main(resume) == 0
    full, cut = train_losses(tmp_path / "full"), train_losses(tmp_path / "cut")
    assert sorted(full) == sorted(cut) == [1, 2, 3, 4, 5] and full == cut
    a = ckpt.load_state(ckpt.latest(tmp_path / "full"))["model"]
    b = ckpt.load_state(ckpt.latest(tmp_path / "cut"))["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full[1]["g_loss"] != full[5]["g_loss"]


def test_frames_phase_ddp_ranks_identical_and_resume_exact(tmp_path, data):
    """2 CPU processes (gloo): 16 clips / (4 x 2) = 2 batches an epoch; cut at step 3 (mid epoch 1)."""
    common = ["framegan", "--data", str(data), "--workers", "1", "--log-every", "1", "--sample-every", "0",
              "--no-progress", "--debug-hashes", *TINY]
    two_ranks_cut_and_resumed(tmp_path, "framegan", common, 5, 3, ("--ckpt-every", "5"))


# ---- the bouncing-balls metrics ------------------------------------------------------------------------------

@pytest.mark.parametrize("n, low, high", [(1, 0.0210, 0.0235), (3, 0.0330, 0.0385)])
def test_table1_on_real_clips(real, n, low, high):
    """Table 1's real rows (MODELS.md §C): 1 ball 0.0222 ± 0.0005 (paper) / 0.0223 (reference generator),
    3 balls 0.0358 ± 0.0019 (reference generator); uint8 and float frames give the same figure."""
    videos = [f for f, _ in real[n]]
    t = balls.table1(videos)
    assert t["n"] == 30 and low < t["mean"] < high and t["std"] < 0.01
    assert balls.table1([v.astype(np.float32) / 255 for v in videos]) == t
    # i.i.d. frames (each from another clip) are far from smooth: the random-z baseline's regime
    rng = np.random.default_rng(0)
    shuffled = [np.stack([videos[rng.integers(30)][t_] for t_ in range(30)]) for _ in range(30)]
    assert balls.table1(shuffled)["mean"] > 2.5 * t["mean"]


def test_ball_counts_on_real_clips(real):
    one = np.concatenate([balls.ball_counts(f) for f, _ in real[1]])
    assert one.shape == (900,) and balls.count_rate(one, 1) == 1.0
    three = np.concatenate([balls.ball_counts(f) for f, _ in real[3]])
    assert three.max() == 3 and 0.7 < balls.count_rate(three, 3) < 1.0  # balls overlap now and then
    # a frame where two balls touch counts fewer: check against the simulation's pixel positions
    for f, meta in real[3]:
        pos = np.asarray(meta["positions_px"])
        gaps = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1)[:, [0, 0, 1], [1, 2, 2]].min(1)
        counts = balls.ball_counts(f)
        assert (counts[gaps > 9] == 3).all()  # well apart (radius ~3.6 px): always three
    frame = np.zeros((30, 30), np.uint8)
    frame[2:5, 2:5] = 255
    frame[10, 10] = 200
    assert balls.ball_counts(frame[None])[0] == 2 and balls.ball_counts(frame[None], min_pixels=2)[0] == 1


def test_motion_matches_the_simulation(real):
    """Centroid displacement per frame from the pixels against the simulation's own positions (1 ball: the
    same ball, so the two must agree to a fraction of a pixel)."""
    for f, meta in real[1][:10]:
        pos = np.asarray(meta["positions_px"])[:, 0]
        truth = np.linalg.norm(np.diff(pos, axis=0), axis=1).mean()
        assert abs(balls.video_motion(f) - truth) < 0.1, (balls.video_motion(f), truth)
    m1 = balls.motion([f for f, _ in real[1]])
    assert 1.0 < m1["mean"] < 1.6 and m1["n"] == 30  # 0.5 units/frame = 1.5 px, less at the walls
    m3 = balls.motion([f for f, _ in real[3]])
    assert 0.5 * m1["mean"] < m3["mean"] < m1["mean"]  # three balls share the same total speed
    still = np.repeat(real[1][0][0][:1], 30, axis=0)
    assert balls.video_motion(still) == 0.0


def test_isomap_unrolls_a_curve():
    t = np.linspace(0, 3 * np.pi, 120)
    points = np.stack([t * np.cos(t), t * np.sin(t), np.sin(3 * t)], 1)  # a spiral, far from flat
    xy = balls.isomap(points, n_neighbors=6)
    ranks = np.argsort(np.argsort(xy[:, 0]))
    assert abs(np.corrcoef(ranks, np.arange(120))[0, 1]) > 0.99


def test_evaluate_recipe_writes_the_report(tmp_path, data, frames_run):
    run(tmp_path / "v", data, *TINY, "phase=video", f"frames_run={frames_run}", "--steps", "1", "--ckpt-every", "1")
    from trainers.eval import framegan as recipe
    from trainers.evaluate import load_run
    from trainers.evaluate import main as eval_main
    _, cfg, m, *_ = load_run("framegan", tmp_path / "v")
    res = recipe.evaluate(m, cfg, str(data), str(tmp_path / "eval"), n_videos=6)
    assert res["videos"] == 4 and res["n_balls"] == 1 and 0.02 < res["real"]["table1"]["mean"] < 0.026
    assert res["real"]["count_rate"] == 1.0
    for key in ("table1_ratio", "motion_ratio", "count_rate_diff", "table1_ratio_iid", "zf_norm", "zf_step"):
        assert key in res
    for name in ("eval.json", "strip.png", "videos.gif", "isomap.png", "isomap.json"):
        assert (tmp_path / "eval" / name).is_file(), name
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["frames"] == 30
    assert res["mse_real"] == [res["real"]["table1"]["mean"], res["real"]["table1"]["std"]]
    assert res["ball_count_accuracy_real"] == 1.0 and len(res["mse_generated"]) == len(res["motion_generated"]) == 2
    # stage 1 has no G_V: the generated row is skipped with a reason; through `vidshard eval`
    assert eval_main(["framegan", str(frames_run), "--out", str(tmp_path / "eval1")]) == 0
    res1 = json.loads((tmp_path / "eval1" / "eval.json").read_text())
    assert "generated" in res1["skipped"] and "mse_iid" in res1 and "mse_generated" not in res1
    assert res1["device"] == "cpu" and res1["steps"] >= 1
