"""The versions kept in a dataset directory: `vidshard tag`, `vidshard log`, `vidshard gc`, `vidshard upgrade`.

  vidshard tag DIR NAME [VERSION]   name a version (default: the current one); DIR@NAME then reads it
  vidshard log DIR                  every version: id, parent, date, sources, clips, bytes, what changed
  vidshard gc DIR                   remove what no kept version uses (shards, unit records, per-video cache
                                    entries, leftovers of killed builds); --drop / --keep-last drop versions
  vidshard upgrade DIR              convert a format-1 directory in place (its version id stays the same)

Layout and guarantees: shards/store.py and docs/FORMAT.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os

from vidshard.cli import entry
from vidshard.io import sha256_file

from .inspect import human_bytes
from .manifest import MANIFEST, dataset_version, diff_sources
from .offsets import OFFSETS_SUFFIX
from .store import CACHE, TAGS, TMP, UNITS, VERSIONS, Store, StoreError, object_rel
from .writer import STATS_SUFFIX


def _versioned_store(root: str) -> Store:
    store = Store(root)
    fmt = store.format()
    if fmt == 1:
        raise StoreError(f"{root} is a format-1 dataset (one version, no store): `vidshard upgrade {root}` converts it")
    if fmt == 0:
        raise StoreError(f"{root}: not a vidshard dataset")
    return store


# ----------------------------------------------------------------------------------------- log

def changes(parent: dict | None, m: dict) -> str:
    """What a version changed from its parent: sources, clips, shards (by content)."""
    if parent is None:
        return "first version here"
    parts = []
    src = [line for line in diff_sources(parent.get("sources", []), m.get("sources", []))
           if line.startswith("sources: ")]
    if src:
        parts.append(src[0])
    if parent.get("config") != m.get("config"):
        keys = sorted(k for k in set(parent["config"]) | set(m["config"]) if parent["config"].get(k) != m["config"].get(k))
        parts.append("config: " + ", ".join(keys))
    delta = m["totals"]["samples"] - parent["totals"]["samples"]
    parts.append(f"clips {delta:+d}")
    old, new = {s["sha256"] for s in parent["shards"]}, {s["sha256"] for s in m["shards"]}
    parts.append(f"shards: {len(new - old)} new, {len(new & old)} shared, {len(old - new)} dropped")
    return "; ".join(parts)


def log_lines(store: Store) -> list[str]:
    manifests = {v: store.manifest(v) for v in store.version_ids()}
    current, tags = store.current_id(), store.tags()
    by_version: dict[str, list[str]] = {}
    for name, vid in sorted(tags.items()):
        by_version.setdefault(vid, []).append(name)
    lines = []
    order = sorted(manifests, key=lambda v: (manifests[v].get("created", ""), v), reverse=True)
    for vid in order:
        m = manifests[vid]
        marks = (["current"] if vid == current else []) + [f"tag {t}" for t in by_version.get(vid, [])]
        t, sources = m["totals"], m.get("sources", [])
        lines.append(f"version {vid}" + (f"  ({', '.join(marks)})" if marks else ""))
        parent = m.get("parent")
        gone = parent is not None and parent not in manifests
        lines.append(f"  created {m.get('created', '?')}  parent {parent or '-'}{' (dropped)' if gone else ''}")
        lines.append(f"  {t['samples']} clips in {t['shards']} shards, {human_bytes(t['bytes'])}"
                     + (f"; {len(sources)} sources, {t.get('failures', 0)} failed" if sources else ""))
        lines.append(f"  {changes(manifests.get(parent), m) if not gone else 'its parent is no longer kept'}")
    return lines


# ----------------------------------------------------------------------------------------- gc

def gc(store: Store, drop: tuple[str, ...] = (), keep_last: int | None = None, dry_run: bool = False) -> dict:
    """Remove what no kept version uses. Kept: every version, except those named in `drop` and, with
    keep_last=N, all but the N newest (the current version and tagged versions are always kept). Then
    removed: the dropped versions, stored shards no kept version lists, unit records of removed or missing
    shards, per-video cache entries no kept version's sources use (the others are pointed at kept shards
    that hold their clips), and files left in tmp/ by killed builds. Returns what it removed."""
    with store.lock("gc"):
        ids = store.version_ids()
        manifests = {v: store.manifest(v) for v in ids}
        protected = {store.current_id()} | set(store.tags().values())
        dropped = {store.resolve(ref) for ref in drop}
        if keep_last is not None:
            newest = sorted(ids, key=lambda v: (manifests[v].get("created", ""), v), reverse=True)
            dropped |= set(newest[keep_last:]) - protected
        refused = sorted(dropped & protected)
        if refused:
            raise StoreError(f"{store.root}: will not drop {', '.join(refused)}: the current version or a tagged one "
                             f"(move the tag, or build another version first)")
        kept = [v for v in ids if v not in dropped]
        used = {s["sha256"] for v in kept for s in manifests[v]["shards"]}
        report = {"versions": sorted(dropped), "shards": [], "units": [], "cache": [], "tmp": [], "bytes": 0}
        for sha in store.objects():
            if sha not in used:
                report["shards"].append(sha)
                report["bytes"] += store.size(object_rel(sha)) or 0
        for name in store.listdir(UNITS):
            rec = store.read_json_or_none(f"{UNITS}/{name}")
            if rec is None or rec.get("sha256") not in used:
                report["units"].append(name)
        holders = _cache_holders(manifests, kept)
        rewrite = {}
        for name in store.listdir(CACHE):
            key = name[:-len(".json")]
            if key not in holders:
                report["cache"].append(name)
                continue
            entry = store.read_json_or_none(f"{CACHE}/{name}")
            if entry is not None and entry.get("record", {}).get("clips", 0):
                shards = sorted(holders[key])
                if entry.get("shards") != shards:
                    rewrite[name] = {**entry, "shards": shards}
        report["tmp"] = store.listdir(TMP)
        if dry_run:
            return report
        for name, entry in rewrite.items():
            store.write_json(f"{CACHE}/{name}", entry)
        for vid in sorted(dropped):
            store.remove(f"{VERSIONS}/{vid}")
        for sha in report["shards"]:
            store.remove(object_rel(sha)[: -len(".tar")] + OFFSETS_SUFFIX)  # its index (shards/offsets.py)
            store.remove(object_rel(sha))
        for name in report["units"]:
            store.remove(f"{UNITS}/{name}")
        for name in report["cache"]:
            store.remove(f"{CACHE}/{name}")
        for name in report["tmp"]:
            store.remove(f"{TMP}/{name}")
        return report


def _cache_holders(manifests: dict, kept: list[str]) -> dict[str, set[str]]:
    """Per-video cache key -> the kept shards (sha256) holding that video's clips."""
    holders: dict[str, set[str]] = {}
    for vid in kept:
        m = manifests[vid]
        fhash = m.get("cache_config")
        if not fhash:
            continue
        sha_of = {s["name"]: s["sha256"] for s in m["shards"]}
        for src in m.get("sources", []):
            if src.get("sha256"):
                held = holders.setdefault(f"{src['sha256']}-{fhash}", set())
                if src.get("clips") and src.get("shard") in sha_of:
                    held.add(sha_of[src["shard"]])
    return holders


# ----------------------------------------------------------------------------------------- upgrade

def upgrade(root: str) -> str:
    """Convert a format-1 directory in place into format 2; returns the version id (unchanged).

    Each step leaves a readable directory, so a crash mid-way is finished by running it again: every shard
    is checked against the manifest and hard-linked into store/ (same bytes, no copy), the version
    directory is written, then each root file is replaced by its link through `current` (one atomic
    rename each, the bytes behind every name stay the same), the manifest last."""
    store = Store(root)
    if store.local is None:
        raise StoreError(f"{root}: upgrade works on local directories (copy the dataset, upgrade, upload)")
    plain = store.local / MANIFEST
    if not plain.is_file() or plain.is_symlink():
        if store.format() == 2:
            return store.resolve()      # converted already
        raise StoreError(f"{root}: not a format-1 dataset (no {MANIFEST})")
    with store.lock("upgrade"):
        manifest = store.format1_manifest()
        if dataset_version(manifest["config"], manifest["shards"]) != manifest["version"]:
            raise StoreError(f"{root}: manifest version does not match its config and shards; run vidshard verify")
        stats = {}
        for s in manifest["shards"]:
            src = store.local / s["file"]
            if not src.is_symlink():
                if src.stat().st_size != s["bytes"] or sha256_file(src) != s["sha256"]:
                    raise StoreError(f"{src}: does not match the manifest (vidshard verify {root}); nothing converted")
                dest = store.local / object_rel(s["sha256"])
                dest.parent.mkdir(exist_ok=True)
                if not dest.exists():
                    os.link(src, dest)
            stats_path = store.local / f"{s['name']}{STATS_SUFFIX}"
            stats[s["name"]] = store.read_json(stats_path.name) if stats_path.exists() else {"shard": s["name"]}
        built = dt.datetime.fromtimestamp((store.local / MANIFEST).stat().st_mtime, dt.timezone.utc)
        new = {**manifest, "format_version": 2, "upgraded_from": 1, "created": built.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "shards": [{**s, "object": object_rel(s["sha256"])} for s in manifest["shards"]]}
        vid = new["version"]
        if not store.exists(f"{VERSIONS}/{vid}/{MANIFEST}"):
            store._write_version(new, stats)
        for s in manifest["shards"]:
            for name in (s["file"], f"{s['name']}{STATS_SUFFIX}"):
                store._root_link(name, replace_file=True)
        store._switch(vid)
        store._root_link(MANIFEST, replace_file=True)
        return vid


# ----------------------------------------------------------------------------------------- commands
# Each raises StoreError (one line, exit 2) for what the user can fix; vidshard.cli.run says how it ends.

def tag_command(argv) -> int:
    p = argparse.ArgumentParser(prog="vidshard tag", description="Name a version of a dataset: DIR@NAME then reads "
                                "it wherever a dataset is read. A tagged version is never dropped by gc.")
    p.add_argument("dir", help="dataset directory")
    p.add_argument("name", help="tag name: letters, digits, '.', '_', '-'")
    p.add_argument("version", nargs="?", help="version id (or unique prefix, or another tag; default: the current one)")
    p.add_argument("--force", action="store_true", help="move the tag if it names another version")
    p.add_argument("--delete", action="store_true", help="remove the tag")
    args = p.parse_args(argv)
    store = _versioned_store(args.dir)
    tags = store.tags()
    if args.delete:
        if args.name not in tags:
            raise StoreError(f"{args.dir}: no tag {args.name!r}")
        store.remove(f"{TAGS}/{args.name}")
        print(f"removed tag {args.name} ({tags[args.name]})")
        return 0
    vid = store.resolve(args.version)
    if args.name in tags and tags[args.name] != vid and not args.force:
        raise StoreError(f"tag {args.name} names {tags[args.name]}; --force moves it to {vid}")
    store.set_tag(args.name, vid)
    print(f"{args.dir}@{args.name} = {vid}")
    return 0


def log_command(argv) -> int:
    p = argparse.ArgumentParser(prog="vidshard log", description="The versions kept in a dataset directory, newest "
                                "first: id, tags, date, parent, clips, shards, bytes and what changed from the parent.")
    p.add_argument("dir", help="dataset directory")
    args = p.parse_args(argv)
    store = Store(args.dir)
    if store.format() == 1:
        m = store.format1_manifest()
        print(f"version {m['version']}  (format 1: one version; `vidshard upgrade {args.dir}` keeps several)")
        return 0
    print("\n".join(log_lines(_versioned_store(args.dir))))
    return 0


def gc_command(argv) -> int:
    p = argparse.ArgumentParser(prog="vidshard gc", description=gc.__doc__.split("\n\n")[0].replace("\n    ", " "))
    p.add_argument("dir", help="dataset directory")
    p.add_argument("--drop", action="append", default=[], metavar="VERSION",
                   help="drop this version (id, prefix or tag; repeatable)")
    p.add_argument("--keep-last", type=int, metavar="N", help="drop all but the N newest versions (current and "
                   "tagged versions are always kept)")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    args = p.parse_args(argv)
    report = gc(_versioned_store(args.dir), tuple(args.drop), args.keep_last, args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"vidshard gc {args.dir}: {verb} {len(report['versions'])} version(s), {len(report['shards'])} shard(s) "
          f"({human_bytes(report['bytes'])}), {len(report['units'])} unit record(s), "
          f"{len(report['cache'])} cache entr{'y' if len(report['cache']) == 1 else 'ies'}, "
          f"{len(report['tmp'])} leftover temp file(s)")
    for vid in report["versions"]:
        print(f"  version {vid}")
    return 0


def upgrade_command(argv) -> int:
    p = argparse.ArgumentParser(prog="vidshard upgrade", description=upgrade.__doc__.split("\n\n")[0])
    p.add_argument("dir", help="a format-1 dataset directory (manifest.json beside its shards)")
    args = p.parse_args(argv)
    try:
        vid = upgrade(args.dir)
    except OSError as e:   # a file the conversion cannot read or link: the directory is left readable
        raise StoreError(f"{args.dir}: {e}") from e
    print(f"{args.dir}: format 2, current version {vid}")
    return 0


tag_main, log_main, gc_main, upgrade_main = (entry(n) for n in ("tag", "log", "gc", "upgrade"))
