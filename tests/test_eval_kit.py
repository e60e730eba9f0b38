"""The evaluation kit (trainers/eval/) on models whose answers are known: an oracle that renders the
exact counterfactual from the clips' labels, a model that ignores the dynamic code, and a model whose
codes are the labels themselves. What the kit reports for them is known exactly, so these tests pin down
the wiring (which clip's code goes where, which frames are compared) independently of any trained model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import require_shared
from pipelines.synthetic.common import counterfactual
from trainers.eval import codes, figures, probes, swaps
from trainers.eval import data as eval_data
from trainers.eval.labels import position_targets


@pytest.fixture(scope="module")
def mm(tmp_path_factory):
    """Palette-coloured two-digit Moving MNIST, 32×32, 12 frames: 96 train and 32 test clips."""
    mnist = require_shared("mnist")
    out = tmp_path_factory.mktemp("kit") / "mm"
    from vidshard.cli import main
    assert main(["synth", "moving-mnist", "--out", str(out), "--clips", "128", "--frames", "12", "--split",
                 "0.75,0,0.25", "--mnist", str(mnist), "--size", "32", "--colors", "palette", "--seed", "3"]) == 0
    train, test, _ = eval_data.eval_splits(str(out), 96, 32)
    return str(out), train, test


def frame_key(x: torch.Tensor) -> bytes:
    """A float frame in [0, 1] back to the uint8 bytes it was read from."""
    return (x.movedim(-3, -1) * 255).round().to(torch.uint8).numpy().tobytes()


class Oracle(torch.nn.Module):
    """Knows every clip: the static code is the clip's number, the dynamic code (clip number, frame) per
    frame; generate renders the exact counterfactual of the two clips. A perfect disentangler."""
    static_from = "frame"

    def __init__(self, clips: list):
        super().__init__()
        self.metas = [m for _, _, m in clips]
        self.index = {frame_key(eval_data.to_tensor(f[t])): (i, t) for i, (_, f, _) in enumerate(clips)
                      for t in range(f.shape[0])}

    def lookup(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([self.index[frame_key(f)] for f in x.flatten(0, 1)], dtype=torch.float32)

    def encode_static(self, frames):
        return self.lookup(frames[:, :1])[:, :1]                       # (B, 1): clip number

    def encode_dynamic(self, frames):
        return self.lookup(frames).view(*frames.shape[:2], 2)           # (B, T, 2): clip number, frame

    def generate(self, static, dynamic):
        out = [np.stack([counterfactual(self.metas[int(s)], self.metas[int(c)])[int(t)] for c, t in d])
               for s, d in zip(static[:, 0], dynamic)]
        return eval_data.to_tensor(np.stack(out))


class IgnoresDynamic(Oracle):
    """Generates the static clip's own frames whatever the dynamic code says: right content, wrong pose."""

    def generate(self, static, dynamic):
        return super().generate(static, torch.stack([torch.full_like(dynamic[..., 0], 0) + static[:, :1],
                                                     dynamic[..., 1]], -1))


def test_a_perfect_disentangler_scores_zero_swap_error_against_the_counterfactual(mm):
    _, _, test = mm
    model = Oracle(test)
    res = swaps.swap_scores(model, test, "cpu")
    assert res["swap_mse"] == 0.0
    assert res["swap_mse_black"] > 0.005 and res["swap_mse_copy_content_clip"] > 0.005
    assert swaps.reconstruction_mse(model, test, 12, "cpu") == 0.0


def test_shards_read_in_place_find_their_dataset_and_copied_ones_say_what_to_pass(mm, tmp_path):
    """`vidshard eval --data DIR/train-{...}.tar` still reaches the manifest (the judge's splits, the assets);
    shards copied out of the directory get a one-line error from the judge, not a traceback."""
    from trainers.eval import judge as judges
    from vidshard.errors import UsageError
    root = Path(mm[0])
    shards = sorted(root.glob("train-*.tar"))
    assert eval_data.dataset_dir(str(root)) == root
    assert eval_data.dataset_dir(f"{root}/train-{{000000..000000}}.tar") == root
    assert eval_data.dataset_dir([str(p) for p in shards]) == root
    copied = tmp_path / shards[0].name
    shutil.copy(shards[0], copied)
    assert eval_data.dataset_dir(str(copied)) is None
    assert eval_data.dataset_dir([str(shards[0]), str(copied)]) is None   # two directories: which manifest?
    assert eval_data.dataset_dir(str(root / "nope.tar")) is None
    with pytest.raises(UsageError, match="nor shards inside one"):
        judges.judge_for(str(copied), 32)


def test_a_model_that_ignores_the_dynamic_code_scores_the_copy_baseline(mm):
    _, _, test = mm
    res = swaps.swap_scores(IgnoresDynamic(test), test, "cpu")
    assert res["swap_mse"] == pytest.approx(res["swap_mse_copy_content_clip"], rel=1e-9)
    assert res["swap_mse"] > 0.005


def test_the_analogy_grid_puts_row_content_with_column_pose(mm):
    _, _, test = mm
    model = Oracle(test)
    static = swaps.stacked(test[:3], 1, "cpu")
    dynamic = torch.stack([eval_data.to_tensor(test[j][1][5]) for j in (3, 4)])
    grid = figures.analogy_grid(model, static, dynamic)
    H = 33  # 32 px + 1 px separator
    assert grid.shape == (3, 4 * H, 3 * H)
    for i in range(3):
        for k, j in enumerate((3, 4)):
            cell = grid[:, (i + 1) * H:(i + 1) * H + 32, (k + 1) * H:(k + 1) * H + 32]
            truth = eval_data.to_tensor(counterfactual(test[i][2], test[j][2])[5])
            assert torch.equal(cell, truth)
    assert torch.equal(grid[:, H:H + 32, :32], static[0, 0])  # column 0: the content frames


class LabelCodes(torch.nn.Module):
    """Static code: one-hot digit pair + noise; dynamic code: the digits' (sorted) positions + noise. Probes must
    read each factor from its own code and not from the other."""
    static_from = "frame"

    def __init__(self, clips: list):
        super().__init__()
        self.oracle = Oracle(clips)
        self.clips = clips
        pairs = sorted({tuple(sorted(m["digit_classes"])) for _, _, m in clips})
        self.pair_id = {p: i for i, p in enumerate(pairs)}
        self.g = torch.Generator().manual_seed(0)

    def encode_static(self, frames):
        idx = self.oracle.lookup(frames[:, :1])[:, 0].long()
        ids = [self.pair_id[tuple(sorted(self.clips[i][2]["digit_classes"]))] for i in idx]
        onehot = torch.nn.functional.one_hot(torch.tensor(ids), len(self.pair_id)).float()
        return onehot + 0.1 * torch.randn(onehot.shape, generator=self.g)

    def encode_dynamic(self, frames):
        ct = self.oracle.lookup(frames).long()
        pos = torch.tensor(np.concatenate([position_targets(self.clips[c][2], [int(t)]) for c, t in ct]),
                           dtype=torch.float32)
        return (pos + 0.1 * torch.randn(pos.shape, generator=self.g)).view(*frames.shape[:2], -1)


def test_probes_read_each_factor_from_the_code_that_carries_it(mm):
    _, train, test = mm
    model = LabelCodes(train + test)
    res = probes.probe_report(model, train, test, 12, "cpu", "logistic", ("content", "pose"))
    digits = res["probe_digits"]
    assert digits["content_acc"] > 0.5 and digits["pose_acc"] < digits["chance"] + 0.1, digits
    assert res["position_r2_pose"] > 0.95 and res["position_r2_content"] < 0.1, res
    assert res["probe_frames"] == [0, 4, 7, 11]


def test_position_targets_follow_the_channels_that_tell_digits_apart():
    """Channel-coloured digits are told apart by their channel, so the target is each digit's (x, y) in
    channel order, whatever order the clip lists them in, and an exact linear code of the two positions
    scores R² 1; the order-free sorted target (other colourings) caps that code near 0.75."""
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 20, (400, 2, 2))                   # 400 clips of one frame, 2 digits, (x, y)
    metas = [{"generator": "moving-mnist", "color_mode": "channel", "color_ids": [1, 0], "positions": p[None].tolist()}
             for p in pos]
    got = np.concatenate([position_targets(m, [0]) for m in metas])
    np.testing.assert_allclose(got, pos[:, ::-1].reshape(400, 4))
    exact = pos.reshape(400, 4)
    assert probes.ridge_r2(exact[:300], got[:300], exact[300:], got[300:], lam=1e-6) > 0.999
    palette = [{**m, "color_mode": "palette"} for m in metas]
    sorted_xy = np.concatenate([position_targets(m, [0]) for m in palette])
    assert (np.diff(sorted_xy.reshape(400, 2, 2), axis=1) >= 0).all()
    assert 0.6 < probes.ridge_r2(exact[:300], sorted_xy[:300], exact[300:], sorted_xy[300:], lam=1e-6) < 0.85


def test_codes_index_and_repeat_tuples_and_tensors_alike():
    a, b = torch.arange(6).view(3, 2), torch.arange(3)[:, None, None].float()
    assert torch.equal(codes.take(a, [2, 0]), a[[2, 0]])
    t = codes.take((a, b), [1])
    assert torch.equal(t[0], a[[1]]) and torch.equal(t[1], b[[1]])
    r = codes.repeat((a, b), 2)
    assert torch.equal(codes.vector(r), a.repeat_interleave(2, 0)) and r[1].shape == (6, 1, 1)
    assert torch.equal(codes.cat([a, a]), torch.cat([a, a])) and codes.size((a, b)) == 3
    assert torch.equal(codes.with_vector((a, b), a + 1)[0], a + 1)


def test_learning_curves_read_every_evaluation_of_a_run_and_keep_the_last_of_a_repeated_step(tmp_path, capsys):
    from trainers.eval import curves
    run = tmp_path / "run"
    run.mkdir()
    records = [{"step": 10, "loss": 1.0}, {"step": 10, "eval": {"probe_digits/content_acc": 0.1}},
               {"step": 20, "eval": {"probe_digits/content_acc": 0.2}},
               {"step": 20, "eval": {"probe_digits/content_acc": 0.3}}]  # resumed: step 20 logged again
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert curves.eval_records(run) == [(10, {"probe_digits/content_acc": 0.1}), (20, {"probe_digits/content_acc": 0.3})]
    assert curves.main([str(run), "--metrics", "probe_digits/content_acc", "--out", str(tmp_path / "c.png")]) == 0
    assert "step 20  probe_digits/content_acc=0.3" in capsys.readouterr().out
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert curves.main([str(tmp_path / "nowhere"), "--metrics", "x"]) == 2


def test_eval_recipe_options_are_typed_by_their_defaults_and_unknown_keys_refused():
    # `vidshard eval MODEL RUN KEY=VALUE`: a recipe's keyword options, typed as their defaults; anything
    # else is a one-line usage error that names the options there are
    from trainers.evaluate import recipe_options
    from vidshard.errors import UsageError
    assert recipe_options("framegan", ["n_videos=300", "seed=2"]) == {"n_videos": 300, "seed": 2}
    assert recipe_options("vsgan", []) == {}
    assert recipe_options("drnet", ["assets=../shared/data/mnist"]) == {"assets": "../shared/data/mnist"}
    with pytest.raises(UsageError, match="one of n_videos, seed"):
        recipe_options("framegan", ["videos=3"])
    with pytest.raises(UsageError, match="n_videos: expected an integer"):
        recipe_options("framegan", ["n_videos=many"])
    with pytest.raises(UsageError, match="not an option"):
        recipe_options("framegan", ["model=x"])   # the recipe's positional inputs are not options
