"""The `vidshard` command: a thin dispatcher to the three packages.

Each subcommand lives in the package that owns the work and exposes main(argv) -> exit code, so tests
call it in-process. Imports are lazy: `vidshard verify` never loads Ray, mediapipe or torch.
"""
from __future__ import annotations

import importlib
import os
import sys

COMMANDS = {
    # name: (module, function, one-line help)
    "prepare": ("pipelines.prepare", "main", "raw videos -> tracked face clips -> shards (Ray, or local processes)"),
    "synth": ("pipelines.synthetic.cli", "main", "generate Moving MNIST, bouncing balls or Sprites shards"),
    "inspect": ("shards.inspect", "main", "summarize a dataset or shard; --dump KEY writes one clip as GIF/PNG"),
    "verify": ("shards.manifest", "verify_main", "recheck every shard hash and sample count against the manifest"),
    "diff": ("shards.manifest", "diff_main", "compare two dataset versions: config, sources and clips, shards"),
    "log": ("shards.versions", "log_main", "the versions kept in a dataset directory and what each changed"),
    "tag": ("shards.versions", "tag_main", "name a version: DIR@NAME then reads it"),
    "gc": ("shards.versions", "gc_main", "remove shards and cache entries no kept version uses"),
    "upgrade": ("shards.versions", "upgrade_main", "convert a format-1 dataset directory to format 2 (same version)"),
    "report": ("pipelines.report", "main", "one static HTML page about a dataset: sources, reasons, clips, tracks"),
    "train": ("trainers.train", "main", "train a model on shards (one process; torchrun for DDP)"),
    "eval": ("trainers.evaluate", "main", "evaluate a trained run (writes eval.json and images)"),
}

USAGE = """usage: vidshard COMMAND [options]   (vidshard COMMAND --help for details)

commands:
{commands}

A dataset is read as DIR (its current version), DIR@VERSION or DIR@TAG wherever one is read.
Docs: README.md, docs/FORMAT.md (shard format, versions), docs/BENCHMARKS.md."""


def usage() -> str:
    return USAGE.format(commands="\n".join(f"  {n:<9} {h}" for n, (_, _, h) in COMMANDS.items()))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from . import __version__
        print(f"vidshard {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"vidshard: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    try:
        entry = getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as e:
        print(f"vidshard {name}: not available in this install ({e})", file=sys.stderr)
        return 2
    try:
        rc = entry(rest)
    except BrokenPipeError:
        # `vidshard inspect D --keys | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(rc or 0)
