#!/usr/bin/env bash
# Runs ON the GPU machine, from the repo root: `bash scripts/gpu_run.sh STEP [STEP...]` (see scripts/gpu_session.md).
# Needs .gpu/ (scripts/gpu_prep.sh, carried with carry: [".gpu"]). Steps run in order in one call:
#
#   setup       install the wheels of missing imports into $SITE; synthesize Moving MNIST (skipped if done)
#   check       the CUDA tests: training steps never wait for the GPU (sync debug mode "error")
#   bench       bench/train.py rows for $BENCH_PRESETS -> $OUT/bench/train.json
#   mnist       DrNet on Moving MNIST for $MNIST_DRNET_S s, then the LSTM predictor for $MNIST_LSTM_S s
#               (each resumes its run if it exists; --time-limit stops it with a checkpoint)
#   mnist-eval  vidshard eval of the predictor run (else the DrNet run) -> $OUT/mnist/{eval.json,analogy.png,rollout.gif}
#   faces       the same on .gpu/faces (preset faces); faces-eval -> $OUT/faces/
#
# Every step needs setup's work and does it first if it is missing, so any step may start a call. State
# (installs, data, runs under $WORK) lives only as long as the machine stays warm between calls.
# The whole call is kept under $CALL_BUDGET seconds (default 555): training phases get what is left after
# a reserve for what follows them. Output: $OUT/run.log (everything printed) plus the files above.
#
# CPU smoke test (here): DEVICE=cpu PYTHON=.venv/bin/python OUT=gpu-out plus the small-size overrides
# in scripts/gpu_session.md.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-gpu-out}
WORK=${WORK:-${TMPDIR:-/tmp}/vidshard}         # data and runs on the machine's own disk (its temp folder)
SITE=${SITE:-$WORK/site}                       # where missing wheels are installed
CALL_BUDGET=${CALL_BUDGET:-555}
NPROC=$(nproc)
WORKERS=${WORKERS:-8}                          # loader workers for training
TRAIN_FLAGS=${TRAIN_FLAGS:---channels-last}    # e.g. "--channels-last --compile" after bench
MNIST_DATA=${MNIST_DATA:-$WORK/mmnist}
MNIST_CLIPS=${MNIST_CLIPS:-20000}
MNIST_SYNTH_ARGS=${MNIST_SYNTH_ARGS:-}         # e.g. "--size 32" (CPU smoke)
MNIST_PRESET=${MNIST_PRESET:-mnist}
MNIST_OVERRIDES=${MNIST_OVERRIDES:-channel_swap=true}   # key=value for both phases; channel_swap: docs/RESULTS.md (DrNet, CPU scale)
MNIST_DRNET_S=${MNIST_DRNET_S:-330}
MNIST_LSTM_S=${MNIST_LSTM_S:-110}
FACES_DATA=${FACES_DATA:-.gpu/faces}
FACES_PRESET=${FACES_PRESET:-faces}
# 24 clips: a batch of 100 draws clips with replacement; 20000 clips an epoch keeps epochs long
FACES_OVERRIDES=${FACES_OVERRIDES:-epoch_samples=20000}
FACES_DRNET_S=${FACES_DRNET_S:-300}
FACES_LSTM_S=${FACES_LSTM_S:-100}
DRNET_STEPS=${DRNET_STEPS:-120000}             # the reference schedule; --time-limit usually stops first
LSTM_STEPS=${LSTM_STEPS:-50000}
LOG_EVERY=${LOG_EVERY:-100}
CKPT_EVERY=${CKPT_EVERY:-5000}
EVAL_RESERVE=${EVAL_RESERVE:-75}               # seconds kept for an eval step that follows in the same call
BENCH_PRESETS=${BENCH_PRESETS:-mnist}
BENCH_ARGS=${BENCH_ARGS:-}                     # e.g. "--steps 2 --warmup 1 --workers 0 --clips 40" (CPU smoke)

mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/run.log") 2>&1
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

log() { echo "[gpu_run $(($(date +%s) - T0))s] $*"; }
left() { echo $((T0 + CALL_BUDGET - $(date +%s))); }
die() { log "FAILED: $*"; exit 1; }

# ---- setup -----------------------------------------------------------------------------------------------------
# module -> wheel file prefix in .gpu/wheels (lowercase); FORCE_WHEELS="mod ..." installs those even if present
declare -A WHEEL=([webdataset]=webdataset [braceexpand]=braceexpand [tqdm]=tqdm [yaml]=pyyaml [PIL]=pillow)
ensure_packages() {
    local missing
    missing=$("$PY" -c "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m) is None))" \
              webdataset braceexpand tqdm yaml PIL tensorboard pytest) || die "$PY does not run"
    missing="$missing ${FORCE_WHEELS:-}"
    local files=() m f
    for m in $missing; do
        [ "$m" = tensorboard ] && die "tensorboard is missing on this machine and no wheel travels (see gpu_session.md)"
        [ "$m" = pytest ] && { log "pytest missing: the check step will fail"; continue; }
        f=$(find .gpu/wheels -maxdepth 1 -iname "${WHEEL[$m]}-*.whl" | head -1)
        [ -n "$f" ] || die "no wheel for $m in .gpu/wheels (run scripts/gpu_prep.sh here, carry .gpu)"
        files+=("$f")
    done
    if [ ${#files[@]} -gt 0 ]; then
        log "installing ${files[*]} into $SITE"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "${files[@]}" || die "pip install"
    fi
    "$PY" -c "import webdataset, braceexpand, tqdm, yaml, PIL, torch.utils.tensorboard, torch; \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" \
        || die "imports"
    if [ "$DEVICE" = cuda ]; then "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" || die "no CUDA"; fi
}

ensure_mnist() {
    [ -f "$MNIST_DATA/manifest.json" ] && return
    log "synthesizing $MNIST_CLIPS Moving MNIST clips with $NPROC workers into $MNIST_DATA"
    # channel colours: the reference code's (digit n lit in RGB channel n); resumable, bytes independent of --workers
    "$PY" -m vidshard synth moving-mnist --out "$MNIST_DATA" --clips "$MNIST_CLIPS" --mnist .gpu/mnist \
        --colors channel --shard-size 1000 --workers "$NPROC" $MNIST_SYNTH_ARGS || die "synth"
    du -sh "$MNIST_DATA"
}

SETUP_DONE=
setup() {
    [ -n "$SETUP_DONE" ] && return
    [ -d .gpu/wheels ] && [ -d .gpu/mnist ] || die ".gpu/ is missing: carry [\".gpu\"] (made by scripts/gpu_prep.sh)"
    ensure_packages
    [ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
    SETUP_DONE=1
}

# ---- training ----------------------------------------------------------------------------------------------------
# train RUN_DIR SECONDS STEPS DATA PRESET [key=value ...]: a fresh run, or --resume if RUN_DIR holds one
train() {
    local run=$1 seconds=$2 steps=$3 data=$4 preset=$5
    shift 5
    if [ "$seconds" -lt 5 ]; then log "no time left for $run ($seconds s)"; return 1; fi
    local common=(--time-limit "$seconds" --no-progress --device "$DEVICE" $TRAIN_FLAGS)
    if [ -f "$run/config.json" ]; then
        log "resuming $run for ${seconds}s"
        "$PY" -m vidshard train drnet --resume "$run" "${common[@]}"
    else
        log "training $run for ${seconds}s: preset $preset $*"
        "$PY" -m vidshard train drnet --data "$data" --preset "$preset" --run-dir "$run" --steps "$steps" \
            --workers "$WORKERS" --ckpt-every "$CKPT_EVERY" --keep 2 --log-every "$LOG_EVERY" \
            --sample-every "$CKPT_EVERY" "${common[@]}" "$@"
    fi
    local rc=$?
    [ -f "$run/metrics.jsonl" ] && tail -n 2 "$run/metrics.jsonl"
    return $rc
}

# both phases of one dataset: NAME DATA PRESET DRNET_S LSTM_S "OVERRIDES"; later steps in the call get a reserve
train_pair() {
    local name=$1 data=$2 preset=$3 drnet_s=$4 lstm_s=$5 overrides=$6 reserve=0
    [[ " $REST " == *" $name-eval "* ]] && reserve=$EVAL_RESERVE
    local avail=$(( $(left) - reserve - lstm_s - 30 ))
    [ "$avail" -lt "$drnet_s" ] && drnet_s=$avail
    train "$WORK/runs/$name-drnet" "$drnet_s" "$DRNET_STEPS" "$data" "$preset" $overrides || die "$name drnet"
    avail=$(( $(left) - reserve - 15 ))
    [ "$avail" -lt "$lstm_s" ] && lstm_s=$avail
    train "$WORK/runs/$name-lstm" "$lstm_s" "$LSTM_STEPS" "$data" "$preset" $overrides phase=predictor \
        encoders="$WORK/runs/$name-drnet" || die "$name predictor"
    mkdir -p "$OUT/$name"
    cp "$WORK/runs/$name-drnet/metrics.jsonl" "$OUT/$name/drnet-metrics.jsonl"
    cp "$WORK/runs/$name-lstm/metrics.jsonl" "$OUT/$name/lstm-metrics.jsonl"
}

# evaluate NAME: the predictor run if it has a checkpoint, else the DrNet run
evaluate() {
    local name=$1 run="$WORK/runs/$1-lstm"
    ls "$run"/checkpoints/step-* >/dev/null 2>&1 || run="$WORK/runs/$name-drnet"
    ls "$run"/checkpoints/step-* >/dev/null 2>&1 || die "$name: no run to evaluate (run the $name step first, in this call or the one just before)"
    log "evaluating $run"
    "$PY" -m vidshard eval drnet "$run" --out "$OUT/$name" --device "$DEVICE" || die "$name eval"
    "$PY" - "$OUT/$name/eval.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
keys = ["phase", "eval_clips", "rec_mse", "scene_disc_acc", "probe_target", "probe_content_acc", "probe_pose_acc",
        "probe_chance", "position_r2_pose", "position_r2_content", "swap_mse", "swap_mse_init", "swap_mse_black"]
print({k: r[k] for k in keys if k in r})
for k in ("pred_mse", "pred_ssim", "pred_mse_copy_last", "pred_ssim_copy_last"):
    if k in r:
        print(k, [round(v, 4) for v in r[k]])
print("skipped:", r.get("skipped"))
EOF
}

# ---- steps ---------------------------------------------------------------------------------------------------------
[ $# -gt 0 ] || { sed -n '2,20p' "$0"; exit 2; }
for step in "$@"; do
    case $step in setup|check|bench|mnist|mnist-eval|faces|faces-eval) ;;
        *) die "unknown step $step (setup, check, bench, mnist, mnist-eval, faces, faces-eval)" ;; esac
done
log "steps: $* (device $DEVICE, budget ${CALL_BUDGET}s, $NPROC cores)"
while [ $# -gt 0 ]; do
    step=$1
    shift
    REST="$*"
    setup
    case $step in
        setup) ensure_mnist ;;
        check) "$PY" -m pytest -q -p no:cacheprovider tests/test_drnet.py -k cuda -rs || die "check" ;;
        bench)
            mkdir -p "$OUT/bench"
            "$PY" bench/train.py --presets "$BENCH_PRESETS" --device "$DEVICE" --out "$OUT/bench/train.json" \
                $BENCH_ARGS || die "bench" ;;
        mnist) ensure_mnist
               train_pair mnist "$MNIST_DATA" "$MNIST_PRESET" "$MNIST_DRNET_S" "$MNIST_LSTM_S" "$MNIST_OVERRIDES" ;;
        mnist-eval) evaluate mnist ;;
        faces) train_pair faces "$FACES_DATA" "$FACES_PRESET" "$FACES_DRNET_S" "$FACES_LSTM_S" "$FACES_OVERRIDES" ;;
        faces-eval) evaluate faces ;;
        *) die "unknown step $step (setup, check, bench, mnist, mnist-eval, faces, faces-eval)" ;;
    esac
    log "$step done; $(left)s of the call budget left"
done
