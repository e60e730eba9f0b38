"""`vidshard report DIR [--out report.html]`: one static HTML page that shows what a dataset holds.

No server and no script: a single file with everything inline (SVG plots, animated WebP thumbnails as data
URIs, CSS), so it opens from disk, attaches to a ticket and renders fast. What it shows:

- totals: shards, clips written and cut, clips dropped by each quality gate, sources ok / without a usable
  face / failed, warnings (truncated files, wrong frame counts), the face settings;
- per source: status, frames, clips written of those cut, drops by reason, tracks, scene cuts and
  identity splits, the failure reason or warning (sources with a problem first; a cap on the ok rows);
- a grid of clips as animated WebP, sampled (a hash of the key picks them, so the same dataset always
  shows the same clips; the page says how many of how many), each clip's quality figures on hover;
- per-track plots (a few sampled tracks): raw detections against the smoothed box (centre x, centre y,
  size over the source's frames), detector attempts that missed, outliers, scene cuts and identity splits,
  and the spans of clips the gates dropped;
- histograms of face size, sharpness, track length and clips per source (written clips against dropped
  ones where both exist).

It reads manifest.json and the shards' stats files (which carry a table of every candidate clip and every
track: `clip_table`, `track_table`, `cut_frames`, written by `vidshard prepare`), and opens only the shards
that hold a sampled clip or track. So its cost grows with the number of shards' stats, not with the clips'
pixels: for 10^5 clips the page stays a few MB (bench/report.py measures it). Synthetic datasets (no
tables) get totals and a thumbnail grid.

`check_page(path)` loads a page in headless Chromium (the DevTools protocol over a pipe: no extra
package) and returns its console errors, load time and a screenshot: what tests/test_report.py and
bench/report.py use; `vidshard report DIR --check` does the same after writing.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from vidshard.cli import entry
from vidshard.errors import InputError
from vidshard.io import save_animation

THUMBS = 120           # animated clips on the page at most
TRACK_PLOTS = 6        # tracks plotted at most
SOURCE_ROWS = 400      # ok sources listed at most (sources with a problem are always listed)
THUMB_FRAMES = 8       # frames of each animation (evenly spread over the clip)
THUMB_SIDE = 96        # px the animations are shown at (scaled by the browser; stored at the clip's size)
FIGURES = ("face_px", "face_px_min", "sharpness", "contrast", "brightness", "coverage", "score_mean",
           "score_min", "padded", "face_check")


class ReportError(InputError):
    """Not a dataset, or nothing to report."""


# ------------------------------------------------------------------------------------------------ reading

def load(root: str | Path) -> dict:
    """The manifest (if any) and every shard's stats, in plan order."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: not a directory")
    manifest = None
    if (root / "manifest.json").exists():
        manifest = json.loads((root / "manifest.json").read_text())
        names = [s["name"] for s in manifest["shards"]]
    else:   # an unfinished build: whatever shards are complete
        names = sorted(p.name[:-len(".stats.json")] for p in root.glob("*.stats.json"))
    if not names:
        raise ReportError(f"{root}: no manifest.json and no shard stats (not a vidshard dataset)")
    stats = []
    for name in names:
        path = root / f"{name}.stats.json"
        stats.append(json.loads(path.read_text()) if path.exists() else {"shard": name, "missing": True})
    return {"root": root, "manifest": manifest, "stats": stats}


def version_dir(ref: str) -> Path:
    """The directory to read for DIR (itself: it reads as its current version) or DIR@VERSION / DIR@TAG (that
    version's local view). StoreError for an unknown version or a dataset at a URL."""
    from shards.store import StoreError, open_version, split_ref
    if split_ref(ref)[1] is None:
        return Path(ref)
    view = open_version(ref).view
    if view is None:
        raise StoreError(f"{ref}: a dataset at a URL has no local view to report on")
    return view


def _rank(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sample_clips(stats: list[dict], n: int) -> list[tuple[str, str]]:
    """(shard, key) of up to n written clips, picked by a hash of the key (the same dataset always gives
    the same sample), in shard and key order. Datasets without clip tables give [] (see shard_keys)."""
    best: list[tuple[str, str, str]] = []
    for st in stats:
        for row in st.get("clip_table", []):
            if not row["reasons"]:
                best.append((_rank(row["key"]), st["shard"], row["key"]))
    best.sort()
    return sorted((shard, key) for _, shard, key in best[:n])


def shard_keys(root: Path, stats: list[dict], n: int, per_shard: int = 50) -> list[tuple[str, str]]:
    """For datasets without clip tables (synthetic data): a hashed sample of the first keys of each shard."""
    best = []
    for st in stats:
        tar = root / f"{st['shard']}.tar"
        if not tar.exists():
            continue
        with tarfile.open(tar) as tf:
            keys = []
            for m in tf:
                if m.name.endswith(".json"):
                    keys.append(m.name[:-len(".json")])
                    if len(keys) >= per_shard:
                        break
        best += [(_rank(k), st["shard"], k) for k in keys]
    best.sort()
    return sorted((shard, key) for _, shard, key in best[:n])


def read_samples(tar_path: Path, want_frames: set[str], want_json) -> dict[str, dict]:
    """{key: {"meta": dict, "frames": array or None}} for the keys asked for, reading only their members."""
    out: dict[str, dict] = {}
    if not tar_path.exists():
        return out
    with tarfile.open(tar_path) as tf:
        for m in tf:
            key, _, suffix = m.name.partition(".")
            if suffix == "frames.npy" and key in want_frames:
                arr = np.load(io.BytesIO(tf.extractfile(m).read()), allow_pickle=False)
                out.setdefault(key, {})["frames"] = arr
            elif suffix == "json" and (key in want_frames or want_json(key)):
                out.setdefault(key, {})["meta"] = json.loads(tf.extractfile(m).read())
    return out


# ------------------------------------------------------------------------------------------------ drawing

def esc(v) -> str:
    return html.escape(str(v), quote=True)


def webp_data_uri(frames: np.ndarray, fps: float) -> str:
    """An animated WebP (THUMB_FRAMES frames spread over the clip, looping) as a data URI."""
    idx = np.unique(np.linspace(0, len(frames) - 1, min(THUMB_FRAMES, len(frames))).round().astype(int))
    step_ms = int(round(1000 * len(frames) / max(fps, 1e-3) / len(idx)))
    buf = io.BytesIO()
    save_animation([frames[i] for i in idx], buf, frame_ms=max(step_ms, 20), format="WEBP", quality=70, method=4)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.3g}"


def svg_histogram(series: dict[str, list[float]], title: str, log: bool = False, bins: int = 30,
                  integer: bool = False) -> str:
    """Overlaid histograms of a few named series (same bins) as an inline SVG, with the counts' scale."""
    vals = [np.asarray([v for v in s if v is not None and np.isfinite(v)], float) for s in series.values()]
    allv = np.concatenate(vals) if vals else np.array([])
    if log:
        allv = allv[allv > 0]
    w, h, pad = 330, 150, 30
    head = f'<figure class="plot"><figcaption>{esc(title)}</figcaption>'
    if len(allv) == 0:
        return head + '<p class="note">no data</p></figure>'
    lo, hi = float(allv.min()), float(allv.max())
    if integer and hi - lo + 1 <= bins:
        edges = np.arange(lo - 0.5, hi + 1.5)
    elif log:
        lo, hi = math.log10(lo), math.log10(max(hi, lo * 1.0001) if hi > 0 else 1)
        edges = 10 ** np.linspace(lo, hi + 1e-9, bins + 1)
    else:
        edges = np.linspace(lo, hi + 1e-9 * max(1, abs(hi)), bins + 1)
    counts = [np.histogram(v[v > 0] if log else v, edges)[0] for v in vals]
    top = max(1, max(int(c.max()) for c in counts))
    nb = len(edges) - 1
    bw = (w - 2 * pad) / nb
    colours = ("#3b75af", "#d6604d", "#4dac26")
    parts = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>']
    for k, c in enumerate(counts):
        for i, n in enumerate(c):
            if n:
                bh = (h - 2 * pad) * n / top
                parts.append(f'<rect x="{pad + i * bw:.1f}" y="{h - pad - bh:.1f}" width="{max(bw - 1, 1):.1f}" '
                             f'height="{bh:.1f}" fill="{colours[k % 3]}" fill-opacity="0.6"><title>'
                             f'{esc(list(series)[k])}: {n} in [{_fmt(edges[i])}, {_fmt(edges[i + 1])})</title></rect>')
    parts.append(f'<text x="{pad}" y="{h - 8}" class="ax">{_fmt(edges[0])}</text>')
    parts.append(f'<text x="{w - pad}" y="{h - 8}" class="ax" text-anchor="end">{_fmt(edges[-1])}'
                 f'{" (log)" if log else ""}</text>')
    parts.append(f'<text x="{pad - 4}" y="{pad + 4}" class="ax" text-anchor="end">{top}</text>')
    for k, name in enumerate(series):
        parts.append(f'<rect x="{w - pad - 110}" y="{6 + 14 * k}" width="10" height="10" fill="{colours[k % 3]}" '
                     f'fill-opacity="0.6"/><text x="{w - pad - 96}" y="{15 + 14 * k}" class="ax">'
                     f'{esc(name)} ({len(vals[k])})</text>')
    parts.append("</svg>")
    return head + "".join(parts) + "</figure>"


def svg_track(title: str, span: tuple[int, int], clips: list[dict], dropped: list[dict], cuts: list[int]) -> str:
    """Three panels (centre x, centre y, size over frames) of one track: smoothed boxes as lines, raw
    detections as dots (outliers red), detector attempts that found nothing as grey ticks, scene cuts and
    identity splits as dashed lines, spans of dropped clips shaded with their reason."""
    w, ph, pad = 640, 90, 36
    f0, f1 = span
    f1 = max(f1, f0 + 1)
    xs = lambda f: pad + (w - 2 * pad) * (f - f0) / (f1 - f0)   # noqa: E731
    series = {"centre x": lambda b: b[0] + b[2] / 2, "centre y": lambda b: b[1] + b[3] / 2,
              "size": lambda b: math.sqrt(max(b[2] * b[3], 0))}
    out = [f'<figure class="track"><figcaption>{esc(title)}</figcaption>']
    sizes = [b[2] for c in clips for b in c["boxes_smoothed"]]
    span_min = max(1.0, 0.2 * float(np.median(sizes))) if sizes else 1.0   # jitter is not magnified to full height
    for name, fn in series.items():
        vals = [fn(b) for c in clips for b in c["boxes_smoothed"]]
        vals += [fn(b) for c in clips for b in c["boxes_raw"] if b is not None]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if hi - lo < span_min:
            mid = (lo + hi) / 2
            lo, hi = mid - span_min / 2, mid + span_min / 2
        ys = lambda v: 6 + (ph - 14) * (1 - (v - lo) / (hi - lo))   # noqa: E731
        p = [f'<svg width="{w}" height="{ph}" viewBox="0 0 {w} {ph}" role="img">']
        for d in dropped:
            a, b = d["frames"]
            p.append(f'<rect x="{xs(a):.1f}" y="2" width="{max(xs(b) - xs(a), 1):.1f}" height="{ph - 8}" '
                     f'fill="#f4cccc"><title>dropped: {esc(", ".join(d["reasons"]))} (frames {a}-{b})</title></rect>')
        for c in cuts:
            if f0 <= c <= f1:
                p.append(f'<line x1="{xs(c):.1f}" y1="0" x2="{xs(c):.1f}" y2="{ph}" stroke="#c00" '
                         f'stroke-dasharray="3,3"><title>scene cut or identity split at frame {c}</title></line>')
        for c in clips:
            fi = c["frame_indices"]
            pts = " ".join(f"{xs(f):.1f},{ys(fn(b)):.1f}" for f, b in zip(fi, c["boxes_smoothed"]))
            p.append(f'<polyline points="{pts}" fill="none" stroke="#3b75af" stroke-width="1.5"/>')
            outl = set(c.get("outliers", []))
            for i, (f, b) in enumerate(zip(fi, c["boxes_raw"])):
                if b is not None:
                    colour = "#c00" if i in outl else "#222"
                    p.append(f'<circle cx="{xs(f):.1f}" cy="{ys(fn(b)):.1f}" r="2" fill="{colour}"/>')
            for i in c.get("detect_attempts", []):
                if c["boxes_raw"][i] is None:
                    p.append(f'<line x1="{xs(fi[i]):.1f}" y1="{ph - 8}" x2="{xs(fi[i]):.1f}" y2="{ph - 2}" '
                             f'stroke="#999"/>')
        p.append(f'<text x="{w - 2}" y="12" class="ax" text-anchor="end">{esc(name)}</text>'
                 f'<text x="{pad - 2}" y="{ph - 8}" class="ax" text-anchor="end">{_fmt(lo)}</text>'
                 f'<text x="{pad - 2}" y="14" class="ax" text-anchor="end">{_fmt(hi)}</text></svg>')
        out.append("".join(p))
    out.append(f'<div class="ax">frames {f0} to {f1}: <span style="color:#3b75af">smoothed box</span>, '
               f'dots raw detections (<span style="color:#c00">red: outliers</span>), grey ticks: detector found '
               f'nothing, dashed red: cut or identity split, shaded: clip dropped</div></figure>')
    return "".join(out)


# ------------------------------------------------------------------------------------------------ the page

CSS = """
body{font:14px system-ui,sans-serif;margin:20px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;
vertical-align:top}th{background:#f4f4f4}.num{text-align:right}.failed{background:#fbe3e3}
.no_face{background:#fff4d6}.warn{background:#fdf0e0}.note{color:#666}
.grid{display:flex;flex-wrap:wrap;gap:6px}.t{position:relative;margin:0}.t img{width:96px;height:96px;
image-rendering:auto;display:block;background:#000}.t figcaption{display:none;position:absolute;left:0;
top:98px;z-index:2;background:#fffffa;border:1px solid #aaa;padding:4px;font-size:11px;white-space:pre;
width:max-content}.t:hover figcaption{display:block}.plots{display:flex;flex-wrap:wrap;gap:16px}
.plot figcaption,.track figcaption{font-weight:600}.ax{font-size:10px;fill:#444;color:#444}
.kv td:first-child{font-weight:600}
"""


def _hover(key: str, meta: dict) -> str:
    q = meta.get("quality") or {}
    lines = [key, f"frames {meta['frame_indices'][0]}-{meta['frame_indices'][-1]}"
             if meta.get("frame_indices") else ""]
    lines += [f"{k}: {q[k]}" for k in FIGURES if q.get(k) is not None]
    return "\n".join(x for x in lines if x)


def sources_section(sources: list[dict], failures: list[dict]) -> list[str]:
    """The sources table: every source with a problem (failed, no face, warnings) first, then the ok ones
    by path up to SOURCE_ROWS (the page says so). Nothing for synthetic data (no source videos)."""
    if not sources:
        return []
    order = {"failed": 0, "no_face": 1}
    listed = sorted(sources, key=lambda s: (order.get(s.get("status"), 3 if not s.get("warnings") else 2),
                                            s.get("path", "")))
    problems = [s for s in listed if s.get("status") != "ok" or s.get("warnings")]
    oks = [s for s in listed if s.get("status") == "ok" and not s.get("warnings")]
    shown = problems + oks[:SOURCE_ROWS]
    h = [f"<h2>Sources ({len(sources)})</h2>"]
    if len(shown) < len(sources):
        h.append(f'<p class="note">Every source with a problem is listed, and the first {SOURCE_ROWS} of the '
                 f'{len(oks)} ok ones (by path).</p>')
    h.append("<table><tr><th>source</th><th>split</th><th>status</th><th>frames</th><th>clips written / cut"
             "</th><th>dropped</th><th>tracks</th><th>cuts / identity splits</th><th>reason, warnings, note</th></tr>")
    for s in shown:
        cls = s.get("status") if s.get("status") != "ok" else ("warn" if s.get("warnings") else "")
        why = "; ".join([s.get("reason", "")] + s.get("warnings", []) + [s.get("note", "")]).strip("; ")
        drop = ", ".join(f"{r} {n}" for r, n in s.get("rejected", {}).items())
        h.append(f'<tr class="{cls}"><td title="{esc(s.get("path", ""))}">{esc(Path(s.get("path", "?")).name)}</td>'
                 f'<td>{esc(s.get("split", ""))}</td><td>{esc(s.get("status", ""))}</td>'
                 f'<td class="num">{s.get("frames", "")}</td>'
                 f'<td class="num">{s.get("clips", 0)} / {s.get("candidates", s.get("clips", 0))}</td>'
                 f'<td>{esc(drop)}</td><td class="num">{s.get("tracks", "")}</td>'
                 f'<td class="num">{s.get("scene_cuts", "")} / {s.get("identity_splits", "")}</td>'
                 f'<td>{esc(why)}</td></tr>')
    h.append("</table>")
    if failures:
        h.append(f"<p>{len(failures)} inputs produced nothing; their reasons are in the table above "
                 "(and in manifest.json <code>failures</code>).</p>")
    return h


def build(root: str | Path, thumbs: int = THUMBS, tracks: int = TRACK_PLOTS, name: str | None = None) -> str:
    """The report page of a dataset directory (or a version's local view), as one HTML string; `name` is
    how the page names what it reports (DIR@VERSION as the user wrote it; default the directory's name)."""
    data = load(root)
    root, manifest, stats = data["root"], data["manifest"], data["stats"]
    sources = [s for st in stats for s in st.get("sources", [])]
    rows = [{**r, "shard": st["shard"]} for st in stats for r in st.get("clip_table", [])]
    track_rows = [{**r, "shard": st["shard"]} for st in stats for r in st.get("track_table", [])]
    cuts = {k: v for st in stats for k, v in st.get("cut_frames", {}).items()}
    has_tables = any("clip_table" in st for st in stats)
    written = sum(st.get("samples", 0) for st in stats)
    rejected: dict[str, int] = {}
    for s in sources:
        for reason, n in s.get("rejected", {}).items():
            rejected[reason] = rejected.get(reason, 0) + n
    cut = sum(s.get("candidates", s.get("clips", 0)) for s in sources) if has_tables else written
    status = {k: sum(s.get("status") == k for s in sources) for k in ("ok", "no_face", "failed")}
    warned = [s for s in sources if s.get("warnings")]
    failures = [f for st in stats for f in st.get("failures", [])]
    by_id = {s["id"]: s for s in sources if "id" in s}

    # --- the sample: thumbnails, then the tracks of the first sampled clips
    sample = sample_clips(stats, thumbs) if has_tables else shard_keys(root, stats, thumbs)
    track_ids = []
    for shard, key in sample:
        src, _, rest = key.rpartition("_t")
        tid = (shard, src, rest.split("_c")[0])
        if has_tables and tid not in track_ids and len(track_ids) < tracks:
            track_ids.append(tid)
    loaded: dict[str, dict] = {}
    for shard in sorted({s for s, _ in sample}):
        want = {k for s, k in sample if s == shard}
        prefixes = tuple(f"{src}_t{t}_c" for s, src, t in track_ids if s == shard)
        loaded.update(read_samples(root / f"{shard}.tar", want, lambda k: k.startswith(prefixes) if prefixes else False))

    title = manifest["name"] if manifest else root.name
    h = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>vidshard report: {esc(title)}"
         f"</title><style>{CSS}</style></head><body>",
         f"<h1>Dataset {esc(title)}" + (f" <small>version {esc(manifest['version'])}</small>" if manifest else "")
         + "</h1>"]
    if not manifest:
        h.append('<p class="failed">No manifest.json: the build did not finish; these are the shards done so far.</p>')
    # --- totals
    kv = [("shards", len(stats)), ("clips written", written)]
    if has_tables:
        kv += [("clips cut (candidates)", cut),
               ("dropped by the quality gates", f"{sum(rejected.values())}" + (
                   " (" + ", ".join(f"{r} {n}" for r, n in sorted(rejected.items(), key=lambda x: -x[1])) + ")"
                   if rejected else ""))]
    kv += [("bytes", f"{sum(st.get('bytes', 0) for st in stats) / 2**20:.1f} MiB"),
           ("sources", f"{len(sources)}: {status['ok']} ok, {status['no_face']} without a usable face, "
                       f"{status['failed']} failed"),
           ("warnings", f"{sum(len(s['warnings']) for s in warned)} in {len(warned)} sources")]
    if manifest:
        splits = manifest.get("splits", {})
        kv.append(("splits", ", ".join(f"{k} {v['samples']}" for k, v in splits.items())))
        face = manifest.get("config", {}).get("face")
        if face:
            kv.append(("face settings", ", ".join(f"{k}={v}" for k, v in face.items())))
    missing = [st["shard"] for st in stats if st.get("missing")]
    if missing:
        kv.append(("shards without stats", ", ".join(missing)))
    h.append('<h2>Totals</h2><table class="kv">' + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                                                          for k, v in kv) + "</table>")
    if rejected:
        from pipelines.faces.quality import REASONS
        h.append("<p>Dropped clips by the first gate each failed (a clip is counted once). Gates, in order: "
                 + ", ".join(f"<b>{r}</b>" for r in REASONS) + ". Every clip cut is written or counted here.</p>")

    # --- histograms
    h.append('<h2>Distributions</h2><div class="plots">')
    if has_tables:
        kept = [r for r in rows if not r["reasons"]]
        gone = [r for r in rows if r["reasons"]]
        both = lambda k: {"written": [r["quality"].get(k) for r in kept],   # noqa: E731
                          "dropped": [r["quality"].get(k) for r in gone]}
        h.append(svg_histogram(both("face_px"), "face size (source px, median over the clip)", log=True))
        h.append(svg_histogram(both("sharpness"), "sharpness (variance of the Laplacian of the face)", log=True))
        h.append(svg_histogram(both("coverage"), "detection coverage (found / attempts)"))
        h.append(svg_histogram({"tracks": [r["frames"][1] - r["frames"][0] + 1 for r in track_rows]},
                               "track length (frames)", log=True))
    if sources:
        h.append(svg_histogram({"sources": [s.get("clips", 0) for s in sources]}, "clips per source", integer=True))
    h.append("</div>")
    # --- thumbnails
    h.append(f"<h2>Clips ({len(sample)} of {written} shown)</h2>")
    h.append(f'<p class="note">A sample of {len(sample)} written clips, picked by a hash of their key (the '
             f'same dataset always shows the same ones), {THUMB_FRAMES} frames of each, looping. Hover for '
             'the clip\'s quality figures. Dropped clips are not stored, so only their figures appear '
             '(histograms, track plots).</p><div class="grid">')
    for shard, key in sample:
        got = loaded.get(key, {})
        if "frames" not in got:
            h.append(f'<figure class="t"><div class="note">{esc(key)}: not found in {esc(shard)}.tar</div></figure>')
            continue
        meta = got.get("meta", {})
        h.append(f'<figure class="t"><img alt="{esc(key)}" src="{webp_data_uri(got["frames"], meta.get("fps", 25.0))}"'
                 f' title="{esc(_hover(key, meta))}"><figcaption>{esc(_hover(key, meta))}</figcaption></figure>')
    h.append("</div>")

    # --- tracks
    if track_ids:
        h.append(f"<h2>Tracks ({len(track_ids)} plotted of {len(track_rows)})</h2>"
                 '<p class="note">The tracks of the first sampled clips, over the frames of their source.</p>'
                 '<div class="plots">')
        for shard, src, t in track_ids:
            prefix = f"{src}_t{t}_c"
            clips = sorted((v["meta"] for k, v in loaded.items() if k.startswith(prefix) and "meta" in v),
                           key=lambda m: m["frame_indices"][0])
            dropped = [r for r in rows if r["shard"] == shard and r["key"].startswith(prefix) and r["reasons"]]
            info = next((r for r in track_rows if r["shard"] == shard and r["source"] == src
                         and str(r["track"]) == t), None)
            span = tuple(info["frames"]) if info else (clips[0]["frame_indices"][0], clips[-1]["frame_indices"][-1])
            name = Path(by_id.get(src, {}).get("path", src)).name
            label = f"{name} track {t}: frames {span[0]}-{span[1]}" + (f", ended by {info['end']}" if info else "")
            h.append(svg_track(label, span, clips, dropped, cuts.get(src, [])))
        h.append("</div>")

    # --- sources
    h += sources_section(sources, failures)
    h.append(f'<p class="note">vidshard report of {esc(name or root.name)}.</p></body></html>')
    return "\n".join(h)


# ------------------------------------------------------------------------------------------------ browser

def chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _onto_3_4(read_fd: int, write_fd: int) -> None:
    """In the child: the pipe ends onto fds 3 and 4 (via copies, in case they already sit on 3 or 4)."""
    a, b = os.dup(read_fd), os.dup(write_fd)
    os.dup2(a, 3)
    os.dup2(b, 4)


class _Pipe:
    """The Chrome DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out; NUL-separated JSON)."""

    def __init__(self, exe: str, width: int, height: int):
        r_in, self.w = os.pipe()    # we write -> chromium's fd 3
        self.r, w_out = os.pipe()   # chromium's fd 4 -> we read
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--hide-scrollbars", "--disable-extensions", f"--window-size={width},{height}",
             f"--user-data-dir={tempfile.gettempdir()}/vidshard-chromium-{os.getpid()}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: _onto_3_4(r_in, w_out))
        os.close(r_in)
        os.close(w_out)
        self.buf, self.next_id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self.read(timeout)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def read(self, timeout: float) -> dict:
        import select
        deadline = time.time() + timeout
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.r], [], [], max(0.0, deadline - time.time()))
            if not ready:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def wait_event(self, method: str, timeout: float) -> dict:
        for m in self.events:
            if m.get("method") == method:
                return m
        deadline = time.time() + timeout
        while True:
            m = self.read(max(0.0, deadline - time.time()))
            self.events.append(m)
            if m.get("method") == method:
                return m

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except Exception:   # noqa: BLE001 -- closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        shutil.rmtree(f"{tempfile.gettempdir()}/vidshard-chromium-{os.getpid()}", ignore_errors=True)


def check_page(path: str | Path, width: int = 1280, height: int = 2000, timeout: float = 120) -> dict:
    """Load a page in headless Chromium: {"errors": console errors and uncaught exceptions, "load_ms": time
    from navigation to the load event (the page's own Navigation Timing), "png": a screenshot of the
    viewport}. Raises FileNotFoundError when no Chromium is installed."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install chromium)")
    b = _Pipe(exe, width, height)
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            b.send(f"{domain}.enable", session=s)
        b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                       "mobile": False}, session=s)
        b.events.clear()
        b.send("Page.navigate", {"url": Path(path).absolute().as_uri()}, session=s, timeout=timeout)
        b.wait_event("Page.loadEventFired", timeout)
        timing = b.send("Runtime.evaluate", {"expression": "JSON.stringify(performance.getEntriesByType("
                                             "'navigation')[0].toJSON())", "returnByValue": True}, session=s)
        nav = json.loads(timing["result"]["value"])
        png = base64.b64decode(b.send("Page.captureScreenshot", {"format": "png"}, session=s, timeout=timeout)["data"])
        errors = []
        for m in b.events:
            p = m.get("params", {})
            if m.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif m.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text", ""))
        return {"errors": errors, "load_ms": float(nav["loadEventEnd"] - nav["startTime"]), "png": png}
    finally:
        b.close()


# ------------------------------------------------------------------------------------------------ command

def report_command(argv) -> int:
    p = argparse.ArgumentParser(prog="vidshard report", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Write one static HTML page about a dataset: totals, every source's "
                                            "status and reasons, a sampled grid of clips (animated), per-track "
                                            "plots of raw and smoothed boxes, histograms of the quality figures.",
                                epilog="examples:\n  vidshard report data/faces --out faces.html\n"
                                       "  vidshard report data/faces --thumbs 300 --check\n"
                                       "  vidshard report data/faces@v1 --out faces-v1.html   # a version (id or tag)\n\n"
                                       "exit status: 0 written, 1 the page failed the --check, 2 DIR is not a dataset")
    p.add_argument("dir", metavar="DIR", help="a dataset directory (its current version), DIR@VERSION (a version "
                   "id or a unique prefix of one) or DIR@TAG")
    p.add_argument("--out", "-o", default="report.html", help="the page to write (default: %(default)s)")
    p.add_argument("--thumbs", type=int, default=THUMBS, help="clips shown as animations (default: %(default)s)")
    p.add_argument("--tracks", type=int, default=TRACK_PLOTS, help="tracks plotted (default: %(default)s)")
    p.add_argument("--check", action="store_true",
                   help="load the page in headless Chromium and report console errors and the load time")
    p.add_argument("--screenshot", metavar="PNG", help="with --check: save the first screen as this PNG")
    args = p.parse_args(argv)
    try:
        page = build(version_dir(args.dir), args.thumbs, args.tracks, name=args.dir)
    except (OSError, json.JSONDecodeError) as e:   # a stats file or shard that cannot be read
        raise ReportError(f"{args.dir}: {e}") from e
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    print(f"vidshard report: wrote {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    if args.check:
        r = check_page(out)
        print(f"chromium: loaded in {r['load_ms']:.0f} ms, {len(r['errors'])} console error(s)")
        if args.screenshot:
            Path(args.screenshot).write_bytes(r["png"])
        for e in r["errors"]:
            print(f"  {e}")
        return 1 if r["errors"] else 0
    return 0


main = entry("report")


if __name__ == "__main__":
    sys.exit(main())
