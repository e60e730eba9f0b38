"""`vidshard synth`: write a synthetic dataset (Moving MNIST, bouncing balls, Sprites) as versioned shards.

The plan is fixed by the options alone: split sizes from --clips and --split, shards of --shard-size
clips per split (train-000000, ...), and each clip drawn from its own RNG seeded by (seed, split, index).
So shards are independent (a resumed or parallel run writes the same names and bytes) and the version,
written last, gets the same id for the same options and assets. Assets are identified by their
sha256, never their path: the asset directory goes in the manifest's `synthetic` entry, outside the
versioned config (like --out). The build (resume, the store, versions) is shards/build.py's, shared with
`vidshard prepare`: a shard whose clips were written before (same settings and clip range) is reused,
so growing --clips writes only the shards that change.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from vidshard.cli import entry

from .common import GENERATORS, SPLIT_IDS, SynthError, clip_rng, generator, split_counts

FPS = 10.0  # nominal playback rate recorded in every clip (the generators have no real time base)
SHORT = {"moving-mnist": "mnist", "balls": "balls", "sprites": "sprites"}  # key prefixes (no dots/dashes)

EXAMPLES = """examples:
  vidshard synth balls --out data/balls --clips 64 --frames 30 --seed 0
  vidshard synth balls --out data/balls3 --clips 100000 --balls 3 --shard-size 2000 --workers 2
  vidshard synth moving-mnist --out data/mmnist --clips 10000 --mnist ../shared/data/mnist
  vidshard synth moving-mnist --out data/mm32 --clips 5000 --mnist ../shared/data/mnist --size 32 --colors palette
  vidshard synth sprites --out data/sprites --clips 9000 --sprites ../shared/data/sprites/li_mandt

A rerun resumes: shards whose clips are already stored (same settings and clip range) are reused, also
when --clips grows; other options make another version in the same directory (`vidshard log DIR`).
Labels per clip (content vs pose keys): docs/SYNTHETIC.md."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidshard synth", description=__doc__.split("\n\n")[0],
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="generator", required=True, metavar="{" + ",".join(GENERATORS) + "}")
    for name in GENERATORS:
        mod = generator(name)
        g = sub.add_parser(name, help=mod.__doc__.split("\n")[0], description=mod.__doc__,
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
        g.add_argument("--out", required=True, metavar="DIR", help="dataset directory or fsspec URL (created; "
                       "keeps every version built into it: docs/FORMAT.md)")
        g.add_argument("--clips", type=int, required=True, help="clips in all splits together")
        g.add_argument("--frames", type=int, default=mod.DEFAULT_FRAMES,
                       help=f"frames per clip (default: {mod.DEFAULT_FRAMES})")
        g.add_argument("--seed", type=int, default=0, help="base seed; clip i of split s uses "
                       "SeedSequence([seed, s, i]) (default: 0)")
        g.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test weights, train > 0, scaled to sum "
                       "to 1 (default: 0.8,0.1,0.1); val and test sizes are rounded, train takes the rest. Sprites "
                       "characters and MNIST digit images are dealt to the splits by the same fractions, so "
                       "no split shares one with another")
        g.add_argument("--shard-size", type=int, default=1000, metavar="CLIPS",
                       help="clips per shard (default: 1000)")
        g.add_argument("--name", default=None, help=f"dataset name in the manifest (default: synth-{name})")
        g.add_argument("--workers", type=int, default=1, help="processes writing shards in parallel; the "
                       "bytes do not depend on it (default: 1)")
        g.add_argument("--overwrite", action="store_true", help="write every shard again instead of reusing "
                       "stored ones (the same options give the same bytes)")
        mod.add_args(g)
    return p


def parse_split(value: str) -> list[float]:
    """The one reading of --split (shards.build.parse_split): train,val,test weights scaled to sum to 1."""
    from shards.build import parse_split as parse
    try:
        return list(parse(value))
    except ValueError as e:
        raise SynthError(str(e)) from None


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


CLIP_KEYS = ("generator", "frames", "seed", "fps", "options")  # what a clip's bytes depend on (not --clips)


def plan_units(config: dict, shard_size: int) -> list:
    """The plan as build units. A unit's recipe is the clip settings and its clip range, never --clips: a
    grown dataset reuses every full shard it had (clip i of split s is the same whatever the total)."""
    from shards.build import Unit, recipe_key
    clip_config = {k: config[k] for k in CLIP_KEYS}
    return [Unit(name, split, recipe_key("synth", clip_config, split, start, count),
                 {"split": split, "start": start, "count": count}, weight=count)
            for name, split, start, count in plan_shards(config["split_counts"], shard_size)]


def fill_shard(unit: dict, w, context: dict) -> None:
    """One shard's clips (the build's work function; runs in a worker process when --workers > 1)."""
    config, assets, job = context["config"], context["assets"], unit["job"]
    mod = generator(config["generator"])
    for index in range(job["start"], job["start"] + job["count"]):
        key, meta = clip_meta(config, job["split"], index, assets)
        w.add(key, mod.render(meta, assets), meta)
    w.extra.update({"generator": config["generator"], "split": job["split"], "first_index": job["start"]})


def run(args):
    """Write the missing shards, then the version (shards.build). Returns the BuildResult."""
    from shards.store import Store
    config, assets, summary = resolve_config(args)
    assets = None if assets is None else str(assets)
    for split, n in config["split_counts"].items():  # a split that cannot be drawn fails before any writing
        if n:
            clip_meta(config, split, 0, assets)
    store = Store(args.out)
    with store.lock("build"):   # a second build into this directory refuses before it draws anything
        return _run(args, store, config, assets, summary)


def _run(args, store, config: dict, assets: str | None, summary: dict):
    from tqdm import tqdm
    from shards.build import build, executor_for
    units = plan_units(config, args.shard_size)
    bar = tqdm(total=args.clips, unit="clip", desc=f"synth {args.generator}", disable=None, file=sys.stderr)
    mod = generator(args.generator)
    result = build(store, units, "pipelines.synthetic.cli:fill_shard", name=args.name or f"synth-{args.generator}",
                   config=config, executor=executor_for(args.workers), context={"config": config, "assets": assets},
                   overwrite=args.overwrite, software=("pillow",), splits=tuple(SPLIT_IDS),
                   extra={"synthetic": {"generator": args.generator, "content_keys": list(mod.CONTENT_KEYS),
                                        "pose_keys": list(mod.POSE_KEYS),
                                        **({"assets_dir": assets} if assets else {}), **summary}},
                   planned=lambda todo, reused: bar.update(args.clips - sum(u.job["count"] for u in todo)),
                   on_unit=lambda unit, record: bar.update(record["samples"]))
    bar.close()
    return result


def synth_command(argv) -> int:
    """`vidshard synth`: a SynthError or StoreError is one line, exit 2 (vidshard.cli.run); a shard that
    failed leaves no version (exit 1)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2): return the code, tests call main in-process
        return int(e.code or 0)
    result = run(args)
    if result.manifest is None:
        for name, why in sorted(result.failed.items()):
            print(f"vidshard synth: shard {name} failed: {why}", file=sys.stderr)
        print(f"vidshard synth: no version written; rerun the same command to resume", file=sys.stderr)
        return 1
    m = result.manifest
    per_split = ", ".join(f"{s} {v['samples']}" for s, v in m["splits"].items())
    print(f"{m['name']} version {m['version']}: {per_split} clips in {m['totals']['shards']} shards "
          f"({len(result.written)} written, {len(result.reused)} reused, {len(result.dropped)} dropped) -> {args.out}")
    return 0


main = entry("synth")
