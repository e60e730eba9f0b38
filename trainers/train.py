"""`vidshard train MODEL --data DATA ...`: train a registered model on shards, in one process or under torchrun.

    vidshard train drnet --data data/mmnist --preset mnist
    torchrun --nproc_per_node 4 -m trainers.train drnet --data data/mmnist --preset mnist
    vidshard train drnet --resume runs/drnet-mnist-20261122-230000 --steps 20000

Per step: the loader's batch goes to the device, the model's training_step does its own updates through
`ctx` (trainers/harness.py), BatchNorm buffers are averaged over ranks, then (at their intervals) metrics
are logged, image grids drawn, evaluation run on rank 0, and an atomic checkpoint written. SIGTERM (a
scheduler's preemption) or a first Ctrl-C stops the run the way --time-limit does: after the step under way,
with a checkpoint, exit 0 (a second Ctrl-C aborts at once; under torchrun, ranks stop together at the next
log step). The run directory holds config.json, metrics.jsonl, tb/ (TensorBoard), samples/, eval/ and checkpoints/; see
docs/TRAINING.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from trainers import checkpoint as ckpt
from trainers import harness
from trainers import runconfig as rc
from trainers.evaluate import run_evaluation
from trainers.models import REGISTRY, load_model_module
from trainers.runconfig import RunConfig
from vidshard.cli import entry
from vidshard.errors import InputError, UsageError
from vidshard.io import is_url, local_path
from vidshard.options import add_flags, field_types, values_from

EXAMPLES = """examples:
  vidshard train drnet --data data/mmnist --preset mnist                 # one process (GPU if present)
  vidshard train drnet --data data/mmnist --preset tiny --steps 200 lr=0.001 beta=0
  torchrun --nproc_per_node 4 -m trainers.train drnet --data data/mmnist --preset mnist
  vidshard train drnet --resume runs/drnet-mnist-20261122-230000 --steps 40000
  tensorboard --logdir runs

key=value pairs override fields of the model's Config (types follow the dataclass: ints, floats,
true/false, comma-separated tuples, none); they apply on top of --preset. `batch_size` is per process,
so the global batch is batch_size x world size."""


def build_parser() -> argparse.ArgumentParser:
    """The model, key=value overrides and --resume; every other flag is a RunConfig field (its help is
    written there, once). Flags not given stay out of the namespace: a resumed run keeps its own values."""
    p = argparse.ArgumentParser(prog="vidshard train", description=__doc__.split("\n")[0],
                                epilog=EXAMPLES + "\n\n" + describe_models(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help=f"registered model: {', '.join(sorted(REGISTRY))}")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="Config overrides (see below)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its latest checkpoint, exactly "
                   "(same model config and seed; --steps may be raised)")
    add_flags(p, RunConfig, unset=True)
    return p


def describe_models() -> str:
    """Models, presets and Config fields for --help (so the valid key=value names are one command away)."""
    lines = ["models (presets; Config fields = key=value names):"]
    for name in sorted(REGISTRY):
        try:
            module = load_model_module(name)
        except Exception as e:  # noqa: BLE001 -- a broken model module must not break --help of the others
            lines.append(f"  {name}: cannot be imported ({e})")
            continue
        presets = ", ".join(sorted(rc.presets_of(module, name))) or "none"
        fields = ", ".join(field_types(module.Config))
        lines.append(f"  {name} (presets: {presets})\n    fields: {fields}")
    return "\n".join(lines)


# ---- the resolved run ----------------------------------------------------------------------------------------

def check_data(data: str | list) -> None:
    """A local path that does not exist is an error now, not a hang in a loader worker later; so is a
    DIR@VERSION or DIR@TAG that names no version (shards.store.StoreError)."""
    from shards.store import describe, split_ref
    for item in ([data] if isinstance(data, str) else data):
        pattern = item.startswith("pipe:") or "{" in item or "*" in item
        if not pattern and not is_url(item) and not Path(local_path(split_ref(item)[0])).exists():
            raise InputError(f"--data {item}: no such file or directory")
    describe(data)


def resolve(args: argparse.Namespace, env: harness.Dist) -> tuple[RunConfig, RunConfig | None]:
    """The run's configuration, once: a fresh run from the defaults, the preset and the command line; a
    resumed one from its config.json and the command line (trainers/runconfig.py says what may change).
    Returns it and, on --resume, the configuration as the run saved it."""
    given = values_from(RunConfig, args)
    saved = None
    if args.resume:
        saved = rc.load(args.resume)
        run = rc.resumed(saved, args.resume, args.model, args.overrides, given, env.world_size, env.rank == 0)
    else:
        if not given.get("data"):
            raise UsageError("--data is required (a dataset dir with manifest.json, or shard URLs)")
        if given.get("run_dir") and (Path(given["run_dir"]) / rc.CONFIG_JSON).exists():
            raise UsageError(f"--run-dir {given['run_dir']} already holds a run: continue it with --resume "
                             f"{given['run_dir']}, or pick another directory")
        run = rc.fresh(args.model, args.overrides, given, env.world_size)
    check_data(run.data)
    if run.eval_data:
        check_data(run.eval_data)
    from shards.store import describe, version_warning
    if not args.resume:  # the dataset version (and split) this run reads: vidshard eval and --resume compare
        dataset = {**(describe(run.data) or {"ref": run.data, "version": None}), "split": "train"}
        run = dataclasses.replace(run, dataset=dataset)
    elif env.rank == 0 and (warning := version_warning(run.dataset, run.data, "--resume")):
        print(warning, file=sys.stderr)
    return run, saved


def default_run_dir(run: RunConfig) -> str:
    return str(Path("runs") / f"{run.model}-{run.preset or 'default'}-{time.strftime('%Y%m%d-%H%M%S')}")


# ---- training ------------------------------------------------------------------------------------------------

class Trainer:
    """One rank's training loop; rank 0 also logs, draws grids, evaluates and commits checkpoints."""

    def __init__(self, run: RunConfig, env: harness.Dist, saved: RunConfig | None = None,
                 started: float | None = None):
        """saved: the run's configuration as config.json held it, when this launch resumes it."""
        self.env, self.resumed = env, saved is not None
        self.saved_loader = saved.loader if saved is not None else None   # checkpoints before "loader" in state
        self.module, self.cfg = rc.load_model(run.model), run.config
        self.device = harness.pick_device(run.device, env.local_rank)
        if self.device.type == "cuda":
            harness.enable_tf32()
        harness.init_process_group(env, self.device)
        if not run.run_dir:
            run = dataclasses.replace(run, run_dir=harness.broadcast_object(default_run_dir(run) if env.rank == 0 else None))
        self.run_dir = Path(run.run_dir)
        amp = self.device.type == "cuda" if run.amp is None else run.amp
        self.ctx = harness.Context(self.device, env, run.seed, amp=amp)
        # what this launch used, recorded in config.json
        self.run = dataclasses.replace(run, amp=self.ctx.amp, device=self.device.type, torch=torch.__version__)
        self.model = self.build_model()
        self.optimizers = self.model.optimizers()
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.samples_in_epoch: int | None = 0  # exact epoch: samples of it consumed over all ranks
        self.writer = self.metrics = self.hashes = self.sample_log = None
        self.pending = harness.LogWindow()  # step outputs since the last log, on the device
        self.started = time.monotonic() if started is None else started  # --time-limit counts from here
        self.seconds_before = 0.0  # training wall time of the run's earlier pieces (restored on resume)
        self.stopped_early = False
        self.stop_signal: str | None = None  # set by a signal handler (stop_on_signals): stop like --time-limit
        self.last_metrics: dict = {}

    def build_model(self):
        harness.seed_all(self.run.seed)  # identical init on every rank
        try:
            model = self.module.Model(self.cfg).to(self.device)
        except ValueError as e:   # the model refuses its config (the contract: a ValueError naming why)
            raise UsageError(str(e)) from None
        except FileNotFoundError as e:   # a file its config names (framegan's frames_run)
            raise InputError(str(e)) from None
        model = harness.speed_up(model, channels_last=self.run.channels_last)
        self.ctx.broadcast_module(model)
        harness.speed_up(model, compile=self.run.compile)  # after the broadcast: it reads plain modules
        # from here on each rank draws from its own streams (data order, augmentation, random offsets)
        harness.seed_all(harness.rank_seed(self.run.seed, self.env.rank))
        return model

    def make_loader(self):
        from shards.loader import make_loader
        return make_loader(self.run.data, split="train", rank=self.env.rank, world_size=self.env.world_size,
                           **self.run.loader)

    # -- run directory, logs
    def open_outputs(self, resumed: bool) -> None:
        if self.env.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.run.save(self.run_dir)
            self.metrics = open(self._truncate_log(self.run_dir / "metrics.jsonl"), "a")
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step if resumed else None)
            for path in sorted(self.run_dir.glob("samples-rank*.jsonl")):  # ranks of an earlier world size too
                self._truncate_log(path)
        harness.barrier()
        if self.run.log_samples:
            self.sample_log = open(self.run_dir / f"samples-rank{self.env.rank}.jsonl", "a")
        if self.run.debug_hashes:
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
                "samples_in_epoch": self.samples_in_epoch,
                "world_size": self.env.world_size, "loader": self.run.loader, "model": self.model.state_dict(),
                "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "config": self.run.config_dict(), "model_name": self.run.model, "train_seconds": self.train_seconds()})
        harness.barrier()
        if self.env.rank == 0:
            ckpt.commit(self.run_dir, self.step, self.run.keep)

    def restore(self) -> None:
        path = ckpt.latest(self.run_dir)
        if path is None:
            raise InputError(f"--resume {self.run_dir}: no complete checkpoint under {ckpt.checkpoints_root(self.run_dir)}")
        state = ckpt.load_state(path, map_location=self.device)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as e:
            if not self.run.amend:
                raise
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise InputError(f"--resume {self.run_dir} --amend: the checkpoint's weights do not fit the amended "
                             f"config ({first}); amend only what keeps the networks' shapes") from None
        if set(state["optimizers"]) != set(self.optimizers):
            raise ValueError(f"{path}: optimizers {sorted(state['optimizers'])} != the model's {sorted(self.optimizers)}")
        for name, opt in self.optimizers.items():
            settings = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
            opt.load_state_dict(state["optimizers"][name])
            if self.run.amend:   # an amended lr or betas holds over the checkpoint's (Adam's moments carry over)
                for group, mine in zip(opt.param_groups, settings):
                    group.update(mine)
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.samples_in_epoch = state.get("samples_in_epoch")  # None: a checkpoint from before the exact epoch
        self.seconds_before = float(state.get("train_seconds", 0.0))
        if state["world_size"] == self.env.world_size:
            rng = ckpt.load_rng(path, self.env.rank)
            ckpt.set_rng_state(rng, self.ctx.generator)
            self.pending.load(rng.get("log_window"), self.device)
        else:   # other ranks: each draws from a stream of its own, new from here on
            self.ctx.reseed(harness.rank_seed(self.run.seed + self.step, self.env.rank))
        note = self.redeal(state)
        if self.env.rank == 0:
            where = f"batch {self.batch_in_epoch}" if not exact(self.run.loader) else f"sample {self.samples_in_epoch}"
            print(f"resumed {self.run_dir} from {path.name} (epoch {self.epoch}, {where}){note}", file=sys.stderr)

    def redeal(self, state: dict) -> str:
        """The loader deals an epoch by ranks and worker processes (shards.loader.Plan), so it resumes an epoch
        mid-way exactly only as the checkpoint's run dealt it. Where the world size or the loader settings
        changed, the rest of that epoch is left out and training goes on at the next one (model, optimizers
        and step count carry over; the data order from here on is the new dealing's). Returns what to say."""
        loader = state.get("loader", self.saved_loader)
        before = dealing(state["world_size"], loader)
        if before == dealing(self.env.world_size, self.run.loader):
            return ""
        if exact(loader) and exact(self.run.loader) and self.samples_in_epoch is not None and \
                order_of(loader) == order_of(self.run.loader):
            return (f": the epoch's global order goes on after its first {self.samples_in_epoch} samples on world "
                    f"size {self.env.world_size}, {self.run.workers} workers, batch {self.run.loader['batch_size']} "
                    f"per rank (the checkpoint: world size {before[0]}, {before[1]} workers, batch "
                    f"{loader['batch_size']})")
        skipped = ""
        if self.batch_in_epoch:
            skipped = f"; the rest of epoch {self.epoch} is left out"
            self.epoch, self.batch_in_epoch, self.samples_in_epoch = self.epoch + 1, 0, 0
        return (f": dealt again for world size {self.env.world_size} and {self.run.workers} workers (the "
                f"checkpoint: world size {before[0]}, {before[1]} workers){skipped}")

    def train_seconds(self) -> float:
        """Wall seconds this run has trained, over all its pieces (start-up and evaluations included)."""
        return self.seconds_before + time.monotonic() - self.started

    # -- periodic work
    def due(self, every: int) -> bool:
        return every > 0 and (self.step % every == 0 or self.step == self.run.steps)

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
            data = self.run.eval_data or self.run.data
            facts = {"steps": self.step, "seconds": self.train_seconds(), "device": self.device.type, "data": data}
            with harness.isolated_rng(), torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                result = run_evaluation(self.run.model, self.model, self.cfg, local_view(data), out, facts)
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
        if self.due(self.run.log_every):
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
        if self.env.rank == 0 and self.due(self.run.sample_every):
            self.draw_samples(batch)
        if self.due(self.run.eval_every):
            self.evaluate()
        stop = self.should_stop()
        if stop or self.due(self.run.ckpt_every):
            self.save()

    def should_stop(self) -> bool:
        """--time-limit has run out or a stop signal came. Checked after every step in one process; with
        several ranks at every log step, where rank 0's verdict is broadcast (every rank takes part, signal or
        not), so that every rank stops after the same step."""
        limit = self.run.time_limit
        wanted = self.stop_signal is not None or (limit is not None and time.monotonic() - self.started >= limit)
        if self.env.world_size > 1:
            if not self.due(self.run.log_every):
                return False
            wanted = bool(harness.broadcast_object(wanted))
        self.stopped_early = wanted and self.step < self.run.steps
        return self.stopped_early

    def fit(self) -> None:
        if self.resumed:
            self.restore()
        try:
            with harness.isolated_rng():
                loader = self.make_loader()
        except (ValueError, FileNotFoundError) as e:   # make_loader's account of data it cannot read as asked
            raise InputError(f"--data {self.run.data}: {e}") from e
        if len(loader) < 1:
            raise InputError(f"--data {self.run.data}: the loader yields no batches per epoch "
                             f"(fewer samples than batch_size x world size?)")
        self.open_outputs(self.resumed)
        self.model.train()
        bar = None
        self.window = (time.perf_counter(), self.step)
        if self.env.rank == 0 and self.run.progress:
            from tqdm import tqdm
            bar = tqdm(total=self.run.steps, initial=self.step, unit="step", dynamic_ncols=True)
        while self.step < self.run.steps:
            with harness.isolated_rng():
                self.start_epoch(loader)
                left, batches = loader.epoch_batches, iter(loader)
            if left < 1:
                raise RuntimeError(f"epoch {self.epoch} has no batch left at its resume point on rank {self.env.rank}")
            for done in range(1, left + 1):
                if self.step >= self.run.steps:
                    break
                with harness.isolated_rng():  # prefetching never shifts the model's random draws
                    batch = next(batches, None)
                if batch is None:
                    raise RuntimeError(f"loader yielded {done - 1} of {left} batches in epoch {self.epoch} on rank "
                                       f"{self.env.rank} (ranks would fall out of step)")
                self.train_step(batch)
                if done == left:
                    self.epoch, self.batch_in_epoch, self.samples_in_epoch = self.epoch + 1, 0, 0
                self.after_step(batch, self.last_metrics, bar)
                if bar is not None:
                    bar.update(1)
                if self.stopped_early:
                    break
            if self.stopped_early:
                break
        if bar is not None:
            bar.close()

    def start_epoch(self, loader) -> None:
        """Point the loader at the epoch's resume position: the exact epoch by samples consumed over all
        ranks (any world size), the resampled one by this dealing's batches (decoded and dropped)."""
        if exact(self.run.loader) and self.samples_in_epoch is not None:
            loader.set_epoch(self.epoch, consumed=self.samples_in_epoch)
        else:
            loader.set_epoch(self.epoch, skip_batches=self.batch_in_epoch)

    def train_step(self, batch: dict) -> None:
        """One optimizer step on the batch; the step count, the position in the epoch and the sample log."""
        batch["frames"] = batch["frames"].to(self.device, non_blocking=True)
        self.last_metrics = self.model.training_step(batch, self.step, self.ctx)
        self.ctx.sync_buffers(self.model)
        self.step += 1
        self.batch_in_epoch += 1
        if "consumed" in batch:
            self.samples_in_epoch = int(batch["consumed"])
        if self.sample_log is not None:
            self.sample_log.write(json.dumps({"step": self.step, "epoch": self.epoch, "keys": list(batch["key"])}) + "\n")
            self.sample_log.flush()

    def close(self) -> None:
        for f in (self.metrics, self.hashes, self.sample_log):
            if f is not None:
                f.close()
        if self.writer is not None:
            self.writer.close()


@contextmanager
def stop_on_signals(trainer: Trainer):
    """While training: SIGTERM, and a first SIGINT (Ctrl-C), ask the trainer to stop after the step under way
    with a checkpoint; a second SIGINT raises KeyboardInterrupt as usual. The previous handlers come back on
    exit (train_command also runs in-process: tests, benchmarks). Signals are only handled in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def request_stop(signum, frame):
        if signum == signal.SIGINT and trainer.stop_signal is not None:
            raise KeyboardInterrupt
        trainer.stop_signal = signal.Signals(signum).name
        if trainer.env.rank == 0:
            print(f"\n{trainer.stop_signal}: stopping after this step with a checkpoint"
                  + (" (Ctrl-C again to abort)" if signum == signal.SIGINT else ""), file=sys.stderr)

    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exact(loader: dict | None) -> bool:
    """Whether a run's loader settings are the exact-epoch mode (shards.loader: resampled=False)."""
    return (loader or {}).get("resampled", True) is False


def order_of(loader: dict) -> dict:
    """The loader settings the exact epoch's global order and frames depend on (not ranks, workers, batch)."""
    return {k: v for k, v in loader.items() if k not in ("num_workers", "batch_size")}


def dealing(world_size: int, loader: dict | None) -> tuple[int, int, dict]:
    """What decides how the loader deals an epoch (shards.loader.Plan): the ranks, the worker processes of
    each (none and one deal alike) and the other loader settings."""
    rest = dict(loader or {})
    workers = rest.pop("num_workers", 0)
    return world_size, workers if workers > 1 else 1, rest


def flat_items(d: dict, prefix: str = ""):
    """Nested eval results as ('a/b', value) pairs for TensorBoard."""
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flat_items(value, name + "/")
        else:
            yield name, value


def train_command(argv: list[str]) -> int:
    """`vidshard train`: usage and input errors are VidshardErrors (one line, exit 2: vidshard.cli.run)."""
    started = time.monotonic()
    args = build_parser().parse_intermixed_args(argv)
    env = harness.dist_env()
    run, saved = resolve(args, env)
    threads = torch.get_num_threads()
    if run.threads:
        torch.set_num_threads(run.threads)
    trainer = None
    try:
        trainer = Trainer(run, env, saved=saved, started=started)
        with stop_on_signals(trainer):
            trainer.fit()
    finally:
        if trainer is not None:
            trainer.close()
        harness.destroy_process_group()
        torch.set_num_threads(threads)  # train_command is also called in-process (tests, bench)
    if env.rank == 0 and trainer.stopped_early:
        why = trainer.stop_signal or f"--time-limit {run.time_limit:g}"
        print(f"stopped by {why} at step {trainer.step} of {run.steps} (checkpoint "
              f"written); continue with: vidshard train {run.model} --resume {trainer.run_dir}", file=sys.stderr)
    elif env.rank == 0:
        print(f"done: {trainer.step} steps; run directory {trainer.run_dir}", file=sys.stderr)
    return 0


main = entry("train")


if __name__ == "__main__":
    sys.exit(main())
