"""The face check's shortcut: how often the middle crop settles it, and which gate decisions that changes.

Runs the face pipeline (process_video, default config, one process) over every video of the given folders
with a face check that scores all of a clip's checked crops (dlib HOG, the best centred face's score, None
when none is centred), so that every setting of --face-check-sure can be judged from one pass:
  settled      the share of checked clips whose middle crop scores >= T (one HOG scan instead of three)
  changed      clips the full check drops (a crop without a centred face) that the shortcut would keep
  scans/clip   HOG scans a checked clip costs with the shortcut at T

    python bench/face_check.py                                          # the corpus and the shared videos
    python bench/face_check.py --detector full ../shared/data/videos --out bench/results/face_check_full.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIRS = [ROOT.parent / "shared" / "data" / "faces", ROOT.parent / "shared" / "data" / "videos"]
SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
THRESHOLDS = (0.5, 0.8, 1.0, 1.2, 1.5)


def clip_scores(videos: list[Path], detector: str) -> list[dict]:
    """{video, scores: [middle, the others...]} for every clip that reached the face check."""
    from pipelines.faces import quality
    from pipelines.faces.config import FaceConfig
    from pipelines.faces.quality import CropCheck
    from pipelines.faces.video import process_video

    rows, current = [], [None]

    class Recording(CropCheck):
        def __call__(self, frames):
            scores = [self.score(frames[i]) for i in self.order()]
            rows.append({"video": current[0], "scores": scores})
            return sum(s is not None for s in scores) / len(scores)

    quality.CropCheck = Recording       # process_video builds its check from this module at every video
    try:
        for i, v in enumerate(videos):
            current[0] = v.name
            print(f"[{i + 1}/{len(videos)}] {v.name}", file=sys.stderr, flush=True)
            for _ in process_video(v, v.stem, FaceConfig(detector=detector)):
                pass
    finally:
        quality.CropCheck = CropCheck
    if not rows:
        raise SystemExit("bench/face_check.py: no clip reached the face check (is the check still built in "
                         "pipelines.faces.quality?)")
    return rows


def summary(rows: list[dict]) -> dict:
    n = len(rows)
    dropped = [r for r in rows if None in r["scores"]]
    out = {"clips_checked": n, "dropped_by_full_check": len(dropped), "by_threshold": {}}
    for t in THRESHOLDS:
        settles = [r["scores"][0] is not None and r["scores"][0] >= t for r in rows]
        sure = [r for r, s in zip(rows, settles) if s]
        changed = [r for r in sure if None in r["scores"]]
        scans = sum(1 if s else len(r["scores"]) for r, s in zip(rows, settles))
        out["by_threshold"][str(t)] = {"settled_share": round(len(sure) / max(n, 1), 3),
                                       "decisions_changed": len(changed),
                                       "changed_videos": sorted({r["video"] for r in changed}),
                                       "scans_per_clip": round(scans / max(n, 1), 2)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="*", type=Path, default=DEFAULT_DIRS, help="folders of videos")
    p.add_argument("--detector", default="short", choices=("short", "full"))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "face_check.json")
    args = p.parse_args(argv)
    videos = sorted(v for d in args.dirs for v in d.iterdir() if v.suffix.lower() in SUFFIXES)
    if not videos:
        p.error(f"no videos in {', '.join(map(str, args.dirs))}")
    rows = clip_scores(videos, args.detector)
    res = {"detector": args.detector, "inputs": [os.path.relpath(d, ROOT) for d in args.dirs], **summary(rows)}
    for t, r in res["by_threshold"].items():
        print(f"T {t}: {r['settled_share']:.1%} of {res['clips_checked']} clips settled by the middle crop, "
              f"{r['scans_per_clip']} scans a clip (3 without), {r['decisions_changed']} decisions changed")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
