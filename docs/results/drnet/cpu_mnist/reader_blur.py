"""The digit reader trained on sharp frames only against the one trained on blurred frames too (the kit's reader
from 2026-12-04: `judge.FULL_BY_GENERATOR["moving-mnist"]`, blur σ ≤ 1.2 px), on the same generated frames.

For each run (its latest checkpoint): both readers on the content clips' real frames, sharp and blurred at
judge.BLUR_CHECK; on the swaps (content of clip i, poses of clip i+1); on the reconstructions; per channel on the
swaps; and two controls that must stay low whatever the reader: the swaps read as the *pose* clip's digits, and
all-black frames. Predictor runs add the rollout (reader over steps 1-30 and 31-100). The first READ_CLIPS
held-out clips, as the kit's eval.json. Output: reader_blur.txt. Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 RUN_DIR[:CHECKPOINT]...

(CHECKPOINT: a directory name under RUN_DIR/checkpoints, e.g. step-00025000; default the latest.)
"""
import sys
from dataclasses import replace

import torch

from trainers.eval import data as eval_data, drnet as de, judge as J, swaps
from trainers.evaluate import load_run_arg


def generate(model, cfg, clips) -> dict:
    """The frames both readers read, made once per run: real, swapped, rebuilt (and rolled out), with the digits."""
    n, T = len(clips), min(f.shape[0] for _, f, _ in clips)
    xs = swaps.stacked(clips, T, "cpu")
    other = [clips[(i + 1) % n] for i in range(n)]
    with torch.no_grad():
        g = {"real": xs, "swapped": swaps.transfer(model, xs, swaps.stacked(other, T, "cpu")),
             "rebuilt": swaps.transfer(model, xs, xs), "digits": de.clip_digits(clips),
             "other_digits": de.clip_digits(other)}
        if model.predictor is not None:
            g["rollout"] = model.rollout(xs[:, :cfg.n_past], de.ROLLOUT_STEPS)
    return g


def reads(reader, g: dict) -> dict:
    digits, swapped = g["digits"], g["swapped"]
    acc = lambda frames, d=digits: float(de.read_accuracy(reader, frames, d).mean())
    per_channel = (reader.read_digits(swapped)[..., :2] == digits[:, None]).float().mean((0, 1))
    out = {"real": acc(g["real"]), "real blurred": acc(de.blurred(g["real"])), "swaps": acc(swapped),
           "rebuilt": acc(g["rebuilt"]), "swaps red / green": "{:.3f} / {:.3f}".format(*per_channel.tolist()),
           "swaps as pose clip's": acc(swapped, g["other_digits"]), "black": acc(torch.zeros_like(g["real"]))}
    if "rollout" in g:
        steps = de.read_accuracy(reader, g["rollout"], digits)
        out.update({"rollout 1-30": float(steps[:30].mean()), "rollout 31-100": float(steps[30:].mean()),
                    "rollout steps >= 0.8": int((steps >= 0.8).int().cumprod(0).sum())})
    return out


def main(data: str, runs: list[str]) -> None:
    torch.set_num_threads(1)
    full = J.full_settings(J.manifest_of(data))
    readers = {"sharp-trained": J.train_judge(data, 32, 3, replace(full, blur=0.0)),
               f"blur-trained (σ ≤ {full.blur})": J.train_judge(data, 32, 3, full)}
    for name, r in readers.items():
        acc = r.meta["accuracy"]
        print(f"# reader {name}: held-out frames {acc['frame']}, blurred at σ {acc['blurred_sigma']}: "
              f"{acc['frame_blurred']}")
    clips = list(eval_data.iter_clips(eval_data.split_shards(data, "test"), de.READ_CLIPS))
    for arg in runs:
        _, cfg, model, _, path, _ = load_run_arg("drnet", arg)
        frames = generate(model, cfg, clips)
        rows = {name: reads(r, frames) for name, r in readers.items()}
        print(f"\n{path.parents[1]} ({path.name}, phase {cfg.phase}), {len(clips)} held-out clips")
        for key in rows[next(iter(rows))]:
            cells = [rows[name][key] for name in readers]
            print(f"  {key:<24}" + "".join(f"{c:>14.3f}" if isinstance(c, float) else f"{c!s:>14}" for c in cells))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
