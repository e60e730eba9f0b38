"""What the unordered-pairs VAE's paper shows ("Disentangled Dynamic Representations from Unordered Data",
AABI 2018), measured with the kit: `vidshard eval pairvae RUN_DIR`.

Figures (the paper's are latent grids): z_grid.png (one held-out clip's f per block, z on a grid over the
first two dimensions of p(z | f)), grid_f_rows_z_swept.png (rows: f of held-out clips; columns: z swept
between the codes of two frames), grid_z_fixed_f_varied.png (rows: f of held-out clips; columns: the z
sequence of one clip), analogy.png (f of row clips × z of column frames), and on unlabelled clips (faces)
z_timeline.png (each component of z over a clip's frames, under the frames).

eval.json keys:
    elbo, nll, kl_f, kl_z        held-out, per clip (one sample of f and z)
    f_within, f_between, f_within_between_ratio
                                 spread of mu_f (trace of its covariance) over random subsets of `frames`
                                 frames of one clip, averaged over clips, vs the spread of the clips' mean
                                 mu_f between clips: f should depend on the clip, not on which frames
    swap_mse (+ _black, _copy_content_clip, _init)
                                 f of clip i with the z of clip i+1 against the exact counterfactual
    judge_acc_fix_f              (Sprites) f encoded from real clips, z redrawn from p(z | f): the judge's
                                 accuracy per factor against the clip's labels, and `mean` over the four
                                 appearance attributes (C-DSVAE's reference)
    judge_agree_fix_f            f drawn from the prior, z redrawn: agreement with the first sample per
                                 factor, and `mean` over the appearance attributes
    judge_acc_fix_z              z encoded from real clips, f redrawn from the prior: accuracy per factor
    is, h_yx, h_y                per factor, of the clips generated with z fixed and f redrawn
    judge_protocol               the three protocol runs in full (trainers.eval.judge.sequential_protocol)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainers.eval import data as eval_data
from trainers.eval import figures, labels, recipe, swaps

EVAL_CLIPS = 300     # held-out clips for the spread, the swaps and the judge protocol
SUBSETS = 8          # random frame subsets per clip for the within-clip spread of mu_f
JUDGE_DRAWS = 5      # generated samples per fixed code


@torch.no_grad()
def f_spread(model, frames: int, test: list, device, subsets: int = SUBSETS, seed: int = 0) -> dict:
    """mu_f over `subsets` random subsets of `frames` frames of each clip (n, subsets, |f|): the mean over
    clips of the trace of its covariance over subsets, against the trace of the covariance over clips of
    each clip's mean."""
    rng = np.random.default_rng(seed)
    T = min(f.shape[0] for _, f, _ in test)
    k = min(frames, T)
    mus = []
    for i in range(0, len(test), 64):
        part = test[i:i + 64]
        draws = [torch.stack([eval_data.to_tensor(f[np.sort(rng.choice(T, k, replace=False))]) for _, f, _ in part])
                 for _ in range(subsets)]
        mus.append(torch.stack([model.encode_static(x.to(device)).float().cpu() for x in draws], 1))
    mu = torch.cat(mus).double()                                  # (n, subsets, |f|)
    within = float(mu.var(1, unbiased=True).sum(-1).mean())
    between = float(mu.mean(1).var(0, unbiased=True).sum())
    return {"f_within": within, "f_between": between, "f_within_between_ratio": within / max(between, 1e-30),
            "f_subset_frames": k, "f_subsets": subsets, "f_clips": len(test)}


@torch.no_grad()
def heldout_elbo(model, test: list, device, frames: int) -> dict:
    """Mean per-clip ELBO terms on held-out clips (the first `frames` frames of each; seeded draws)."""
    g = torch.Generator(device=device).manual_seed(0)
    sums: dict[str, float] = {}
    for i in range(0, len(test), 64):
        x = model.fit(swaps.stacked(test[i:i + 64], frames, device))
        for key, v in model.elbo_terms(x, generator=g).items():
            sums[key] = sums.get(key, 0.0) + float(v.double().sum())
    out = {k: v / len(test) for k, v in sums.items()}
    out["elbo"] = -(out["nll"] + out["kl_f"] + out["kl_z"])
    return out


@torch.no_grad()
def latent_figures(model, test: list, out: Path, device) -> None:
    T = min(f.shape[0] for _, f, _ in test)
    n = min(8, len(test))
    clips = swaps.stacked(test[:n], T, device)
    f = model.encode_static(clips)
    z = model.encode_dynamic(clips[:1])[0]                       # one clip's z sequence (T, |z|)
    figures.save_png(figures.code_grid(model, f, z[:8]), out / "grid_z_fixed_f_varied.png", scale=2)
    figures.save_png(figures.code_grid(model, f, figures.sweep(z[0], z[-1], 8)), out / "grid_f_rows_z_swept.png",
                     scale=2)
    figures.save_png(figures.tile(model.latent_grid(f[:1], 8)[0]), out / "z_grid.png", scale=2)
    pose = torch.stack([swaps.stacked([test[(i + 1) % len(test)]], T, device)[0, -1] for i in range(n)])
    figures.save_png(figures.analogy_grid(model, clips, pose), out / "analogy.png", scale=2)


@torch.no_grad()
def z_timeline(model, clips: list, out: Path, device) -> None:
    """Each component of z (posterior means) over the frames of a few clips, the frames beneath."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2 * len(clips), 1, figsize=(10, 3.2 * len(clips)), dpi=100,
                             gridspec_kw={"height_ratios": [3, 1] * len(clips)})
    for k, (key, frames, _) in enumerate(clips):
        x = eval_data.to_tensor(frames)[None].to(device)
        z = model.encode_dynamic(x)[0].cpu().numpy()
        ax = axes[2 * k]
        for d in range(z.shape[1]):
            ax.plot(z[:, d], marker="o", label=f"z[{d}]")
        ax.set_xlim(-0.5, len(z) - 0.5)
        ax.set_title(key, fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
        strip = figures.to_uint8_image(figures.tile(model.fit(x).float().cpu()))
        axes[2 * k + 1].imshow(strip, aspect="auto", extent=(-0.5, len(z) - 0.5, 0, 1))
        axes[2 * k + 1].axis("off")
    fig.tight_layout()
    fig.savefig(out / "z_timeline.png")
    plt.close(fig)


def judge_report(model, cfg, data, clips: list, generator: str, settings=None) -> dict:
    from trainers.eval import judge as judges
    judge = judges.judge_for(data, cfg.image_size, cfg.channels, settings=settings)
    run = lambda fixed, ref: judges.sequential_protocol(model, judge, clips, fixed=fixed, reference=ref,
                                                        draws=JUDGE_DRAWS)
    runs = {"fix_f_labels": run("static", "labels"), "fix_f_first": run("static", "first"),
            "fix_z_labels": run("dynamic", "labels")}
    appearance = [f for f in labels.APPEARANCE[generator] if f in judge.judged()]

    def table(name: str, key: str) -> dict:
        factors = runs[name]["factors"]
        t = {f: e[key] for f, e in factors.items() if key in e}
        t["mean"] = float(np.mean([t[f] for f in appearance]))
        return t

    fix_z = runs["fix_z_labels"]["factors"]
    return {"judge_acc_fix_f": table("fix_f_labels", "accuracy"), "judge_agree_fix_f": table("fix_f_first", "agreement"),
            "judge_acc_fix_z": table("fix_z_labels", "accuracy"),
            **{k: {f: e[k] for f, e in fix_z.items()} for k in ("is", "h_yx", "h_y")},
            "judge_real_accuracy": judge.meta["accuracy"]["clip"], "judge_protocol": runs}


def evaluate(model, cfg, data, out_dir: str, eval_clips: int = EVAL_CLIPS, assets: str = "", judge_settings=None,
             **kw) -> dict:
    """Evaluate an unordered-pairs VAE; writes out_dir/eval.json and the figures. assets: the synthetic
    generator's asset directory for the counterfactual swaps (default: the one the dataset's manifest
    records). judge_settings: trainers.eval.judge.Settings (default: judge.full_settings of the data)."""
    with recipe.evaluating(model, out_dir) as (out, device):
        _, test, note = eval_data.eval_splits(data, 0, eval_clips)
        res = {"data": str(data), "split_note": note, "skipped": {}, "eval_clips": len(test)}
        res.update(heldout_elbo(model, test, device, cfg.frames))
        res.update(f_spread(model, cfg.frames, test, device))
        latent_figures(model, test, out, device)
        generator = labels.generator_of(test[0][2])
        assets = assets or eval_data.synthetic_assets(data)
        swapped = swaps.swap_scores(model, test, device, assets)
        if swapped is None:
            res["skipped"]["swap_mse"] = "no synthetic generator labels to re-render counterfactual clips from"
            z_timeline(model, test[:3], out, device)
        else:
            res.update(swapped)
            res["swap_mse_init"] = swaps.swap_scores(recipe.fresh_model(model, cfg, device), test, device,
                                                     assets)["swap_mse"]
        if generator != "sprites":
            res["skipped"]["judge"] = "the judge protocol is reported on Sprites"
        elif eval_data.dataset_dir(data) is None:
            res["skipped"]["judge"] = f"no judge: {eval_data.JUDGE_NEEDS_DATASET}"
        else:
            res.update(judge_report(model, cfg, data, test, generator, judge_settings))
        eval_data.write_json(res, out / "eval.json")
        return res
