"""What the video-set GAN's paper reports (Tuesca & Uzal 2018, §5), measured with the kit:
`vidshard eval vsgan RUN_DIR`.

Figures (the paper's Fig. 6-11): grid_zc_rows.png (each row one z_C, z_M swept along a line between two
draws across the columns) and grid_zm_sequence.png (one sequence of z_M draws across the columns, several
z_C down the rows). What to look for: rows keep who/what is shown, columns keep how it moves.

Faces (clips without synthetic labels; the paper's §5.4, with dlib's ResNet embedding in place of
OpenFace): identity distance between G(z) and G(z + δ), δ in z_M only vs in z_C only, random directions of
norm in NORMS, each perturbed code clipped back into [-1, 1] (identity.perturbation_distances); box plots
in identity.png beside the same distance on real crops: frames of one video vs of different videos.
    id_dist_zm, id_dist_zc        norm -> [q1, median, q3]
    id_dist_zm_median_ci95, ...   norm -> [low, high]: 95% interval of that median (identity.median_ci)
    id_dist_real_same, _diff      [q1, median, q3]

Synthetic sets with a judge (Sprites; Moving MNIST): the sequential-VAE protocol with the "first"
reference (a GAN has no encoder): fix z_C and resample z_M, the judge's appearance predictions should stay
those of the first sample; fix z_M and resample z_C, they should spread like real appearance does.
    judge_fixed_content_agreement  appearance factor -> agreement with the first sample (z_C fixed)
    judge_entropy_ratio            appearance factor -> H(y) of generated clips with z_M fixed and z_C
                                   resampled / H(y) of real clips
    judge_protocol                 both runs of trainers.eval.judge.sequential_protocol in full
"""
from __future__ import annotations

from pathlib import Path

import torch

from trainers.eval import data as eval_data
from trainers.eval import figures, labels, recipe

NORMS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.8)  # 5.8 ~ the distance between two independent 50-d draws
BOX = (-1.0, 1.0)                              # the prior's support: perturbed codes are clipped back into it
IDENTITY_CODES = 100                           # codes per perturbation curve (each face embedded by dlib)
CALIBRATION_CLIPS = 300                        # real clips per split for the same/different-video distances
JUDGE_CLIPS = 300                              # held-out clips (one fixed code each) for the judge protocol
JUDGE_DRAWS = 5                                # samples per fixed code: the first and 4 resampled


@torch.no_grad()
def latent_grids(model, out: Path, device, rows: int = 8, cols: int = 8) -> None:
    g = torch.Generator(device=device).manual_seed(0)
    zc = model.sample_static(rows, g)
    a, b = model.sample_dynamic(2, 1, g)[:, 0]
    figures.save_png(figures.code_grid(model, zc, figures.sweep(a, b, cols)), out / "grid_zc_rows.png", scale=2)
    figures.save_png(figures.code_grid(model, zc, model.sample_dynamic(1, cols, g)[0]), out / "grid_zm_sequence.png",
                     scale=2)


def identity_report(model, cfg, data, out: Path, device, n_codes: int, n_real: int) -> dict:
    from trainers.eval import identity
    train, test, _ = eval_data.eval_splits(data, n_real, n_real)
    margin = identity.data_margin(data)  # where prepare put the face in its crops
    cal = identity.real_calibration(train + test, gray=cfg.channels == 1, margin=margin)
    curves = {}
    for part in ("static", "dynamic"):  # the same seed: the same z, perturbed in one part or the other
        g = torch.Generator(device=device).manual_seed(0)
        curves[part] = identity.perturbation_distances(model, part, NORMS, n_codes, g, box=BOX, margin=margin)
    identity.box_plot([curves["static"], curves["dynamic"]], out / "identity.png", calibration=cal,
                      title="identity distance: z_C (static) vs z_M (dynamic) perturbations")
    return {"id_dist_zc": curves["static"]["quartiles"], "id_dist_zm": curves["dynamic"]["quartiles"],
            "id_dist_zc_median_ci95": curves["static"]["median_ci95"],
            "id_dist_zm_median_ci95": curves["dynamic"]["median_ci95"],
            "id_dist_zc_above_threshold": curves["static"]["above_threshold"],
            "id_dist_zm_above_threshold": curves["dynamic"]["above_threshold"],
            "id_dist_real_same": cal["same"], "id_dist_real_diff": cal["diff"],
            "id_threshold": identity.THRESHOLD, "id_codes": n_codes, "id_margin": margin,
            "id_real_counts": cal["counts"]}


def judge_report(model, cfg, data, clips: list, generator: str, settings=None) -> dict:
    from trainers.eval import judge as judges
    judge = judges.judge_for(data, cfg.image_size, cfg.channels, settings=settings)
    runs = {fixed: judges.sequential_protocol(model, judge, clips, fixed=fixed, reference="first", draws=JUDGE_DRAWS)
            for fixed in ("static", "dynamic")}
    appearance = [f for f in labels.APPEARANCE[generator] if f in runs["static"]["factors"]]
    by_zc, by_zm = runs["static"]["factors"], runs["dynamic"]["factors"]
    return {"judge_fixed_content_agreement": {f: by_zc[f]["agreement"] for f in appearance},
            "judge_entropy_ratio": {f: by_zm[f]["h_y"] / by_zm[f]["real"]["h_y"] for f in appearance},
            "judge_real_accuracy": judge.meta["accuracy"]["clip"],
            "judge_protocol": {"fixed_static": runs["static"], "fixed_dynamic": runs["dynamic"]}}


def evaluate(model, cfg, data, out_dir: str, identity_codes: int = IDENTITY_CODES,
             calibration_clips: int = CALIBRATION_CLIPS, judge_clips: int = JUDGE_CLIPS, judge_settings=None,
             **kw) -> dict:
    """Evaluate a video-set GAN; writes out_dir/eval.json and the figures. The counts trade time for
    precision (tests make them small); judge_settings: trainers.eval.judge.Settings (default: the data's
    judge.full_settings)."""
    with recipe.evaluating(model, out_dir) as (out, device):
        _, test, note = eval_data.eval_splits(data, 0, judge_clips)
        res = {"data": str(data), "split_note": note, "skipped": {}}
        latent_grids(model, out, device)
        generator = labels.generator_of(test[0][2])
        if generator is None:
            res.update(identity_report(model, cfg, data, out, device, identity_codes, calibration_clips))
        else:
            res["skipped"]["identity"] = f"{generator} clips are not faces"
        if generator not in labels.APPEARANCE or generator == "balls":
            res["skipped"]["judge"] = "no judge for these clips (Sprites and Moving MNIST have one)"
        elif eval_data.dataset_dir(data) is None:
            res["skipped"]["judge"] = f"no judge: {eval_data.JUDGE_NEEDS_DATASET}"
        else:
            res.update(judge_report(model, cfg, data, test, generator, judge_settings))
        eval_data.write_json(res, out / "eval.json")
        return res
