"""The dataset manifest: version, provenance, shard list and splits; verify and diff.

manifest.json is written last, once every shard has its stats file. The version is a hash over the
resolved config and the shard hashes, so the same inputs and config give the same version, and any
change of either gives a new one. Layout: docs/FORMAT.md.
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

from .reader import ShardError, count_samples
from .sample import encode_json
from .writer import read_stats, sha256_file, shard_paths, write_json_atomic

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")


class ManifestError(ValueError):
    pass


def dataset_version(config: dict, shards: list[dict]) -> str:
    """16 hex digits over the canonical config and the ordered (name, sha256) of every shard."""
    payload = {"format": FORMAT_VERSION, "config": config, "shards": [[s["name"], s["sha256"]] for s in shards]}
    return hashlib.sha256(encode_json(payload)).hexdigest()[:16]


def software_versions(extra: tuple[str, ...] = ()) -> dict:
    versions = {"python": platform.python_version()}
    for dist in ("vidshard", "numpy", "webdataset", *extra):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def load_manifest(root: str | Path) -> dict:
    path = Path(root) / MANIFEST
    if not path.exists():
        raise ManifestError(f"{root}: no {MANIFEST} (not a vidshard dataset, or the build did not finish)")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON: {e}") from e


def write_manifest(root: str | Path, *, name: str, config: dict, shard_splits: dict[str, list[str]],
                   parent: str | None = None, software: tuple[str, ...] = (), extra: dict | None = None,
                   stats_only: bool = False) -> dict:
    """Collect every shard's stats and write manifest.json (atomically). Returns the manifest.

    shard_splits maps split -> shard names in plan order. Raises ManifestError if a shard is not done.
    stats_only: the tars live elsewhere (a bucket the caller has checked against the stats) and only
    the stats files are in `root`; everything the manifest says comes from the stats anyway.
    """
    root = Path(root)
    shards, sources, failures, splits = [], [], [], {}
    for split, names in shard_splits.items():
        split_samples = 0
        for shard_name in names:
            tar, stats_path = shard_paths(root, shard_name)
            if not ((stats_only or tar.exists()) and stats_path.exists()):
                raise ManifestError(f"shard {shard_name} is not complete ({tar} or its stats file is missing)")
            st = read_stats(root, shard_name)
            shards.append({"name": shard_name, "file": tar.name, "split": split, "sha256": st["sha256"],
                           "samples": st["samples"], "bytes": st["bytes"]})
            sources += [{**s, "shard": shard_name, "split": split} for s in st.get("sources", [])]
            failures += [{**f, "shard": shard_name} for f in st.get("failures", [])]
            split_samples += st["samples"]
        splits[split] = {"shards": list(names), "samples": split_samples}
    version = dataset_version(config, shards)
    previous = _previous(root)
    if parent is None and previous is not None:
        parent = previous.get("parent") if previous.get("version") == version else previous.get("version")
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "parent": parent,
        "config": config,
        "software": software_versions(software),
        "sources": sources,
        "failures": failures,
        "shards": shards,
        "splits": splits,
        "totals": {"shards": len(shards), "samples": sum(s["samples"] for s in shards),
                   "bytes": sum(s["bytes"] for s in shards), "failures": len(failures)},
        **(extra or {}),
    }
    write_json_atomic(root / MANIFEST, manifest)
    return manifest


def _previous(root: Path) -> dict | None:
    try:
        return load_manifest(root)
    except ManifestError:
        return None


def verify(root: str | Path, deep: bool = True) -> list[str]:
    """Every problem found, one line each naming the shard; an empty list means the dataset is intact."""
    root = Path(root)
    manifest = load_manifest(root)
    problems = []
    for s in manifest["shards"]:
        path = root / s["file"]
        if not path.exists():
            problems.append(f"{s['name']}: missing ({path})")
            continue
        size = path.stat().st_size
        if size != s["bytes"]:
            problems.append(f"{s['name']}: size {size} bytes, manifest says {s['bytes']}")
        digest = sha256_file(path)
        if digest != s["sha256"]:
            problems.append(f"{s['name']}: sha256 {digest[:12]}… does not match manifest {s['sha256'][:12]}…")
        if deep:
            try:
                n = count_samples(path)
                if n != s["samples"]:
                    problems.append(f"{s['name']}: {n} samples, manifest says {s['samples']}")
            except ShardError as e:
                problems.append(f"{s['name']}: {e}")
    expected = dataset_version(manifest["config"], manifest["shards"])
    if expected != manifest["version"]:
        problems.append(f"manifest: version {manifest['version']} does not match its config and shards ({expected})")
    return problems


def diff(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two manifests: config keys, shards added/removed/changed."""
    lines = [f"version {a['version']} -> {b['version']}"]
    ca, cb = _flatten(a["config"]), _flatten(b["config"])
    for k in sorted(set(ca) | set(cb)):
        if ca.get(k) != cb.get(k):
            lines.append(f"config {k}: {ca.get(k)!r} -> {cb.get(k)!r}")
    sa, sb = {s["name"]: s for s in a["shards"]}, {s["name"]: s for s in b["shards"]}
    for n in sorted(set(sa) - set(sb)):
        lines.append(f"shard removed: {n}")
    for n in sorted(set(sb) - set(sa)):
        lines.append(f"shard added: {n} ({sb[n]['samples']} samples)")
    for n in sorted(set(sa) & set(sb)):
        if sa[n]["sha256"] != sb[n]["sha256"]:
            lines.append(f"shard changed: {n} ({sa[n]['samples']} -> {sb[n]['samples']} samples)")
    ta, tb = a["totals"], b["totals"]
    lines.append(f"samples {ta['samples']} -> {tb['samples']}, bytes {ta['bytes']} -> {tb['bytes']}")
    return lines


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def verify_main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="vidshard verify",
                                description="Recheck every shard's sha256, size and sample count against manifest.json. "
                                            "Exit 0 if intact, 1 naming each bad or missing shard, 2 if DIR is not a dataset.")
    p.add_argument("dir", help="dataset directory (the one holding manifest.json)")
    p.add_argument("--quick", action="store_true", help="hashes and sizes only; skip re-reading every sample")
    args = p.parse_args(argv)
    if not Path(args.dir).is_dir():
        print(f"vidshard verify: {args.dir}: no such directory", file=sys.stderr)
        return 2
    try:
        problems = verify(args.dir, deep=not args.quick)
        manifest = load_manifest(args.dir)
    except ManifestError as e:
        print(f"vidshard verify: {e}", file=sys.stderr)
        return 2
    for line in problems:
        print(f"BAD {line}")
    t = manifest["totals"]
    status = "FAILED" if problems else "OK"
    print(f"{status}: {args.dir} version {manifest['version']}: {t['shards']} shards, {t['samples']} samples, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


def diff_main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="vidshard diff", description="Compare two dataset versions (directories with manifest.json).")
    p.add_argument("a")
    p.add_argument("b")
    args = p.parse_args(argv)
    try:
        lines = diff(load_manifest(args.a), load_manifest(args.b))
    except ManifestError as e:
        print(f"vidshard diff: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
