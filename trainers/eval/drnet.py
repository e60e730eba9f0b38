"""What DrNet's paper reports (Denton & Birodkar 2017), measured with the kit: `vidshard eval drnet RUN_DIR`.

eval.json keys:
    probe_<label>            {content_acc, pose_acc, chance, classes} for every content label of the data
                             (labels.content_targets): probes on frozen h_c and h_p of held-out clips
    probe_target, probe_content_acc, probe_pose_acc, probe_chance
                             the headline probe: the colour pair where it varies (palette Moving MNIST),
                             else the digit pair, else the first label
    position_r2_pose/_content  held-out ridge R² of object positions from h_p and from h_c
    scene_disc_acc           the scene discriminator on held-out pairs (0.5 = the equilibrium the
                             adversarial term aims at)
    rec_mse                  frames rebuilt from the content of frame 0 and their own pose
    swap_mse (+ _black, _copy_content_clip, _init)
                             content of clip i with the pose of clip i+1 against the exact counterfactual,
                             beside two trivial baselines and the same network at initialization
    pred_mse / pred_ssim     (predictor phase) per predicted step, beside copying the last observed frame
Moving MNIST in channel colours (one digit per channel), read by the judge's digit reader at the model's
size (trainers.eval.judge; its accuracy on real frames beside every figure):
    swap_digit_acc           the content clip's digits read in the swapped frames (per frame and channel),
                             beside swap_digit_acc_real (the reader on the content clip's own frames) and
                             swap_digit_acc_real_blurred (on those frames blurred at judge.BLUR_CHECK px: the
                             reader is trained on blurred real frames too, so a blurred digit still reads)
    rec_digit_acc            the same reader on the clip rebuilt from its own content and poses (rec_mse's
                             frames): what the decoder renders legibly at all, so that swap_digit_acc well
                             below it points at content and pose entangled, and both low at the decoder
    rollout_digit_acc        (predictor phase) per step of a ROLLOUT_STEPS-step rollout: the observed
                             clip's digits read in the predicted frames; rollout_digit_steps: how many
                             leading steps stay at >= 0.8
    rollout_motion, motion_real
                             mean displacement per step of the channels' intensity centroids (pixels), over
                             the first MOTION_STEPS predicted steps and over real clips: a rollout that
                             freezes keeps its digits but does not move
Parts a dataset cannot support (no labels: faces) are listed under "skipped" with the reason.
With decoder_from=RUN (another run's decoder on the same encoders) every figure is that decoder's.
Figures: analogy.png (content of row clips × pose of column frames) and, with a predictor, rollout.gif.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from trainers.eval import data as eval_data
from trainers.eval import figures, labels, probes, recipe, swaps, video
from trainers.models.drnet import load_decoder
from vidshard.errors import InputError, UsageError

HEADLINE = ("colors", "digits")  # the probe reported as probe_content_acc, first that the data varies
ROLLOUT_STEPS = 100              # predicted frames read by the digit reader
MOTION_STEPS = 30                # the leading rollout steps whose motion is compared with real clips'
READ_CLIPS = 128                 # held-out clips for the digit-reader figures


@torch.no_grad()
def scene_disc_accuracy(model, test: list, window: int, device) -> float:
    """Held-out pairs: frames 0 and window-1 of one clip (label same) and frame 0 of clip i with frame
    window-1 of clip i+1 (label different)."""
    x = swaps.stacked(test, window, device)[:, [0, window - 1]]
    hp = model.encode_dynamic(x)
    hp1, hp2 = hp[:, 0], hp[:, 1]
    same = model.scene_disc(hp1, hp2) > 0
    diff = model.scene_disc(hp1, hp2.roll(1, 0)) <= 0
    return float(torch.cat([same, diff]).float().mean())


def headline_probe(res: dict) -> dict:
    names = list(HEADLINE) + sorted(k[6:] for k in res if k.startswith("probe_") and isinstance(res[k], dict))
    main = next((n for n in names if "content_acc" in res.get(f"probe_{n}", {})), None)
    if main is None:
        return {}
    p = res[f"probe_{main}"]
    return {"probe_target": main, "probe_content_acc": p["content_acc"], "probe_pose_acc": p["pose_acc"],
            "probe_chance": p["chance"]}


def digit_reader(data, cfg, meta: dict, settings=None):
    """(The Moving MNIST judge's per-channel digit reader at the model's size, "") or (None, why not)."""
    if not labels.frame_factors(meta) or labels.generator_of(meta) != "moving-mnist":
        return None, "no digit reader: it reads Moving MNIST in channel colours"
    if eval_data.dataset_dir(data) is None:
        return None, f"no digit reader: {eval_data.JUDGE_NEEDS_DATASET}"
    from trainers.eval import judge as judges
    return judges.judge_for(data, cfg.image_size, cfg.channels, settings=settings), ""


def clip_digits(clips: list) -> torch.Tensor:
    """(B, MNIST_CHANNELS): the digit drawn in each colour channel of each clip."""
    return torch.tensor([[int(labels.frame_factors(m)[f"digit_ch{c}"][0]) for c in range(labels.MNIST_CHANNELS)]
                         for _, _, m in clips])


def read_accuracy(reader, frames: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    """frames (B, T, C, H, W), digits (B, channels) -> (T,) fraction of clips and channels read right."""
    read = reader.read_digits(frames.cpu())[..., :digits.shape[1]]
    return (read == digits[:, None]).float().mean((0, 2))


def blurred(frames: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """(B, T, C, H, W) frames blurred by a Gaussian of sigma px (default: the judge's BLUR_CHECK; 0 leaves them)."""
    from trainers.eval.judge import BLUR_CHECK, gaussian_blur
    return gaussian_blur(frames.flatten(0, 1), BLUR_CHECK if sigma is None else sigma).view(frames.shape)


def centroid_motion(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) -> (T-1,) mean displacement (pixels) per step of each channel's intensity centroid,
    over clips and the digit channels."""
    x = frames[:, :, :labels.MNIST_CHANNELS].float()
    H, W = x.shape[-2:]
    mass = x.sum((-2, -1)).clamp_min(1e-6)
    cy = (x.sum(-1) * torch.arange(H, dtype=x.dtype, device=x.device)).sum(-1) / mass
    cx = (x.sum(-2) * torch.arange(W, dtype=x.dtype, device=x.device)).sum(-1) / mass
    c = torch.stack([cx, cy], -1)                                     # (B, T, channels, 2)
    return (c[:, 1:] - c[:, :-1]).norm(dim=-1).mean((0, 2))


@torch.no_grad()
def digit_scores(model, cfg, reader, test: list, device, read_clips: int = READ_CLIPS) -> dict:
    """The digit reader on swapped frames, on real frames and (predictor phase) along a rollout, over the
    first read_clips held-out clips (clip i's content with clip i+1's poses), READ_CLIPS at a time."""
    clips = test[:read_clips]
    n, T = len(clips), min(f.shape[0] for _, f, _ in clips)
    partners = [clips[(i + 1) % n] for i in range(n)]
    chunks = [(clips[a:a + READ_CLIPS], partners[a:a + READ_CLIPS]) for a in range(0, n, READ_CLIPS)]
    parts = [(len(c), read_chunk(model, cfg, reader, c, p, T, device)) for c, p in chunks]
    out = {k: weighted_mean(parts, k) for k in parts[0][1]}
    if "rollout_digit_acc" in out:
        good = (torch.tensor(out["rollout_digit_acc"]) >= 0.8).int()
        out["rollout_digit_steps"] = int(good.cumprod(0).sum())
    return {**out, "digit_reader_clips": n}


def weighted_mean(parts: list, key: str):
    """The clip-weighted mean of one figure (a number or a per-step list) over chunks of clips."""
    total = sum(w for w, _ in parts)
    vals = [torch.as_tensor(r[key], dtype=torch.float64) * w for w, r in parts]
    mean = torch.stack(vals).sum(0) / total
    return mean.tolist() if mean.ndim else float(mean)


def read_chunk(model, cfg, reader, clips: list, partners: list, T: int, device) -> dict:
    """digit_scores' figures on one batch of clips (each with its partner's poses in the swaps)."""
    xs = swaps.stacked(clips, T, device)
    xd = swaps.stacked(partners, T, device)
    digits = clip_digits(clips)
    out = {"swap_digit_acc": float(read_accuracy(reader, swaps.transfer(model, xs, xd), digits).mean()),
           "swap_digit_acc_real": float(read_accuracy(reader, xs, digits).mean()),
           "swap_digit_acc_real_blurred": float(read_accuracy(reader, blurred(xs), digits).mean()),
           "rec_digit_acc": float(read_accuracy(reader, swaps.transfer(model, xs, xs), digits).mean()),
           "motion_real": float(centroid_motion(xs).mean())}
    if model.predictor is not None and T > cfg.n_past:
        pred = model.rollout(xs[:, :cfg.n_past], ROLLOUT_STEPS)
        out.update(rollout_digit_acc=read_accuracy(reader, pred, digits).tolist(),
                   rollout_motion=float(centroid_motion(pred[:, :MOTION_STEPS]).mean()),
                   rollout_motion_per_step=centroid_motion(pred).tolist())
    return out


def evaluate(model, cfg, data, out_dir: str, probe: str = "", eval_clips: int = 0, probe_clips: int = 0,
             read_clips: int = READ_CLIPS, assets: str = "", decoder_from: str = "", judge_settings=None,
             **kw) -> dict:
    """Evaluate a DrNet run (either phase) on a dataset; writes out_dir/eval.json and the figures.
    probe: "logistic" or "mlp" (the paper's App. D classifier; default: the run's cfg.probe); eval_clips:
    held-out clips scored (default: cfg.eval_clips); probe_clips: training clips the probes are fitted on
    (default: twice eval_clips); read_clips: held-out clips the digit reader reads (swaps, reconstructions,
    rollouts; at most eval_clips; default READ_CLIPS, what the periodic evaluations read). assets: the
    synthetic generator's asset directory for the counterfactual swaps (default: the one the dataset's
    manifest records; needed for shards copied out of it). decoder_from: another DrNet run or checkpoint
    on the same encoders (e.g. a decoder phase of the run a predictor froze) whose decoder draws every
    figure instead of the run's own (models.drnet.load_decoder; refused if its encoders differ).
    judge_settings: how the digit reader is trained (trainers.eval.judge.Settings; default: the data's
    judge.full_settings)."""
    if probe and probe not in probes.PROBES:
        raise UsageError(f"drnet evaluation: probe must be one of {', '.join(probes.PROBES)}, got {probe!r}")
    if read_clips < 1:
        raise UsageError(f"drnet evaluation: read_clips must be at least 1, got {read_clips}")
    n_test = eval_clips or cfg.eval_clips
    if decoder_from:
        try:
            load_decoder(model, decoder_from)
        except FileNotFoundError as e:
            raise InputError(str(e)) from None
        except ValueError as e:
            raise UsageError(str(e)) from None
    with recipe.evaluating(model, out_dir) as (out, device):
        train, test, note = eval_data.eval_splits(data, probe_clips or 2 * n_test, n_test)
        window = min(min(f.shape[0] for _, f, _ in train + test), cfg.max_step)
        res = {"data": str(data), "split_note": note, "phase": cfg.phase, "skipped": {}, "eval_clips": len(test)}
        res["rec_mse"] = swaps.reconstruction_mse(model, test, window, device)
        res["scene_disc_acc"] = scene_disc_accuracy(model, test, window, device)
        n = min(8, len(test))
        static = swaps.stacked(test[:n], 1, device)
        dynamic = torch.stack([swaps.stacked([test[(i + 1) % len(test)]], window, device)[0, -1] for i in range(n)])
        figures.save_png(figures.analogy_grid(model, static, dynamic), out / "analogy.png", scale=2)
        if probes.has_probe_labels(test[0][2]):
            res.update(probes.probe_report(model, train, test, window, device, probe or cfg.probe, ("content", "pose")))
            res.update(headline_probe(res))
        else:
            res["skipped"]["probes"] = "the clips carry no content or position labels (e.g. faces)"
        assets = assets or eval_data.synthetic_assets(data)
        swapped = swaps.swap_scores(model, test, device, assets)
        if swapped is None:
            res["skipped"]["swap_mse"] = "no synthetic generator labels to re-render counterfactual clips from"
        else:
            res.update(swapped)
            untrained = recipe.fresh_model(model, replace(cfg, phase="drnet", encoders=""), device)
            res["swap_mse_init"] = swaps.swap_scores(untrained, test, device, assets)["swap_mse"]
        res.update(prediction(model, cfg, test, out, device, res["skipped"]))
        reader, why = digit_reader(data, cfg, test[0][2], judge_settings)
        if reader is None:
            res["skipped"]["digit_reader"] = why
        else:
            res.update(digit_scores(model, cfg, reader, test, device, read_clips))
        eval_data.write_json(res, out / "eval.json")
        return res


def prediction(model, cfg, test: list, out: Path, device, skipped: dict) -> dict:
    shortest = min(f.shape[0] for _, f, _ in test)
    if model.predictor is None:
        skipped["prediction"] = "no predictor trained (phase=predictor trains one)"
        return {}
    if shortest <= cfg.n_past:
        skipped["prediction"] = f"held-out clips have {shortest} frames; need more than n_past = {cfg.n_past}"
        return {}
    res = video.prediction_scores(model.rollout, test, cfg.n_past, 10, device)
    video.rollout_gif(model.rollout, test[:4], cfg.n_past, cfg.rollout, out / "rollout.gif", device)
    return {**res, "rollout_steps": cfg.rollout}
