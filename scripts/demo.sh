#!/usr/bin/env bash
# `make demo`: the whole flow on built-in data, no network, no ../shared needed.
#   1. synthetic bouncing balls -> verify -> summary -> one clip as a GIF
#   2. a face video rendered from scikit-image's astronaut photo -> vidshard prepare (Ray) -> verify -> summary -> GIF
#   3. a short DrNet training run on the demo faces -> checkpoint + analogy grid
set -euo pipefail
OUT=${1:-demo_out}
BIN=.venv/bin
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/3 synthetic bouncing balls"
$BIN/vidshard synth balls --out "$OUT/balls" --clips 64 --frames 30 --seed 0
$BIN/vidshard verify "$OUT/balls"
$BIN/vidshard inspect "$OUT/balls" --peek 8
KEY=$($BIN/vidshard inspect "$OUT/balls/train-000000.tar" --keys | head -n 1)
$BIN/vidshard inspect "$OUT/balls" --dump "$KEY" --out "$OUT/balls_clip.gif"

step "2/3 face pipeline on a rendered astronaut video"
$BIN/python -m pipelines.demo_video "$OUT/astronaut.mp4"
$BIN/vidshard prepare --input "$OUT/astronaut.mp4" --out "$OUT/faces" --workers 2 --no-progress
$BIN/vidshard verify "$OUT/faces"
$BIN/vidshard inspect "$OUT/faces" --peek 8
KEY=$($BIN/vidshard inspect "$OUT/faces" --keys | head -n 1)
$BIN/vidshard inspect "$OUT/faces" --dump "$KEY" --out "$OUT/face_clip.gif"

step "3/3 a short DrNet run on the demo faces"
rm -rf "$OUT/drnet"
$BIN/vidshard train drnet --data "$OUT/faces" --preset demo --run-dir "$OUT/drnet" --steps 300 --ckpt-every 300 --sample-every 300 --no-progress

step "done"
echo "balls dataset:   $OUT/balls      (clip: $OUT/balls_clip.gif)"
echo "faces dataset:   $OUT/faces      (clip: $OUT/face_clip.gif)"
echo "DrNet run:       $OUT/drnet      (TensorBoard: .venv/bin/tensorboard --logdir $OUT/drnet/tb)"
echo "  checkpoint:    $(ls -d "$OUT"/drnet/checkpoints/step-* | tail -n 1)"
echo "  analogy grid:  $(ls "$OUT"/drnet/samples/analogy-*.png | tail -n 1)  (row: content of one clip, column: pose of another)"
