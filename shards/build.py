"""The build core shared by `vidshard prepare` and `vidshard synth`: plan -> resume check -> write shards ->
stats -> version, with the executor swappable.

A pipeline hands over its plan as Units (one unit = one shard) and the name of a work function that fills
one shard; `build()` does the rest, the same way for every pipeline:

  1. resume check: a unit whose recipe `key` already produced a shard that is still in the store is
     reused as it is (the only resume policy: content decides, never file names or dates; a unit whose
     shard is missing or was never built is built);
  2. the remaining units run on an executor (this process, a local process or thread pool, Ray:
     anything with `run(fn, jobs)`), each writing its shard into the store by content; a unit that fails
     is retried (`retries`), then reported;
  3. the version: the manifest (stats of every shard in plan order), written as versions/<id>/ and made
     current, with how many shards were reused, written and dropped (in the previous version, not in this).

Work functions run wherever the executor puts them, so they get plain data: work(unit: dict, writer,
context: dict), where `writer` is a ShardWriter-like object (add, fail, sources, extra); it may return a
callable that gets the unit's record once the shard is stored. Nothing here imports Ray; prepare's Ray
executor lives in pipelines/prepare.py.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, field

from .faults import fault_point
from .manifest import make_manifest
from .sample import encode_json
from .store import FORMAT_VERSION, Store, StoreError, now_utc
from .writer import config_hash

SPLITS = ("train", "val", "test")


class BuildError(RuntimeError):
    pass


def parse_split(text: str) -> tuple[float, float, float]:
    """`--split` for every pipeline: three non-negative weights for train, val and test with train > 0,
    scaled to sum to 1 and rounded to 6 decimals ('8,1,1' = '0.8,0.1,0.1'). The unit split by these
    fractions is the pipeline's: prepare splits videos (by a hash of each id), synth splits clips
    (val and test rounded, train takes the rest)."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(not p >= 0 for p in parts) or parts[0] <= 0 or sum(parts) == float("inf"):
        raise ValueError(f"--split {text!r}: expected three non-negative numbers for train,val,test with train > 0, "
                         f"like 0.8,0.1,0.1 (scaled to sum to 1)")
    total = sum(parts)
    return tuple(round(p / total, 6) for p in parts)


def recipe_key(*parts) -> str:
    """A unit's recipe: sha256 of the canonical JSON of whatever decides its shard's bytes."""
    return hashlib.sha256(encode_json(list(parts))).hexdigest()[:32]


@dataclass
class Unit:
    """One shard of the plan. `key` names its recipe (same key, same bytes); `job` is the pipeline's
    JSON-able description of the work; bigger `weight`s start first (only the order of work changes)."""
    name: str
    split: str
    key: str
    job: dict = field(default_factory=dict)
    weight: float = 0.0


@dataclass
class BuildResult:
    manifest: dict | None          # None when some unit failed: no version was written
    records: dict                  # shard name -> its stats (units done in this build or reused)
    reused: list[str]
    written: list[str]
    dropped: list[str]             # shards of the previous current version that this one no longer has
    failed: dict[str, str]         # shard name -> why
    new_version: bool = False
    previous: str | None = None
    seconds: dict = field(default_factory=dict)   # wall time of the phases: check, units, version


def run_unit(work: str, unit: dict, store: dict, context: dict) -> dict:
    """Runs wherever the executor sends it: the pipeline's work function fills one shard, the shard goes
    into the store by its content and the unit's record (its stats) under its key."""
    st = Store.from_spec(store)
    module, func = work.split(":")
    fill = getattr(importlib.import_module(module), func)
    with st.shard_writer(unit["name"]) as w:
        after = fill(unit, w, context)
    record = {**w.stats, "key": unit["key"]}
    if callable(after):         # the pipeline's follow-up once the shard is stored (prepare: per-video cache)
        after(record)
    st.put_unit(unit["key"], record)
    return record


# ----------------------------------------------------------------------------------------- executors

class Inline:
    """Units one after another in this process (no pool to start; what tests and --workers 1 use)."""
    name = "inline"

    def run(self, fn, jobs: list[tuple], tick=None):
        for i, job in enumerate(jobs):
            try:
                yield i, fn(*job)
            except Exception as e:  # noqa: BLE001 -- a failed unit is reported (and retried) by the core
                yield i, e
            if tick:
                tick()


class Pool:
    """Units on a concurrent.futures pool: processes (spawn: CPU-bound work such as synth) or threads (units
    whose heavy work runs in processes of their own, like prepare's videos). A process that dies fails
    only its unit; the pool is started afresh for what is left."""

    def __init__(self, workers: int, threads: bool = False):
        self.workers, self.threads = max(1, workers), threads
        self.name = f"{'threads' if threads else 'processes'}({self.workers})"

    def _pool(self):
        if self.threads:
            return cf.ThreadPoolExecutor(self.workers)
        return cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))

    def run(self, fn, jobs: list[tuple], tick=None):
        left = list(range(len(jobs)))
        while left:
            broken = []
            with self._pool() as pool:
                futures = {pool.submit(fn, *jobs[i]): i for i in left}
                pending = set(futures)
                while pending:
                    done, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                    for fut in done:
                        i = futures[fut]
                        try:
                            yield i, fut.result()
                        except cf.process.BrokenProcessPool:
                            broken.append(i)     # not necessarily this unit's fault: run it again
                        except Exception as e:  # noqa: BLE001
                            yield i, e
                    if tick:
                        tick()
            if broken and len(broken) == len(left):   # nothing finished: the pool cannot run these
                for i in broken:
                    yield i, BuildError("a worker process died (BrokenProcessPool)")
                return
            left = broken


def executor_for(workers: int):
    return Inline() if workers <= 1 else Pool(workers)


# ----------------------------------------------------------------------------------------- the build

def build(store: Store, units: list[Unit], work: str, *, name: str, config: dict, executor=None,
          context: dict | None = None, retries: int = 0, overwrite: bool = False, software: tuple[str, ...] = (),
          extra: dict | None = None, manifest_extra=None, splits: tuple[str, ...] = SPLITS, tick=None,
          planned=None, on_unit=None) -> BuildResult:
    """Plan -> resume check -> shards -> version (module docstring). Holds the directory's lock throughout
    (a second build into a local directory refuses at once: store.Busy). `overwrite` rebuilds every unit
    (same recipe, same bytes: the store keeps the shard it has). `manifest_extra(records)` adds
    pipeline keys (quality totals, ...) to the manifest; `planned(todo, reused)` hears the plan before
    any unit runs, `on_unit(unit, record)` each unit done, `tick()` the executor's polls (progress bars)."""
    names = [u.name for u in units]
    if len(set(names)) != len(names):
        raise BuildError("the plan names a shard twice")
    executor = executor or Inline()
    with store.lock("build"):
        t0 = time.perf_counter()
        fmt = store.format()
        if fmt == 1:
            raise StoreError(f"{store.root} holds a format-1 dataset: convert it first with `vidshard upgrade "
                             f"{store.root}` (its version stays the same), or write to another directory")
        previous = store.current_id()
        prev_manifest = store.manifest(previous) if previous else None
        records, todo = {}, []
        for u in units:
            rec = None if overwrite else store.unit_record(u.key)
            if rec is None:
                todo.append(u)
            else:
                records[u.name] = rec
        reused = [u.name for u in units if u.name in records]
        fault_point("plan")
        if planned:
            planned(todo, reused)
        t1 = time.perf_counter()
        failed = _run(todo, work, store, context or {}, executor, retries, records, tick, on_unit)
        written = [u.name for u in units if u.name not in failed and u.name not in reused]
        result = BuildResult(None, records, reused, written, [], failed, previous=previous)
        t2 = time.perf_counter()
        result.seconds = {"check": round(t1 - t0, 3), "units": round(t2 - t1, 3)}
        if failed:
            return result
        shards = [(u.name, u.split, records[u.name]) for u in units]
        manifest = make_manifest(name=name, config=config, shards=shards, parent=previous, software=software,
                                 extra={**(extra or {}), **(manifest_extra(records) if manifest_extra else {})},
                                 format_version=FORMAT_VERSION, split_names=list(splits))
        now_shas = {s["sha256"] for s in manifest["shards"]}
        result.dropped = [s["name"] for s in (prev_manifest or {}).get("shards", []) if s["sha256"] not in now_shas]
        manifest["created"] = now_utc()
        manifest["build"] = {"shards_reused": len(reused), "shards_written": len(written),
                             "shards_dropped": len(result.dropped), "executor": getattr(executor, "name", "?")}
        chash = config_hash(config)
        stats = {u.name: {**records[u.name], "shard": u.name, "config_hash": chash} for u in units}
        result.new_version = store.publish(manifest, stats)
        result.manifest = store.manifest(manifest["version"])   # the first build of a version keeps its lineage
        result.seconds["version"] = round(time.perf_counter() - t2, 3)
        store.write_build_record({"version": manifest["version"], "previous": previous, "finished": now_utc(),
                                  "new_version": result.new_version, **manifest["build"], "seconds": result.seconds,
                                  "reused": reused, "written": written, "dropped": result.dropped})
        return result


def _run(todo: list[Unit], work: str, store: Store, context: dict, executor, retries: int, records: dict,
         tick, on_unit) -> dict[str, str]:
    """Run the units (largest first), retrying failed ones up to `retries` times; {name: error} of the rest."""
    order = sorted(todo, key=lambda u: -u.weight)
    failed: dict[str, str] = {}
    for attempt in range(retries + 1):
        if not order:
            break
        jobs = [(work, asdict(u), store.spec(), context) for u in order]
        again = []
        for i, result in executor.run(run_unit, jobs, tick):
            unit = order[i]
            if isinstance(result, BaseException):
                failed[unit.name] = error_line(result)
                again.append(unit)
            else:
                records[unit.name] = result
                failed.pop(unit.name, None)
                if on_unit:
                    on_unit(unit, result)
        order = again
    return failed


def error_line(e: BaseException) -> str:
    """One line for a unit that failed: the task's own exception where there is one (Ray wraps it)."""
    cause = getattr(e, "cause", None)
    if cause is not None:
        e = cause
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300] if text else ''}".rstrip(": ")


def build_summary(result: BuildResult) -> str:
    """'shards: 1 written, 3 reused, 0 dropped; version <id> (new|existing, current)'."""
    line = f"shards: {len(result.written)} written, {len(result.reused)} reused, {len(result.dropped)} dropped"
    if result.manifest is not None:
        line += f"; version {result.manifest['version']} ({'new' if result.new_version else 'built before'}), now current"
    return line
