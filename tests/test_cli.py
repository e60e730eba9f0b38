"""The command's common ground: one error policy (vidshard.cli.run), the cache directory every part uses,
the one I/O module, and FaceConfig's flags generated from its fields."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from shards import ShardWriter, write_manifest
from vidshard import io
from vidshard.cli import main as cli
from vidshard.errors import DataError, InputError, SetupError, UsageError


def small_dataset(root: Path) -> Path:
    with ShardWriter(root, "train-000000") as w:
        for i in range(2):
            w.add(f"v{i}_t0_c0", np.full((3, 8, 8, 3), 30 * i, np.uint8),
                  {"source_id": f"v{i}", "source_path": "mem", "track": 0, "clip": 0, "frame_indices": [0, 1, 2],
                   "fps": 5.0})
    write_manifest(root, name="cli-test", config={"seed": 0}, shard_splits={"train": ["train-000000"]})
    return root


# ---- one error policy ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("exc, code", [(UsageError("bad flag"), 2), (InputError("not a dataset"), 2),
                                       (DataError("truncated shard"), 1), (SetupError("no face model"), 1)])
def test_errors_the_user_can_fix_are_one_line_with_their_exit_status(monkeypatch, capsys, exc, code):
    import shards.inspect as inspect

    def body(argv):
        raise exc
    monkeypatch.setattr(inspect, "inspect_command", body)
    assert cli(["inspect", "x"]) == code
    err = capsys.readouterr().err
    assert err == f"vidshard inspect: {exc}\n"


@pytest.mark.parametrize("name, module, function, argv", [
    ("train", "trainers.train", "resolve", ["drnet", "--data", "d"]),
    ("eval", "trainers.evaluate", "load_run", ["drnet", "run"]),
    ("inspect", "shards.inspect", "dataset_summary", None),
])
def test_a_bug_in_a_subcommand_exits_1_with_its_traceback(tmp_path, monkeypatch, capsys, name, module, function, argv):
    # train, eval and inspect used to turn a TypeError or KeyError into exit 2 and one line
    import importlib
    data = small_dataset(tmp_path / "data")

    def broken(*a, **k):
        return {}["a key the code forgot"] if name == "eval" else None + 1
    monkeypatch.setattr(importlib.import_module(module), function, broken)
    assert cli([name, *(argv or [str(data)])]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err   # it points at the bug
    assert ("KeyError" if name == "eval" else "TypeError") in err and "unexpected error (a bug" in err


def test_a_bug_exits_1_with_a_traceback_in_a_real_process(tmp_path):
    data = small_dataset(tmp_path / "data")
    code = ("import sys, shards.inspect as i\n"
            "i.summarize_samples = lambda samples: [s for s in samples][0]['no such field']\n"
            "from vidshard.cli import main\n"
            f"sys.exit(main(['inspect', {str(data)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "TypeError" in proc.stderr


def test_usage_errors_stay_one_line_exit_2(tmp_path, capsys):
    assert cli(["inspect", str(tmp_path / "missing")]) == 2
    assert cli(["train", "drnet", "--data", str(tmp_path / "missing")]) == 2
    assert cli(["eval", "drnet", str(tmp_path)]) == 2
    assert cli(["inspect", str(small_dataset(tmp_path / "d")), "--dump", "v0_t0_c0", "--out", str(tmp_path / "x.jpg")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and not any("Traceback" in line for line in err)
    assert err[0].startswith("vidshard inspect: ") and err[1].startswith("vidshard train: --data ")
    assert "no config.json" in err[2] and "use a .gif" in err[3]


def test_the_test_hook_is_read_in_one_place():
    # $VIDSHARD_TEST_FAULT: shards/faults.py reads it, everything else asks it
    from shards import faults
    assert faults.values("crash", "crash:train-000001,die:3,crash:val-000000") == {"train-000001", "val-000000"}
    assert faults.values("die", "crash:a,die:3") == {"3"} and faults.values("hang", None) == set()
    readers = [str(p.relative_to(ROOT)) for d in ("shards", "pipelines", "trainers", "vidshard")
               for p in (ROOT / d).rglob("*.py") if "VIDSHARD_TEST_FAULT" in p.read_text()]
    assert readers == ["shards/faults.py"]


# ---- the cache directory -------------------------------------------------------------------------------------

def test_vidshard_cache_moves_every_cache_and_staging_folder(tmp_path, monkeypatch):
    home, cache = tmp_path / "home", tmp_path / "cache"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VIDSHARD_CACHE", str(cache))
    from pipelines.faces import model
    from pipelines.synthetic import common
    from shards.store import Store
    from trainers.eval import judge
    assert model.cache_dir() == cache / "models" and model.cached_path("short").parent == cache / "models"
    assert judge.judge_dir() == cache / "judges"
    assert common.registry_dir() == cache / "synth-assets"
    url = "memory://vidshard-cache-test/balls"
    assert Store(url).tmp_dir().parent == cache / "staging"   # a remote --out stages its shards here
    # a real build into a URL stages there, notes its assets there, and leaves the home directory alone
    sprites = ROOT.parent / "shared" / "data" / "sprites" / "li_mandt"
    if sprites.is_dir():
        assert cli(["synth", "sprites", "--out", url, "--clips", "4", "--frames", "2", "--split", "1,0,0",
                    "--sprites", str(sprites)]) == 0
        assert any((cache / "synth-assets").iterdir())
    else:
        assert cli(["synth", "balls", "--out", url, "--clips", "4", "--frames", "2", "--split", "1,0,0"]) == 0
    assert (cache / "staging").is_dir() and not home.exists()
    monkeypatch.delenv("VIDSHARD_CACHE")
    assert model.cache_dir() == home / ".cache" / "vidshard" / "models"


def test_nothing_but_the_io_module_names_the_cache_folder():
    # where the cache is, is decided in one place: vidshard/io.py
    hits = [str(p.relative_to(ROOT)) for d in ("shards", "pipelines", "trainers", "vidshard", "bench")
            for p in (ROOT / d).rglob("*.py")
            if any(w in p.read_text() for w in ('".cache"', "'.cache'", 'environ.get("VIDSHARD_CACHE'))]
    assert hits == ["vidshard/io.py"]


# ---- the I/O module ------------------------------------------------------------------------------------------

def test_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path):
    path = tmp_path / "sub" / "f.json"
    io.atomic_write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_bytes() == b'{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'

    def half(f):
        f.write(b"half a file")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        io.atomic_write(path, write=half)
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.json"]   # no temp file left behind
    with pytest.raises(TypeError):
        io.atomic_write(path)


def test_hashes_urls_and_images(tmp_path):
    import hashlib
    from PIL import Image
    data = bytes(range(256)) * 5000
    (tmp_path / "x.bin").write_bytes(data)
    assert io.file_digest(tmp_path / "x.bin") == (hashlib.sha256(data).hexdigest(), len(data))
    assert io.sha256_file(f"file://{tmp_path / 'x.bin'}") == hashlib.sha256(data).hexdigest()
    assert io.is_url("s3://b/k") and not io.is_url("file:///tmp/x") and not io.is_url("data/x")
    assert io.local_path("file:///tmp/x") == "/tmp/x"
    frames = [np.full((4, 6, 1), v, np.uint8) for v in (0, 128, 255)]
    io.save_animation(frames, tmp_path / "a.gif", frame_ms=50, scale=2)
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 3 and gif.size == (12, 8) and gif.info["duration"] == 50
    io.save_image(frames[1], tmp_path / "a.png")
    assert np.asarray(Image.open(tmp_path / "a.png")).tolist() == np.full((4, 6), 128).tolist()


# ---- dataclass -> command line -------------------------------------------------------------------------------

def test_face_flags_come_from_the_fields_help_written_once(capsys):
    from pipelines import prepare
    from pipelines.faces import video
    from pipelines.faces.config import FaceConfig
    texts = {}
    for name, main in (("prepare", prepare.main), ("video", video.main)):
        with pytest.raises(SystemExit):
            main(["--help"])
        texts[name] = " ".join(capsys.readouterr().out.split())
    from vidshard.options import field_docs
    docs = field_docs(FaceConfig)
    assert set(docs) == {f.name for f in dataclasses.fields(FaceConfig)}   # every field has its help
    for f in dataclasses.fields(FaceConfig):
        flag, help_start = "--" + f.name.replace("_", "-"), " ".join(docs[f.name].split()[:6])
        for name, text in texts.items():
            assert flag in text and help_start in text, (name, f.name)
    args = prepare.build_parser().parse_args(["-i", "x", "-o", "y", "--detect-every", "none", "--gray",
                                              "--detector", "full", "--fps", "12.5", "--stride", "4"])
    cfg = prepare.face_config(args)
    assert (cfg.detect_every, cfg.gray, cfg.detector, cfg.fps, cfg.stride) == (None, True, "full", 12.5, 4)
    assert dataclasses.replace(cfg, detect_every=None, gray=False, detector="short", fps=None, stride=None) == FaceConfig()
    with pytest.raises(SystemExit):
        prepare.build_parser().parse_args(["-i", "x", "-o", "y", "--frames", "many"])
    assert "argument --frames: expected an integer, got 'many'" in capsys.readouterr().err


# ---- paths ---------------------------------------------------------------------------------------------------

def test_docs_and_code_name_no_absolute_path_of_this_machine():
    # ../shared/data/..., data/..., runs/...: paths relative to the repository, never a machine's own
    # absolute folders (the pattern below: the work and temporary roots); results JSON files included
    import re
    pattern = re.compile(r"(?<![\w$}.-])/(work|tmp)/")
    skip = {".venv", "runs", "data", "build", "dist", ".git", ".pytest_cache"}
    found = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in skip or not path.is_file() or path.name == "test_cli.py":
            continue
        if path.suffix in (".py", ".md", ".sh", ".txt", ".yaml") or (rel.parts[0] in ("docs", "bench") and path.suffix == ".json"):
            found += [f"{rel}:{n}" for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
                      if pattern.search(line)]
    assert found == []
