"""`vidshard eval MODEL RUN_DIR --data DATA`: evaluate a trained run with its model's evaluate().

Loads RUN_DIR/config.json (the resolved Config the run trained with) and the latest checkpoint (or
--checkpoint) with torch.load(weights_only=True), then calls the model's evaluation recipe
(`trainers/eval/<model>.py`: `evaluate(model, cfg, data, out_dir)`), which writes out_dir/eval.json and
its figures. Prints the metrics as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from trainers import checkpoint as ckpt
from trainers import harness
from trainers import runconfig as rc
from trainers.eval.data import write_json
from trainers.models import REGISTRY, load_evaluator
from vidshard.cli import entry
from vidshard.errors import InputError, UsageError

EXAMPLES = """examples:
  vidshard eval drnet runs/drnet-mnist-20261122-230000 --data data/mmnist
  vidshard eval drnet runs/drnet-mnist-20261122-230000 --data data/mmnist --checkpoint step-00002000 --out eval-2k
  vidshard eval drnet runs/drnet-mnist-20261122-230000 --data data/mmnist@v1      # a version (id or tag)
  vidshard eval framegan runs/framegan-balls3-video n_videos=300                   # a recipe's own option
  vidshard eval drnet runs/drnet-mnist-lstm decoder_from=runs/drnet-mnist-decoder  # rollouts, another decoder
  vidshard eval drnet runs/drnet-mnist-20261122-230000 --data 'data/mmnist/test-{000000..000001}.tar'
  vidshard eval drnet runs/drnet-mnist-20261122-230000 --data 'copy/test-000000.tar' assets=../shared/data/mnist

KEY=VALUE sets a keyword option of the model's evaluation recipe (trainers/eval/<model>.py, evaluate()):
numbers of samples and the like, e.g. framegan n_videos, vsgan identity_codes, pairvae eval_clips; the
options given are kept in eval.json under eval_options. Shards read in place (inside their dataset
directory) are scored with that dataset's manifest: the digit reader trains on its train split and the
counterfactual swaps find its generator's assets. Shards copied elsewhere have no manifest: the digit
reader and the judges are skipped (the reason in eval.json) and drnet/pairvae take the assets as assets=DIR."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidshard eval", description=__doc__.split("\n")[0], epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help=f"registered model: {', '.join(sorted(REGISTRY))}")
    p.add_argument("run_dir", help="a run directory written by `vidshard train`")
    p.add_argument("--data", help="dataset dir or shard URLs to evaluate on (default: the run's data)")
    p.add_argument("--checkpoint", help="checkpoint directory name under RUN_DIR/checkpoints, or a path "
                   "(default: the latest)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/eval/step-XXXXXXXX)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0, help="seed for the evaluation's own randomness (default 0)")
    p.add_argument("options", nargs="*", metavar="KEY=VALUE", help="options of the model's evaluation recipe")
    return p


def recipe_options(model_name: str, pairs: list[str]) -> dict:
    """KEY=VALUE pairs as keyword arguments of the model's evaluate(), typed by each one's default; a key the
    recipe does not take (or one without a plain default) is a UsageError naming the keys it does take."""
    import inspect
    from vidshard.options import parse_value
    params = inspect.signature(load_evaluator(model_name)).parameters.values()
    settable = {p.name: type(p.default) for p in list(params)[4:]
                if p.kind is p.POSITIONAL_OR_KEYWORD and type(p.default) in (int, float, str, bool)}
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in settable:
            raise UsageError(f"{pair!r}: not an option of the {model_name} evaluation (KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(settable)) or 'none'})")
        try:
            out[key] = parse_value(text, settable[key])
        except ValueError as e:
            raise UsageError(f"{key}: expected {e}") from None
    return out


def find_checkpoint(run_dir: Path, name: str | None) -> Path:
    if name is None:
        path = ckpt.latest(run_dir)
        if path is None:
            raise InputError(f"{run_dir}: no complete checkpoint under {ckpt.checkpoints_root(run_dir)}")
        return path
    for path in (Path(name), ckpt.checkpoints_root(run_dir) / name):
        if (path / ckpt.STATE).is_file():
            return path
    raise InputError(f"--checkpoint {name}: not a checkpoint (no {ckpt.STATE}) in {run_dir} or as a path")


def load_run(model_name: str, run_dir: str | Path, checkpoint: str | None = None, device="cpu"):
    """(module, cfg, model with the checkpoint's weights, the run's RunConfig, checkpoint path, facts: the
    checkpoint's step, the run's training seconds up to it, the device it trained on). Run directories of
    either config.json layout load (trainers/runconfig.py)."""
    run_dir = Path(run_dir)
    module = rc.load_model(model_name)
    run = rc.load(run_dir)
    if run.model != model_name:
        raise UsageError(f"{run_dir} trains {run.model!r}, not {model_name!r}")
    cfg = run.config
    path = find_checkpoint(run_dir, checkpoint)
    state = ckpt.load_state(path, map_location=device)
    model = module.Model(cfg).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    facts = {"steps": state["step"], "seconds": state.get("train_seconds"), "device": run.device,
             "checkpoint": path.name}
    return module, cfg, model, run, path, facts


def load_run_arg(model_name: str, arg: str, device="cpu"):
    """load_run for a "RUN_DIR[:CHECKPOINT]" argument (the docs/results scripts' form; CHECKPOINT a directory
    name under RUN_DIR/checkpoints, default the latest)."""
    run_dir, _, checkpoint = arg.partition(":")
    return load_run(model_name, run_dir, checkpoint or None, device)


def run_evaluation(model_name: str, model, cfg, data, out: Path, facts: dict, options: dict | None = None) -> dict:
    """The model's recipe on `data` (with `options`: recipe_options), written to out/eval.json with the run's
    facts (steps, seconds of training, device; the data as named on the command line) added: every
    eval.json says how much training it measures."""
    result = load_evaluator(model_name)(model, cfg, data, str(out), **(options or {}))
    result.update(facts)
    if options:
        result["eval_options"] = options
    write_json(result, Path(out) / "eval.json")
    return result


def eval_command(argv: list[str]) -> int:
    """`vidshard eval`: usage and input errors are VidshardErrors (one line, exit 2: vidshard.cli.run)."""
    args = build_parser().parse_intermixed_args(argv)   # KEY=VALUE may come after the --options
    device = harness.pick_device(args.device, 0)
    harness.seed_all(args.seed)
    module, cfg, model, run, path, facts = load_run(args.model, args.run_dir, args.checkpoint, device)
    options = recipe_options(args.model, args.options)   # after load_run: it names an unknown model
    data = args.data or run.data
    from trainers.train import check_data
    check_data(data)
    from shards.store import local_view, version_warning
    warning = version_warning(run.dataset, data, "vidshard eval")
    facts["data"] = str(data)  # as the user named it, not the local view's absolute path
    data = local_view(data)  # DIR@VERSION as a directory the evaluation kit can read
    if warning:
        print(warning, file=sys.stderr)
    out = Path(args.out) if args.out else Path(args.run_dir) / "eval" / path.name
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        result = run_evaluation(args.model, model, cfg, data, out, facts, options)
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    print(f"wrote {out}", file=sys.stderr)
    return 0


main = entry("eval")


if __name__ == "__main__":
    sys.exit(main())
