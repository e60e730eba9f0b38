"""Incremental builds vs from scratch, and what two versions store (docs/BENCHMARKS.md "Incremental builds").

On the face corpus (../shared/data/faces, 81 videos), 8 videos drawn by random.Random(--seed).sample from
the sorted file names are the ones added; the other 73 are the base. Every build is a fresh process,
`python -m vidshard prepare --executor local --workers 1` with the defaults (OMP_NUM_THREADS=1):

  scratch      the 81 into an empty directory
  base         the 73 into an empty directory
  incremental  the 81 into the base's directory: decodes the 8, reuses the rest

each at --videos-per-shard 1 and 16 (the default; the 16 base is regrouped from the 1 base's per-video
cache, so it decodes nothing, and its incremental build decodes the 8 and rewrites the shards they join).
Per build: wall time of the process; `units` (the build core's phase that decodes and writes shards, from
the build record: the processing time compared); the fixed start-up (the rest: interpreter, imports,
hashing every listed file, the model check, writing the version). The local pool's first start (spawn,
imports, the detector) falls inside `units`: it is measured apart as the `units` of a build of the
smallest video alone, and reported. Storage: the bytes the two versions' shards take in one directory
(each shared shard once) plus the directory's metadata, against two full copies (each version's bytes).

    python bench/versions.py                      # writes bench/results/versions.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "faces"

from shards.store import Store  # noqa: E402


def prepare(out: Path, videos: list[Path], vps: int) -> dict:
    """One build in a fresh process; its wall time, phases (from its build record) and what it printed."""
    argv = [sys.executable, "-m", "vidshard", "prepare", "--out", str(out), "--executor", "local", "--workers", "1",
            "--videos-per-shard", str(vps), "--no-progress"] + [a for v in videos for a in ("--input", str(v))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode not in (0, 3):
        raise SystemExit(f"prepare failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    store = Store(out)
    record = max(store.build_records(), key=lambda r: r["finished"])
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith(("shards:", "videos:"))]
    units = record["seconds"]["units"]
    return {"videos": len(videos), "videos_per_shard": vps, "wall_s": round(wall, 2), "units_s": units,
            "startup_s": round(wall - units, 2), "version": record["version"], "reused": len(record["reused"]),
            "written": len(record["written"]), "dropped": len(record["dropped"]), "printed": lines}


def storage(root: Path, a: str, b: str) -> dict:
    """Bytes two versions take in one directory vs as two full copies."""
    store = Store(root)
    ma, mb = store.manifest(a), store.manifest(b)
    shards = {s["sha256"]: s["bytes"] for m in (ma, mb) for s in m["shards"]}
    meta = sum(p.stat().st_size for sub in ("versions", "units", "cache", "builds", "tags")
               for p in (root / sub).rglob("*") if p.is_file() and not p.is_symlink())
    together = sum(shards.values()) + meta
    copies = ma["totals"]["bytes"] + mb["totals"]["bytes"]
    return {"shards_shared": len({s["sha256"] for s in ma["shards"]} & {s["sha256"] for s in mb["shards"]}),
            "shards_a": len(ma["shards"]), "shards_b": len(mb["shards"]), "store_bytes": sum(shards.values()),
            "metadata_bytes": meta, "two_versions_bytes": together, "two_copies_bytes": copies,
            "ratio": round(together / copies, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "versions.json")
    args = p.parse_args()
    videos = sorted(args.corpus.glob("*.mp4"))
    added = sorted(random.Random(args.seed).sample([v.name for v in videos], 8))
    base = [v for v in videos if v.name not in added]
    result = {"corpus": os.path.relpath(args.corpus, ROOT), "seed": args.seed,
              "added": [{"name": n, "bytes": (args.corpus / n).stat().st_size} for n in added],
              "base_videos": len(base), "all_videos": len(videos)}
    with tempfile.TemporaryDirectory(prefix="vidshard-bench-versions-") as tmp:
        tmp = Path(tmp)
        smallest = min(videos, key=lambda v: v.stat().st_size)
        result["pool_start"] = prepare(tmp / "one", [smallest], 1)
        result["pool_start"]["video"] = smallest.name
        for vps in (1, 16):
            runs = {"scratch": prepare(tmp / f"scratch{vps}", videos, vps)}
            if vps == 1:
                runs["base"] = prepare(tmp / "d1", base, 1)
                shutil.copytree(tmp / "d1", tmp / "d16", symlinks=True)    # the base and its per-video cache
            else:
                runs["base"] = prepare(tmp / "d16", base, 16)               # regrouped from the cache: nothing decoded
            runs["incremental"] = prepare(tmp / f"d{vps}", videos, vps)
            runs["same_version_as_scratch"] = runs["incremental"]["version"] == runs["scratch"]["version"]
            runs["processing_ratio"] = round(runs["incremental"]["units_s"] / runs["scratch"]["units_s"], 3)
            runs["storage"] = storage(tmp / f"d{vps}", runs["base"]["version"], runs["incremental"]["version"])
            result[f"vps{vps}"] = runs
            print(json.dumps({f"vps{vps}": runs}, indent=1), flush=True)
            if vps == 1:   # what the 8 added videos are: frames and clips, from the grown version's records
                grown = Store(tmp / "d1").manifest(runs["incremental"]["version"])
                by_name = {Path(s["path"]).name: s for s in grown["sources"]}
                for a in result["added"]:
                    a.update(frames=by_name[a["name"]].get("frames"), clips=by_name[a["name"]].get("clips"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}: processing incremental / scratch {result['vps1']['processing_ratio']} (1 video a shard), "
          f"{result['vps16']['processing_ratio']} (16)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
