"""The training harness in one process: config resolution and its errors, checkpoints (atomic, keep-last-K,
weights_only), RNG round trips, and exact resume of DrNet's `tiny` preset on tiny shards written here."""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from shards import ShardWriter, make_key, shard_name, write_manifest
from trainers import checkpoint as ckpt
from trainers import harness
from trainers import runconfig as rc
from trainers.train import main as train_main
from vidshard.options import parse_assignments

# DrNet's tiny preset, made smaller still: 4 clips a batch, 6-frame windows of 32x32 clips
TINY = ["--preset", "tiny", "batch_size=4", "max_step=6", "eval_clips=8"]


def make_dataset(root: Path, train_shards: int = 2, clips: int = 12, frames: int = 8, size: int = 32) -> Path:
    """A dataset of squares moving across 32x32 frames: train_shards x clips training clips, one val shard."""
    rng = np.random.default_rng(0)
    splits = {"train": [shard_name("train", i) for i in range(train_shards)], "val": [shard_name("val", 0)]}
    for split, names in splits.items():
        for name in names:
            with ShardWriter(root, name) as w:
                for c in range(clips):
                    sid = f"{name.replace('-', '')}v{c}"
                    w.add(make_key(sid, 0, 0), moving_square(rng, frames, size),
                          {"source_id": sid, "source_path": "synthetic", "track": 0, "clip": 0,
                           "frame_indices": list(range(frames)), "fps": 10})
    write_manifest(root, name="harness-test", config={"frames": frames, "size": size}, shard_splits=splits)
    return root


def moving_square(rng, frames: int, size: int) -> np.ndarray:
    clip = np.zeros((frames, size, size, 3), np.uint8)
    (x, y), (vx, vy), colour = rng.integers(0, size - 8, 2), rng.integers(-3, 4, 2), rng.integers(64, 256, 3)
    for t in range(frames):
        clip[t, y:y + 8, x:x + 8] = colour
        x, y = int(np.clip(x + vx, 0, size - 8)), int(np.clip(y + vy, 0, size - 8))
    return clip


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def flat(losses: dict[int, dict]) -> dict[tuple, float]:
    return {(step, k): v for step, row in losses.items() for k, v in row.items()}


def train_losses(run_dir: Path) -> dict[int, dict]:
    """step -> the logged training losses (speed figures dropped: they legitimately differ)."""
    drop = {"steps_per_s", "samples_per_s"}
    return {r["step"]: {k: v for k, v in r.items() if k not in drop}
            for r in read_jsonl(run_dir / "metrics.jsonl") if "eval" not in r}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


# ---- config resolution ---------------------------------------------------------------------------------------

@dataclass
class Cfg:
    lr: float = 0.1
    steps: int = 10
    amp: bool = False
    name: str = "x"
    dims: tuple[int, ...] = (1, 2)
    size: tuple[int, int] = (4, 4)
    maybe: int | None = None


def test_overrides_are_parsed_as_the_dataclass_field_types():
    got = parse_assignments(Cfg, ["lr=1e-3", "steps=7", "amp=true", "name=abc", "dims=3,4,5",
                                        "size=(8, 9)", "maybe=none"])
    assert got == {"lr": 1e-3, "steps": 7, "amp": True, "name": "abc", "dims": (3, 4, 5), "size": (8, 9), "maybe": None}
    assert parse_assignments(Cfg, ["maybe=3"]) == {"maybe": 3}
    assert Cfg(**got).dims == (3, 4, 5)


@pytest.mark.parametrize("item, words", [
    ("nope=1", ["unknown config key 'nope'", "valid keys: lr, steps, amp, name, dims, size, maybe"]),
    ("steps=1.5", ["bad value for steps", "an integer"]),
    ("amp=maybe", ["bad value for amp", "boolean"]),
    ("size=1,2,3", ["bad value for size", "2 comma-separated values"]),
    ("lr", ["expected key=value", "valid keys"]),
])
def test_bad_overrides_name_the_key_and_the_valid_ones(item, words):
    with pytest.raises(ValueError) as e:
        parse_assignments(Cfg, [item])
    for w in words:
        assert w in str(e.value)


def test_preset_then_overrides_on_top_of_the_paper_defaults():
    from trainers.models import drnet
    cfg = rc.build_config(drnet, "drnet", "tiny", ["nf=8", "beta=0"])
    assert (cfg.image_size, cfg.nf, cfg.beta, cfg.batch_size) == (32, 8, 0.0, drnet.PRESETS["tiny"]["batch_size"])
    assert isinstance(cfg.beta, float)
    assert rc.build_config(drnet, "drnet", None, []) == drnet.Config()
    with pytest.raises(ValueError, match="unknown preset 'nope' for drnet; presets: .*tiny"):
        rc.build_config(drnet, "drnet", "nope", [])


def test_yaml_presets_join_the_module_presets(tmp_path, monkeypatch):
    from trainers.models import drnet
    (tmp_path / "drnet_small64.yaml").write_text("image_size: 64\nnf: 8\nbeta: 0\ndims_unused_is_refused: false\n")
    (tmp_path / "drnet_ok.yaml").write_text("nf: 8\nbeta: 0\n")
    monkeypatch.setattr(rc, "PRESET_DIR", tmp_path)
    assert {"tiny", "small64", "ok"} <= set(rc.presets_of(drnet, "drnet"))
    cfg = rc.build_config(drnet, "drnet", "ok", ["nf=12"])
    assert (cfg.nf, cfg.beta) == (12, 0.0) and isinstance(cfg.beta, float)
    with pytest.raises(ValueError, match="preset drnet/small64 sets unknown key 'dims_unused_is_refused'"):
        rc.build_config(drnet, "drnet", "small64", [])


def test_cli_errors_are_clear_and_exit_2(tmp_path, data, capsys):
    cases = [
        (["nomodel", "--data", str(data)], "unknown model 'nomodel'; registered models: drnet"),
        (["drnet", "--data", str(tmp_path / "missing")], f"--data {tmp_path / 'missing'}: no such file or directory"),
        (["drnet", "--data", str(data), "--preset", "huge"], "unknown preset 'huge' for drnet"),
        (["drnet", "--data", str(data), "widht=3"], "unknown config key 'widht'"),
        (["drnet", "--data", str(data), "nf=wide"], "bad value for nf in 'nf=wide': expected an integer"),
        (["drnet", "--data", str(data), "image_size=48"], "image_size must be a power of two"),
        (["drnet", "--data", str(tmp_path)], "manifest.json"),  # an empty directory is not a dataset
        (["drnet"], "--data is required"),
        (["drnet", "--resume", str(tmp_path)], "no config.json"),
    ]
    for argv, message in cases:
        rc = train_main(argv + ["--run-dir", str(tmp_path / "run"), "--no-progress", "--workers", "0"])
        err = capsys.readouterr().err
        assert rc == 2, (argv, err)
        assert message in err, (argv, err)
        assert "Traceback" not in err


# ---- checkpoints ---------------------------------------------------------------------------------------------

def test_rng_state_round_trip_restores_every_stream():
    gen = torch.Generator().manual_seed(5)
    harness.seed_all(3)
    random.random(), np.random.rand(), np.random.randn(), torch.rand(1), torch.rand(1, generator=gen)
    state = ckpt.rng_state(gen)
    draws = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3), torch.rand(3, generator=gen))
    harness.seed_all(99)
    gen.manual_seed(99)
    ckpt.set_rng_state(state, gen)
    again = (random.random(), np.random.rand(), np.random.randn(), torch.rand(3), torch.rand(3, generator=gen))
    assert draws[:3] == again[:3]
    assert torch.equal(draws[3], again[3]) and torch.equal(draws[4], again[4])


def test_isolated_rng_leaves_the_training_streams_untouched():
    harness.seed_all(1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    harness.seed_all(1)
    with harness.isolated_rng():
        random.random(), np.random.rand(100), torch.rand(100)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def save_dummy(run_dir: Path, step: int, keep: int) -> Path:
    tmp = ckpt.begin(run_dir, step)
    ckpt.write_rng(tmp, 0, ckpt.rng_state())
    ckpt.write_state(tmp, {"step": step, "model": {"w": torch.full((2,), float(step))}})
    return ckpt.commit(run_dir, step, keep)


def test_checkpoints_are_atomic_keep_the_last_k_and_load_weights_only(tmp_path):
    for step in (10, 20, 30, 40):
        save_dummy(tmp_path, step, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000030", "step-00000040"]
    # a crash while writing step 50 leaves a .tmp directory: never taken for a checkpoint
    tmp = ckpt.begin(tmp_path, 50)
    ckpt.write_state(tmp, {"step": 50, "model": {}})
    assert ckpt.latest(tmp_path).name == "step-00000040"
    state = ckpt.load_state(ckpt.latest(tmp_path))
    assert state["step"] == 40 and torch.equal(state["model"]["w"], torch.full((2,), 40.0))
    # the next save of that step clears the crashed attempt
    save_dummy(tmp_path, 50, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000040", "step-00000050"]
    with pytest.raises(FileNotFoundError, match="no RNG state for rank 1"):
        ckpt.load_rng(ckpt.latest(tmp_path), 1)


def test_make_grid_tiles_images_with_padding():
    imgs = torch.stack([torch.full((1, 4, 5), v) for v in (0.0, 0.5, 1.0)])
    grid = harness.make_grid(imgs, nrow=2, pad=1)
    assert grid.shape == (3, 2 * 5 + 1, 2 * 6 + 1)
    assert torch.all(grid[:, 1:5, 1:6] == 0.0) and torch.all(grid[:, 1:5, 7:12] == 0.5)
    assert torch.all(grid[:, 6:10, 1:6] == 1.0) and torch.all(grid[:, 6:10, 7:12] == 1.0)  # last cell: padding


# ---- training end to end (DrNet tiny) ------------------------------------------------------------------------

def run_train(run_dir: Path, data: Path, *extra: str) -> None:
    argv = ["drnet", "--data", str(data), "--run-dir", str(run_dir), "--workers", "0", "--log-every", "1",
            "--sample-every", "0", "--no-progress", "--threads", "1", *extra]
    assert train_main(argv) == 0


def test_single_process_resume_gives_exactly_the_same_losses(tmp_path, data):
    # 24 training clips / batch 4 = 6 batches an epoch: stop mid-epoch 1 at step 8, finish at 14.
    # Only the uninterrupted run evaluates and draws grids: neither may change the training trajectory.
    run_train(tmp_path / "full", data, *TINY, "--steps", "14", "--ckpt-every", "4", "--eval-every", "10",
              "--sample-every", "5")
    # the cut run "crashes" after logging step 10 but before its checkpoint: it resumes from step 8
    run_train(tmp_path / "cut", data, *TINY, "--steps", "10", "--ckpt-every", "4", "--keep", "0")
    shutil.rmtree(ckpt.step_dir(tmp_path / "cut", 10))
    assert train_main(["drnet", "--resume", str(tmp_path / "cut"), "--steps", "14", "--no-progress", "--threads", "1"]) == 0
    evals = [r for r in read_jsonl(tmp_path / "full" / "metrics.jsonl") if "eval" in r]
    assert [r["step"] for r in evals] == [10, 14] and "rec_mse" in evals[0]["eval"]
    assert json.loads((tmp_path / "full" / "eval" / "step-00000010" / "eval.json").read_text())["rec_mse"] > 0
    # steps 9 and 10 of the crashed attempt were dropped from the log, not written twice
    assert [r["step"] for r in read_jsonl(tmp_path / "cut" / "metrics.jsonl")] == list(range(1, 15))
    full, cut = train_losses(tmp_path / "full"), train_losses(tmp_path / "cut")
    assert sorted(full) == sorted(cut) == list(range(1, 15))
    assert [r["epoch"] for r in full.values()] == [0] * 5 + [1] * 6 + [2] * 3
    for step in full:
        assert full[step] == cut[step], step
    assert full[1]["loss"] != full[14]["loss"]  # it did train
    a = ckpt.load_state(ckpt.latest(tmp_path / "full"))
    b = ckpt.load_state(ckpt.latest(tmp_path / "cut"))
    assert a["step"] == b["step"] == 14 and (a["epoch"], a["batch_in_epoch"]) == (2, 2)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_time_limit_checkpoints_and_stops_and_resume_logs_the_same_window_means(tmp_path, data, capsys):
    """--time-limit 0 stops after one step with a checkpoint (exit 0); --resume continues. With --log-every 2
    the checkpoints at steps 1 and 3 fall inside a log window: the logged values are the window means, and
    the unlogged part of a window travels in the checkpoint, so the resumed run logs what an uninterrupted
    one does, and ends with the same weights."""
    run_train(tmp_path / "full", data, *TINY, "--steps", "5", "--log-every", "2", "--ckpt-every", "5")
    run_train(tmp_path / "cut", data, *TINY, "--steps", "5", "--log-every", "2", "--ckpt-every", "5",
              "--keep", "0", "--time-limit", "0")
    assert "stopped by --time-limit 0 at step 1 of 5" in capsys.readouterr().err
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "cut")] == ["step-00000001"]
    assert read_jsonl(tmp_path / "cut" / "metrics.jsonl") == []  # step 1 is not a log step
    resume = ["drnet", "--resume", str(tmp_path / "cut"), "--no-progress", "--threads", "1"]
    assert train_main(resume + ["--time-limit", "0"]) == 0  # step 2: a log step, then stop
    assert train_main(resume + ["--time-limit", "0"]) == 0  # step 3
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "cut")] == [f"step-0000000{i}" for i in (1, 2, 3)]
    assert train_main(resume + ["--time-limit", "600"]) == 0  # a limit not reached: runs to the end
    assert "done: 5 steps" in capsys.readouterr().err
    full, cut = train_losses(tmp_path / "full"), train_losses(tmp_path / "cut")
    assert sorted(full) == sorted(cut) == [2, 4, 5]
    assert full == cut
    step3 = ckpt.load_rng(ckpt.step_dir(tmp_path / "cut", 3), 0)["log_window"]  # step 3 of the window 3..4
    assert set(step3["counts"].values()) == {1} and "rec_loss" in step3["sums"]
    assert ckpt.load_rng(ckpt.latest(tmp_path / "cut"), 0)["log_window"] == {"sums": {}, "counts": {}}
    a = ckpt.load_state(ckpt.latest(tmp_path / "full"))
    b = ckpt.load_state(ckpt.latest(tmp_path / "cut"))
    assert a["step"] == b["step"] == 5
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_a_stop_signal_checkpoints_after_the_step_and_resume_finishes_the_same(tmp_path, data, capsys, monkeypatch):
    """SIGTERM (a scheduler's preemption) or a first Ctrl-C mid-run: the step under way finishes, a checkpoint
    is written, exit 0 and the handlers from before are back; --resume then ends with the weights of an
    uninterrupted run. A second Ctrl-C aborts at once."""
    import os
    import signal
    from trainers.train import Trainer
    real_step = Trainer.train_step
    run_train(tmp_path / "full", data, *TINY, "--steps", "5", "--ckpt-every", "5")
    for sig, times in ((signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGINT, 2)):
        def step_then_signal(self, batch):
            real_step(self, batch)
            if self.step == 2:
                for _ in range(times):
                    os.kill(os.getpid(), sig)
        monkeypatch.setattr(Trainer, "train_step", step_then_signal)
        before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        cut = tmp_path / f"cut-{sig.name}-{times}"
        if times == 2:
            with pytest.raises(KeyboardInterrupt):
                run_train(cut, data, *TINY, "--steps", "5", "--ckpt-every", "5")
            assert ckpt.list_checkpoints(cut) == [] and {s: signal.getsignal(s) for s in before} == before
            continue
        run_train(cut, data, *TINY, "--steps", "5", "--ckpt-every", "5")
        assert {s: signal.getsignal(s) for s in before} == before
        assert f"stopped by {sig.name} at step 2 of 5" in capsys.readouterr().err
        assert [p.name for p in ckpt.list_checkpoints(cut)] == ["step-00000002"]
        monkeypatch.setattr(Trainer, "train_step", real_step)
        assert train_main(["drnet", "--resume", str(cut), "--no-progress", "--threads", "1"]) == 0
        assert train_losses(cut) == train_losses(tmp_path / "full")
        a, b = (ckpt.load_state(ckpt.latest(d)) for d in (tmp_path / "full", cut))
        assert a["step"] == b["step"] == 5 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_log_window_means_step_outputs_and_round_trips():
    window = harness.LogWindow()
    for loss, acc in ((1.0, 0.25), (2.0, 0.5), (4.5, 1.0)):
        window.add({"loss": torch.tensor(loss), "acc": acc})  # tensors (on the device) and plain floats
    state = window.state()
    torch.save(state, buf := __import__("io").BytesIO())
    buf.seek(0)
    again = harness.LogWindow()
    again.load(torch.load(buf, weights_only=True), torch.device("cpu"))
    ctx = harness.Context(torch.device("cpu"), harness.Dist(), 0)
    assert ctx.mean_metrics(window.take()) == ctx.mean_metrics(again.take()) == {"acc": 0.5833333333333334, "loss": 2.5}
    assert window.take() == {} and ctx.mean_metrics({}) == {}
    with pytest.raises(ValueError, match="expected a scalar"):
        window.add({"loss": torch.ones(2)})


def test_run_directory_layout_and_weights_only_checkpoints(tmp_path, data, capsys):
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "6", "--ckpt-every", "2", "--keep", "2", "--sample-every", "3",
              "--seed", "7", "nf=8")
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "drnet" and config["preset"] == "tiny" and config["seed"] == 7
    assert config["config"]["nf"] == 8 and config["config"]["batch_size"] == 4
    assert config["loader"]["n_frames"] == 6 and config["loader"]["batch_size"] == 4 and config["world_size"] == 1
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-00000004", "step-00000006"]
    state = torch.load(run / "checkpoints" / "step-00000006" / "state.pt", weights_only=True)
    assert set(state["optimizers"]) == {"main", "disc"} and state["step"] == 6
    torch.load(run / "checkpoints" / "step-00000006" / "rng-rank0.pt", weights_only=True)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["analogy-00000003.png", "analogy-00000006.png"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run / "tb")).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]  # --log-every 1 (test default)
    assert [e.step for e in events.Images("samples/analogy")] == [3, 6]
    # resuming with a different seed is refused (it could not continue the same trajectory), and so is
    # starting a fresh run over an existing one
    assert train_main(["drnet", "--resume", str(run), "--seed", "8", "--no-progress"]) == 2
    assert train_main(["drnet", "--data", str(data), "--run-dir", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "differs from the run's 7" in err and f"continue it with --resume {run}" in err


def test_resume_refuses_a_changed_model_config_naming_each_key(tmp_path, data, capsys):
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "2", "--ckpt-every", "2", "nf=8")
    before = (run / "config.json").read_text()
    capsys.readouterr()
    assert train_main(["drnet", "--resume", str(run), "nf=12", "beta=0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "keeps its model config" in err and "nf (8 -> 12)" in err and "beta (0.1 -> 0.5)" in err
    # a preset whose values differ from the run's (the run set nf=8 on top of tiny) is a change too
    assert train_main(["drnet", "--resume", str(run), "--preset", "tiny", "--no-progress"]) == 2
    assert "nf (8 -> " in capsys.readouterr().err
    assert (run / "config.json").read_text() == before and ckpt.latest(run).name == "step-00000002"
    # naming the run's own values changes nothing: the resume goes ahead
    assert train_main(["drnet", "--resume", str(run), "nf=8", "--steps", "3", "--no-progress", "--threads", "1"]) == 0
    assert ckpt.latest(run).name == "step-00000003"


def test_amend_continues_a_run_under_a_changed_loss_and_records_it(tmp_path, data, capsys):
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "2", "--ckpt-every", "2")
    weights = ckpt.load_state(ckpt.latest(run))["model"]
    capsys.readouterr()
    assert train_main(["drnet", "--resume", str(run), "alpha=5", "--amend", "--steps", "3", "--no-progress",
                       "--threads", "1"]) == 0
    assert "from here on alpha (1.0 -> 5.0)" in capsys.readouterr().err
    assert rc.load(run).config.alpha == 5 and ckpt.load_state(ckpt.latest(run))["config"]["alpha"] == 5
    assert ckpt.latest(run).name == "step-00000003"   # continued from step 2's weights, not a fresh start
    assert not torch.equal(ckpt.load_state(ckpt.latest(run))["model"]["decoder.out.weight"], weights["decoder.out.weight"])
    # a change the weights cannot take (a wider network) fails clearly
    capsys.readouterr()
    assert train_main(["drnet", "--resume", str(run), "nf=12", "--amend", "--no-progress", "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert "weights do not fit the amended config" in err and "Traceback" not in err
    assert rc.load(run).config.nf == 16 and ckpt.latest(run).name == "step-00000003"


def test_an_amend_is_announced_by_rank_0_only(tmp_path, data, capsys):
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "1")
    capsys.readouterr()
    for rank0 in (False, True):
        amended = rc.resumed(rc.load(run), str(run), "drnet", ["alpha=5"], {"amend": True}, 2, announce=rank0)
        assert amended.config.alpha == 5
        assert ("from here on alpha (1.0 -> 5.0)" in capsys.readouterr().err) == rank0


def test_an_amended_learning_rate_replaces_the_checkpoints(tmp_path, data):
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "2", "--ckpt-every", "2")
    assert train_main(["drnet", "--resume", str(run), "lr=0.0001", "beta1=0.9", "--amend", "--steps", "3",
                       "--no-progress", "--threads", "1"]) == 0
    for name, opt in ckpt.load_state(ckpt.latest(run))["optimizers"].items():
        assert [(g["lr"], g["betas"][0]) for g in opt["param_groups"]] == [(1e-4, 0.9)], name
        assert opt["state"]   # Adam's moments came from the checkpoint and went on


def test_a_resume_may_change_the_workers_and_deals_the_epoch_again(tmp_path, data, capsys):
    # 24 clips in batches of 4: 6 batches an epoch; the run is cut at step 4, mid epoch 0
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "4", "--ckpt-every", "4")
    capsys.readouterr()
    saved = rc.load(run)
    resumed = rc.resumed(saved, str(run), "drnet", [], {"workers": 3, "steps": 9}, world_size=2)
    assert (resumed.workers, resumed.world_size, resumed.loader["num_workers"], resumed.steps) == (3, 2, 3, 9)
    assert set(rc.changes(saved, resumed, rc.LOADER)) == {"workers", "world_size", "loader"}
    assert rc.changes(saved, resumed, rc.KEEP) == {}
    with pytest.raises(ValueError, match=r"--seed 5 differs from the run's 0"):
        rc.resumed(saved, str(run), "drnet", [], {"seed": 5}, world_size=1)
    # two workers deal the epoch otherwise: the rest of epoch 0 is left out and epoch 1 starts at step 5
    assert train_main(["drnet", "--resume", str(run), "--workers", "2", "--steps", "6", "--no-progress",
                       "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert ("dealt again for world size 1 and 2 workers (the checkpoint: world size 1, 1 workers); the rest of "
            "epoch 0 is left out") in err
    state = ckpt.load_state(ckpt.latest(run))
    assert (state["step"], state["epoch"], state["batch_in_epoch"], state["loader"]["num_workers"]) == (6, 1, 2, 2)
    assert [r["epoch"] for _, r in sorted(train_losses(run).items())] == [0, 0, 0, 0, 1, 1]
    assert rc.load(run).workers == 2
    # one worker deals as none (one slot a rank): that resume goes on where the checkpoint stopped
    full = tmp_path / "full"
    run_train(full, data, *TINY, "--steps", "6", "--ckpt-every", "4")
    uninterrupted = train_losses(full)
    shutil.rmtree(ckpt.step_dir(full, 6))
    assert train_main(["drnet", "--resume", str(full), "--workers", "1", "--steps", "6", "--no-progress",
                       "--threads", "1"]) == 0
    assert "dealt again" not in capsys.readouterr().err
    assert train_losses(full) == uninterrupted
    state = ckpt.load_state(ckpt.latest(full))
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (6, 1, 0)


def old_layout(run_dir: Path) -> dict:
    """config.json exactly as vidshard wrote it before RunConfig (16 keys, intervals nested; the runs under
    runs/ were written so), with this run's values."""
    new = json.loads((run_dir / "config.json").read_text())
    return {"amp": False, "channels_last": False, "compile": False, "config": new["config"], "data": new["data"],
            "dataset": new["dataset"], "device": "cpu",
            "intervals": {"ckpt_every": new["ckpt_every"], "eval_every": new["eval_every"], "keep": new["keep"],
                          "log_every": new["log_every"], "sample_every": new["sample_every"]},
            "loader": new["loader"], "model": "drnet", "preset": "tiny", "run_dir": str(run_dir), "seed": new["seed"],
            "steps": new["steps"], "torch": new["torch"], "workers": new["workers"], "world_size": 1}


def test_run_directories_written_before_runconfig_resume_exactly_and_evaluate(tmp_path, data, capsys):
    from trainers.evaluate import main as eval_main
    run_train(tmp_path / "full", data, *TINY, "--steps", "8", "--ckpt-every", "4")
    run_train(tmp_path / "old", data, *TINY, "--steps", "4", "--ckpt-every", "4")
    layout = old_layout(tmp_path / "old")
    del layout["dataset"]   # the first runs predate the dataset record too
    (tmp_path / "old" / "config.json").write_text(json.dumps(layout, indent=2, sort_keys=True) + "\n")
    loaded = rc.load(tmp_path / "old")
    assert (loaded.log_every, loaded.ckpt_every, loaded.keep, loaded.dataset) == (1, 4, 3, None)
    assert train_main(["drnet", "--resume", str(tmp_path / "old"), "--steps", "8", "--no-progress", "--threads", "1"]) == 0
    assert train_losses(tmp_path / "full") == train_losses(tmp_path / "old")
    a, b = (ckpt.load_state(ckpt.latest(tmp_path / r)) for r in ("full", "old"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert json.loads((tmp_path / "old" / "config.json").read_text())["format"] == rc.FORMAT   # rewritten
    # an old run directory evaluates as it is
    (tmp_path / "old" / "config.json").write_text(json.dumps(old_layout(tmp_path / "old")))
    assert eval_main(["drnet", str(tmp_path / "old"), "--out", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "eval.json").read_text())["steps"] == 8
    capsys.readouterr()


def test_eval_cli_errors_name_what_is_wrong(tmp_path, data, capsys):
    from trainers.evaluate import main as eval_main
    run = tmp_path / "run"
    run_train(run, data, *TINY, "--steps", "1", "--ckpt-every", "1")
    cases = [
        (["drnet", str(tmp_path / "nope"), "--data", str(data)], "no config.json"),
        (["drnet", str(run), "--data", str(tmp_path / "missing")], "no such file or directory"),
        (["drnet", str(run), "--checkpoint", "step-00000099"], "--checkpoint step-00000099: not a checkpoint"),
        (["other", str(run)], "unknown model 'other'; registered models: drnet"),
        (["drnet", str(run), "n_videos=3"], "'n_videos=3': not an option of the drnet evaluation"),
    ]
    for argv, message in cases:
        assert eval_main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_help_lists_models_presets_and_config_keys(capsys):
    from vidshard.cli import main as cli_main
    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "drnet (presets: " in out and "tiny" in out and "batch_size" in out and "torchrun --nproc_per_node" in out


# ---- a model whose every hook draws random numbers: the harness must keep them apart -------------------------

@dataclass
class ToyConfig:
    image_size: int = 32
    channels: int = 3
    batch_size: int = 4
    n_frames: int = 2
    lr: float = 0.01


class ToyModel(torch.nn.Module):
    """A conv autoencoder with BatchNorm that draws from torch, numpy and python RNGs in training_step,
    sample and evaluate alike (DrNet's sample/evaluate happen not to draw on unlabelled data)."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(cfg.channels, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                       torch.nn.ReLU(), torch.nn.Conv2d(8, cfg.channels, 3, padding=1))
        self.opt = torch.optim.Adam(self.parameters(), lr=cfg.lr)

    def optimizers(self):
        return {"main": self.opt}

    def training_step(self, batch, step, ctx):
        x = batch["frames"][:, 0]
        noise = torch.randn_like(x) * 0.1 * (1 + np.random.rand() + random.random())
        noise = noise + torch.rand(1, generator=ctx.generator).item() * 0.01
        with ctx.autocast():
            loss = torch.nn.functional.mse_loss(self.net(x + noise), x)
        ctx.step(self.opt, loss)
        return {"loss": loss.item()}

    def sample(self, batch):
        x = batch["frames"][:4, 0]
        return {"recon": self.net(x + torch.rand_like(x) * np.random.rand() * random.random()).clamp(0, 1)}


def toy_evaluate(model, cfg, data, out_dir, **kw):
    torch.rand(1000), np.random.rand(1000), random.random()
    result = {"noise": float(torch.rand(1))}
    (Path(out_dir) / "eval.json").write_text(json.dumps(result))
    return result


@pytest.fixture
def toy(monkeypatch):
    import sys
    import types
    from trainers import models
    module = types.ModuleType("toy_model")
    module.Config, module.Model, module.PRESETS, module.evaluate = ToyConfig, ToyModel, {}, toy_evaluate
    module.loader_kwargs = lambda cfg: dict(sampler="window", n_frames=cfg.n_frames, batch_size=cfg.batch_size)
    monkeypatch.setitem(sys.modules, "toy_model", module)
    monkeypatch.setitem(models.REGISTRY, "toy", "toy_model")
    monkeypatch.setitem(models.EVALUATORS, "toy", "toy_model")
    return "toy"


def test_evaluation_grids_and_loading_never_shift_the_training_rng(tmp_path, data, toy):
    def run(name, *extra):
        assert train_main([toy, "--data", str(data), "--run-dir", str(tmp_path / name), "--workers", "0",
                           "--log-every", "1", "--no-progress", "--threads", "1", *extra]) == 0
    run("busy", "--steps", "9", "--eval-every", "2", "--sample-every", "3", "--ckpt-every", "4")
    run("quiet", "--steps", "5", "--sample-every", "0", "--ckpt-every", "5")
    assert train_main(["toy", "--resume", str(tmp_path / "quiet"), "--steps", "9", "--no-progress"]) == 0
    busy, quiet = train_losses(tmp_path / "busy"), train_losses(tmp_path / "quiet")
    # an RNG shift moves the noise by ~10% of the loss; 1e-6 absorbs one float32 rounding in the CPU kernels,
    # which differed in one step of nine on the CI machine after an evaluation had run in between
    assert sorted(busy) == list(range(1, 10)) and flat(busy) == pytest.approx(flat(quiet), rel=1e-6)
    assert [r["step"] for r in read_jsonl(tmp_path / "busy" / "metrics.jsonl") if "eval" in r] == [2, 4, 6, 8, 9]


def test_eval_json_says_how_much_training_it_measures(tmp_path, data, toy):
    """steps, seconds (training wall time summed over resumed pieces) and device go into every eval.json,
    from training (--eval-every) and from `vidshard eval`."""
    from trainers.evaluate import main as eval_main
    common = ["--data", str(data), "--workers", "0", "--no-progress", "--threads", "1", "--sample-every", "0"]
    assert train_main([toy, *common, "--run-dir", str(tmp_path / "r"), "--steps", "3", "--ckpt-every", "3"]) == 0
    first = ckpt.load_state(ckpt.latest(tmp_path / "r"))["train_seconds"]
    assert train_main([toy, "--resume", str(tmp_path / "r"), "--steps", "6", "--eval-every", "6", "--no-progress"]) == 0
    second = ckpt.load_state(ckpt.latest(tmp_path / "r"))["train_seconds"]
    assert 0 < first < second
    during = json.loads((tmp_path / "r" / "eval" / "step-00000006" / "eval.json").read_text())
    assert during["steps"] == 6 and during["device"] == "cpu" and first < during["seconds"] <= second + 0.1
    assert eval_main([toy, str(tmp_path / "r"), "--out", str(tmp_path / "e")]) == 0
    after = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert (after["steps"], after["seconds"], after["device"], after["checkpoint"]) == (6, second, "cpu", "step-00000006")
    assert during["data"] == after["data"] == str(data)  # the data as named, never a resolved local view
    assert "noise" in after  # the recipe's own results are kept


def test_keep_global_batch_splits_the_runs_global_batch_over_the_new_ranks(tmp_path):
    from vidshard.errors import UsageError
    saved = rc.fresh("drnet", ["batch_size=6"], {"preset": "tiny", "exact_epoch": True}, world_size=2)
    assert saved.loader["resampled"] is False and saved.loader["batch_size"] == 6
    kept = rc.resumed(saved, str(tmp_path), "drnet", [], {"keep_global_batch": True}, world_size=3)
    assert kept.loader["batch_size"] == 4 and kept.loader["resampled"] is False   # 6 x 2 = 4 x 3
    assert rc.resumed(saved, str(tmp_path), "drnet", [], {}, world_size=3).loader["batch_size"] == 6
    with pytest.raises(UsageError, match="global batch 12 .* does not split over 5 ranks"):
        rc.resumed(saved, str(tmp_path), "drnet", [], {"keep_global_batch": True}, world_size=5)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_to_the_whole_process_group_still_checkpoints_with_loader_workers(tmp_path, data, sig):
    """Ctrl-C in a terminal (SIGINT) and Slurm's scancel (SIGTERM) signal every process of the group, the
    loader's workers too: they outlive it, and the run stops after its step with a checkpoint as with one
    process."""
    import os
    import signal
    import subprocess
    import sys
    import time
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "trainers.train", "drnet", "--data", str(data), "--run-dir",
                             str(run), *TINY, "--workers", "1", "--log-every", "1", "--sample-every", "0",
                             "--no-progress", "--threads", "1", "--steps", "1000000"],
                            cwd=Path(__file__).resolve().parents[1], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics, deadline = run / "metrics.jsonl", time.monotonic() + 120
    while (not metrics.exists() or metrics.read_text().count("\n") < 3) and time.monotonic() < deadline:
        time.sleep(0.2)   # a few steps in: the worker is up and feeding
    os.killpg(proc.pid, getattr(signal, sig))   # the trainer and its loader worker alike
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"stopped by {sig}" in err and "Traceback" not in err
    assert ckpt.latest(run) is not None


def test_a_loader_worker_ended_by_sigterm_alone_still_exits_after_its_grace():
    # torch ends a worker that did not stop in time at shutdown with SIGTERM, and the parent then waits for it:
    # a worker that outlives SIGTERM must still end, TERM_GRACE seconds later (here 1 s), by SIGALRM
    import signal
    import subprocess
    import sys
    code = ("import os, signal, time\n"
            "from shards import loader\n"
            "loader.TERM_GRACE = 1\n"
            "loader.outlive_stop_signals(0)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "print('outlived SIGTERM', flush=True)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"   # a second SIGTERM does not push the end further out
            "time.sleep(60)\n"
            "print('never', flush=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=50)
    assert proc.stdout == "outlived SIGTERM\n" and proc.returncode == -signal.SIGALRM, proc.stderr
