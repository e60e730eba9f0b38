"""vidshard inspect: summaries and clip dumps."""
from __future__ import annotations

import numpy as np
from PIL import Image

from shards import ShardWriter, write_manifest
from shards.inspect import main


def _dataset(root):
    with ShardWriter(root, "train-000000") as w:
        for i in range(4):
            frames = np.full((5, 10, 12, 3), 40 * i, np.uint8)
            frames[:, 0, :, :] = np.arange(5)[:, None, None] * 50  # a moving edge, so GIF frames differ
            w.add(f"vid_t0_c{i}", frames, {"source_id": "vid", "source_path": "mem", "track": 0, "clip": i,
                                          "frame_indices": list(range(5)), "fps": 5.0, "digit": i % 2})
    write_manifest(root, name="demo", config={"seed": 3}, shard_splits={"train": ["train-000000"]})


def test_dataset_and_shard_summary(tmp_path, capsys):
    _dataset(tmp_path)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 shards, 4 clips" in out and "5×10×12×3 (4)" in out
    assert "digit: 2 distinct value(s)" in out
    assert main([str(tmp_path / "train-000000.tar")]) == 0
    assert "clips read: 4" in capsys.readouterr().out


def test_dump_gif_and_png(tmp_path):
    _dataset(tmp_path)
    assert main([str(tmp_path), "--dump", "vid_t0_c2", "--out", str(tmp_path / "c.gif")]) == 0
    gif = Image.open(tmp_path / "c.gif")
    assert gif.n_frames == 5 and min(gif.size) >= 128
    assert main([str(tmp_path), "--dump", "vid_t0_c2", "--out", str(tmp_path / "c.png")]) == 0
    strip = np.asarray(Image.open(tmp_path / "c.png"))
    assert strip.shape[1] > 4 * strip.shape[0]  # five frames side by side
    assert int(np.median(strip)) == 80  # clip 2's pixel value, not another clip's


def test_errors_are_one_line(tmp_path, capsys):
    _dataset(tmp_path)
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(tmp_path), "--dump", "nokey", "--out", str(tmp_path / "x.gif")]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and "no clip with key 'nokey'" in err
