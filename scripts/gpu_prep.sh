#!/usr/bin/env bash
# Prepare .gpu/ HERE (no GPU needed) for a GPU session: what the GPU machine cannot make or fetch itself.
# See scripts/gpu_session.md. Idempotent: a rerun keeps what is already there.
#
#   .gpu/wheels/   cp312 manylinux / pure-Python wheels of the packages shards/ and trainers/ import that a
#                  Python 3.12 + torch + numpy + scipy machine may lack (installed there only if missing)
#   .gpu/mnist/    the MNIST idx files (../shared/data/mnist) for `vidshard synth moving-mnist` there
#   .gpu/faces/    face clip shards built here (the GPU machine cannot run mediapipe/decord/ray)
#
# Env: PYTHON (default .venv/bin/python), SHARED (default ../shared/data), FACE_VIDEOS (default
# $SHARED/videos), FACE_ARGS (extra `vidshard prepare` options), MAX_MIB (default 48: fail above it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SHARED=${SHARED:-../shared/data}
FACE_VIDEOS=${FACE_VIDEOS:-$SHARED/videos}
MAX_MIB=${MAX_MIB:-48}
GPU=.gpu

# .gpu/ never reaches git (not .gitignore: CI would see that edit); the device tool carries it (carry: [".gpu"])
mkdir -p .git/info "$GPU"
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude

# ---- wheels ------------------------------------------------------------------------------------------------
# Imports outside the standard library on the GPU paths (vidshard synth moving-mnist, train, eval, bench):
#   shards/loader.py: webdataset (-> braceexpand, pyyaml), torch, numpy, fsspec (a torch dependency)
#   trainers/metrics.py: braceexpand, PIL;  trainers/runconfig.py: yaml;  vidshard/io.py: PIL;
#   trainers/train.py: tqdm, torch.utils.tensorboard (tensorboard);  pipelines/synthetic: PIL, tqdm;  tests: pytest
# webdataset and braceexpand are missing there; the rest is listed in ../.library/device/KINDS.md as
# installed, so only small fallbacks travel (tensorboard's closure is ~20 MiB: not carried; setup checks it).
# --no-deps: every wheel is named; numpy/torch/scipy are never downloaded.
WHEELS=(webdataset braceexpand tqdm pyyaml pillow)
mkdir -p "$GPU/wheels"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$GPU/wheels" "${WHEELS[@]}"
# one version of each (two would stop pip): keep the newest file per project name
"$PY" - "$GPU/wheels" <<'EOF'
import re, sys
from pathlib import Path
seen = {}
for p in sorted(Path(sys.argv[1]).glob("*.whl"), key=lambda p: p.stat().st_mtime, reverse=True):
    name = re.sub(r"[-_.]+", "_", p.name.split("-")[0]).lower()
    if name in seen:
        print(f"removing older {p.name} (keeping {seen[name]})")
        p.unlink()
    else:
        seen[name] = p.name
EOF

# ---- MNIST -------------------------------------------------------------------------------------------------
mkdir -p "$GPU/mnist"
cp -u "$SHARED"/mnist/*-idx?-ubyte* "$GPU/mnist/"

# ---- face shards -------------------------------------------------------------------------------------------
# clips of 20 frames (observe 10, predict 10: the faces preset), 64x64; resumable (done shards are skipped)
if [ ! -f "$GPU/faces/manifest.json" ]; then
    "$PY" -m vidshard prepare --input "$FACE_VIDEOS" --out "$GPU/faces" --frames 20 --size 64 --no-progress ${FACE_ARGS:-}
fi
"$PY" -m vidshard inspect "$GPU/faces" | head -20

# ---- sizes -------------------------------------------------------------------------------------------------
du -sh "$GPU"/* | sed 's/^/  /'
gpu_kib=$(du -sk "$GPU" | cut -f1)
tree_kib=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "total: .gpu $((gpu_kib / 1024)) MiB + working tree $((tree_kib / 1024)) MiB = $(((gpu_kib + tree_kib) / 1024)) MiB" \
     "(device limit 64 MiB; this script fails above $MAX_MIB)"
if [ $((gpu_kib + tree_kib)) -gt $((MAX_MIB * 1024)) ]; then
    echo "gpu_prep: over $MAX_MIB MiB: fewer face clips (FACE_ARGS='--stride ...') or fewer wheels" >&2
    exit 1
fi
