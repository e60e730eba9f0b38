"""A dataset directory that keeps every version built into it (format 2, docs/FORMAT.md "Format 2").

    DIR/current                      -> versions/<id>: the current version (on an fsspec URL: a file holding the id)
    DIR/manifest.json, DIR/<name>.tar, DIR/<name>.stats.json
                                     -> current/...: the current version, readable as a plain dataset directory
    DIR/versions/<id>/               one version: manifest.json, <name>.stats.json, <name>.tar -> ../../store/<sha256>.tar
    DIR/store/<sha256>.tar           every shard once, named by its content
    DIR/units/<key>.json             what each plan unit produced (its shard's stats): resume and incremental builds
    DIR/cache/<sha256>-<hash>.json   per-video results of the face pipeline (record, tables, the shards holding its clips)
    DIR/tags/<name>                  a tag: the version id it names
    DIR/builds/<time>-<pid>-<r>.json one record per finished build (`vidshard log`)
    DIR/tmp/                         files being written, under names no other process uses
    DIR/.lock                        held (flock) by the one build or gc writing a local directory

Every file is written once, by one process, under a unique temp name, then linked or renamed into place:
shards and version directories are never rewritten (a name is a content hash or a version id), the
current pointer and the root links change by atomic renames. A version is complete once its
versions/<id>/manifest.json exists; it becomes current when `current` is switched to it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from vidshard.errors import InputError
from vidshard.io import cache_dir, is_url, json_bytes, local_path, unique_tmp

from . import offsets
from .faults import fault_point
from .offsets import OFFSETS_SUFFIX
from .writer import STATS_SUFFIX, TarWriter

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CURRENT, VERSIONS, STORE, UNITS, CACHE, TAGS, BUILDS, TMP = (
    "current", "versions", "store", "units", "cache", "tags", "builds", "tmp")
LOCK = ".lock"
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StoreError(InputError):
    """Not a dataset, an unknown version or tag, a directory in another format: one line, naming the path."""


class Busy(StoreError):
    """Another build (or gc) holds the directory's lock."""


def object_rel(sha256: str) -> str:
    return f"{STORE}/{sha256}.tar"


def now_utc() -> str:
    """UTC with microseconds: builds into one directory are serialized, so their times order them."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unique(prefix: str = "") -> str:
    return f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"


class Store:
    """One dataset directory: a local path or an fsspec URL (s3://, gs://, memory://, local://...)."""

    def __init__(self, root: str | os.PathLike, staging: str | None = None):
        self.root = os.fspath(root).rstrip("/") or "/"
        self.staging = staging
        if is_url(self.root):
            import fsspec
            self.fs, self.base = fsspec.core.url_to_fs(self.root)
            self.local = None
        else:
            self.fs, self.base = None, None
            self.local = Path(local_path(self.root)).absolute()

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    def spec(self) -> dict:
        """What a worker process needs to open the same store (a local path made absolute: workers may run
        in another directory)."""
        return {"root": str(self.local) if self.local is not None else self.root, "staging": self.staging}

    @classmethod
    def from_spec(cls, spec: dict) -> "Store":
        return cls(spec["root"], spec.get("staging"))

    # ------------------------------------------------------------------------------------- files

    def url(self, rel: str) -> str:
        """A path (local) or URL (remote) readers can open."""
        if self.local is not None:
            return str(self.local / rel)
        return self.fs.unstrip_protocol(f"{self.base}/{rel}")

    def _r(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    def exists(self, rel: str) -> bool:
        return (self.local / rel).exists() if self.local is not None else self.fs.exists(self._r(rel))

    def isdir(self, rel: str) -> bool:
        return (self.local / rel).is_dir() if self.local is not None else self.fs.isdir(self._r(rel))

    def size(self, rel: str) -> int | None:
        try:
            return (self.local / rel).stat().st_size if self.local is not None else self.fs.size(self._r(rel))
        except (FileNotFoundError, OSError):
            return None

    def read_bytes(self, rel: str) -> bytes:
        return (self.local / rel).read_bytes() if self.local is not None else self.fs.cat_file(self._r(rel))

    def read_json(self, rel: str):
        try:
            return json.loads(self.read_bytes(rel))
        except ValueError as e:   # not JSON (UnicodeDecodeError is a ValueError too)
            raise StoreError(f"{self.url(rel)}: not valid JSON ({e})") from None

    def read_json_or_none(self, rel: str):
        try:
            return self.read_json(rel)
        except (FileNotFoundError, OSError, ValueError):
            return None

    def listdir(self, rel: str) -> list[str]:
        """Names in a folder (sorted; none if it does not exist)."""
        if self.local is not None:
            path = self.local / rel
            return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        if not self.fs.isdir(self._r(rel)):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._r(rel), detail=False))

    def open(self, rel: str):
        return open(self.local / rel, "rb") if self.local is not None else self.fs.open(self._r(rel), "rb")

    def remove(self, rel: str) -> None:
        if self.local is not None:
            path = self.local / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        elif self.fs.exists(self._r(rel)):
            self.fs.rm(self._r(rel), recursive=True)

    def tmp_dir(self) -> Path:
        """Where this process writes files before they are moved into place: DIR/tmp (local), a staging
        folder (remote: --staging, default $VIDSHARD_CACHE/staging/<hash of the URL>, the cache being
        ~/.cache/vidshard unless $VIDSHARD_CACHE says otherwise)."""
        if self.local is not None:
            path = self.local / TMP
        elif self.staging:
            path = Path(self.staging)
        else:
            import hashlib
            path = cache_dir("staging", hashlib.sha256(self.root.encode()).hexdigest()[:16])
        path.mkdir(parents=True, exist_ok=True)
        return path

    def put_file(self, src: Path, rel: str, exclusive: bool = False) -> bool:
        """Move a finished local file to `rel` (src is consumed). exclusive: never replace an existing
        file (content-named files: the one there holds the same bytes); returns whether it was placed."""
        src = Path(src)
        try:
            if self.local is not None:
                dest = self.local / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src.parent != self.local / TMP:       # staged elsewhere: bring it onto this filesystem first
                    inside = self.tmp_dir() / _unique("in-")
                    shutil.copyfile(src, inside)
                    src.unlink()
                    src = inside
                if not exclusive:
                    os.replace(src, dest)
                    return True
                try:
                    os.link(src, dest)
                    return True
                except FileExistsError:
                    return False
                except OSError:                          # no hard links on this filesystem
                    if dest.exists():
                        return False
                    os.replace(src, dest)
                    return True
            dest, tmp = self._r(rel), self._r(f"{TMP}/{_unique()}")
            if exclusive and self.fs.exists(dest):
                return False
            self.fs.makedirs(self._r(TMP), exist_ok=True)
            self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(src), tmp)
            self.fs.mv(tmp, dest)
            return True
        finally:
            src.unlink(missing_ok=True)

    def write_bytes(self, rel: str, data: bytes, exclusive: bool = False) -> bool:
        """Write a whole file atomically (a unique temp file, then moved into place)."""
        tmp = unique_tmp(self.tmp_dir() / Path(rel).name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return self.put_file(tmp, rel, exclusive)

    def write_json(self, rel: str, obj, exclusive: bool = False) -> bool:
        return self.write_bytes(rel, json_bytes(obj), exclusive)

    # ------------------------------------------------------------------------------------- shards, units, cache

    def shard_writer(self, name: str) -> "StoreShardWriter":
        return StoreShardWriter(self, name)

    def has_object(self, sha256: str, size: int | None = None) -> bool:
        got = self.size(object_rel(sha256))
        return got is not None and (size is None or got == size)

    def objects(self) -> list[str]:
        return [n[:-4] for n in self.listdir(STORE) if n.endswith(".tar")]

    def unit_record(self, key: str) -> dict | None:
        """The stats of the shard unit `key` produced, if that shard is still in the store at its size."""
        rec = self.read_json_or_none(f"{UNITS}/{key}.json")
        if rec is None or not self.has_object(rec.get("sha256", ""), rec.get("bytes")):
            return None
        return rec

    def put_unit(self, key: str, record: dict) -> None:
        self.write_json(f"{UNITS}/{key}.json", record)
        fault_point("unit")

    def cache_entry(self, key: str) -> dict | None:
        """A per-video result, if every clip it had is still in a stored shard."""
        entry = self.read_json_or_none(f"{CACHE}/{key}.json")
        if entry is None:
            return None
        if entry.get("record", {}).get("clips", 0) and not any(self.has_object(s) for s in entry.get("shards", [])):
            return None
        return entry

    def put_cache(self, key: str, entry: dict) -> None:
        self.write_json(f"{CACHE}/{key}.json", entry)
        fault_point("cache")

    # ------------------------------------------------------------------------------------- versions

    def format(self) -> int:
        """2: this layout; 1: a format-1 dataset (or the shards of an unfinished format-1 build); 0: neither."""
        if self.isdir(VERSIONS) or self.exists(CURRENT):
            return 2
        if self.local is not None:
            if (self.local / MANIFEST).is_file() or any(self.local.glob(f"*{STATS_SUFFIX}")):
                return 1
            return 0
        return 1 if self.exists(MANIFEST) else 0

    def current_id(self) -> str | None:
        """The current version: `current` is a symlink to versions/<id> in a directory written locally, a
        file holding the id in one written through an fsspec URL (readable either way)."""
        if self.local is not None and (self.local / CURRENT).is_symlink():
            return os.path.basename(os.readlink(self.local / CURRENT))
        try:
            return self.read_bytes(CURRENT).decode().strip() or None
        except (FileNotFoundError, OSError):
            return None

    def version_ids(self) -> list[str]:
        return [v for v in self.listdir(VERSIONS) if self.exists(f"{VERSIONS}/{v}/{MANIFEST}")]

    def manifest(self, vid: str) -> dict:
        return self.read_json(f"{VERSIONS}/{vid}/{MANIFEST}")

    def tags(self) -> dict[str, str]:
        return {name: self.read_bytes(f"{TAGS}/{name}").decode().strip() for name in self.listdir(TAGS)
                if TAG_RE.match(name)}

    def set_tag(self, name: str, vid: str) -> None:
        if not TAG_RE.match(name) or name == CURRENT or re.fullmatch(r"[0-9a-f]{4,16}", name):
            raise StoreError(f"tag {name!r}: use letters, digits, '.', '_' and '-' (not 'current', and not 4-16 hex "
                             f"digits, which read as a version id)")
        self.write_bytes(f"{TAGS}/{name}", (vid + "\n").encode())

    def resolve(self, ref: str | None = None) -> str:
        """The version id that `ref` names: None or 'current' (the current version), a tag, a version id or
        a unique prefix of one (at least 4 hex digits)."""
        fmt = self.format()
        if fmt == 0:
            raise StoreError(f"{self.root}: not a vidshard dataset (no {MANIFEST}, no {VERSIONS}/)")
        if fmt == 1:
            version = self.format1_manifest()["version"]
            if ref in (None, CURRENT) or (len(ref) >= 4 and version.startswith(ref)):
                return version
            raise StoreError(f"{self.root}: a format-1 dataset holds one version, {version}, not {ref!r}")
        if ref in (None, CURRENT):
            current = self.current_id()
            if current is None:
                raise StoreError(f"{self.root}: no current version (no build has finished here)")
            return current
        tags = self.tags()
        if ref in tags:
            return tags[ref]
        ids = self.version_ids()
        if ref in ids:
            return ref
        matches = [v for v in ids if len(ref) >= 4 and v.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
        why = f"{len(matches)} versions start with {ref!r}" if matches else f"no version or tag {ref!r}"
        raise StoreError(f"{self.root}: {why} (versions: {known or 'none'}; tags: {', '.join(sorted(tags)) or 'none'})")

    def format1_manifest(self) -> dict:
        try:
            return self.read_json(MANIFEST)
        except FileNotFoundError:
            raise StoreError(f"{self.root}: format-1 shards without a {MANIFEST} (an unfinished build)") from None

    def view_dir(self, vid: str) -> Path | None:
        """A local directory that reads as a plain dataset of version `vid` (manifest.json, NAME.tar, stats)."""
        if self.local is None:
            return None
        if self.format() == 1:
            return self.local
        # a directory written through an fsspec URL (a file `current`, no links) has no views
        return self.local / VERSIONS / vid if (self.local / CURRENT).is_symlink() else None

    def publish(self, manifest: dict, stats: dict[str, dict]) -> bool:
        """Write the version (unless a build made it before) and make it current. Returns whether it is new.

        Order: the version directory (complete before it gets its name), the root links its shard names
        need (they point through `current`, so they resolve to the old version until the switch), the
        switch itself (one atomic rename), then the root links no longer used are removed."""
        vid = manifest["version"]
        new = not self.exists(f"{VERSIONS}/{vid}/{MANIFEST}")
        if new:
            self._write_version(manifest, stats)
        fault_point("version")
        if self.local is None:
            self.write_bytes(CURRENT, (vid + "\n").encode())
            fault_point("current")
            self.write_json(MANIFEST, manifest)   # a copy for readers of the plain layout
            return new
        names = [MANIFEST] + [n for s in manifest["shards"] for n in (s["file"], f"{s['name']}{STATS_SUFFIX}")]
        for name in names:
            self._root_link(name)
        fault_point("links")
        self._switch(vid)
        fault_point("current")
        keep = set(names)
        for path in self.local.iterdir():
            if path.is_symlink() and path.name not in keep and os.readlink(path).startswith(f"{CURRENT}/"):
                path.unlink()
        return new

    def _write_version(self, manifest: dict, stats: dict[str, dict]) -> None:
        vid = manifest["version"]
        if self.local is None:
            for name, st in stats.items():
                self.write_json(f"{VERSIONS}/{vid}/{name}{STATS_SUFFIX}", st)
            self.write_json(f"{VERSIONS}/{vid}/{MANIFEST}", manifest, exclusive=True)  # last: the version is complete
            return
        staged = self.tmp_dir() / _unique("version-")
        staged.mkdir()
        for s in manifest["shards"]:
            os.symlink(f"../../{object_rel(s['sha256'])}", staged / s["file"])
            (staged / f"{s['name']}{STATS_SUFFIX}").write_bytes(json_bytes(stats[s["name"]]))
        (staged / MANIFEST).write_bytes(json_bytes(manifest))
        (self.local / VERSIONS).mkdir(exist_ok=True)
        try:
            os.rename(staged, self.local / VERSIONS / vid)
        except OSError:                       # made meanwhile (another process of this build's history)
            shutil.rmtree(staged, ignore_errors=True)

    def _root_link(self, name: str, replace_file: bool = False) -> None:
        path, target = self.local / name, f"{CURRENT}/{name}"
        if path.is_symlink() and os.readlink(path) == target:
            return
        if path.exists() and not path.is_symlink() and not replace_file:
            raise StoreError(f"{path}: a plain file where this dataset keeps a link to the current version")
        tmp = self.local / f".{_unique('link-')}"
        os.symlink(target, tmp)
        os.replace(tmp, path)

    def _switch(self, vid: str) -> None:
        tmp = self.local / f".{_unique('current-')}"
        os.symlink(f"{VERSIONS}/{vid}", tmp)
        os.replace(tmp, self.local / CURRENT)

    # ------------------------------------------------------------------------------------- builds, lock

    def write_build_record(self, record: dict) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.write_json(f"{BUILDS}/{stamp}-{_unique()}.json", record, exclusive=True)
        fault_point("log")

    def build_records(self) -> list[dict]:
        out = []
        for name in self.listdir(BUILDS):
            rec = self.read_json_or_none(f"{BUILDS}/{name}")
            if rec is not None:
                out.append(rec)
        return out

    @contextlib.contextmanager
    def lock(self, what: str = "build"):
        """Exclusive use of a local directory by one build or gc: a second one refuses at once (Busy),
        naming the holder. The lock is the kernel's (flock): it goes away with its process, crash or not.
        Nested use on the same Store is a no-op (a pipeline takes it before its slow start-up, the build core
        again). fsspec URLs have no lock (docs/FORMAT.md says what is guaranteed there)."""
        if self.local is None or getattr(self, "_locked", False):   # a URL, or held already by this Store
            yield
            return
        import fcntl
        self.local.mkdir(parents=True, exist_ok=True)
        f = open(self.local / LOCK, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "build"
            f.close()
            raise Busy(f"{self.local} is being written by another process ({holder}); wait for it to finish, "
                       f"or write to another directory") from None
        try:
            f.truncate(0)
            f.write(f"{what}, pid {os.getpid()} on {socket.gethostname()}, since {now_utc()}\n")
            f.flush()
            self._locked = True
            yield
        finally:
            self._locked = False
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()


class StoreShardWriter(TarWriter):
    """A shard written into the store: a temp file in the store's tmp/ (or the staging folder of a remote
    store), then placed at store/<sha256>.tar unless that content is already there."""

    def __init__(self, store: Store, name: str):
        self.store = store
        super().__init__(name, unique_tmp(store.tmp_dir() / f"{name}.tar"))

    def finish(self) -> None:
        self.tmp_path.chmod(0o444)   # stored shards are shared by versions: read-only, like the tar's members
        rel = object_rel(self.stats["sha256"])
        # the index first: an object in the store always has its index beside it (both content-named)
        index = offsets.encode(self.offsets, self.stats["bytes"])
        self.store.write_bytes(rel[: -len(".tar")] + OFFSETS_SUFFIX, index, exclusive=True)
        self.store.put_file(self.tmp_path, rel, exclusive=True)
        fault_point("object")


# ----------------------------------------------------------------------------------------- references

@dataclass
class Version:
    """One version of a dataset, resolved from DIR, DIR@VERSION or DIR@TAG."""
    store: Store
    id: str
    manifest: dict
    format: int

    @property
    def root(self) -> str:
        return self.store.root

    @property
    def view(self) -> Path | None:
        """Local directory that reads as a plain (format-1 layout) dataset of this version, or None (URL)."""
        return self.store.view_dir(self.id)

    def shard_rel(self, entry: dict) -> str:
        """Where one manifest shard entry's tar is, relative to the dataset directory: its object in the store
        (format 2), its file (format 1). Objects never change, so a reader that resolved a version reads
        that version whatever builds run meanwhile."""
        return (entry.get("object") or object_rel(entry["sha256"])) if self.format == 2 else entry["file"]

    def shard_url(self, entry: dict) -> str:
        return self.store.url(self.shard_rel(entry))

    def stats(self, name: str) -> dict:
        rel = f"{VERSIONS}/{self.id}/{name}{STATS_SUFFIX}" if self.format == 2 else f"{name}{STATS_SUFFIX}"
        return self.store.read_json(rel)

    def label(self) -> str:
        return f"{self.root}@{self.id}"


def split_ref(data: str | os.PathLike) -> tuple[str, str | None]:
    """'DIR@REF' -> ('DIR', 'REF'); anything else -> (data, None). A path that exists as written is a path."""
    text = os.fspath(data)
    if "@" in text:
        head, ref = text.rsplit("@", 1)
        if ref and "/" not in ref and head and (is_url(text) or not os.path.exists(local_path(text))):
            return head, ref
    return text, None


def open_version(data: str | os.PathLike) -> Version:
    """The version a reference names: DIR (its current version), DIR@VERSION (an id or unique prefix),
    DIR@TAG; DIR may be a local path or an fsspec URL, in format 2 or format 1. StoreError otherwise."""
    root, ref = split_ref(data)
    if not is_url(root) and not Path(local_path(root)).is_dir():
        raise StoreError(f"{root}: no such dataset directory")
    store = Store(root)
    vid = store.resolve(ref)
    fmt = store.format()
    manifest = store.manifest(vid) if fmt == 2 else store.format1_manifest()
    return Version(store, vid, manifest, fmt)


def is_dataset_ref(data) -> bool:
    """True for DIR, DIR@REF (local or URL) naming a dataset directory; False for shard files and patterns."""
    if not isinstance(data, (str, os.PathLike)):
        return False
    root, ref = split_ref(data)
    if not is_url(root):
        return Path(local_path(root)).is_dir()
    if ref is None and (root.endswith(".tar") or "{" in root or "*" in root):
        return False
    try:
        return Store(root).format() != 0
    except (OSError, ValueError):
        return False


def local_view(data: str | os.PathLike) -> str:
    """A local directory that reads as a plain dataset of the version `data` names (what readers that open
    DIR/manifest.json and DIR/NAME.tar need); `data` itself when it is no dataset reference."""
    if not is_dataset_ref(data):
        return os.fspath(data)
    version = open_version(data)
    if version.view is None:
        raise StoreError(f"{data}: a dataset at a URL has no local view; read it with make_loader")
    return str(version.view)


def describe(data) -> dict | None:
    """What a training run records about its data: {'ref', 'version', 'name'} for a dataset reference
    (DIR, DIR@VERSION, DIR@TAG, either format); None for shard URLs and patterns (no version to name)."""
    if not is_dataset_ref(data):
        return None
    version = open_version(data)
    return {"ref": os.fspath(data), "version": version.id, "name": version.manifest.get("name")}


def version_warning(recorded: dict | None, data, what: str) -> str | None:
    """A one-line warning when `data` now names another version than the one a run recorded, naming both."""
    if not recorded or not recorded.get("version"):
        return None
    try:
        now = describe(data)
    except (StoreError, OSError):
        return None
    if now is None or now["version"] == recorded["version"]:
        return None
    root = split_ref(data)[0]
    return (f"warning: {what}: the run trained on {recorded['ref']} version {recorded['version']}, but {data} is "
            f"version {now['version']}; pass --data {root}@{recorded['version']} for the run's data")
