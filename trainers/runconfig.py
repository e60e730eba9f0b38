"""The run configuration of `vidshard train`: one frozen dataclass, resolved once, saved as RUN_DIR/config.json.

A fresh run: the model's Config (its paper's defaults) <- --preset <- key=value, and RunConfig's defaults <-
the command line. A resumed run: the run's saved config.json <- the command line, where each field's
`on_resume` says what a resume may do with it:

    keep    must equal the run's: a difference is refused naming the field (the model, its Config, seed)
    change  the command line may change it (steps, intervals, the data at a new place)
    loader  may change (world size, workers, loader settings). The exact-epoch mode continues mid-epoch
            exactly on any world size and workers; the default (resampled) mode deals an epoch by ranks and
            workers, so where they change a resume mid-epoch leaves that epoch's rest out and goes on at the
            next (trainers/train.py, Trainer.redeal); with the run's own they resume exactly
    launch  this launch's own (device, threads, amp, time limit, ...): the command line or the default
    record  recorded by the run, never set on the command line (dataset version, torch version)

Each field's help (`vidshard train --help`) is written once, on the field. config.json holds `format` 2 and
the fields; a run directory written before this layout (no `format`, the intervals nested under
"intervals") is converted when it is loaded (`load`), so older runs keep resuming and evaluating.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path

from vidshard.errors import InputError, UsageError
from vidshard.options import coerce_values, field_types, option, parse_assignments

FORMAT = 2
CONFIG_JSON = "config.json"
KEEP, CHANGE, LOADER, LAUNCH, RECORD = "keep", "change", "loader", "launch", "record"
INTERVALS = ("ckpt_every", "keep", "eval_every", "sample_every", "log_every")   # nested in format-1 config.json
PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run is configured with; the flags of `vidshard train` are its fields, each with
    its help in the docstring under it, and `on_resume` (module docstring) in its metadata."""
    model: str = option("", on_resume=KEEP, cli=False)
    """registered model"""
    preset: str | None = option(None, on_resume=KEEP)
    """named preset of the model (e.g. mnist, faces, tiny; default: the paper's Config)"""
    config: typing.Any = option(None, on_resume=KEEP, cli=False)
    """the model's resolved Config"""
    seed: int = option(0, on_resume=KEEP)
    """seed of model init (same on all ranks) and, offset per rank, of data"""
    data: str | None = option(None, on_resume=CHANGE)
    """dataset dir with manifest.json (DIR, DIR@VERSION, DIR@TAG), or shard URLs/brace pattern (required unless
    --resume; on resume, default: the run's, which may be given at a new place)"""
    steps: int = option(1000, on_resume=CHANGE)
    """total optimizer steps of the run (default: 1000; on resume: the run's)"""
    ckpt_every: int = option(1000, on_resume=CHANGE, metavar="N")
    """checkpoint every N steps, and at the end (0: never)"""
    keep: int = option(3, on_resume=CHANGE, metavar="K")
    """keep the newest K checkpoints (0: all)"""
    eval_every: int = option(0, on_resume=CHANGE, metavar="N")
    """evaluate on rank 0 every N steps and at the end (0: never)"""
    sample_every: int = option(500, on_resume=CHANGE, metavar="N")
    """TensorBoard/PNG image grids every N steps (0: never)"""
    log_every: int = option(10, on_resume=CHANGE, metavar="N")
    """log rank-averaged losses every N steps"""
    workers: int = option(2, on_resume=LOADER, metavar="N")
    """loader worker processes per rank (default: 2; on resume: the run's)"""
    exact_epoch: bool = option(False, on_resume=LOADER)
    """read every training sample once per epoch, in one global order of (seed, epoch) that does not depend on
    the world size or the workers, so --resume continues it exactly on any number of ranks and workers
    (default: shards drawn with replacement; docs/TRAINING.md)"""
    keep_global_batch: bool = option(False, on_resume=LAUNCH)
    """on --resume with another world size, split the run's global batch over the new ranks (it must divide)
    instead of keeping each rank's batch size (which changes the global batch with the world size)"""
    log_samples: bool = option(False, on_resume=LAUNCH)
    """every rank writes the keys of the samples it trained on, one line per step, to samples-rankR.jsonl in the
    run directory ({"step", "epoch", "keys"})"""
    world_size: int = option(1, on_resume=LOADER, cli=False)
    """processes training together (torchrun's WORLD_SIZE)"""
    loader: dict | None = option(None, on_resume=LOADER, cli=False)
    """make_loader's arguments: the model's loader_kwargs, seed, workers"""
    run_dir: str | None = option(None, on_resume=RECORD)
    """where the run is written (default: runs/MODEL-PRESET-YYYYmmdd-HHMMSS)"""
    eval_data: str | None = option(None, on_resume=LAUNCH)
    """data for evaluation (default: --data)"""
    device: str = option("auto", on_resume=LAUNCH)
    """cpu, cuda, cuda:N or auto (cuda if available); config.json records the device type used"""
    threads: int | None = option(None, on_resume=LAUNCH, metavar="N")
    """torch CPU threads per process (default: torch's choice; torchrun sets 1). On a CPU shared with other jobs
    1 can be much faster than 2 (docs/TRAINING.md)"""
    amp: bool | None = option(None, on_resume=LAUNCH)
    """bf16 autocast on CUDA (default: on with CUDA; ignored on CPU)"""
    channels_last: bool = option(False, on_resume=LAUNCH)
    """convert the model to channels_last memory format (NHWC): faster convolutions on GPUs and, measured, on
    CPU too (docs/BENCHMARKS.md "Training")"""
    compile: bool = option(False, on_resume=LAUNCH)
    """torch.compile every top-level submodule of the model"""
    debug_hashes: bool = option(False, on_resume=LAUNCH)
    """every rank writes a sha256 of its weights and buffers per step to debug/hashes-rankR.jsonl (to check that
    ranks stay identical)"""
    progress: bool = option(True, on_resume=LAUNCH)
    """a tqdm progress bar on rank 0"""
    amend: bool = option(False, on_resume=LAUNCH)
    """with --resume: let key=value change the model's config from this step on (a loss weight or a lower lr mid-run;
    cp -a the run directory first to branch it). Weights and optimizer state carry over, so they must still fit
    (an amended lr or beta1 replaces the checkpoint's); the changes are printed and config.json holds the new
    values"""
    time_limit: float | None = option(None, on_resume=LAUNCH, metavar="SECONDS")
    """stop after this much wall time (counted from the start of the command), with a checkpoint, and exit 0;
    --resume continues the run. SIGTERM and a first Ctrl-C stop the same way at any time"""
    dataset: dict | None = option(None, on_resume=RECORD, cli=False)
    """the dataset version the run reads (vidshard eval and --resume compare)"""
    torch: str | None = option(None, on_resume=RECORD, cli=False)
    """torch version of the latest launch"""

    def config_dict(self) -> dict:
        """The model's Config as JSON data (tuples as lists), as config.json and checkpoints hold it."""
        return json.loads(json.dumps(dataclasses.asdict(self.config)))

    def to_json(self) -> dict:
        out = {"format": FORMAT}
        for f in dataclasses.fields(self):
            out[f.name] = self.config_dict() if f.name == "config" else getattr(self, f.name)
        return out

    def save(self, run_dir: str | Path) -> None:
        from vidshard.io import atomic_write
        atomic_write(Path(run_dir) / CONFIG_JSON, json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")



def on_resume(name: str) -> str:
    return next(f.metadata["on_resume"] for f in dataclasses.fields(RunConfig) if f.name == name)


# ------------------------------------------------------------------------------------- the model's Config

def load_model(name: str):
    """The registered model module; an unknown name is a UsageError listing the registered ones."""
    from trainers.models import load_model_module
    try:
        return load_model_module(name)
    except ValueError as e:   # the registry's "unknown model"
        raise UsageError(str(e)) from None


def presets_of(module, model_name: str) -> dict[str, dict]:
    """The module's PRESETS plus trainers/presets/<model>_<preset>.yaml files (YAML wins on a clash)."""
    found = {name: dict(values) for name, values in getattr(module, "PRESETS", {}).items()}
    if PRESET_DIR.is_dir():
        import yaml
        for path in sorted(PRESET_DIR.glob(f"{model_name}_*.yaml")):
            with open(path) as f:
                values = yaml.safe_load(f) or {}
            if not isinstance(values, dict):
                raise UsageError(f"{path}: a preset must be a mapping of Config fields to values")
            found[path.stem[len(model_name) + 1:]] = values
    return found


def preset_values(module, model_name: str, preset: str | None) -> dict:
    """A preset's Config overrides, typed; an unknown preset or key is a UsageError naming the valid ones."""
    if not preset:
        return {}
    presets = presets_of(module, model_name)
    if preset not in presets:
        known = ", ".join(sorted(presets)) or "(none)"
        raise UsageError(f"unknown preset {preset!r} for {model_name}; presets: {known}")
    return coerce_values(module.Config, presets[preset], f"preset {model_name}/{preset}")


def make_config(module, values: dict):
    """module.Config(**values); a Config that refuses its values (ValueError from its checks) is a UsageError."""
    try:
        return module.Config(**values)
    except ValueError as e:
        raise UsageError(str(e)) from None


def build_config(module, model_name: str, preset: str | None, overrides: list[str]):
    """Config defaults (the paper's), then the preset's overrides, then key=value from the command line."""
    values = preset_values(module, model_name, preset)
    values.update(parse_assignments(module.Config, overrides))
    return make_config(module, values)


def config_from_dict(module, values: dict, where: str = "saved config"):
    """Rebuild a Config from its JSON (lists back to tuples where the field is a tuple). Keys the Config has
    and the JSON lacks take the Config's default (fields added to a model after the run started)."""
    try:
        typed = coerce_values(module.Config, values, where)
    except UsageError as e:
        raise InputError(f"{e} (this {module.__name__}.Config lacks them)") from None
    return make_config(module, typed)


def config_changes(old, new) -> dict[str, tuple]:
    """{field: (old value, new value)} of two Configs of one model."""
    a, b = dataclasses.asdict(old), dataclasses.asdict(new)
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


# ------------------------------------------------------------------------------------- resolving a run

def cli_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(RunConfig) if f.metadata.get("cli", True)}


def fresh(model: str, overrides: list[str], given: dict, world_size: int) -> RunConfig:
    """A new run: RunConfig's defaults <- `given` (the flags on the command line); the model's Config:
    its defaults <- the preset <- key=value."""
    module = load_model(model)
    cfg = build_config(module, model, given.get("preset"), overrides)
    run = RunConfig(**{**given, "model": model, "config": cfg, "world_size": world_size})
    loader = {**module.loader_kwargs(cfg), "seed": run.seed, "num_workers": run.workers}
    return dataclasses.replace(run, loader=with_mode(loader, run.exact_epoch))


def with_mode(loader: dict, exact: bool) -> dict:
    """make_loader's arguments in the exact-epoch mode or the default one (no key: runs made before the
    exact mode keep the loader settings they saved)."""
    loader = {k: v for k, v in loader.items() if k != "resampled"}
    return {**loader, "resampled": False} if exact else loader


def split_global_batch(saved: RunConfig, loader: dict, world_size: int) -> dict:
    """--keep-global-batch: the run's global batch (per-rank batch x world size) over `world_size` ranks."""
    total = int(saved.loader["batch_size"]) * saved.world_size
    if total % world_size:
        raise UsageError(f"--keep-global-batch: the run's global batch {total} ({saved.loader['batch_size']} x "
                         f"{saved.world_size} ranks) does not split over {world_size} ranks")
    return {**loader, "batch_size": total // world_size}


def resumed(saved: RunConfig, run_dir: str, model: str, overrides: list[str], given: dict,
            world_size: int, announce: bool = True) -> RunConfig:
    """The run `saved` (from run_dir) continued under this command line (module docstring): what it may not
    change is refused, naming each field that differs; an --amend is printed when `announce` (rank 0)."""
    if model != saved.model:
        raise UsageError(f"--resume {run_dir}: the run trains {saved.model!r}, not {model!r}")
    module = load_model(model)
    values = dataclasses.asdict(saved.config)
    values.update(preset_values(module, model, given.get("preset")))
    values.update(parse_assignments(module.Config, overrides))
    config = make_config(module, values)
    changed = config_changes(saved.config, config)
    if changed:
        what = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in changed.items())
        if not given.get("amend"):
            raise UsageError(f"--resume {run_dir}: a resumed run keeps its model config; this command changes "
                             f"{what} (start a new run to change them, or continue with them under --amend)")
        if announce:
            print(f"--resume {run_dir} --amend: from here on {what}", file=sys.stderr)
        saved = dataclasses.replace(saved, config=config)
    out = {}
    for name, f in cli_fields().items():
        policy = f.metadata["on_resume"]
        if policy == KEEP and name in given and given[name] != getattr(saved, name):
            raise UsageError(f"--resume: --{name.replace('_', '-')} {given[name]} differs from the run's "
                             f"{getattr(saved, name)} (exact resume needs the same)")
        if policy in (CHANGE, LOADER) and name in given:
            out[name] = given[name]
        elif policy == LAUNCH:
            out[name] = given.get(name, f.default)
    run = dataclasses.replace(saved, **out, world_size=world_size, run_dir=str(run_dir))
    loader = with_mode({**(saved.loader or {}), "num_workers": run.workers}, run.exact_epoch)
    if run.keep_global_batch and world_size != saved.world_size:
        loader = split_global_batch(saved, loader, world_size)
    return dataclasses.replace(run, loader=loader)


def changes(saved: RunConfig, run: RunConfig, policy: str) -> dict[str, tuple]:
    """{field: (saved, now)} of the fields under one resume policy that differ between two RunConfigs."""
    return {f.name: (getattr(saved, f.name), getattr(run, f.name)) for f in dataclasses.fields(RunConfig)
            if f.metadata["on_resume"] == policy and getattr(saved, f.name) != getattr(run, f.name)}


# ------------------------------------------------------------------------------------- config.json

def upgrade_json(data: dict) -> dict:
    """config.json in the current layout: a format-1 file (written before RunConfig: no "format", the
    intervals nested under "intervals", no launch options) is converted; the current format is returned
    as it is. Values of format 1 keep their meaning: device and amp record what the last launch used."""
    if data.get("format") == FORMAT:
        return dict(data)
    if "format" in data:
        raise InputError(f"{CONFIG_JSON} format {data['format']!r}: this vidshard reads {FORMAT} and the layout "
                         f"before it")
    out = {k: v for k, v in data.items() if k != "intervals"}
    out.update(data.get("intervals", {}))
    out["format"] = FORMAT
    return out


def load(run_dir: str | Path) -> RunConfig:
    """The RunConfig saved in a run directory (either layout); InputError if there is none."""
    path = Path(run_dir) / CONFIG_JSON
    try:
        data = upgrade_json(json.loads(path.read_text()))
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{run_dir}: no {CONFIG_JSON} (not a run directory of `vidshard train`)") from None
    except ValueError as e:   # not JSON, or a layout this code does not know
        raise InputError(f"{path}: {e}") from None
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - known - {"format"})
    if unknown or "model" not in data or "config" not in data:
        raise InputError(f"{path}: not a run configuration (unknown keys {unknown}, or no model or config)")
    module = load_model(data["model"])
    types_ = field_types(RunConfig)
    values = {k: v for k, v in data.items() if k in known}
    for name, tp in types_.items():   # JSON has no tuples and no int/float distinction
        if name in values and name not in ("config", "loader", "dataset"):
            values[name] = coerce_values(RunConfig, {name: values[name]}, str(path))[name]
    values["config"] = config_from_dict(module, data["config"], f"{path} config")
    return RunConfig(**values)
