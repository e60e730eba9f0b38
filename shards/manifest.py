"""The dataset manifest: version, provenance, shard list and splits; verify and diff.

manifest.json is written last, once every shard has its stats file. The version is a hash over the
resolved config and the shard hashes, so the same inputs and config give the same version, and any
change of either gives a new one. Layout: docs/FORMAT.md.
"""
from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

from vidshard.cli import entry
from vidshard.errors import InputError
from vidshard.io import atomic_write_json, is_url, sha256_stream

from .reader import ShardError, iter_raw_samples
from .sample import encode_json
from .writer import read_stats, shard_paths

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")


class ManifestError(InputError):
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


def make_manifest(*, name: str, config: dict, shards: list[tuple[str, str, dict]], parent: str | None = None,
                  software: tuple[str, ...] = (), extra: dict | None = None, format_version: int = 1,
                  split_names: list[str] | None = None) -> dict:
    """The manifest of a version from its shards' stats, in plan order: (name, split, stats) each.
    split_names: the splits to list (in this order), with or without shards (default: those with shards).

    Format 2 adds where each shard is stored (`object`: store/<sha256>.tar); the version id does not depend
    on the format (dataset_version), so a format-1 dataset converted to format 2 keeps its version.
    """
    entries, sources, failures, splits = [], [], [], {}
    for shard_name, split, st in shards:
        entry = {"name": shard_name, "file": f"{shard_name}.tar", "split": split, "sha256": st["sha256"],
                 "samples": st["samples"], "bytes": st["bytes"]}
        if format_version >= 2:
            entry["object"] = f"store/{st['sha256']}.tar"
        entries.append(entry)
        sources += [{**s, "shard": shard_name, "split": split} for s in st.get("sources", [])]
        failures += [{**f, "shard": shard_name} for f in st.get("failures", [])]
        group = splits.setdefault(split, {"shards": [], "samples": 0})
        group["shards"].append(shard_name)
        group["samples"] += st["samples"]
    if split_names is not None:
        splits = {split: splits.get(split, {"shards": [], "samples": 0}) for split in split_names}
    return {
        "format_version": format_version,
        "name": name,
        "version": dataset_version(config, entries),
        "parent": parent,
        "config": config,
        "software": software_versions(software),
        "sources": sources,
        "failures": failures,
        "shards": entries,
        "splits": splits,
        "totals": {"shards": len(entries), "samples": sum(s["samples"] for s in entries),
                   "bytes": sum(s["bytes"] for s in entries), "failures": len(failures)},
        **(extra or {}),
    }


def write_manifest(root: str | Path, *, name: str, config: dict, shard_splits: dict[str, list[str]],
                   parent: str | None = None, software: tuple[str, ...] = (), extra: dict | None = None,
                   stats_only: bool = False) -> dict:
    """Format 1: collect every shard's stats in `root` and write manifest.json (atomically). Returns it.

    shard_splits maps split -> shard names in plan order (a split without shards is kept, empty). Raises
    ManifestError if a shard is not done. stats_only: the tars live elsewhere (a bucket the caller has
    checked against the stats) and only the stats files are in `root`.
    """
    root = Path(root)
    shards = []
    for split, names in shard_splits.items():
        for shard_name in names:
            tar, stats_path = shard_paths(root, shard_name)
            if not ((stats_only or tar.exists()) and stats_path.exists()):
                raise ManifestError(f"shard {shard_name} is not complete ({tar} or its stats file is missing)")
            shards.append((shard_name, split, read_stats(root, shard_name)))
    manifest = make_manifest(name=name, config=config, shards=shards, parent=parent, software=software, extra=extra,
                             split_names=list(shard_splits))
    previous = _previous(root)
    if parent is None and previous is not None:
        version = manifest["version"]
        manifest["parent"] = previous.get("parent") if previous.get("version") == version else previous.get("version")
    atomic_write_json(root / MANIFEST, manifest)
    return manifest


def _previous(root: Path) -> dict | None:
    try:
        return load_manifest(root)
    except ManifestError:
        return None


def verify(data, deep: bool = True) -> list[str]:
    """Every problem of one version (DIR, DIR@VERSION, DIR@TAG), one line each naming the shard; an empty
    list means it is intact. Format 2 also checks the version's view links (DIR/versions/ID/NAME.tar)."""
    from .store import open_version
    return verify_version(open_version(data), deep)


def verify_version(version, deep: bool = True, hashes: dict | None = None) -> list[str]:
    """verify() of a resolved Version; `hashes` caches {path: sha256} across versions sharing shards."""
    manifest, problems = version.manifest, []
    hashes = {} if hashes is None else hashes
    for s in manifest["shards"]:
        rel = version.shard_rel(s)
        size = version.store.size(rel)
        if size is None:
            problems.append(f"{s['name']}: missing ({version.store.url(rel)})")
            continue
        if size != s["bytes"]:
            problems.append(f"{s['name']}: size {size} bytes, manifest says {s['bytes']}")
        url = version.store.url(rel)
        if url not in hashes:
            with version.store.open(rel) as f:
                hashes[url] = sha256_stream(f)[0]
        if hashes[url] != s["sha256"]:
            problems.append(f"{s['name']}: sha256 {hashes[url][:12]}… does not match manifest {s['sha256'][:12]}…")
        if deep:
            try:
                n = sum(1 for _ in iter_raw_samples(rel, open_stream=version.store.open))
                if n != s["samples"]:
                    problems.append(f"{s['name']}: {n} samples, manifest says {s['samples']}")
            except ShardError as e:
                problems.append(f"{s['name']}: {e}")
            problems += index_problems(version, rel, s)
        view = version.view
        if version.format == 2 and view is not None and not (view / s["file"]).exists():
            problems.append(f"{s['name']}: its link {view / s['file']} is missing")
    expected = dataset_version(manifest["config"], manifest["shards"])
    if expected != manifest["version"]:
        problems.append(f"manifest: version {manifest['version']} does not match its config and shards ({expected})")
    return problems


def index_problems(version, rel: str, entry: dict) -> list[str]:
    """The shard's written offset index (shards/offsets.py), where there is one, against its tar."""
    from . import offsets
    index_rel = rel[: -len(".tar")] + offsets.OFFSETS_SUFFIX
    if not rel.endswith(".tar") or not version.store.exists(index_rel):
        return []
    try:
        written = offsets.decode(version.store.read_bytes(index_rel), entry["bytes"])
    except ValueError as e:
        return [f"{entry['name']}: offset index {index_rel}: {e}"]
    scanned, problem = offsets.scan(rel, version.store.open)
    if problem is None and written.tolist() != scanned.tolist():
        return [f"{entry['name']}: offset index {index_rel} does not match the tar's samples"]
    return []


def diff(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two manifests: config keys; sources added, removed and changed
    with the clips each brings; shards added, removed and shared (by content); totals."""
    lines = [f"version {a['version']} -> {b['version']}"]
    ca, cb = _flatten(a["config"]), _flatten(b["config"])
    for k in sorted(set(ca) | set(cb)):
        if ca.get(k) != cb.get(k):
            lines.append(f"config {k}: {ca.get(k)!r} -> {cb.get(k)!r}")
    lines += diff_sources(a.get("sources", []), b.get("sources", []))
    sa, sb = {s["sha256"]: s for s in a["shards"]}, {s["sha256"]: s for s in b["shards"]}
    shared = set(sa) & set(sb)
    for sha in sorted(set(sa) - shared, key=lambda h: sa[h]["name"]):
        lines.append(f"shard removed: {sa[sha]['name']} ({sa[sha]['samples']} samples)")
    for sha in sorted(set(sb) - shared, key=lambda h: sb[h]["name"]):
        lines.append(f"shard added: {sb[sha]['name']} ({sb[sha]['samples']} samples)")
    lines.append(f"shards: {len(shared)} shared (same bytes), {len(set(sb) - shared)} added, "
                 f"{len(set(sa) - shared)} removed")
    for split in sorted(set(a.get("splits", {})) | set(b.get("splits", {}))):
        na = a.get("splits", {}).get(split, {}).get("samples", 0)
        nb = b.get("splits", {}).get(split, {}).get("samples", 0)
        if na != nb:
            lines.append(f"split {split}: {na} -> {nb} clips")
    ta, tb = a["totals"], b["totals"]
    lines.append(f"samples {ta['samples']} -> {tb['samples']}, bytes {ta['bytes']} -> {tb['bytes']}")
    return lines


def diff_sources(a: list[dict], b: list[dict]) -> list[str]:
    """Sources by path: 'added' and 'removed' (with their clips), 'changed' when a path's content (id) or
    its result (status, clips) differs. A moved file (same id, new path) is one removed and one added."""
    pa, pb = {s["path"]: s for s in a if "path" in s}, {s["path"]: s for s in b if "path" in s}
    lines = []
    for path in sorted(set(pb) - set(pa)):
        s = pb[path]
        lines.append(f"source added: {path} ({s.get('id')}, {s.get('status')}, {s.get('clips', 0)} clips)")
    for path in sorted(set(pa) - set(pb)):
        s = pa[path]
        lines.append(f"source removed: {path} ({s.get('id')}, {s.get('clips', 0)} clips)")
    for path in sorted(set(pa) & set(pb)):
        x, y = pa[path], pb[path]
        if (x.get("id"), x.get("status"), x.get("clips")) != (y.get("id"), y.get("status"), y.get("clips")):
            what = f"content {x.get('id')} -> {y.get('id')}, " if x.get("id") != y.get("id") else ""
            lines.append(f"source changed: {path} ({what}{x.get('status')} -> {y.get('status')}, "
                         f"{x.get('clips', 0)} -> {y.get('clips', 0)} clips)")
    if a or b:
        lines.append(f"sources: {len(set(pb) - set(pa))} added, {len(set(pa) - set(pb))} removed, "
                     f"{sum(1 for line in lines if line.startswith('source changed'))} changed")
    return lines


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def verify_command(argv) -> int:
    import argparse
    from .store import StoreError, Store, open_version, split_ref
    p = argparse.ArgumentParser(prog="vidshard verify",
                                description="Recheck every shard's sha256, size and sample count against a version's "
                                            "manifest. Exit 0 if intact, 1 naming each bad or missing shard, 2 if DIR "
                                            "is not a dataset.")
    p.add_argument("dir", help="DIR (its current version), DIR@VERSION or DIR@TAG")
    p.add_argument("--quick", action="store_true", help="hashes and sizes only; skip re-reading every sample")
    p.add_argument("--all", action="store_true", help="every version kept in DIR (each shared shard hashed once)")
    args = p.parse_args(argv)
    root, _ = split_ref(args.dir)
    if not is_url(root) and not Path(root).is_dir():
        raise StoreError(f"{root}: no such directory")
    try:
        store = Store(root)
        refs = [f"{root}@{v}" for v in store.version_ids()] if args.all and store.format() == 2 else [args.dir]
        versions = [open_version(ref) for ref in refs]
    except OSError as e:   # a manifest that cannot be read
        raise StoreError(f"{args.dir}: {e}") from e
    bad, hashes = 0, {}
    for version in versions:
        problems = verify_version(version, deep=not args.quick, hashes=hashes)
        for line in problems:
            print(f"BAD {line}" if len(versions) == 1 else f"BAD {version.id} {line}")
        t = version.manifest["totals"]
        print(f"{'FAILED' if problems else 'OK'}: {root} version {version.id}: {t['shards']} shards, "
              f"{t['samples']} samples, {len(problems)} problem(s)")
        bad += bool(problems)
    return 1 if bad else 0


def diff_command(argv) -> int:
    import argparse
    from .store import StoreError, open_version
    p = argparse.ArgumentParser(prog="vidshard diff",
                                description="Compare two dataset versions: config, sources added/removed/changed and "
                                            "their clips, shards. A and B are DIR, DIR@VERSION or DIR@TAG.")
    p.add_argument("a")
    p.add_argument("b")
    args = p.parse_args(argv)
    try:
        lines = diff(open_version(args.a).manifest, open_version(args.b).manifest)
    except OSError as e:   # a manifest that cannot be read
        raise StoreError(f"{args.a} / {args.b}: {e}") from e
    print("\n".join(lines))
    return 0


verify_main, diff_main = entry("verify"), entry("diff")
