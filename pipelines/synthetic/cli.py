"""`vidshard synth`: write a synthetic dataset (Moving MNIST, bouncing balls, Sprites) as versioned shards.

The plan is fixed by the options alone: split sizes from --clips and --split, shards of --shard-size
clips per split (train-000000, ...), and each clip drawn from its own RNG seeded by (seed, split, index).
So shards are independent (a resumed or parallel run writes the same names and bytes) and the manifest,
written last, gets the same version for the same options and assets. Assets are identified by their
sha256, never their path: the asset directory goes in the manifest's `synthetic` entry, outside the
versioned config (like --out).
"""
from __future__ import annotations

import argparse
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .common import GENERATORS, SPLIT_IDS, SynthError, clip_rng, generator, split_counts

FPS = 10.0  # nominal playback rate recorded in every clip (the generators have no real time base)
SHORT = {"moving-mnist": "mnist", "balls": "balls", "sprites": "sprites"}  # key prefixes (no dots/dashes)

EXAMPLES = """examples:
  vidshard synth balls --out data/balls --clips 64 --frames 30 --seed 0
  vidshard synth balls --out data/balls3 --clips 100000 --balls 3 --shard-size 2000 --workers 2
  vidshard synth moving-mnist --out data/mmnist --clips 10000 --mnist ../shared/data/mnist
  vidshard synth moving-mnist --out data/mm32 --clips 5000 --mnist ../shared/data/mnist --size 32 --colors palette
  vidshard synth sprites --out data/sprites --clips 9000 --sprites ../shared/data/sprites/li_mandt

A rerun with the same options skips complete shards (resume); --overwrite rewrites them.
Labels per clip (content vs pose keys): docs/SYNTHETIC.md."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidshard synth", description=__doc__.split("\n\n")[0],
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="generator", required=True, metavar="{" + ",".join(GENERATORS) + "}")
    for name in GENERATORS:
        mod = generator(name)
        g = sub.add_parser(name, help=mod.__doc__.split("\n")[0], description=mod.__doc__,
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
        g.add_argument("--out", required=True, metavar="DIR", help="dataset directory (created; holds the shards "
                       "and manifest.json)")
        g.add_argument("--clips", type=int, required=True, help="clips in all splits together")
        g.add_argument("--frames", type=int, default=mod.DEFAULT_FRAMES,
                       help=f"frames per clip (default: {mod.DEFAULT_FRAMES})")
        g.add_argument("--seed", type=int, default=0, help="base seed; clip i of split s uses "
                       "SeedSequence([seed, s, i]) (default: 0)")
        g.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions summing to 1 "
                       "(default: 0.8,0.1,0.1); val and test sizes are rounded, train takes the rest. Sprites "
                       "characters and MNIST digit images are dealt to the splits by the same fractions, so "
                       "no split shares one with another")
        g.add_argument("--shard-size", type=int, default=1000, metavar="CLIPS",
                       help="clips per shard (default: 1000)")
        g.add_argument("--name", default=None, help=f"dataset name in the manifest (default: synth-{name})")
        g.add_argument("--workers", type=int, default=1, help="processes writing shards in parallel; the "
                       "bytes do not depend on it (default: 1)")
        g.add_argument("--overwrite", action="store_true", help="rewrite shards that are already complete")
        mod.add_args(g)
    return p


def parse_split(value: str) -> list[float]:
    try:
        fractions = [float(s) for s in value.split(",")]
    except ValueError:
        fractions = []
    if len(fractions) != 3 or any(not 0 <= f <= 1 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise SynthError(f"--split {value!r}: need three fractions train,val,test in [0, 1] summing to 1, "
                         f"e.g. 0.8,0.1,0.1")
    return fractions


def plan_shards(counts: dict[str, int], shard_size: int) -> list[tuple[str, str, int, int]]:
    """(shard name, split, first clip index, clip count) in plan order."""
    from shards import shard_name
    plan = []
    for split, n in counts.items():
        for i in range(math.ceil(n / shard_size)):
            start = i * shard_size
            plan.append((shard_name(split, i), split, start, min(shard_size, n - start)))
    return plan


def resolve_config(args) -> tuple[dict, Path | None, dict]:
    """(config: every option that affects the bytes, not --out, --overwrite, --workers, --name nor where
    the assets are; the asset directory or None; the generator's summary for the manifest)."""
    if args.clips < 1:
        raise SynthError(f"--clips {args.clips}: need at least 1 clip")
    if args.frames < 1:
        raise SynthError(f"--frames {args.frames}: need at least 1 frame")
    if args.seed < 0:
        raise SynthError(f"--seed {args.seed}: must be >= 0")
    if args.shard_size < 1:
        raise SynthError(f"--shard-size {args.shard_size}: need at least 1 clip per shard")
    if args.workers < 1:
        raise SynthError(f"--workers {args.workers}: need at least 1")
    fractions = parse_split(args.split)
    opts, assets, summary = generator(args.generator).options(args, fractions)
    config = {
        "generator": args.generator, "clips": args.clips, "frames": args.frames, "seed": args.seed,
        "split": fractions, "split_counts": split_counts(args.clips, fractions), "shard_size": args.shard_size,
        "fps": FPS, "options": opts,
    }
    return config, assets, summary


def clip_meta(config: dict, split: str, index: int, assets: str | None = None) -> tuple[str, dict]:
    """The sample key and json of one clip: provenance, then the generator's labels."""
    from shards import make_key
    gen = config["generator"]
    labels = generator(gen).sample(clip_rng(config["seed"], split, index), config["frames"], config["options"],
                                   split, assets)
    source_id = f"{SHORT[gen]}{split}{index:07d}"
    meta = {
        "source_id": source_id, "source_path": f"synthetic:{gen}", "track": 0, "clip": 0,
        "frame_indices": list(range(config["frames"])), "fps": config["fps"],
        "generator": gen, "split": split, "index": index, "seed": config["seed"],
        **labels,
    }
    return make_key(source_id, 0, 0), meta


def write_shard(out: str, name: str, split: str, start: int, count: int, config: dict, cfg_hash: str,
                assets: str | None = None) -> int:
    """Write one shard (runs in a worker process when --workers > 1). Returns its clip count."""
    from shards import ShardWriter
    mod = generator(config["generator"])
    with ShardWriter(out, name) as w:
        for index in range(start, start + count):
            key, meta = clip_meta(config, split, index, assets)
            w.add(key, mod.render(meta, assets), meta)
        w.extra.update({"config_hash": cfg_hash, "generator": config["generator"], "split": split,
                        "first_index": start})
    return count


def check_existing(out: Path, plan, cfg_hash: str, overwrite: bool) -> list:
    """The shards still to write; refuses to mix in complete shards made under another config."""
    from shards import is_done, resumable
    todo = []
    for item in plan:
        name = item[0]
        if not overwrite and resumable(out, name, cfg_hash):
            continue
        if not overwrite and is_done(out, name):
            raise SynthError(f"{out / name}.tar was written with other options; pass --overwrite or another --out")
        todo.append(item)
    return todo


def run(args) -> tuple[dict, int, int]:
    """Write the missing shards, then the manifest. Returns (manifest, shards written, shards resumed)."""
    from tqdm import tqdm
    from shards import config_hash, write_manifest
    config, assets, summary = resolve_config(args)
    assets = None if assets is None else str(assets)
    cfg_hash = config_hash(config)
    out = Path(args.out)
    for split, n in config["split_counts"].items():  # a split that cannot be drawn fails before any writing
        if n:
            clip_meta(config, split, 0, assets)
    plan = plan_shards(config["split_counts"], args.shard_size)
    todo = check_existing(out, plan, cfg_hash, args.overwrite)
    done_clips = sum(c for *_, c in plan) - sum(c for *_, c in todo)
    bar = tqdm(total=args.clips, initial=done_clips, unit="clip", desc=f"synth {args.generator}",
               disable=None, file=sys.stderr)
    jobs = [(str(out), name, split, start, count, config, cfg_hash, assets) for name, split, start, count in todo]
    if args.workers == 1:
        for job in jobs:
            bar.update(write_shard(*job))
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            for n in pool.map(write_shard, *zip(*jobs)) if jobs else ():
                bar.update(n)
    bar.close()
    mod = generator(args.generator)
    shard_splits = {s: [name for name, split, *_ in plan if split == s] for s in SPLIT_IDS}
    manifest = write_manifest(out, name=args.name or f"synth-{args.generator}", config=config,
                              shard_splits=shard_splits, software=("pillow",),
                              extra={"synthetic": {"generator": args.generator,
                                                   "content_keys": list(mod.CONTENT_KEYS),
                                                   "pose_keys": list(mod.POSE_KEYS),
                                                   **({"assets_dir": assets} if assets else {}),
                                                   **summary}})
    return manifest, len(todo), len(plan) - len(todo)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2): return the code, tests call main in-process
        return int(e.code or 0)
    try:
        m, written, resumed = run(args)
    except SynthError as e:
        print(f"vidshard synth: {e}", file=sys.stderr)
        return 2
    per_split = ", ".join(f"{s} {v['samples']}" for s, v in m["splits"].items())
    print(f"{m['name']} version {m['version']}: {per_split} clips in {m['totals']['shards']} shards "
          f"({written} written, {resumed} resumed) -> {args.out}")
    return 0
