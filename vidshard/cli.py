"""The `vidshard` command: a thin dispatcher to the three packages, and the one error policy.

Each subcommand lives in the package that owns the work, as a function COMMAND(argv) -> exit status that
raises a `vidshard.errors.VidshardError` for anything the user can fix. `run` is the one place exceptions
become exit statuses: a VidshardError prints one line and exits with its code (2 usage and input errors,
1 damaged data or a missing face model), a bug prints its traceback and exits 1. Each package's
`main(argv)` goes through `command(NAME, argv)`, so tests and `python -m` get the same policy in-process.
Imports are lazy: `vidshard verify` never loads Ray, mediapipe or torch.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback

from vidshard.errors import EXIT_ERROR, EXIT_USAGE, VidshardError

# name, module:function, one-line help
_TABLE = """
prepare  pipelines.prepare:prepare_command  raw videos -> tracked face clips -> shards (Ray, or local processes)
synth    pipelines.synthetic.cli:synth_command  generate Moving MNIST, bouncing balls or Sprites shards
inspect  shards.inspect:inspect_command  summarize a dataset or shard; --dump KEY writes one clip as GIF/PNG
verify   shards.manifest:verify_command  recheck every shard hash and sample count against the manifest
diff     shards.manifest:diff_command  compare two dataset versions: config, sources and clips, shards
log      shards.versions:log_command  the versions kept in a dataset directory and what each changed
tag      shards.versions:tag_command  name a version: DIR@NAME then reads it
gc       shards.versions:gc_command  remove shards and cache entries no kept version uses
upgrade  shards.versions:upgrade_command  convert a format-1 dataset directory to format 2 (same version)
report   pipelines.report:report_command  one static HTML page about a dataset: sources, reasons, clips, tracks
train    trainers.train:train_command  train a model on shards (one process; torchrun for DDP)
eval     trainers.evaluate:eval_command  evaluate a trained run (writes eval.json and images)
"""
COMMANDS: dict[str, tuple[str, str, str]] = {}
for _line in _TABLE.strip().splitlines():
    _name, _target, _help = _line.split(maxsplit=2)
    COMMANDS[_name] = (*_target.split(":"), _help)

USAGE = """usage: vidshard COMMAND [options]   (vidshard COMMAND --help for details)

commands:
{commands}

A dataset is read as DIR (its current version), DIR@VERSION or DIR@TAG wherever one is read.
Errors you can fix print one line (exit 2: usage, 1: damaged data or a missing face model); a bug prints
its traceback (exit 1). Docs: README.md, docs/FORMAT.md (shard format, versions), docs/BENCHMARKS.md."""


def usage() -> str:
    return USAGE.format(commands="\n".join(f"  {n:<9} {h}" for n, (_, _, h) in COMMANDS.items()))


def run(prog: str, body, argv) -> int:
    """body(argv) under the error policy (module docstring); returns the exit status."""
    try:
        return int(body(argv) or 0)
    except VidshardError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        # `vidshard inspect D --keys | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:  # noqa: BLE001 -- a bug: say where, in full
        traceback.print_exc()
        print(f"{prog}: unexpected error (a bug: the traceback above says where)", file=sys.stderr)
        return EXIT_ERROR


def command(name: str, argv: list[str] | None = None) -> int:
    """Run the subcommand `name` on argv (default: sys.argv[1:]) under the error policy."""
    module, func, _ = COMMANDS[name]
    try:
        body = getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as e:
        print(f"vidshard {name}: not available in this install ({e})", file=sys.stderr)
        return EXIT_USAGE
    return run(f"vidshard {name}", body, list(sys.argv[1:] if argv is None else argv))


def entry(name: str):
    """The `main(argv=None) -> exit status` of subcommand `name`, for its own module: tests call it
    in-process, `python -m` and torchrun run it, under the same error policy."""
    def main(argv: list[str] | None = None) -> int:
        return command(name, argv)
    main.__doc__ = f"`vidshard {name}` (vidshard.cli.command)."
    return main


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
        return EXIT_USAGE
    return command(name, rest)
