"""The quality gates' and the identity check's figures (docs/BENCHMARKS.md, docs/PIPELINE.md).

    python bench/quality.py check DIR [DIR ...]   # acceptance figures of prepared datasets
    python bench/quality.py cost [VIDEO ...]      # CPU per frame of the gates and the identity check

`check`: for each dataset made by `vidshard prepare` (e.g. on ../shared/data/faces and ../shared/data/videos
with --detector short and full), the independent check (pipelines.faces.evaluate.independent_face_check:
OpenCV's Haar cascades, which neither the tracker nor the gates use) on every frame of every clip, per
source; clips written, cut and dropped by reason; the last frame of any foreman clip. Writes
bench/results/quality_<dataset name>.json.

`cost`: each video processed with the default settings, with the identity check off, and with the quality
gates off (one warm-up pass first; CPU time of this process, one thread): CPU ms per frame, and the gates'
and descriptors' own time as measured inside the pipeline (stats check_s, identity_s). Writes
bench/results/quality_cost.json.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

RESULTS = ROOT / "bench" / "results"
VIDEOS = ROOT.parent / "shared" / "data" / "videos"


def check(root: Path) -> dict:
    from pipelines.faces.evaluate import independent_face_check
    from shards import iter_samples, load_manifest
    m = load_manifest(root)
    by_id = {s["id"]: s for s in m["sources"]}
    hits: dict[str, list[bool]] = {}
    last_foreman = -1
    for shard in m["shards"]:
        for _, frames, meta in iter_samples(root / shard["file"]):
            hits.setdefault(meta["source_id"], []).extend(independent_face_check(f) for f in frames)
            if "foreman" in meta["source_path"]:
                last_foreman = max(last_foreman, meta["frame_indices"][-1])
    per_source = {}
    for sid, s in sorted(by_id.items(), key=lambda kv: kv[1]["path"]):
        per_source[Path(s["path"]).name] = {
            "status": s["status"], "clips": s.get("clips", 0), "candidates": s.get("candidates", 0),
            "rejected": s.get("rejected", {}), "identity_splits": s.get("identity_splits", 0),
            "warnings": s.get("warnings", []),
            "independent": round(float(np.mean(hits[sid])), 4) if sid in hits else None}
    q = m.get("quality", {})
    rates = [v["independent"] for v in per_source.values() if v["independent"] is not None]
    out = {"dataset": root.name, "detector": m["config"]["face"]["detector"], "quality": q,
           "sources": len(per_source), "sources_with_clips": len(rates),
           "independent_min": min(rates), "independent_mean": round(float(np.mean(rates)), 4),
           "below_0.95": {k: v["independent"] for k, v in per_source.items()
                          if v["independent"] is not None and v["independent"] < 0.95},
           "without_clips": [k for k, v in per_source.items() if not v["clips"]],
           "foreman_last_frame": last_foreman, "per_source": per_source}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"quality_{root.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{root}: {out['detector']}: {q.get('written')} clips written of {q.get('candidates')} cut, dropped "
          f"{q.get('rejected')}; independent check per source: min {out['independent_min']:.3f}, mean "
          f"{out['independent_mean']:.3f}, below 0.95 {out['below_0.95']}; without clips {out['without_clips']}; "
          f"foreman's last frame {last_foreman}")
    return out


def cost(videos: list[Path]) -> dict:
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.video import process_video
    settings = {"default": {}, "identity off": {"identity": 0.0},
                "gates off": {"min_face_check": 0.0, "max_padded": 1.0, "min_coverage": 0.0,
                              "min_sharpness": 0.0, "min_contrast": 0.0}}
    rows = []
    for path in videos:
        for detector in ("short", "full"):
            list(process_video(path, "warm", FaceConfig(detector=detector)))   # models, caches
            for name, extra in settings.items():
                st = {}
                t0 = time.process_time()
                n = sum(1 for _ in process_video(path, "v", FaceConfig(detector=detector, **extra), stats=st))
                cpu = time.process_time() - t0
                f = st["frames"]
                rows.append({"video": path.name, "detector": detector, "setting": name, "frames": f, "clips": n,
                             "cpu_ms_per_frame": round(1000 * cpu / f, 3),
                             "check_ms_per_frame": round(1000 * st["check_s"] / f, 3),
                             "identity_ms_per_frame": round(1000 * st["identity_s"] / f, 3),
                             "identity_splits": st["identity_splits"]})
                print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality_cost.json").write_text(json.dumps(rows, indent=1) + "\n")
    return {"rows": rows}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("check", "cost"):
        print(__doc__)
        return 2
    if argv[0] == "check":
        for d in argv[1:]:
            check(Path(d))
    else:
        cost([Path(v) for v in argv[1:]] or sorted(VIDEOS.glob("*.mp4")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
