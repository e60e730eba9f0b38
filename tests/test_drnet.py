"""DrNet (trainers/models/drnet.py), its evaluation recipe (trainers/eval/drnet.py) and the kit's probes, on CPU.

Data: a tiny colour-coded Moving MNIST (32×32, palette colours = the content factor) made once per module
with `vidshard synth` from the real MNIST test set in ../shared/data/mnist, read through the real loader.
Facts asserted are cheap and monotone (losses fall, a discriminator learns, probes separate), never
paper-level quality: MODELS.md §B says identity needs the GPU-scale run.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import require_shared
from shards import ShardWriter, make_key, write_manifest
from shards.loader import make_loader
from trainers import harness
from trainers.eval import data as eval_data
from trainers.eval import drnet as drnet_eval
from trainers.eval import probes, video
from trainers.models import drnet
from vidshard.errors import InputError

SEED = 0


def tiny(**overrides) -> drnet.Config:
    return replace(drnet.Config(**drnet.PRESETS["tiny"]), **overrides)


def make_ctx(seed: int = SEED) -> harness.Context:
    return harness.Context(torch.device("cpu"), harness.Dist(), seed)


def new_model(cfg: drnet.Config, seed: int = SEED) -> drnet.Model:
    torch.manual_seed(seed)
    return drnet.Model(cfg)


def batches(data, cfg: drnet.Config, split: str = "train", seed: int = SEED):
    """Endless training batches from the real loader, epoch after epoch."""
    loader = make_loader(data, split=split, seed=seed, shuffle_buffer=256, with_meta=False, **drnet.loader_kwargs(cfg))
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads spin against each other (measured ~0.9
    s/step with 2 threads vs ~0.1 s with 1 under load)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def mm32(tmp_path_factory):
    """640 clips of 20 frames, 32×32, two digits in two distinct palette colours: 512 train, 128 test."""
    mnist = require_shared("mnist")
    out = tmp_path_factory.mktemp("drnet") / "mm32"
    from vidshard.cli import main
    rc = main(["synth", "moving-mnist", "--out", str(out), "--clips", "640", "--split", "0.8,0,0.2",
               "--shard-size", "256", "--mnist", str(mnist), "--size", "32", "--colors", "palette", "--seed", "0"])
    assert rc == 0
    return str(out)


@pytest.fixture(scope="module")
def held_out(mm32):
    return eval_data.eval_splits(mm32, 0, 128)[1]


@pytest.fixture(scope="module")
def trained(mm32, tmp_path_factory):
    """A tiny DrNet trained 600 steps (the CPU smoke size of MODELS.md), and its state saved as a file."""
    cfg = tiny()
    model, ctx = new_model(cfg), make_ctx()
    logs = [{k: float(v) for k, v in model.training_step(b, step, ctx).items()}
            for step, b in zip(range(600), batches(mm32, cfg))]
    path = tmp_path_factory.mktemp("drnet-run") / "state.pt"
    torch.save({"model": model.state_dict()}, path)
    return model, cfg, logs, path


# ---- networks and the training signal -------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["tiny", "mnist", "faces"])
def test_networks_have_the_preset_shapes_and_unit_norm_vectors(preset):
    cfg = replace(drnet.Config(**drnet.PRESETS[preset]), nf=4)  # narrow, so the 64×64 presets stay cheap
    model = new_model(cfg).eval()
    x = torch.rand(3, cfg.channels, cfg.image_size, cfg.image_size)
    hc, hp, skips = model.encode(x)
    assert hc.shape == (3, cfg.content_dim) and hp.shape == (3, cfg.pose_dim)
    assert torch.allclose(hc.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(hp.norm(dim=1), torch.ones(3), atol=1e-5)
    out = model.decode(hc, hp, skips)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert (preset == "faces") == cfg.skip  # the faces preset uses U-Net skips, as the paper's KTH model
    assert len(skips) == (len(drnet.widths(cfg)) if cfg.skip else 0)   # maps are kept only for a skip decoder


def test_skip_decoder_uses_the_content_feature_maps():
    cfg = tiny(skip=True, nf=4)
    model = new_model(cfg).eval()
    x = torch.rand(2, 3, 32, 32)
    hc, hp, skips = model.encode(x)
    changed = model.decode(hc, hp, [s + 1 for s in skips])
    assert not torch.allclose(model.decode(hc, hp, skips), changed)


@pytest.mark.parametrize("skip", [False, True])
def test_deeper_decoder_draws_the_pixels_with_a_3x3_conv_at_full_size(skip, mm32):
    cfg = tiny(dec_depth=2, skip=skip, nf=8)
    model = new_model(cfg).eval()
    x = torch.rand(2, 3, 32, 32)
    hc, hp, skips = model.encode(x)
    out = model.decode(hc, hp, skips)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    convs = [m for m in model.decoder.modules() if type(m) is torch.nn.Conv2d]
    # two 3x3 convs after the 4x4 head and after each inner doubling (32x32: 4 -> 8 -> 16), one on the
    # full-size maps, and the one that draws the image
    assert len(convs) == 2 + 2 * 2 + 1 + 1 and all(c.kernel_size == (3, 3) for c in convs)
    assert convs[-1].out_channels == 3 and convs[-1].in_channels == (8 * (2 if skip else 1)) // 2
    batch = next(batches(mm32, tiny(dec_depth=1)))
    model, ctx = new_model(tiny(dec_depth=1)), make_ctx()
    rec = [float(model.training_step(batch, s, ctx)["rec_loss"]) for s in range(40)]
    assert np.mean(rec[-5:]) < 0.5 * rec[0], rec


def test_broadcast_decoder_is_a_conv_over_tiled_codes_and_coordinates(mm32):
    cfg = tiny(decoder="broadcast", broadcast_width=32)
    dec = new_model(cfg).eval().decoder
    hc, hp = torch.randn(2, cfg.content_dim), torch.randn(2, cfg.pose_dim)
    z = torch.cat([hc, hp], 1)
    # the coordinates under the output pixels span [-1, 1]; the grid reaches 4 cells beyond on every side
    inner = dec.coords[0, :, 4:-4, 4:-4]
    assert inner.shape == (2, 32, 32) and torch.allclose(inner[0, 0, [0, -1]], torch.tensor([-1.0, 1.0]))
    assert torch.allclose(inner[1, [0, -1], 0], torch.tensor([-1.0, 1.0]))
    # the first layer equals a plain valid 3x3 conv over [z tiled, x, y] whose z weights sum to z_in's
    conv = torch.nn.Conv2d(z.shape[1] + 2, 32, 3, bias=False)
    with torch.no_grad():
        conv.weight[:, :z.shape[1]] = dec.z_in.weight[:, :, None, None] / 9
        conv.weight[:, z.shape[1]:] = dec.coord_in.weight
        tiled = torch.cat([z[:, :, None, None].expand(-1, -1, 40, 40), dec.coords.expand(2, -1, -1, -1)], 1)
        ours = dec.coord_in(dec.coords) + dec.z_in(z)[:, :, None, None]
        assert torch.allclose(conv(tiled), ours, atol=1e-5)
        out = dec(hc, hp)
    assert out.shape == (2, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    batch = next(batches(mm32, cfg))
    model, ctx = new_model(cfg), make_ctx()
    rec = [float(model.training_step(batch, s, ctx)["rec_loss"]) for s in range(40)]
    assert np.mean(rec[-5:]) < 0.5 * rec[0], rec


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="image_size"):
        drnet.Model(tiny(image_size=48))
    with pytest.raises(ValueError, match="phase"):
        drnet.Model(tiny(phase="lstm"))
    with pytest.raises(ValueError, match="rec_loss must be 'mse', 'bce' or 'l1'"):
        drnet.Model(tiny(rec_loss="huber"))
    with pytest.raises(ValueError, match="probe"):
        drnet.Model(tiny(probe="svm"))
    with pytest.raises(ValueError, match="dec_depth"):
        drnet.Model(tiny(dec_depth=-1))
    with pytest.raises(ValueError, match="decoder"):
        drnet.Model(tiny(decoder="unet"))
    with pytest.raises(ValueError, match="broadcast"):
        drnet.Model(tiny(decoder="broadcast", skip=True))


def test_offsets_never_reuse_the_content_frame_and_different_clip_pairs_really_differ():
    g = torch.Generator().manual_seed(1)
    for window in (2, 3, 12):
        t = drnet.draw_offsets(4096, window, g)
        for k in t.values():
            assert k.min() >= 0 and k.max() < window
        assert (t["pose"] != t["content"]).all() and (t["similar"] != t["content"]).all()
        assert (t["pair"] != t["pose"]).all()
        assert len(set(t["pose"].tolist())) == window  # every frame of the window gets drawn
    shifts = {drnet.roll_shift(5, g) for _ in range(500)}
    assert shifts == {1, 2, 3, 4}  # never 0: rolling by it leaves no clip paired with itself


def test_a_clip_drawn_twice_in_a_batch_is_never_labelled_different_from_itself():
    """Batch of 4 where samples 0 and 2 are the same clip: with shift 2, pairs (2, 0) and (0, 2) meet it
    twice, so only the two truly different pairs count; the loss equals the hand-computed mean over them."""
    cfg = tiny()
    model, ctx = new_model(cfg), make_ctx()
    x = torch.rand(4, 3, 3, 32, 32)
    x[2] = x[0]
    t = {"pose": torch.tensor([0, 1, 0, 2]), "pair": torch.tensor([1, 2, 1, 0])}
    with torch.no_grad():
        hp, _ = model.pose_enc(torch.cat([drnet.take(x, t["pose"]), drnet.take(x, t["pair"])]))
        hp1, hp2 = hp.split(4)
        same = model.scene_disc(hp1, hp2)
        diff = model.scene_disc(hp1, hp2.roll(2, 0))[[1, 3]]
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        want = (bce(same, torch.ones(4), reduction="sum") + bce(diff, torch.zeros(2), reduction="sum")) / 6
    logs = model.disc_step(x, t, 2, ctx, keys=["a", "b", "a", "c"])
    assert float(logs["disc_loss"]) == pytest.approx(want.item(), rel=1e-5)


def step_outputs(device: str, tmp_path, steps: int = 3, sync_check: bool = False) -> dict[str, list[dict]]:
    """Every phase's training_step outputs for a few steps on random clips (the predictor and decoder phases
    freeze a fresh DrNet saved to tmp_path). sync_check: CUDA sync debug mode "error" from the second step on,
    so any step that waits for the GPU (.item(), a blocking host-to-device copy) raises."""
    cfg = tiny(batch_size=4)
    path = tmp_path / "drnet.pt"
    torch.save({"model": new_model(cfg).state_dict()}, path)
    out = {}
    for phase in drnet.PHASES:
        model = new_model(replace(cfg, phase=phase, encoders=str(path))).to(device)
        ctx = harness.Context(torch.device(device), harness.Dist(), SEED)
        batch = {"frames": torch.rand(4, 15, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device),
                 "key": ["a", "b", "c", "d"]}
        out[phase] = [model.training_step(batch, 0, ctx)]  # step 0 of predictor and decoder loads the encoders
        if sync_check:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
        try:
            out[phase] += [model.training_step(batch, s, ctx) for s in range(1, steps)]
        finally:
            if sync_check:
                torch.cuda.set_sync_debug_mode("default")
    return out


def test_step_outputs_are_detached_scalar_tensors(tmp_path):
    """No .item() in a step: the harness turns outputs into floats at log steps only (docs/TRAINING.md)."""
    outs = step_outputs("cpu", tmp_path)
    assert set(outs["drnet"][0]) == {"disc_loss", "disc_acc", "loss", "rec_loss", "sim_loss", "adv_loss", "disc_same_p"}
    assert set(outs["predictor"][0]) == {"lstm_loss"}
    assert set(outs["decoder"][0]) == {"rec_loss"}
    for phase, logs in outs.items():
        for log in logs:
            for key, value in log.items():
                assert isinstance(value, torch.Tensor) and value.ndim == 0, (phase, key, value)
                assert not value.requires_grad and value.grad_fn is None, (phase, key)
                assert value.dtype == torch.float32 and torch.isfinite(value), (phase, key, value)
    assert len({float(log["loss"]) for log in outs["drnet"]}) == 3  # each step's own value, not a shared buffer


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the GPU session runs it)")
def test_cuda_training_steps_never_wait_for_the_gpu(tmp_path):
    outs = step_outputs("cuda", tmp_path, sync_check=True)
    assert all(v.is_cuda for logs in outs.values() for log in logs for v in log.values())


def test_loader_kwargs_follow_the_phase():
    assert drnet.loader_kwargs(tiny()) == dict(sampler="window", n_frames=12, random=True, batch_size=16)
    assert drnet.loader_kwargs(tiny(phase="predictor"))["n_frames"] == 15
    assert drnet.loader_kwargs(tiny(epoch_samples=5000))["epoch_samples"] == 5000  # tiny datasets: longer epochs


def test_optimizers_cover_the_right_parameters():
    model = new_model(tiny())
    opts = model.optimizers()
    main = {id(p) for g in opts["main"].param_groups for p in g["params"]}
    disc = {id(p) for g in opts["disc"].param_groups for p in g["params"]}
    assert disc == {id(p) for p in model.scene_disc.parameters()} and not main & disc
    assert main | disc == {id(p) for p in model.parameters()}
    assert opts["main"].defaults["lr"] == 0.002 and opts["main"].defaults["betas"] == (0.5, 0.999)


def test_reconstruction_loss_falls_on_a_fixed_batch(mm32):
    cfg = tiny()
    batch = next(batches(mm32, cfg))
    model, ctx = new_model(cfg), make_ctx()
    rec = [float(model.training_step(batch, s, ctx)["rec_loss"]) for s in range(40)]
    assert np.mean(rec[-5:]) < 0.5 * rec[0], rec


def disc_only(model, data, cfg, steps):
    """Train the scene discriminator alone (disc_step): the pose encoder is never updated."""
    ctx = make_ctx()
    for _, b in zip(range(steps), batches(data, cfg, seed=1)):
        x = b["frames"]
        t = drnet.draw_offsets(x.shape[0], x.shape[1], ctx.generator)
        model.disc_step(x, t, drnet.roll_shift(x.shape[0], ctx.generator), ctx)


@torch.no_grad()
def same_clip_p(model, clips) -> float:
    """Mean discriminator probability of "same clip" on held-out same-clip pairs (frames 0 and 11)."""
    model.eval()
    hp = model.encode_dynamic(torch.stack([eval_data.to_tensor(f[[0, 11]]) for _, f, _ in clips]))
    p = torch.sigmoid(model.scene_disc(hp[:, 0], hp[:, 1])).mean()
    model.train()
    return float(p)


@pytest.fixture(scope="module")
def clip_aware(trained):
    """A model whose pose encoder carries clip identity: the trained content encoder put in its place
    (|h_p| = |h_c|). A randomly initialized pose encoder is no use here: its vectors are dominated by
    where the digits are, so no discriminator can tell clips apart from them (measured: 0.50-0.55)."""
    model, cfg, _, _ = trained
    cfg = replace(cfg, pose_dim=cfg.content_dim)
    m = new_model(cfg)
    m.pose_enc.load_state_dict(model.content_enc.state_dict())
    return m, cfg


def test_scene_discriminator_learns_same_vs_different_clip_with_a_frozen_pose_encoder(clip_aware, mm32, held_out):
    start, cfg = clip_aware
    model = new_model(cfg)
    model.load_state_dict(start.state_dict())
    pose_before = {k: v.clone() for k, v in model.pose_enc.named_parameters()}
    before = drnet_eval.scene_disc_accuracy(model.eval(), held_out, cfg.max_step, "cpu")
    disc_only(model.train(), mm32, cfg, 150)
    after = drnet_eval.scene_disc_accuracy(model.eval(), held_out, cfg.max_step, "cpu")
    assert after > 0.75 and after > before + 0.2, (before, after)
    for k, v in model.pose_enc.named_parameters():
        assert torch.equal(v, pose_before[k]), f"the discriminator step changed pose_enc.{k}"


def test_adversarial_term_moves_the_discriminator_toward_one_half(clip_aware, mm32, held_out):
    """Same start (a discriminator trained on clip-aware pose vectors), same batches, discriminator frozen:
    with beta > 0 the pose encoder drives C's same-clip output to 0.5. With beta = 0 the output drifts too
    (reconstruction alone reshapes the pose vectors: on some datasets it passes near 0.5 for a while), so
    the comparison is over the whole run: the mean distance from 0.5 at steps 30, 60 and 90. Measured on
    three datasets (seeds 0-2): beta = 1 ends within 0.002-0.021 of 0.5, at 0.27-0.52 of beta = 0's mean."""
    start, cfg = clip_aware
    start = replace_weights(new_model(cfg), start)
    disc_only(start, mm32, cfg, 150)
    p0 = same_clip_p(start, held_out)
    assert p0 > 0.7, p0
    gaps = {}
    for beta in (0.0, 1.0):
        model = replace_weights(new_model(replace(cfg, beta=beta)), start)
        disc_before = [p.clone() for p in model.scene_disc.parameters()]
        ctx = make_ctx()
        gaps[beta] = []
        for i, b in zip(range(90), batches(mm32, cfg, seed=2)):
            x = b["frames"]
            model.main_step(x, drnet.draw_offsets(x.shape[0], x.shape[1], ctx.generator), ctx)
            if (i + 1) % 30 == 0:
                gaps[beta].append(abs(same_clip_p(model, held_out) - 0.5))
        assert all(torch.equal(a, b) for a, b in zip(disc_before, model.scene_disc.parameters()))
    assert gaps[1.0][-1] < 0.05 and gaps[1.0][-1] < 0.25 * abs(p0 - 0.5), (p0, gaps)
    assert np.mean(gaps[1.0]) < 0.75 * np.mean(gaps[0.0]), (p0, gaps)


def replace_weights(model, source):
    model.load_state_dict(source.state_dict())
    return model


# ---- disentangling on a tiny run (the slow test: ~600 steps) ----------------------------------------------------

def test_disentangling_starts_on_colour_coded_moving_mnist(trained, mm32, tmp_path):
    model, cfg, logs, _ = trained
    assert np.mean([l["rec_loss"] for l in logs[-50:]]) < 0.5 * np.mean([l["rec_loss"] for l in logs[:10]])
    train, test, _ = eval_data.eval_splits(mm32, 256, 128)
    res = probes.probe_report(model.eval(), train, test, cfg.max_step, "cpu", "logistic", ("content", "pose"))
    model.train()
    colors = res["probe_colors"]
    assert colors["content_acc"] > colors["pose_acc"] + 0.1, colors
    assert colors["content_acc"] > colors["chance"] + 0.2, colors
    assert res["position_r2_pose"] > res["position_r2_content"] + 0.15, res


# ---- the LSTM pose predictor -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def predictor(trained, mm32):
    _, cfg, _, path = trained
    pcfg = replace(cfg, phase="predictor", encoders=str(path))
    model, ctx = new_model(pcfg), make_ctx()
    losses = [float(model.training_step(b, s, ctx)["lstm_loss"]) for s, b in zip(range(150), batches(mm32, pcfg))]
    return model, pcfg, losses


def test_predictor_loads_the_encoders_and_keeps_them_frozen(trained, predictor):
    """After 150 predictor steps every non-LSTM tensor (BN running statistics included) equals the DrNet
    checkpoint's: loaded at step 0, never changed since."""
    drnet_model, _, _, _ = trained
    model, _, _ = predictor
    assert set(model.optimizers()) == {"lstm"}
    for k, v in drnet_model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), f"{k} differs from the DrNet checkpoint"


def test_predictor_loss_falls_and_rolls_out_100_steps(predictor, held_out):
    model, cfg, losses = predictor
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5]), (losses[:5], losses[-10:])
    past = torch.stack([eval_data.to_tensor(f[:cfg.n_past]) for _, f, _ in held_out[:3]])
    out = model.rollout(past, 100)
    assert out.shape == (3, 100, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    # deterministic: the rollout depends on the observed frames only
    assert torch.equal(out, model.rollout(past, 100))


def test_decoder_phase_trains_the_run_s_decoder_alone_on_its_frozen_encoders(trained, mm32):
    """phase=decoder starts from the DrNet run's decoder (its first reconstructions are the run's, far better
    than a fresh decoder's) and changes nothing else: encoders and discriminator, BN statistics included,
    stay the checkpoint's; the decoder moves and its L1 loss falls."""
    drnet_model, cfg, _, path = trained
    dcfg = replace(cfg, phase="decoder", encoders=str(path), rec_loss="l1", lr=2e-4)
    model, ctx = new_model(dcfg), make_ctx()
    data = batches(mm32, dcfg)
    losses = [float(model.training_step(b, s, ctx)["rec_loss"]) for s, b in zip(range(60), data)]
    decoder = {id(p) for p in model.decoder.parameters()}
    assert {id(p) for g in model.optimizers()["main"].param_groups for p in g["params"]} == decoder
    after = model.state_dict()
    for k, v in drnet_model.state_dict().items():
        assert torch.equal(v, after[k]) != k.startswith("decoder."), f"{k}: frozen part moved or decoder did not"
    fresh, fctx = new_model(replace(cfg, rec_loss="l1")), make_ctx()
    fresh_loss = float(fresh.training_step(next(data), 0, fctx)["rec_loss"])
    assert losses[0] < 0.5 * fresh_loss, (losses[0], fresh_loss)
    assert np.mean(losses[-10:]) < np.mean(losses[:10]), (losses[:10], losses[-10:])


def test_a_predictor_draws_with_a_decoder_trained_further_on_its_encoders(trained, predictor, mm32, held_out,
                                                                          tmp_path):
    """load_decoder (eval's decoder_from=) puts a decoder phase's decoder under a predictor that froze the same
    run: the rollouts are then drawn by that decoder, the LSTM and encoders untouched. A checkpoint on other
    encoders is refused and leaves the model as it was."""
    import copy
    _, cfg, _, path = trained
    dcfg = replace(cfg, phase="decoder", encoders=str(path), lr=2e-3)
    further, ctx = new_model(dcfg), make_ctx()
    for s, b in zip(range(20), batches(mm32, dcfg)):
        further.training_step(b, s, ctx)
    torch.save({"model": further.state_dict()}, tmp_path / "further.pt")
    torch.save({"model": new_model(cfg, seed=SEED + 1).state_dict()}, tmp_path / "other.pt")
    model = copy.deepcopy(predictor[0]).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    past = torch.stack([eval_data.to_tensor(f[:cfg.n_past]) for _, f, _ in held_out[:3]])
    rollout_before = model.rollout(past, 5)
    with pytest.raises(ValueError, match="encoders differ"):
        drnet.load_decoder(model, str(tmp_path / "other.pt"))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    drnet.load_decoder(model, str(tmp_path / "further.pt"))
    wanted = further.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, wanted[k] if k.startswith("decoder.") else before[k]), k
    with torch.no_grad():
        hc, hp, skips = further.eval().encode(past[:, 0])
        assert torch.equal(model.decode(hc, hp, skips), further.decode(hc, hp, skips))
    assert not torch.equal(model.rollout(past, 5), rollout_before)
    with pytest.raises(InputError, match="nowhere"):
        drnet_eval.evaluate(model, cfg, mm32, str(tmp_path / "eval"), decoder_from=str(tmp_path / "nowhere"))


def test_l1_reconstruction_loss_is_the_mean_absolute_error():
    rec, target = torch.tensor([[0.2, 0.9], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.5, 1.0]])
    assert math.isclose(float(drnet.reconstruction_loss(rec, target, "l1")), (0.2 + 0.1 + 0.5) / 4, rel_tol=1e-6)


def test_predictor_encoders_that_do_not_fit_fail_clearly(trained, mm32, tmp_path):
    _, cfg, _, path = trained
    batch = next(batches(mm32, replace(cfg, phase="predictor")))
    cases = [(dict(encoders=str(path), content_dim=16), ValueError, "shape mismatch"),
             (dict(encoders=str(tmp_path / "nowhere")), FileNotFoundError, "nowhere"),
             (dict(encoders=""), ValueError, "phase=predictor needs encoders=DRNET_RUN_DIR"),
             (dict(encoders="", phase="decoder"), ValueError, "phase=decoder needs encoders=DRNET_RUN_DIR")]
    for overrides, error, match in cases:
        model = new_model(replace(cfg, **{"phase": "predictor", **overrides}))
        with pytest.raises(error, match=match):
            model.training_step(batch, 0, make_ctx())


# ---- evaluate() -------------------------------------------------------------------------------------------------

REQUIRED = ("probe_content_acc", "probe_pose_acc", "probe_chance", "scene_disc_acc", "swap_mse", "swap_mse_init",
            "pred_mse", "pred_ssim", "position_r2_pose", "position_r2_content")


def test_evaluate_writes_eval_json_and_images(predictor, mm32, tmp_path):
    model, cfg, _ = predictor
    res = drnet_eval.evaluate(model, replace(cfg, eval_clips=64), mm32, str(tmp_path))
    saved = json.loads((tmp_path / "eval.json").read_text())
    for k in REQUIRED:
        assert k in saved, k
    assert saved["probe_target"] == "colors" and res["swap_mse"] == saved["swap_mse"]
    assert len(saved["pred_mse"]) == len(saved["pred_ssim"]) == 10 == len(saved["pred_mse_copy_last"])
    assert all(-1 <= s <= 1 for s in saved["pred_ssim"])
    # a briefly trained model swaps content and pose better than the same network at initialization
    assert saved["swap_mse"] < saved["swap_mse_init"]
    from PIL import Image
    with Image.open(tmp_path / "rollout.gif") as gif:  # GIF merges repeated frames: count their durations
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
        assert sum(durations) == (cfg.n_past + cfg.rollout) * 100
    with Image.open(tmp_path / "analogy.png") as png:
        assert png.size[0] == png.size[1] > 9 * 32
    assert model.training  # evaluate restores the training mode


def test_evaluate_is_deterministic(trained, mm32, tmp_path):
    model, cfg, _, _ = trained
    cfg = replace(cfg, eval_clips=32)
    for run in ("a", "b"):
        drnet_eval.evaluate(model, cfg, mm32, str(tmp_path / run))
    assert (tmp_path / "a" / "eval.json").read_bytes() == (tmp_path / "b" / "eval.json").read_bytes()
    assert (tmp_path / "a" / "analogy.png").read_bytes() == (tmp_path / "b" / "analogy.png").read_bytes()


def test_evaluation_options_set_the_probes_kind_and_sizes(trained, mm32, tmp_path):
    """`vidshard eval drnet RUN probe=mlp eval_clips=N probe_clips=M`: typed options of the recipe that fit
    the paper's MLP probe on M training clips and score N held-out ones; an unknown probe is refused."""
    from trainers.evaluate import recipe_options
    from vidshard.errors import UsageError
    model, cfg, _, _ = trained
    opts = recipe_options("drnet", ["probe=mlp", "eval_clips=24", "probe_clips=40"])
    assert opts == {"probe": "mlp", "eval_clips": 24, "probe_clips": 40}
    res = drnet_eval.evaluate(model, cfg, mm32, str(tmp_path), **opts)
    assert res["probe_kind"] == "mlp" and res["probe_train_clips"] == 40
    assert res["probe_test_clips"] == res["eval_clips"] == 24
    with pytest.raises(UsageError, match="probe must be"):
        drnet_eval.evaluate(model, cfg, mm32, str(tmp_path), probe="svm")
    assert recipe_options("drnet", ["read_clips=1000"]) == {"read_clips": 1000}
    with pytest.raises(UsageError, match="read_clips must be at least 1"):
        drnet_eval.evaluate(model, cfg, mm32, str(tmp_path), read_clips=0)


def write_unlabelled(root, splits: dict[str, int]) -> str:
    """Face-like clips (random pixels, provenance only, no synthetic labels), 12 frames of 32×32."""
    rng = np.random.default_rng(0)
    for split, n in splits.items():
        with ShardWriter(root, f"{split}-000000") as w:
            for i in range(n):
                meta = {"source_id": f"v{split}{i}", "source_path": "x.mp4", "track": 0, "clip": 0,
                        "frame_indices": list(range(12)), "fps": 25}
                w.add(make_key(meta["source_id"], 0, 0), rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), meta)
    write_manifest(root, name="faces", config={}, shard_splits={s: [f"{s}-000000"] for s in splits})
    return str(root)


def test_evaluate_skips_label_metrics_on_unlabelled_clips(tmp_path):
    """Face clips carry no synthetic labels: probes and swaps are skipped with a reason, the rest runs."""
    data = write_unlabelled(tmp_path / "faces", {"train": 8, "test": 8})
    cfg = tiny()
    res = drnet_eval.evaluate(new_model(cfg), cfg, data, str(tmp_path / "eval"))
    assert set(res["skipped"]) == {"probes", "swap_mse", "prediction", "digit_reader"}
    assert "probe_content_acc" not in res and 0 <= res["scene_disc_acc"] <= 1 and res["rec_mse"] > 0
    assert res["split_note"] == "probes fitted on split 'train', scored on split 'test'"


def test_eval_splits_without_a_held_out_split_cut_the_clips_in_two(tmp_path):
    data = write_unlabelled(tmp_path / "faces", {"train": 12})
    train, test, note = eval_data.eval_splits(data, 8, 4)
    assert (len(train), len(test)) == (8, 4) and "no test or val split" in note
    assert not {k for k, _, _ in train} & {k for k, _, _ in test}
    with pytest.raises(FileNotFoundError, match="no such shard"):
        eval_data.eval_splits(str(tmp_path / "missing-{000000..000001}.tar"), 8, 4)


def test_sample_returns_image_grids_in_unit_range(predictor, held_out):
    model, cfg, _ = predictor
    x = torch.stack([eval_data.to_tensor(f[:15]) for _, f, _ in held_out[:4]])
    grids = model.sample({"frames": x})
    assert set(grids) == {"analogy", "rollout"}
    for g in grids.values():
        assert g.ndim == 4 and g.shape[:2] == (1, 3) and 0 <= g.min() and g.max() <= 1


# ---- metrics ----------------------------------------------------------------------------------------------------

def test_ssim_matches_skimage():
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(0)
    a = rng.random((3, 3, 32, 32))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    ours = video.ssim(torch.from_numpy(a), torch.from_numpy(b))
    ref = [structural_similarity(x, y, channel_axis=0, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False) for x, y in zip(a, b)]
    assert np.allclose(ours.numpy(), ref, atol=1e-5)
    assert torch.allclose(video.ssim(torch.from_numpy(a), torch.from_numpy(a)), torch.ones(3, dtype=torch.float32))


def test_probes_and_r2_read_what_is_there_and_not_what_is_not():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 8))
    labels = list((x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0))  # 4 classes, linearly readable
    noise = list(rng.integers(0, 4, 600))
    assert probes.probe_accuracy(x[:400], labels[:400], x[400:], labels[400:]) > 0.9
    assert probes.probe_accuracy(x[:400], noise[:400], x[400:], noise[400:]) < 0.4
    assert probes.probe_accuracy(x[:400], labels[:400], x[400:], labels[400:], kind="mlp") > 0.8
    y = x[:, :2] @ np.array([[1.0, 2.0], [-1.0, 0.5]]) + 3.0
    assert probes.ridge_r2(x[:400], y[:400], x[400:], y[400:]) > 0.99
    assert probes.ridge_r2(x[:400], rng.standard_normal((400, 2)), x[400:], rng.standard_normal((200, 2))) < 0.05
    assert probes.majority_accuracy([1, 1, 2], [1, 2, 2, 2]) == 0.25
    # predictions come back as the labels themselves, whatever their type; a label never trained on counts wrong
    names = [("a", "b", "c", "d")[i] for i in labels]
    pred = probes.probe_predictions(x[:400], names[:400], x[400:])
    assert set(pred) <= set(names) and np.mean([p == t for p, t in zip(pred, names[400:])]) > 0.9
    assert probes.probe_accuracy(x[:400], names[:400], x[400:], ["z"] * 200) == 0.0
    with pytest.raises(ValueError, match="single class"):
        probes.probe_predictions(x[:10], ["a"] * 10, x[10:20])


# ---- the digit reader's figures (Moving MNIST in channel colours) ----------------------------------------------

def test_centroid_motion_measures_how_far_each_channel_moves():
    x = torch.zeros(1, 5, 3, 32, 32)
    for t in range(5):
        x[0, t, 0, 4:8, 2 + 2 * t:6 + 2 * t] = 1.0    # channel 0 moves 2 px a step to the right
        x[0, t, 1, 3 + 3 * t:7 + 3 * t, 10:14] = 1.0  # channel 1 moves 3 px a step down
    assert torch.allclose(drnet_eval.centroid_motion(x), torch.full((4,), 2.5))
    assert torch.equal(drnet_eval.centroid_motion(x[:, [0, 0, 0]]), torch.zeros(2))  # a frozen clip


@pytest.fixture(scope="module")
def mm_channel(tmp_path_factory):
    """Channel-coloured Moving MNIST (digit n in RGB channel n), 32×32: 256 train, 64 test clips."""
    from vidshard.cli import main
    out = tmp_path_factory.mktemp("drnet") / "mmch"
    assert main(["synth", "moving-mnist", "--out", str(out), "--clips", "320", "--split", "0.8,0,0.2",
                 "--mnist", str(require_shared("mnist")), "--size", "32", "--colors", "channel", "--seed", "1"]) == 0
    return str(out)


def test_evaluate_reads_digits_in_swaps_and_rollouts_on_channel_coloured_data(trained, mm_channel, tmp_path,
                                                                            monkeypatch):
    from trainers.eval import judge as judges
    monkeypatch.setenv("VIDSHARD_CACHE", str(tmp_path / "cache"))
    _, cfg, _, path = trained
    pcfg = replace(cfg, phase="predictor", encoders=str(path), eval_clips=32)
    model = new_model(pcfg)
    model.training_step(next(batches(mm_channel, pcfg)), 0, make_ctx())  # loads the frozen encoders
    res = drnet_eval.evaluate(model, pcfg, mm_channel, str(tmp_path / "e"),
                              judge_settings=judges.Settings(train_clips=256, frames_per_clip=4, test_clips=64, epochs=2))
    assert 0 <= res["swap_digit_acc"] <= 1 and res["swap_digit_acc_real"] > 0.3  # chance 0.1: a small reader reads real digits
    assert 0 <= res["rec_digit_acc"] <= 1 and 0 <= res["swap_digit_acc_real_blurred"] <= 1
    # a "decoder" that returns the pose clip's own frames: the rebuilt clip is the real one, the swap the other clip
    settings = judges.Settings(train_clips=256, frames_per_clip=4, test_clips=64, epochs=2)
    test = eval_data.eval_splits(mm_channel, 0, 64)[1]
    reader, _ = drnet_eval.digit_reader(mm_channel, pcfg, test[0][2], settings)   # the cached reader above
    copy = SimpleNamespace(encode_static=lambda x: x, encode_dynamic=lambda x: x, generate=lambda s, d: d,
                           predictor=None)
    read = drnet_eval.digit_scores(copy, pcfg, reader, test, "cpu")
    assert read["rec_digit_acc"] == read["swap_digit_acc_real"] > read["swap_digit_acc"] + 0.2
    assert len(res["rollout_digit_acc"]) == drnet_eval.ROLLOUT_STEPS == len(res["rollout_motion_per_step"]) + 1
    assert 0 <= res["rollout_digit_steps"] <= drnet_eval.ROLLOUT_STEPS
    assert res["motion_real"] > 0.5 and res["rollout_motion"] >= 0
    # read READ_CLIPS at a time (a full evaluation reads all its held-out clips): the same figures as in one go
    model.eval()
    whole = drnet_eval.digit_scores(model, pcfg, reader, test, "cpu", read_clips=32)
    monkeypatch.setattr(drnet_eval, "READ_CLIPS", 5)    # 7 chunks, the last of 2 clips
    chunked = drnet_eval.digit_scores(model, pcfg, reader, test, "cpu", read_clips=32)
    assert whole.keys() == chunked.keys() and chunked["digit_reader_clips"] == 32
    for key, value in whole.items():
        assert np.allclose(chunked[key], value, atol=1e-6), key


def test_relative_similarity_cannot_be_lowered_by_shrinking_content():
    # the paper's squared distance falls 100x when h_c is scaled by 0.1 (what a collapsing head scale does);
    # the relative one is the same for any scale and offset, and still 0 for identical frames
    from trainers.models.drnet import similarity_loss
    g = torch.Generator().manual_seed(0)
    h1, h2 = torch.randn(32, 16, generator=g), torch.randn(32, 16, generator=g)
    shrunk = (0.1 * h1 + 3.0, 0.1 * h2 + 3.0)
    assert torch.isclose(similarity_loss(*shrunk, "mse"), 0.01 * similarity_loss(h1, h2, "mse"))
    assert torch.isclose(similarity_loss(*shrunk, "relative"), similarity_loss(h1, h2, "relative"), rtol=1e-4)
    assert similarity_loss(h1, h1.clone(), "relative") == 0
    # one dimension changes within clips, the others stay: shrunk 100x, it hides from the relative term (its
    # change against the whole vector's spread) but not from "standardized" (against its own spread)
    moved = h1.clone()
    moved[:, 0] = torch.randn(32, generator=g)
    one = torch.ones(16)
    one[0] = 0.01
    assert torch.isclose(similarity_loss(h1 * one, moved * one, "standardized"),
                         similarity_loss(h1, moved, "standardized"), rtol=1e-3)
    assert similarity_loss(h1 * one, moved * one, "relative") < 0.01 * similarity_loss(h1, moved, "relative")
    assert similarity_loss(h1, h1.clone(), "standardized") == 0
    with pytest.raises(ValueError, match="sim"):
        drnet.check_config(drnet.Config(sim="cosine"))


def test_contrastive_similarity_rewards_telling_clips_apart():
    # InfoNCE: a clip's two codes alike and unlike the other clips' is cheap; a constant code (what pulling
    # pairs together alone allows) costs log(batch), and so do pairs matched to the wrong clips; scale is free
    from trainers.models.drnet import similarity_loss
    g = torch.Generator().manual_seed(0)
    h1 = torch.randn(32, 16, generator=g)
    h2 = h1 + 0.1 * torch.randn(32, 16, generator=g)
    paired = similarity_loss(h1, h2, "contrastive")
    assert paired < 0.1
    constant = torch.ones(32, 16)
    assert torch.isclose(similarity_loss(constant, constant, "contrastive"), torch.tensor(math.log(32)))
    assert similarity_loss(h1, h2.roll(1, 0), "contrastive") > math.log(32)
    assert torch.isclose(similarity_loss(0.01 * h1, 0.01 * h2, "contrastive"), paired, rtol=1e-4)
    # a cooler softmax sharpens the same ranking
    assert similarity_loss(h1, h2, "contrastive", temperature=0.05) < paired
    h1.requires_grad_(True)
    similarity_loss(h1, h2, "contrastive").backward()
    assert h1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="sim_temperature"):
        drnet.check_config(drnet.Config(sim="contrastive", sim_temperature=0))


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_pooled_content_head_cannot_tell_which_cell_a_feature_came_from(pool):
    # with content_pool the last 4x4 map is read by a 1x1 conv and a global pool: moving features between
    # cells (a roll of the map) leaves h_c as it was; the paper's 4x4 conv reads their place
    cfg = tiny(nf=4, content_pool=pool)
    enc, paper = drnet.Encoder(cfg, 8, pool).eval(), drnet.Encoder(cfg, 8).eval()
    fmap = torch.randn(2, drnet.widths(cfg)[-1], 4, 4)
    rolled = fmap.roll((1, 2), (2, 3))
    assert torch.allclose(enc.head(fmap), enc.head(rolled), atol=1e-6)
    assert not torch.allclose(paper.head(fmap), paper.head(rolled), atol=1e-3)
    model = new_model(cfg).eval()
    hc, hp, _ = model.encode(torch.rand(3, 3, 32, 32))
    assert hc.shape == (3, cfg.content_dim) and hp.shape == (3, cfg.pose_dim)
    with pytest.raises(ValueError, match="content_pool"):
        drnet.check_config(drnet.Config(content_pool="avg"))


@pytest.mark.parametrize("blur", [False, True])
def test_circular_padding_makes_pooled_content_blind_to_where_the_digits_are(blur):
    # content_pad="circular" reads the frame as a torus: a circular shift of the image by a multiple of the
    # encoder's total stride (8 at 32x32) shifts every feature map by whole cells, which the global pool
    # cannot see; with zero padding the border tells the encoder where things are
    torch.manual_seed(0)
    x = torch.zeros(2, 3, 32, 32)
    x[..., 1:7, 2:9] = torch.rand(2, 3, 6, 7)                   # a "digit" at the border, on black
    moved = x.roll((8, 16), (2, 3))                              # the same digit in the middle
    for pad, same in (("circular", True), ("zeros", False)):
        cfg = tiny(nf=4, content_pool="max", content_blur=blur, content_pad=pad)
        hc = new_model(cfg).eval().content_enc
        for bn in (m for m in hc.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.bias.data.fill_(0.3)      # as after training: black background no longer maps to zero features
        assert torch.allclose(hc(x)[0], hc(moved)[0], atol=1e-5) == same, pad
    with pytest.raises(ValueError, match="content_pad"):
        drnet.check_config(drnet.Config(content_pad="reflect"))


def test_split_content_cannot_see_where_the_digits_are_from_each_other():
    # content_split reads each channel alone: moving one channel's digit against the other's (by whole cells,
    # circular padding) leaves h_c as it was, where an encoder over all channels sees the new offset
    torch.manual_seed(0)
    x = torch.zeros(2, 3, 32, 32)
    x[:, :2, 5:13, 6:12] = torch.rand(2, 2, 8, 6)               # one "digit" per channel, on top of each other
    apart, other = x.clone(), x.clone()
    apart[:, 0] = x[:, 0].roll((8, 16), (1, 2))                 # channel 0's digit moved away from channel 1's
    other[:, :2, 5:13, 6:12] = torch.rand(2, 2, 8, 6)           # other digits at the same place
    change = {}
    for split in (True, False):
        hc = new_model(tiny(nf=4, content_pool="max", content_pad="circular", content_split=split)).eval().content_enc
        for m in hc.modules():        # weights of a trained net's scale, so differences are not lost in rounding
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.bias.data.fill_(0.3)
        with torch.no_grad():
            change[split] = [float((hc(x)[0] - hc(y)[0]).abs().max()) for y in (apart, other)]
    assert change[True][0] < 1e-5 and change[False][0] > 0.01     # the offset: invisible split, visible mixed
    assert change[True][1] > 0.01                                 # what the digits are still shows
    for bad in (dict(content_pool="none"), dict(content_pool="max", skip=True)):
        with pytest.raises(ValueError, match="content_split"):
            drnet.check_config(drnet.Config(content_split=True, **bad))


def test_content_shift_rolls_each_content_frame_on_its_own_and_only_in_training():
    # roll_frames is torch.roll per frame with offsets from the generator; content_shift feeds the content
    # encoder rolled frames in training only (h_c of a frame at evaluation is unchanged)
    x = torch.rand(6, 3, 8, 8)
    g = torch.Generator().manual_seed(3)
    rolled = drnet.roll_frames(x, g)
    g.manual_seed(3)
    dy, dx = (torch.randint(0, 8, (6, 1), generator=g) for _ in range(2))
    for i in range(6):
        assert torch.equal(rolled[i], x[i].roll((int(dy[i]), int(dx[i])), (1, 2)))
    assert len({(int(a), int(b)) for a, b in zip(dy, dx)}) > 1       # offsets differ between frames
    cfg = tiny(nf=4, content_pool="max", content_pad="circular", content_shift=True)
    model, ctx = new_model(cfg), make_ctx()
    seen = []
    model.content_enc.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    clips = torch.rand(4, cfg.max_step, 3, 32, 32)
    t = drnet.draw_offsets(4, cfg.max_step, ctx.generator)
    model.main_step(clips, t, ctx)
    plain = torch.cat([drnet.take(clips, t["content"]), drnet.take(clips, t["similar"])])
    assert seen[0].shape == plain.shape and not torch.equal(seen[0], plain)
    assert torch.allclose(seen[0].sum((1, 2, 3)), plain.sum((1, 2, 3)))   # the same pixels, moved
    seen.clear()
    model.eval().encode_static(clips)
    assert torch.equal(seen[0], clips[:, 0])
    for bad in (dict(content_pool="max"), dict(content_pad="circular")):
        with pytest.raises(ValueError, match="content_shift"):
            drnet.check_config(drnet.Config(content_shift=True, **bad))


def test_predictor_on_its_own_outputs_trains_on_what_a_rollout_feeds_it():
    # lstm_inputs="own": the observed steps are teacher-forced as before; from the last observed frame on each
    # input is the previous prediction, exactly the poses a rollout of the same start would produce
    torch.manual_seed(0)
    cfg = tiny(phase="predictor", encoders="unused", lstm_inputs="own")
    model = drnet.Model(cfg).eval()
    hp, hc = torch.randn(2, cfg.n_past + cfg.n_future, cfg.pose_dim), torch.randn(2, cfg.content_dim)
    own = model.predict_poses(hp, hc)
    truth = drnet.Model(replace(cfg, lstm_inputs="truth"))
    truth.load_state_dict(model.state_dict())
    forced = truth.eval().predict_poses(hp, hc)
    assert own.shape == forced.shape == (2, cfg.n_past + cfg.n_future - 1, cfg.pose_dim)
    assert torch.allclose(own[:, :cfg.n_past], forced[:, :cfg.n_past], atol=1e-6)
    assert not torch.allclose(own[:, cfg.n_past:], forced[:, cfg.n_past:], atol=1e-3)
    _, state = model.predictor(hp[:, :cfg.n_past - 1], hc)      # the rollout's pose loop, as rollout() runs it
    h, poses = hp[:, cfg.n_past - 1:cfg.n_past], []
    for _ in range(cfg.n_future):
        h, state = model.predictor(h, hc, state)
        poses.append(h)
    assert torch.allclose(own[:, cfg.n_past - 1:], torch.cat(poses, 1), atol=1e-5)
    with pytest.raises(ValueError, match="lstm_inputs"):
        drnet.check_config(drnet.Config(lstm_inputs="rollout"))


def test_blurred_downsampling_halves_like_the_strided_conv_and_shifts_with_the_image():
    # content_blur keeps every map's shape (so skips and the head fit) and, blurring before it subsamples, a
    # one-pixel shift of a smooth image moves its features less than the strided conv's aliasing does
    torch.manual_seed(0)
    cfg = tiny(nf=4, content_blur=True)
    model = new_model(cfg).eval()
    x = torch.rand(2, 3, 32, 32)
    _, plain_skips = new_model(tiny(nf=4)).eval().content_enc(x)
    hc, skips = model.content_enc(x)
    assert [s.shape for s in skips] == [s.shape for s in plain_skips] and hc.shape == (2, cfg.content_dim)
    down = drnet.BlurDown(1)
    flat = torch.ones(1, 1, 8, 8)
    assert torch.allclose(down(flat), torch.ones(1, 1, 4, 4))   # a blur that keeps the mean
    stripes = torch.zeros(1, 1, 8, 8)
    stripes[..., ::2] = 1.0                                       # the highest frequency: blurred to its mean
    assert torch.allclose(down(stripes), down(stripes.roll(1, 3)), atol=1e-6)


def test_predictor_on_standardised_poses_fits_the_scale_once_and_decodes_real_poses(trained, mm32, held_out):
    # pose_scale="data": the mean and 3 std per dimension of the first batch's poses, kept in the checkpoint; the
    # predictor learns in those units and a rollout maps its poses back before decoding
    _, cfg, _, path = trained
    pcfg = replace(cfg, phase="predictor", encoders=str(path), pose_scale="data")
    model, ctx = new_model(pcfg), make_ctx()
    first, second = [b for _, b in zip(range(2), batches(mm32, pcfg))]
    model.training_step(first, 0, ctx)
    with torch.no_grad():
        hp = model.pose_sequence(first["frames"]).flatten(0, 1)
    assert torch.allclose(model.pose_mean, hp.mean(0), atol=1e-5)
    assert torch.allclose(model.pose_spread, drnet.POSE_SPREAD * hp.std(0), atol=1e-5)
    fitted = model.pose_spread.clone()
    model.training_step(second, 1, ctx)
    assert torch.equal(model.pose_spread, fitted)                       # fitted once, not per batch
    assert {"pose_mean", "pose_spread"} <= set(model.state_dict())      # so eval and --resume reuse them
    assert "pose_mean" not in new_model(replace(pcfg, pose_scale="none")).state_dict()  # older checkpoints load
    z = torch.randn(4, 3, pcfg.pose_dim)
    assert torch.allclose(model.from_predicted(model.to_predicted(z)), z, atol=1e-5)
    past = torch.stack([eval_data.to_tensor(f[:pcfg.n_past]) for _, f, _ in held_out[:3]])
    with torch.no_grad():   # the rollout decodes the predictor's poses mapped back to the encoder's units
        hp_past = model.to_predicted(model.pose_sequence(past))
        hc, skips = model.content_enc(past[:, -1])
        _, state = model.predictor(hp_past[:, :-1], hc)
        poses = model.roll_poses(hp_past[:, -1:], hc, state, 4)
        assert torch.allclose(model.rollout(past, 4), model.generate((hc, *skips), model.from_predicted(poses)))
    with pytest.raises(ValueError, match="pose_scale"):
        drnet.check_config(drnet.Config(pose_scale="unit"))


def test_channel_swap_exchanges_the_two_digit_channels_of_whole_clips():
    # channel-coloured Moving MNIST: a clip's digits trade colours, every frame alike, in about half the clips
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 3, 3, 4, 4)
    y = drnet.swap_channels(x, g)
    swapped = torch.tensor([torch.equal(y[i], x[i][:, [1, 0, 2]]) for i in range(len(x))])
    kept = torch.tensor([torch.equal(y[i], x[i]) for i in range(len(x))])
    assert bool((swapped ^ kept).all()) and 150 < int(swapped.sum()) < 250
    assert torch.equal(y[:, :, 2], x[:, :, 2])
    assert torch.equal(y, drnet.swap_channels(x, torch.Generator().manual_seed(0)))  # the generator decides
    with pytest.raises(ValueError, match="channel_swap"):
        drnet.check_config(drnet.Config(channels=1, channel_swap=True))
    model = new_model(tiny(channel_swap=True))
    logs = model.training_step({"frames": torch.rand(4, 12, 3, 32, 32)}, 0, make_ctx())
    assert all(torch.isfinite(v) for v in logs.values()) and "rec_loss" in logs
