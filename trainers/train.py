"""`vidshard train MODEL --data DATA ...`: train a registered model on shards, in one process or under torchrun.

    vidshard train drnet --data data/mmnist --preset mnist
    torchrun --nproc_per_node 4 -m trainers.train drnet --data data/mmnist --preset mnist
    vidshard train drnet --resume runs/drnet-mnist-20261122-230000 --steps 20000

Per step: the loader's batch goes to the device, the model's training_step does its own updates through
`ctx` (trainers/harness.py), BatchNorm buffers are averaged over ranks, then (at their intervals) metrics
are logged, image grids drawn, evaluation run on rank 0, and an atomic checkpoint written. The run
directory holds config.json, metrics.jsonl, tb/ (TensorBoard), samples/, eval/ and checkpoints/; see
docs/TRAINING.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch

from trainers import checkpoint as ckpt
from trainers import harness
from trainers.evaluate import run_evaluation
from trainers.models import REGISTRY, load_model_module

EXAMPLES = """examples:
  vidshard train drnet --data data/mmnist --preset mnist                 # one process (GPU if present)
  vidshard train drnet --data data/mmnist --preset tiny --steps 200 lr=0.001 beta=0
  torchrun --nproc_per_node 4 -m trainers.train drnet --data data/mmnist --preset mnist
  vidshard train drnet --resume runs/drnet-mnist-20261122-230000 --steps 40000
  tensorboard --logdir runs

key=value pairs override fields of the model's Config (types follow the dataclass: ints, floats,
true/false, comma-separated tuples, none); they apply on top of --preset. `batch_size` is per process,
so the global batch is batch_size x world size."""


# how often things happen; saved with the run, so a resume keeps them unless given again
INTERVALS = {"ckpt_every": 1000, "keep": 3, "eval_every": 0, "sample_every": 500, "log_every": 10}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidshard train", description=__doc__.split("\n")[0],
                                epilog=EXAMPLES + "\n\n" + describe_models(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help=f"registered model: {', '.join(sorted(REGISTRY))}")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="Config overrides (see below)")
    p.add_argument("--data", help="dataset dir with manifest.json, or shard URLs/brace pattern "
                   "(required unless --resume; with --resume, defaults to the run's data)")
    p.add_argument("--preset", help="named preset of the model (e.g. mnist, faces, tiny); default: the paper's Config")
    p.add_argument("--run-dir", help="where the run is written (default: runs/MODEL-PRESET-YYYYmmdd-HHMMSS)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its latest checkpoint, exactly "
                   "(same config, seed, world size); --steps may be raised")
    p.add_argument("--steps", type=int, help="total optimizer steps of the run (default 1000; on resume: the run's)")
    p.add_argument("--ckpt-every", type=int, help="checkpoint every N steps, and at the end (default 1000)")
    p.add_argument("--keep", type=int, help="keep the newest K checkpoints (default 3; 0 keeps all)")
    p.add_argument("--eval-every", type=int, help="evaluate on rank 0 every N steps and at the end (default 0: never)")
    p.add_argument("--eval-data", help="data for evaluation (default: --data)")
    p.add_argument("--sample-every", type=int, help="TensorBoard/PNG image grids every N steps (default 500; 0: never)")
    p.add_argument("--log-every", type=int, help="log rank-averaged losses every N steps (default 10)")
    p.add_argument("--workers", type=int, help="loader worker processes per rank (default 2)")
    p.add_argument("--seed", type=int, help="seed of model init (same on all ranks) and, offset per rank, of data (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if available)")
    p.add_argument("--threads", type=int, help="torch CPU threads per process (default: torch's choice; torchrun "
                   "sets 1). On a CPU shared with other jobs 1 can be ~10x faster than 2")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast on CUDA (default: on with CUDA; ignored on CPU)")
    p.add_argument("--channels-last", action="store_true", help="convert the model to channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile every top-level submodule of the model")
    p.add_argument("--debug-hashes", action="store_true", help="every rank writes a sha256 of its weights and "
                   "buffers per step to debug/hashes-rankR.jsonl (to check that ranks stay identical)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--time-limit", type=float, metavar="SECONDS", help="stop after this much wall time (counted "
                   "from the start of the command), with a checkpoint, and exit 0; --resume continues the run")
    return p


def describe_models() -> str:
    """Models, presets and Config fields for --help (so the valid key=value names are one command away)."""
    lines = ["models (presets; Config fields = key=value names):"]
    for name in sorted(REGISTRY):
        try:
            module = load_model_module(name)
        except Exception as e:  # a broken model module must not break --help of the others
            lines.append(f"  {name}: cannot be imported ({e})")
            continue
        presets = ", ".join(sorted(harness.presets_of(module, name))) or "none"
        fields = ", ".join(harness.config_fields(module.Config))
        lines.append(f"  {name} (presets: {presets})\n    fields: {fields}")
    return "\n".join(lines)


def parse_args(argv):
    return build_parser().parse_intermixed_args(argv)


class DataError(ValueError):
    """The data cannot be loaded as asked (reported without a traceback)."""


# ---- the resolved run ----------------------------------------------------------------------------------------

def check_data(data: str | list) -> None:
    """A local path that does not exist is an error now, not a hang in a loader worker later; so is a
    DIR@VERSION or DIR@TAG that names no version (shards.store.StoreError, a ValueError)."""
    from shards.store import describe, split_ref
    for item in ([data] if isinstance(data, str) else data):
        local = "://" not in item and not item.startswith("pipe:") and "{" not in item and "*" not in item
        if local and not Path(split_ref(item)[0]).exists():
            raise FileNotFoundError(f"--data {item}: no such file or directory")
    describe(data)


def resolve(args, env: harness.Dist) -> tuple[dict, object, object]:
    """The run's config dict (what config.json holds), the model module and its Config instance.

    Fresh run: Config <- preset <- key=value. Resume: config.json of the run, unchanged except --steps
    (and --data if the data moved); anything that would change the trajectory is refused.
    """
    module = load_model_module(args.model)
    if args.resume:
        saved_path = Path(args.resume) / "config.json"
        if not saved_path.is_file():
            raise FileNotFoundError(f"--resume {args.resume}: no config.json there (not a run directory)")
        run = json.loads(saved_path.read_text())
        if run["model"] != args.model:
            raise ValueError(f"--resume {args.resume}: the run trains {run['model']!r}, not {args.model!r}")
        if args.overrides or args.preset:
            raise ValueError("--resume continues a run with its saved config: drop --preset and key=value "
                             "(start a new run to change them)")
        for flag, key in (("seed", "seed"), ("workers", "workers")):
            given = getattr(args, flag)
            if given is not None and given != run[key]:
                raise ValueError(f"--resume: --{flag} {given} differs from the run's {run[key]} (exact resume needs the same)")
        if run["world_size"] != env.world_size:
            raise ValueError(f"--resume: the run used {run['world_size']} processes, this launch has "
                             f"{env.world_size} (exact resume needs the same world size)")
        cfg = harness.config_from_dict(module, run["config"])
        run["data"] = args.data or run["data"]
        run["steps"] = args.steps or run["steps"]
        run["run_dir"] = str(Path(args.resume))
    else:
        if not args.data:
            raise ValueError("--data is required (a dataset dir with manifest.json, or shard URLs)")
        if args.run_dir and (Path(args.run_dir) / "config.json").exists():
            raise ValueError(f"--run-dir {args.run_dir} already holds a run: continue it with --resume {args.run_dir}, "
                             "or pick another directory")
        cfg = harness.build_config(module, args.model, args.preset, args.overrides)
        seed = 0 if args.seed is None else args.seed
        run = {"model": args.model, "preset": args.preset, "config": _jsonable(cfg), "data": args.data,
               "seed": seed, "workers": 2 if args.workers is None else args.workers,
               "world_size": env.world_size, "steps": args.steps or 1000, "run_dir": args.run_dir}
        run["loader"] = {**module.loader_kwargs(cfg), "seed": seed, "num_workers": run["workers"]}
    saved = run.get("intervals", INTERVALS)
    run["intervals"] = {k: saved[k] if getattr(args, k) is None else getattr(args, k) for k in INTERVALS}
    check_data(run["data"])
    if args.eval_data:
        check_data(args.eval_data)
    from shards.store import describe, version_warning
    if not args.resume:  # the dataset version (and split) this run reads: vidshard eval and --resume compare
        run["dataset"] = {**(describe(run["data"]) or {"ref": run["data"], "version": None}), "split": "train"}
    elif env.rank == 0 and (warning := version_warning(run.get("dataset"), run["data"], "--resume")):
        print(warning, file=sys.stderr)
    return run, module, cfg


def _jsonable(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def default_run_dir(run: dict) -> str:
    return str(Path("runs") / f"{run['model']}-{run['preset'] or 'default'}-{time.strftime('%Y%m%d-%H%M%S')}")


# ---- training ------------------------------------------------------------------------------------------------

class Trainer:
    """One rank's training loop; rank 0 also logs, draws grids, evaluates and commits checkpoints."""

    def __init__(self, args, run: dict, module, cfg, env: harness.Dist, started: float | None = None):
        self.args, self.run, self.module, self.cfg, self.env = args, run, module, cfg, env
        self.device = harness.pick_device(args.device, env.local_rank)
        if self.device.type == "cuda":
            harness.enable_tf32()
        harness.init_process_group(env, self.device)
        if not run.get("run_dir"):
            run["run_dir"] = harness.broadcast_object(default_run_dir(run) if env.rank == 0 else None)
        self.run_dir = Path(run["run_dir"])
        amp = self.device.type == "cuda" if args.amp is None else args.amp
        self.ctx = harness.Context(self.device, env, run["seed"], amp=amp)
        run.update(amp=self.ctx.amp, channels_last=args.channels_last, compile=args.compile,
                   device=self.device.type, torch=torch.__version__)
        self.model = self.build_model()
        self.optimizers = self.model.optimizers()
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.writer = self.metrics = self.hashes = None
        self.pending = harness.LogWindow()  # step outputs since the last log, on the device
        self.started = time.monotonic() if started is None else started  # --time-limit counts from here
        self.seconds_before = 0.0  # training wall time of the run's earlier pieces (restored on resume)
        self.stopped_early = False

    def build_model(self):
        harness.seed_all(self.run["seed"])  # identical init on every rank
        model = self.module.Model(self.cfg).to(self.device)
        model = harness.speed_up(model, channels_last=self.args.channels_last)
        self.ctx.broadcast_module(model)
        harness.speed_up(model, compile=self.args.compile)  # after the broadcast: it reads plain modules
        # from here on each rank draws from its own streams (data order, augmentation, random offsets)
        harness.seed_all(harness.rank_seed(self.run["seed"], self.env.rank))
        return model

    def make_loader(self):
        from shards.loader import make_loader
        kw = dict(self.run["loader"])
        return make_loader(self.run["data"], split="train", rank=self.env.rank, world_size=self.env.world_size, **kw)

    # -- run directory, logs
    def open_outputs(self, resumed: bool) -> None:
        if self.env.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(self.run, indent=2, sort_keys=True) + "\n")
            self.metrics = open(self._truncate_log(self.run_dir / "metrics.jsonl"), "a")
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step if resumed else None)
        harness.barrier()
        if self.args.debug_hashes:
            path = self.run_dir / "debug" / f"hashes-rank{self.env.rank}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.hashes = open(self._truncate_log(path), "a")

    def _truncate_log(self, path: Path) -> Path:
        """On resume, drop records past the checkpoint's step: the resumed run writes them again."""
        if path.exists():
            keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= self.step]
            path.write_text("".join(line + "\n" for line in keep))
        return path

    def log(self, record: dict) -> None:
        self.metrics.write(json.dumps(record, sort_keys=True) + "\n")
        self.metrics.flush()

    # -- checkpoints
    def save(self) -> None:
        """Rank 0 makes the temp dir, every rank writes its RNG file, rank 0 the state and the rename."""
        tmp = ckpt.tmp_dir(self.run_dir, self.step)
        if self.env.rank == 0:
            ckpt.begin(self.run_dir, self.step)
        harness.barrier()
        ckpt.write_rng(tmp, self.env.rank, {**ckpt.rng_state(self.ctx.generator), "log_window": self.pending.state()})
        if self.env.rank == 0:
            ckpt.write_state(tmp, {
                "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "world_size": self.env.world_size, "model": self.model.state_dict(),
                "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "config": self.run["config"], "model_name": self.run["model"], "train_seconds": self.train_seconds()})
        harness.barrier()
        if self.env.rank == 0:
            ckpt.commit(self.run_dir, self.step, self.run["intervals"]["keep"])

    def restore(self) -> None:
        path = ckpt.latest(self.run_dir)
        if path is None:
            raise FileNotFoundError(f"--resume {self.run_dir}: no complete checkpoint under {ckpt.checkpoints_root(self.run_dir)}")
        state = ckpt.load_state(path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        if set(state["optimizers"]) != set(self.optimizers):
            raise ValueError(f"{path}: optimizers {sorted(state['optimizers'])} != the model's {sorted(self.optimizers)}")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.seconds_before = float(state.get("train_seconds", 0.0))
        rng = ckpt.load_rng(path, self.env.rank)
        ckpt.set_rng_state(rng, self.ctx.generator)
        self.pending.load(rng.get("log_window"), self.device)
        if self.env.rank == 0:
            print(f"resumed {self.run_dir} from {path.name} (epoch {self.epoch}, batch {self.batch_in_epoch})", file=sys.stderr)

    def train_seconds(self) -> float:
        """Wall seconds this run has trained, over all its pieces (start-up and evaluations included)."""
        return self.seconds_before + time.monotonic() - self.started

    # -- periodic work
    def due(self, every: int) -> bool:
        return every > 0 and (self.step % every == 0 or self.step == self.run["steps"])

    def draw_samples(self, batch: dict) -> None:
        """Rank 0: the model's image grids to TensorBoard and samples/ (without touching training RNG)."""
        with harness.isolated_rng(), torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            grids = self.model.sample(batch)
        self.model.train()
        out = self.run_dir / "samples"
        out.mkdir(exist_ok=True)
        for name, images in grids.items():
            grid = harness.make_grid(images, nrow=8)
            self.writer.add_image(f"samples/{name}", grid, self.step)
            harness.save_png(grid, out / f"{name}-{self.step:08d}.png")

    def evaluate(self) -> None:
        """Rank 0 runs the model's evaluate(); the other ranks wait at the next barrier."""
        from shards.store import local_view  # DIR@VERSION as a directory the evaluation kit can read
        if self.env.rank == 0:
            out = self.run_dir / "eval" / f"step-{self.step:08d}"
            out.mkdir(parents=True, exist_ok=True)
            self.model.eval()
            data = self.args.eval_data or self.run["data"]
            facts = {"steps": self.step, "seconds": self.train_seconds(), "device": self.device.type, "data": data}
            with harness.isolated_rng(), torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                result = run_evaluation(self.run["model"], self.model, self.cfg, local_view(data), out, facts)
            self.model.train()
            scalars = {k: float(v) for k, v in flat_items(result) if isinstance(v, (int, float)) and not isinstance(v, bool)}
            for key, value in scalars.items():
                if math.isfinite(value):
                    self.writer.add_scalar(f"eval/{key}", value, self.step)
            self.log({"step": self.step, "eval": scalars})
        harness.barrier()

    def after_step(self, batch: dict, metrics: dict, bar) -> None:
        """Logging, grids, evaluation, checkpoints at their intervals. The step's outputs (0-dim device
        tensors) are only added up here; they become Python floats at log steps, so the CPU never waits
        for the GPU in between."""
        if self.hashes is not None:
            self.hashes.write(json.dumps({"step": self.step, "sha256": harness.state_hash(self.model)}) + "\n")
            self.hashes.flush()
        self.pending.add(metrics)
        if self.due(self.run["intervals"]["log_every"]):
            # the means over the steps since the last log, averaged over ranks: a collective (every rank
            # reaches it at the same steps) and the one device sync of the window
            mean = self.ctx.mean_metrics(self.pending.take())
            if self.env.rank == 0:
                now, (t0, step0) = time.perf_counter(), self.window
                self.window = (now, self.step)
                rate = (self.step - step0) / max(now - t0, 1e-9)  # over the steps since the last log, eval included
                samples = rate * len(batch["key"]) * self.env.world_size
                self.log({"step": self.step, "epoch": self.epoch, **mean, "steps_per_s": rate, "samples_per_s": samples})
                for key, value in mean.items():
                    self.writer.add_scalar(f"train/{key}", value, self.step)
                self.writer.add_scalar("speed/samples_per_s", samples, self.step)
                if bar is not None:
                    bar.set_postfix({**{k: f"{v:.4g}" for k, v in list(mean.items())[:3]}, "samples/s": f"{samples:.0f}"})
        if self.env.rank == 0 and self.due(self.run["intervals"]["sample_every"]):
            self.draw_samples(batch)
        if self.due(self.run["intervals"]["eval_every"]):
            self.evaluate()
        late = self.out_of_time()
        if late or self.due(self.run["intervals"]["ckpt_every"]):
            self.save()

    def out_of_time(self) -> bool:
        """--time-limit has run out (checked after every step in one process; with several ranks at log
        steps only, where rank 0's verdict is broadcast, so that every rank stops after the same step)."""
        limit = self.args.time_limit
        if limit is None:
            return False
        late = time.monotonic() - self.started >= limit
        if self.env.world_size > 1:
            if not self.due(self.run["intervals"]["log_every"]):
                return False
            late = bool(harness.broadcast_object(late))
        self.stopped_early = late and self.step < self.run["steps"]
        return self.stopped_early

    def fit(self) -> None:
        resumed = bool(self.args.resume)
        if resumed:
            self.restore()
        try:
            with harness.isolated_rng():
                loader = self.make_loader()
        except (ValueError, FileNotFoundError) as e:
            raise DataError(f"--data {self.run['data']}: {e}") from e
        steps_per_epoch = len(loader)
        if steps_per_epoch < 1:
            raise DataError(f"--data {self.run['data']}: the loader yields no batches per epoch "
                             f"(fewer samples than batch_size x world size?)")
        self.open_outputs(resumed)
        self.model.train()
        bar = None
        self.window = (time.perf_counter(), self.step)
        if self.env.rank == 0 and not self.args.no_progress:
            from tqdm import tqdm
            bar = tqdm(total=self.run["steps"], initial=self.step, unit="step", dynamic_ncols=True)
        while self.step < self.run["steps"]:
            with harness.isolated_rng():
                loader.set_epoch(self.epoch, skip_batches=self.batch_in_epoch)
                batches = iter(loader)
            while self.step < self.run["steps"]:
                with harness.isolated_rng():  # prefetching never shifts the model's random draws
                    batch = next(batches, None)
                if batch is None:
                    raise RuntimeError(f"loader yielded {self.batch_in_epoch} of {steps_per_epoch} batches in epoch "
                                       f"{self.epoch} on rank {self.env.rank} (ranks would fall out of step)")
                batch["frames"] = batch["frames"].to(self.device, non_blocking=True)
                metrics = self.model.training_step(batch, self.step, self.ctx)
                self.ctx.sync_buffers(self.model)
                self.step += 1
                self.batch_in_epoch += 1
                epoch_done = self.batch_in_epoch == steps_per_epoch
                if epoch_done:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                self.after_step(batch, metrics, bar)
                if bar is not None:
                    bar.update(1)
                if epoch_done or self.stopped_early:
                    break
            if self.stopped_early:
                break
        if bar is not None:
            bar.close()

    def close(self) -> None:
        for f in (self.metrics, self.hashes):
            if f is not None:
                f.close()
        if self.writer is not None:
            self.writer.close()


def flat_items(d: dict, prefix: str = ""):
    """Nested eval results as ('a/b', value) pairs for TensorBoard."""
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flat_items(value, name + "/")
        else:
            yield name, value


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = harness.dist_env()
    try:
        run, module, cfg = resolve(args, env)
    except (ValueError, TypeError, FileNotFoundError, ModuleNotFoundError) as e:
        print(f"vidshard train: {e}", file=sys.stderr)
        return 2
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        trainer = Trainer(args, run, module, cfg, env, started=started)
    except (ValueError, FileNotFoundError) as e:  # e.g. the model refuses its config, or no CUDA
        print(f"vidshard train: {e}", file=sys.stderr)
        harness.destroy_process_group()
        torch.set_num_threads(threads)
        return 2
    try:
        trainer.fit()
    except DataError as e:
        print(f"vidshard train: {e}", file=sys.stderr)
        return 2
    finally:
        trainer.close()
        harness.destroy_process_group()
        torch.set_num_threads(threads)  # main() is also called in-process (tests, bench)
    if env.rank == 0 and trainer.stopped_early:
        print(f"stopped by --time-limit {args.time_limit:g} at step {trainer.step} of {run['steps']} (checkpoint "
              f"written); continue with: vidshard train {run['model']} --resume {trainer.run_dir}", file=sys.stderr)
    elif env.rank == 0:
        print(f"done: {trainer.step} steps; run directory {trainer.run_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
