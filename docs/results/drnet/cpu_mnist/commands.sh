# DrNet at CPU scale on channel-coloured Moving MNIST, 32x32: the long run of the chosen preset (cpu_mnist:
# the learning-curve base with BCE reconstruction, see learning_curves.sh), then the LSTM predictor.
vidshard synth moving-mnist --out data/mmc32 --clips 20000 --split 0.9,0.05,0.05 --shard-size 1000 \
    --mnist ../shared/data/mnist --size 32 --colors channel --seed 0
export OMP_NUM_THREADS=1
# 18,328 steps in 45 minutes (stopped by --time-limit; two other trainings shared the 2 cores)
vidshard train drnet --data data/mmc32 --preset cpu_mnist --steps 60000 --workers 1 --device cpu --threads 1 \
    --log-every 100 --ckpt-every 2500 --eval-every 5000 --sample-every 5000 --time-limit 2700 --run-dir runs/drnet-cpu-mnist
# the predictor on the frozen encoders: 7,355 steps in 15 minutes
vidshard train drnet --data data/mmc32 --preset cpu_mnist phase=predictor encoders=runs/drnet-cpu-mnist --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 900 \
    --run-dir runs/drnet-cpu-mnist-lstm
vidshard eval drnet runs/drnet-cpu-mnist-lstm --out docs/results/drnet/cpu_mnist    # (piece 1's evaluation, replaced below)
# piece 2 (2026-12-03): resumed to 47,401 steps in 40 minutes, then a new predictor on those encoders, 10,607 steps in 15
vidshard train drnet --resume runs/drnet-cpu-mnist --device cpu --threads 1 --time-limit 2400
vidshard train drnet --data data/mmc32 --preset cpu_mnist phase=predictor encoders=runs/drnet-cpu-mnist --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 900 \
    --run-dir runs/drnet-cpu-mnist-lstm2
vidshard eval drnet runs/drnet-cpu-mnist-lstm2 --out docs/results/drnet/cpu_mnist   # eval.json, analogy.png, rollout.gif
# piece 3 (2026-12-03, fourth session), on a copy of the run so that the 47,401-step encoders above stay as they were:
# resumed to 103,787 steps in 110 minutes (beside a vsgan training), then a predictor on those encoders (10,890 steps in
# two pieces, 10 and 14 minutes, the first beside an evaluation), evaluated with the paper's MLP probe on 4,000 fitting and 1,000 held-out clips, positions by channel (piece3/)
cp -a runs/drnet-cpu-mnist runs/drnet-cpu-mnist-p3
vidshard train drnet --resume runs/drnet-cpu-mnist-p3 --steps 200000 --device cpu --threads 1 --time-limit 6600
vidshard train drnet --data data/mmc32 --preset cpu_mnist phase=predictor encoders=runs/drnet-cpu-mnist-p3 --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 600 \
    --run-dir runs/drnet-cpu-mnist-p3-lstm
vidshard train drnet --resume runs/drnet-cpu-mnist-p3-lstm --steps 30000 --time-limit 840
vidshard eval drnet runs/drnet-cpu-mnist-p3-lstm probe=mlp probe_clips=4000 eval_clips=1000 --out docs/results/drnet/cpu_mnist/piece3
# pool_max (sixth session of 2026-12-03): a new run with the pooled content head (content_pool=max; learning_curves.sh),
# launched with --steps 200000 --time-limit 5700 and stopped by hand at step 40,847 after 79 minutes beside a vsgan
# training (for 25 of them a third process); the predictors took the encoders of step 40,000 (the latest checkpoint
# when they started), which is what --steps 40000 below gives. Two predictors on them side by side, 10 + 8 minutes each:
# teacher-forced (the reference code) and on their own outputs over the future steps (lstm_inputs=own), each
# evaluated like piece 3
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max --steps 40000 --workers 1 --device cpu \
    --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 5000 --sample-every 5000 --run-dir runs/drnet-cpu-mnist-pmax
P="--data data/mmc32 --preset cpu_mnist content_pool=max phase=predictor encoders=runs/drnet-cpu-mnist-pmax --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 600"
vidshard train drnet $P --run-dir runs/drnet-cpu-mnist-pmax-lstm
vidshard train drnet $P lstm_inputs=own --run-dir runs/drnet-cpu-mnist-pmax-lstm-own
# both resumed for 8 more minutes, side by side (to 7,356 and 5,591 steps)
vidshard train drnet --resume runs/drnet-cpu-mnist-pmax-lstm --steps 20000 --device cpu --threads 1 --time-limit 480
vidshard train drnet --resume runs/drnet-cpu-mnist-pmax-lstm-own --steps 20000 --device cpu --threads 1 --time-limit 480
vidshard eval drnet runs/drnet-cpu-mnist-pmax-lstm probe=mlp probe_clips=4000 eval_clips=1000 --out docs/results/drnet/cpu_mnist/pool_max
vidshard eval drnet runs/drnet-cpu-mnist-pmax-lstm-own probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/pool_max/lstm_own
# pool_max_decay (2026-12-04): the pooled run's step-40,000 checkpoint continued at a tenth of the learning rate to
# 60,000 steps (27 minutes), then at a hundredth to 65,000 (6 minutes), each on a copy so the run before it stays
# evaluable (lr_decay.txt: the periodic evaluations); a predictor on its own inputs on the 65,000-step encoders
# (9,127 steps in 20 minutes beside another training), evaluated like piece 3
cp -a runs/drnet-cpu-mnist-pmax runs/drnet-pmax-lr2e4    # then drop the copy's checkpoints after step 40,000
vidshard train drnet --resume runs/drnet-pmax-lr2e4 lr=0.0002 --amend --steps 60000 --device cpu --threads 1
cp -a runs/drnet-pmax-lr2e4 runs/drnet-pmax-lr2e5
vidshard train drnet --resume runs/drnet-pmax-lr2e5 lr=0.00002 --amend --steps 65000 --device cpu --threads 1
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max phase=predictor encoders=runs/drnet-pmax-lr2e5 \
    lstm_inputs=own --steps 20000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 \
    --sample-every 0 --time-limit 1200 --run-dir runs/drnet-pmax-lr2e5-lstm-own
vidshard eval drnet runs/drnet-pmax-lr2e5-lstm-own probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/pool_max_decay
# ... the same encoders with a teacher-forced predictor (the reference code; 12,203 steps in 20 minutes), and with
# a teacher-forced predictor on standardised poses (pose_scale=data, new: the first batch's mean and 3 std per
# dimension; 11,979 steps in 20 minutes)
P="--data data/mmc32 --preset cpu_mnist content_pool=max phase=predictor encoders=runs/drnet-pmax-lr2e5 --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 1200"
vidshard train drnet $P --run-dir runs/drnet-pmax-lr2e5-lstm
vidshard train drnet $P pose_scale=data --run-dir runs/drnet-pmax-lr2e5-lstm-scaled
vidshard eval drnet runs/drnet-pmax-lr2e5-lstm probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/pool_max_decay/teacher_forced
vidshard eval drnet runs/drnet-pmax-lr2e5-lstm-scaled probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/pool_max_decay/pose_scale
# nf48 (2026-12-04): the pooled head at nf 48, launched with --steps 200000 --time-limit 4500 and stopped by hand
# at step 30,551 after its evaluation at 30,000 (a SIGTERM to the process group, which then killed the loader worker
# and left no checkpoint after 30,000: fixed this session, 3b56153); its step-30,000 checkpoint continued at lr 2e-4
# to 35,000 on a copy (nf48.txt: the periodic evaluations beside the nf 32 run's)
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=48 --steps 30000 --workers 1 --device cpu \
    --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 5000 --sample-every 5000 --run-dir runs/drnet-pmax-nf48
cp -a runs/drnet-pmax-nf48 runs/drnet-pmax-nf48-lr2e4
vidshard train drnet --resume runs/drnet-pmax-nf48-lr2e4 lr=0.0002 --amend --steps 35000 --device cpu --threads 1
# nf48/pose_scale (2026-12-04): a teacher-forced predictor on standardised poses on the nf 48 encoders at 35,000 steps
# (5,952 steps in its 15 minutes beside another training), evaluated like pool_max_decay
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=48 phase=predictor \
    encoders=runs/drnet-pmax-nf48-lr2e4 pose_scale=data --steps 20000 --workers 1 --device cpu --threads 1 \
    --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 900 --run-dir runs/drnet-pmax-nf48-lstm-scaled
vidshard eval drnet runs/drnet-pmax-nf48-lstm-scaled probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/nf48/pose_scale
# where content's position lives (content_position.txt), on the same 35,000-step nf 48 encoders
python docs/results/drnet/cpu_mnist/content_position.py runs/drnet-pmax-nf48-lr2e4 data/mmc32
# a stronger similarity term on the 35,000-step nf 48 run (2026-12-04), each on a copy, stopped by hand (SIGTERM to
# the trainer) after its evaluation at 37,000; the figures are the periodic evaluations in RUN/eval/step-*/eval.json
cp -a runs/drnet-pmax-nf48-lr2e4 runs/drnet-pmax-nf48-a100
vidshard train drnet --resume runs/drnet-pmax-nf48-a100 alpha=100 --amend --steps 40000 --eval-every 1000 --device cpu --threads 1
cp -a runs/drnet-pmax-nf48-lr2e4 runs/drnet-pmax-nf48-a1e4
vidshard train drnet --resume runs/drnet-pmax-nf48-a1e4 alpha=10000 --amend --steps 40000 --eval-every 1000 --device cpu --threads 1
# the nf 48 run kept at lr 2e-3 (2026-12-04; nf48.txt): its step-30,000 checkpoint resumed on a copy, stopped by hand
# (SIGTERM to the trainer) at 40,354
cp -a runs/drnet-pmax-nf48 runs/drnet-pmax-nf48-long
vidshard train drnet --resume runs/drnet-pmax-nf48-long --steps 55000 --device cpu --threads 1
# similarity terms that shrinking h_c cannot pay (2026-12-04; nf48_similarity.txt), each on a copy of the 35,000-step
# nf 48 run; rel stopped by hand at 37,229, std at 46,525
cp -a runs/drnet-pmax-nf48-lr2e4 runs/drnet-pmax-nf48-rel
vidshard train drnet --resume runs/drnet-pmax-nf48-rel sim=relative alpha=0.1 --amend --steps 40000 --eval-every 1000 --device cpu --threads 1
cp -a runs/drnet-pmax-nf48-lr2e4 runs/drnet-pmax-nf48-std
vidshard train drnet --resume runs/drnet-pmax-nf48-std sim=standardized alpha=0.1 --amend --steps 40000 --eval-every 1000 --device cpu --threads 1
vidshard train drnet --resume runs/drnet-pmax-nf48-std --steps 48000 --eval-every 1000 --device cpu --threads 1
cp -a runs/drnet-pmax-nf48-lr2e4 runs/drnet-pmax-nf48-std1
vidshard train drnet --resume runs/drnet-pmax-nf48-std1 sim=standardized alpha=1 --amend --steps 40000 --eval-every 1000 --device cpu --threads 1
# std-d: the std run's step-40,000 checkpoint (with config.json and metrics.jsonl to that step) at lr 2e-5
mkdir -p runs/drnet-pmax-nf48-std-d/checkpoints && cp -a runs/drnet-pmax-nf48-std/config.json runs/drnet-pmax-nf48-std-d/ \
    && cp -a runs/drnet-pmax-nf48-std/checkpoints/step-00040000 runs/drnet-pmax-nf48-std-d/checkpoints/
vidshard train drnet --resume runs/drnet-pmax-nf48-std-d lr=2e-5 --amend --steps 45000 --eval-every 1000 --device cpu --threads 1
# nf48/standardized: the std run at its last checkpoint (46,525), evaluated like nf48/pose_scale
vidshard eval drnet runs/drnet-pmax-nf48-std probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/nf48/standardized
# sim=standardized from the first step (nf48_standardized_scratch.txt): 30,000 steps at lr 2e-3, then 5,000 at 2e-4 on a copy
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=48 sim=standardized alpha=0.1 \
    --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 5000 \
    --sample-every 5000 --time-limit 4500 --run-dir runs/drnet-pmax-nf48-stdscratch
cp -a runs/drnet-pmax-nf48-stdscratch runs/drnet-pmax-nf48-stdscratch-lr2e4
vidshard train drnet --resume runs/drnet-pmax-nf48-stdscratch-lr2e4 lr=0.0002 --amend --steps 35000 \
    --device cpu --threads 1
vidshard eval drnet runs/drnet-pmax-nf48-stdscratch-lr2e4 probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/nf48/standardized_scratch
# skip connections and width 64 (2026-12-04, fourth session; skip_width.txt, skip_width.png): two one-change runs
# of the nf 48 recipe side by side from step 0, evaluated every 2,500 steps. skip=true stopped by hand (SIGTERM to
# the trainer) after its evaluation at 20,000; nf=64 stopped at 15,019, then resumed (below)
C="--data data/mmc32 --preset cpu_mnist content_pool=max --steps 30000 --workers 1 --device cpu --threads 1 \
    --log-every 100 --ckpt-every 2500 --eval-every 2500 --sample-every 5000"
vidshard train drnet $C nf=48 skip=true --run-dir runs/drnet-pmax-nf48-skip
vidshard train drnet $C nf=64 --run-dir runs/drnet-pmax-nf64
# the skip run's step-20,000 checkpoint on two copies (the later checkpoint dropped): lr 2e-4 alone, and lr 2e-4
# with sim=standardized alpha=0.1, to 25,000, evaluated every 1,000 steps, then each like nf48/pose_scale
for b in lr2e4 std; do cp -a runs/drnet-pmax-nf48-skip runs/drnet-pmax-nf48-skip-$b
    rm -rf runs/drnet-pmax-nf48-skip-$b/checkpoints/step-00020025; done
vidshard train drnet --resume runs/drnet-pmax-nf48-skip-lr2e4 lr=0.0002 --amend --steps 25000 --eval-every 1000 --device cpu --threads 1
vidshard train drnet --resume runs/drnet-pmax-nf48-skip-std lr=0.0002 sim=standardized alpha=0.1 --amend \
    --steps 25000 --eval-every 1000 --device cpu --threads 1
for b in lr2e4 std; do vidshard eval drnet runs/drnet-pmax-nf48-skip-$b probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/nf48/skip_$b; done
# the standardised branch continued to 32,000 (after its evaluation above); nf 64 resumed from 15,019 to 30,000, and
# its step-25,000 checkpoint on a copy (the later ones dropped) at lr 2e-4 to 30,000
vidshard train drnet --resume runs/drnet-pmax-nf48-skip-std --steps 32000 --eval-every 1000 --device cpu --threads 1
vidshard train drnet --resume runs/drnet-pmax-nf64 --steps 30000 --device cpu --threads 1
cp -a runs/drnet-pmax-nf64 runs/drnet-pmax-nf64-lr2e4    # then drop the copy's checkpoints after step 25,000
vidshard train drnet --resume runs/drnet-pmax-nf64-lr2e4 lr=0.0002 --amend --steps 30000 --eval-every 2500 --device cpu --threads 1
vidshard eval drnet runs/drnet-pmax-nf64-lr2e4 probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/nf64_lr2e4
# the nf 48 recipe itself with two other seeds, to 10,000 steps side by side: is pose's lower position R² seed spread?
for s in 1 2; do vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=48 --seed $s --steps 10000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 2500 --sample-every 0 \
    --run-dir runs/drnet-pmax-nf48-seed$s; done
python -m trainers.eval.curves runs/drnet-pmax-nf48-skip runs/drnet-pmax-nf64 runs/drnet-pmax-nf48-skip-lr2e4 \
    runs/drnet-pmax-nf48-skip-std runs/drnet-pmax-nf64-lr2e4 runs/drnet-pmax-nf48-seed1 runs/drnet-pmax-nf48-seed2 \
    --labels skip nf64 skip,lr2e-4 skip,lr2e-4,standardized nf64,lr2e-4 nf48,seed1 nf48,seed2 --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/skip_width.png > docs/results/drnet/cpu_mnist/skip_width.txt
# more steps (2026-12-04, fifth session; nf64_long_curves.{png,txt}): both nf 64 runs continued side by side,
# evaluated every 2,500 steps, on copies (the first piece of nf64-long stopped by SIGTERM at 35,353 and resumed);
# each stopped by SIGTERM to the trainer after its evaluation at 55,000 / 50,000
cp -a runs/drnet-pmax-nf64 runs/drnet-pmax-nf64-long
cp -a runs/drnet-pmax-nf64-lr2e4 runs/drnet-pmax-nf64-lr2e4-long
vidshard train drnet --resume runs/drnet-pmax-nf64-long --steps 80000 --eval-every 2500 --ckpt-every 2500 \
    --device cpu --threads 1 --time-limit 6900    # first piece, stopped by SIGTERM at 35,353 for the pipeline bench
vidshard train drnet --resume runs/drnet-pmax-nf64-long --steps 80000 --eval-every 2500 --ckpt-every 2500 \
    --device cpu --threads 1 --time-limit 6000
vidshard train drnet --resume runs/drnet-pmax-nf64-lr2e4-long --steps 80000 --eval-every 2500 --ckpt-every 2500 \
    --device cpu --threads 1 --time-limit 5700
for r in nf64-long nf64-lr2e4-long; do vidshard eval drnet runs/drnet-pmax-$r probe=mlp probe_clips=4000 \
    eval_clips=1000 --out docs/results/drnet/cpu_mnist/$(echo $r | tr - _); done
python -m trainers.eval.curves runs/drnet-pmax-nf64-long runs/drnet-pmax-nf64-lr2e4-long \
    --labels "nf64 (lr 2e-3)" "nf64, lr 2e-4 from 25k" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/nf64_long_curves.png > docs/results/drnet/cpu_mnist/nf64_long_curves.txt
# the step cost at 64x64 against 32x32 (same model, 400 steps each; steps_per_s in each run's metrics.jsonl)
vidshard synth moving-mnist --out data/mmc64 --clips 2000 --split 0.9,0.05,0.05 --shard-size 500 \
    --mnist ../shared/data/mnist --size 64 --colors channel --seed 0
for sz in 32 64; do d=data/mmc64; [ $sz = 32 ] && d=data/mmc32
    vidshard train drnet --data $d --preset cpu_mnist content_pool=max nf=64 image_size=$sz --steps 400 --workers 1 \
        --device cpu --threads 1 --log-every 100 --ckpt-every 0 --eval-every 0 --sample-every 0 --run-dir runs/drnet-t$sz
done
# the digit reader trained on blurred real frames too (2026-12-04, sixth session): both readers on the same
# generated frames, with controls (reader_blur.txt)
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-lr2e4-long \
    runs/drnet-pmax-nf64-long runs/drnet-pmax-nf64-lr2e4 runs/drnet-pmax-nf48-skip-lr2e4 runs/drnet-pmax-nf48-skip-std \
    > docs/results/drnet/cpu_mnist/reader_blur.txt
# nf64_lr2e4_long/pose_scale: a teacher-forced predictor on standardised poses on the 50,060-step nf 64 encoders
# (5,989 steps in its 30 minutes beside two other trainings), evaluated like nf48/pose_scale
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=64 phase=predictor \
    encoders=runs/drnet-pmax-nf64-lr2e4-long pose_scale=data --steps 20000 --workers 1 --device cpu --threads 1 \
    --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 1800 --run-dir runs/drnet-pmax-nf64-lstm-scaled
vidshard eval drnet runs/drnet-pmax-nf64-lstm-scaled probe=mlp probe_clips=4000 eval_clips=1000 \
    --out docs/results/drnet/cpu_mnist/nf64_lr2e4_long/pose_scale
# channel_swap (new): the 50,060-step nf 64 run continued on two copies side by side to 60,000 at lr 2e-4, one
# with channel_swap=true, one without (the control); evaluated every 2,000 steps
cp -a runs/drnet-pmax-nf64-lr2e4-long runs/drnet-pmax-nf64-swap
cp -a runs/drnet-pmax-nf64-lr2e4-long runs/drnet-pmax-nf64-cont
vidshard train drnet --resume runs/drnet-pmax-nf64-swap channel_swap=true --amend --steps 60000 --eval-every 2000 \
    --ckpt-every 2000 --device cpu --threads 1 --time-limit 3600
vidshard train drnet --resume runs/drnet-pmax-nf64-cont --steps 60000 --eval-every 2000 --ckpt-every 2000 \
    --device cpu --threads 1 --time-limit 3600
# both continuations and the predictor, read by both readers (appended to reader_blur.txt)
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-swap \
    runs/drnet-pmax-nf64-cont runs/drnet-pmax-nf64-lstm-scaled | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
# each digit's position from pose and content, per colour channel (channel_position.txt)
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/channel_position.py data/mmc32 runs/drnet-pmax-nf64-long \
    runs/drnet-pmax-nf48-skip-lr2e4 runs/drnet-pmax-nf64-cont runs/drnet-pmax-nf64-swap \
    > docs/results/drnet/cpu_mnist/channel_position.txt
# channel_swap from the first step (2026-12-04, sixth session; channel_swap_curves.{png,txt}): the nf 64 recipe with
# and without it, side by side from step 0 (the control reproduces runs/drnet-pmax-nf64 exactly: same seed, same
# figures at 10,000), each stopped by --time-limit 3000 after its evaluation at 15,000; swap0 then resumed to 25,000
for v in swap0:channel_swap=true ctl0:; do n=${v%%:*}; o=${v#*:}
    vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=64 $o --steps 30000 --workers 1 \
        --device cpu --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 5000 --sample-every 0 \
        --time-limit 3000 --run-dir runs/drnet-pmax-nf64-$n
done
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0 --steps 25000 --eval-every 5000 --ckpt-every 2500 \
    --device cpu --threads 1 --time-limit 2100
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-swap0:step-00015000 \
    runs/drnet-pmax-nf64-ctl0:step-00015000 | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/channel_position.py data/mmc32 \
    runs/drnet-pmax-nf64-swap0:step-00015000 runs/drnet-pmax-nf64-ctl0:step-00015000 \
    >> docs/results/drnet/cpu_mnist/channel_position.txt
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64:step-00025000 \
    | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-swap0:step-00025000 \
    | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
python -m trainers.eval.curves runs/drnet-pmax-nf64-swap0 runs/drnet-pmax-nf64-ctl0 \
    --labels "nf64, channel_swap" "nf64 (control)" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/channel_swap_curves.png > docs/results/drnet/cpu_mnist/channel_swap_curves.txt
# the swap run's 25,000-step checkpoint continued at lr 2e-4 to 30,000 on a copy (as nf64_lr2e4 was)
cp -a runs/drnet-pmax-nf64-swap0 runs/drnet-pmax-nf64-swap0-lr2e4
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-lr2e4 lr=0.0002 --amend --steps 30000 --eval-every 5000 \
    --ckpt-every 2500 --device cpu --threads 1 --time-limit 1000
# the channel_swap run at 30,000 (2026-12-05, seventh session): the full evaluation (swap0_lr2e4/) and both readers
vidshard eval drnet runs/drnet-pmax-nf64-swap0-lr2e4 probe=mlp probe_clips=4000 eval_clips=1000 --device cpu \
    --out docs/results/drnet/cpu_mnist/swap0_lr2e4
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-swap0-lr2e4 \
    | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
# ... continued on a copy at lr 2e-4 to 50,000, evaluated every 5,000 (channel_swap_long_curves.{png,txt}), read by both readers
cp -a runs/drnet-pmax-nf64-swap0-lr2e4 runs/drnet-pmax-nf64-swap0-lr2e4-long
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-lr2e4-long --steps 50000 --eval-every 5000 --ckpt-every 2500 \
    --device cpu --threads 1 --time-limit 3600
python -m trainers.eval.curves runs/drnet-pmax-nf64-swap0-lr2e4-long --labels "nf64, channel_swap (lr 2e-4 from 25k)" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/channel_swap_long_curves.png > docs/results/drnet/cpu_mnist/channel_swap_long_curves.txt
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-swap0-lr2e4-long \
    | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
# a second decay: the 50,000-step checkpoint on a copy at lr 5e-5 to 55,000, then its full evaluation (swap0_lr5e5/)
cp -a runs/drnet-pmax-nf64-swap0-lr2e4-long runs/drnet-pmax-nf64-swap0-lr5e5
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-lr5e5 lr=0.00005 --amend --steps 55000 --eval-every 2500 \
    --ckpt-every 2500 --device cpu --threads 1 --time-limit 1500
vidshard eval drnet runs/drnet-pmax-nf64-swap0-lr5e5 probe=mlp probe_clips=4000 eval_clips=1000 --device cpu \
    --out docs/results/drnet/cpu_mnist/swap0_lr5e5
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/reader_blur.py data/mmc32 runs/drnet-pmax-nf64-swap0-lr5e5 \
    | tail -n +3 >> docs/results/drnet/cpu_mnist/reader_blur.txt
# swap0_lr2e4_long/pose_scale: a teacher-forced predictor on standardised poses, with channel_swap, on the 50,000-step
# channel_swap encoders (8,662 steps in 30 minutes beside another training), evaluated at its last checkpoint
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=64 channel_swap=true phase=predictor \
    encoders=runs/drnet-pmax-nf64-swap0-lr2e4-long pose_scale=data --steps 20000 --workers 1 --device cpu --threads 1 \
    --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 1800 --run-dir runs/drnet-pmax-nf64-swap-lstm
vidshard eval drnet runs/drnet-pmax-nf64-swap-lstm probe=mlp probe_clips=4000 eval_clips=1000 --device cpu \
    --out docs/results/drnet/cpu_mnist/swap0_lr2e4_long/pose_scale
# ... that predictor continued on a copy to 16,239 steps (25 more minutes), evaluated the same way
cp -a runs/drnet-pmax-nf64-swap-lstm runs/drnet-pmax-nf64-swap-lstm-long
vidshard train drnet --resume runs/drnet-pmax-nf64-swap-lstm-long --steps 20000 --device cpu --threads 1 --time-limit 1500
vidshard eval drnet runs/drnet-pmax-nf64-swap-lstm-long probe=mlp probe_clips=4000 eval_clips=1000 --device cpu \
    --out docs/results/drnet/cpu_mnist/swap0_lr2e4_long/pose_scale_long
# ... and that run resumed at lr 5e-5 to 62,500 (periodic evaluations only; swap0_lr5e5/ stays the 55,000-step one)
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-lr5e5 --steps 62500 --eval-every 2500 --ckpt-every 2500 \
    --device cpu --threads 1 --time-limit 1200
# two checks on what bounds the swaps (2026-12-05, eighth session), on the 62,500-step channel_swap checkpoint:
# the evaluation on train-split clips (swap0_lr5e5/train_split_62k/; shards read in place find the manifest) ...
vidshard eval drnet runs/drnet-pmax-nf64-swap0-lr5e5 --data 'data/mmc32/train-00000{0,1}.tar' eval_clips=1000 \
    probe_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/swap0_lr5e5/train_split_62k
# ... and BatchNorm's running statistics against batch statistics
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/bn_mode.py data/mmc32 runs/drnet-pmax-nf64-swap0-lr5e5 \
    > docs/results/drnet/cpu_mnist/bn_mode.txt
# ... and a third decay: the 62,500-step checkpoint on a copy at lr 1.25e-5 to 67,500 (periodic evaluations only)
cp -a runs/drnet-pmax-nf64-swap0-lr5e5 runs/drnet-pmax-nf64-swap0-lr125e7
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-lr125e7 lr=0.0000125 --amend --steps 67500 --eval-every 2500 \
    --ckpt-every 2500 --device cpu --threads 1 --time-limit 2400
# 64x64 (2026-12-05, eighth session; the frame size, the lever left): the channel_swap recipe on 20,000 clips at 64x64
# (digits 32 px), in time-limited pieces resumed across sessions (--resume with the same --steps)
vidshard synth moving-mnist --out data/mmc64 --clips 20000 --split 0.9,0.05,0.05 --shard-size 1000 \
    --mnist ../shared/data/mnist --size 64 --colors channel --seed 0
vidshard train drnet --data data/mmc64 --preset cpu_mnist image_size=64 content_pool=max nf=64 channel_swap=true \
    --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 1000 --eval-every 2500 \
    --sample-every 0 --time-limit 9000 --run-dir runs/drnet64-pmax-nf64-swap0
vidshard train drnet --resume runs/drnet64-pmax-nf64-swap0 --steps 30000 --device cpu --threads 1 --time-limit 9000
python -m trainers.eval.curves runs/drnet64-pmax-nf64-swap0 runs/drnet-pmax-nf64-swap0 \
    --labels "64x64, channel_swap" "32x32, channel_swap" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/size64_curves.png > docs/results/drnet/cpu_mnist/size64_curves.txt
cp runs/drnet64-pmax-nf64-swap0/eval/step-00007500/analogy.png docs/results/drnet/cpu_mnist/analogy_size64_7500.png
# a deeper decoder (2026-12-05, ninth session): the channel_swap recipe with dec_depth=1 (a 3x3 conv after each
# upsampling, the pixels drawn by a 3x3 conv from nf/2 full-size maps), from step 0, against runs/drnet-pmax-nf64-swap0
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=64 channel_swap=true dec_depth=1 \
    --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 5000 \
    --sample-every 0 --time-limit 9000 --run-dir runs/drnet-pmax-nf64-swap0-dd1
# (stopped by hand after its evaluation at 10,000 steps: behind runs/drnet-pmax-nf64-swap0 at 5,000 and 10,000)
# --channels-last: the same networks 19 % faster on this CPU (docs/BENCHMARKS.md "Training"); the 64x64 run resumed
# with it from its step-14,525 checkpoint (it took SIGTERM and saved)
vidshard train drnet --resume runs/drnet64-pmax-nf64-swap0 --steps 30000 --device cpu --threads 1 --channels-last \
    --time-limit 9000
# width 96 (2026-12-05, ninth session): the channel_swap recipe with nf=96, from step 0, against nf 64 (swap0)
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true --steps 30000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 5000 --sample-every 0 \
    --channels-last --time-limit 9000 --run-dir runs/drnet-pmax-nf96-swap0
# ... resumed across sessions with the same --steps (then the swap0 schedule: a copy at lr 2e-4 from 25,000)
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0 --steps 30000 --device cpu --threads 1 --channels-last \
    --time-limit 9000
# the curves of this session's two one-change runs against swap0, and the 64x64 run's (size64_curves above)
python -m trainers.eval.curves runs/drnet-pmax-nf96-swap0 runs/drnet-pmax-nf64-swap0 runs/drnet-pmax-nf64-swap0-dd1 \
    --labels "nf96, channel_swap" "nf64, channel_swap" "nf64, channel_swap, dec_depth=1" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/width96_curves.png > docs/results/drnet/cpu_mnist/width96_curves.txt
cp runs/drnet64-pmax-nf64-swap0/eval/step-00020000/analogy.png docs/results/drnet/cpu_mnist/analogy_size64_20000.png
# checkpoint averaging (2026-12-05, tenth session): the five late channel_swap checkpoints (lr 5e-5 and 1.25e-5)
# averaged, against the last alone (ckpt_average.txt)
R=runs/drnet-pmax-nf64-swap0
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/ckpt_average.py data/mmc32 $R-lr5e5:step-00057500 \
    $R-lr5e5:step-00060000 $R-lr5e5:step-00062500 $R-lr125e7:step-00065000 $R-lr125e7:step-00067500 \
    > docs/results/drnet/cpu_mnist/ckpt_average.txt
# width 96 resumed to 25,000 (tenth session), then the swap0 schedule on a copy: lr 2e-4 from 25,000
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0 --steps 30000 --device cpu --threads 1 --channels-last \
    --time-limit 9000     # stopped by hand after its evaluation at 25,000
cp -a runs/drnet-pmax-nf96-swap0 runs/drnet-pmax-nf96-swap0-lr2e4    # then rm its checkpoints after step-00025000
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-lr2e4 lr=0.0002 --amend --steps 50000 --eval-every 2500 \
    --device cpu --threads 1 --channels-last --time-limit 9000
# content_split (tenth session): the channel_swap recipe with the content encoder reading each colour channel alone,
# from step 0, against runs/drnet-pmax-nf64-swap0; and the same with circular padding in the content encoder
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=64 channel_swap=true content_split=true \
    --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 --eval-every 2500 \
    --sample-every 0 --channels-last --time-limit 9000 --run-dir runs/drnet-pmax-nf64-swap0-split
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=64 channel_swap=true content_split=true \
    content_pad=circular --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 \
    --eval-every 2500 --sample-every 0 --channels-last --time-limit 9000 --run-dir runs/drnet-pmax-nf64-swap0-split-circ
# ... its 35,000-step checkpoint on another copy at lr 5e-5 (the 2e-4 run stopped by hand at 35,059)
cp -a runs/drnet-pmax-nf96-swap0-lr2e4 runs/drnet-pmax-nf96-swap0-lr5e5   # then rm its checkpoints after step-00035000
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-lr5e5 lr=0.00005 --amend --steps 45000 --eval-every 2500 \
    --device cpu --threads 1 --channels-last --time-limit 9000
# ... the whole schedule of each width, as the last copies hold it
python -m trainers.eval.curves runs/drnet-pmax-nf96-swap0-lr5e5 runs/drnet-pmax-nf64-swap0-lr5e5 \
    --labels "nf96: lr 2e-3, 2e-4 from 25k, 5e-5 from 35k" "nf64: lr 2e-3, 2e-4 from 25k, 5e-5 from 50k" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/width96_decay_curves.png > docs/results/drnet/cpu_mnist/width96_decay_curves.txt
# full evaluations (stopped by hand at 40,053 and 15,045 for them): width 96 at the end of its second decay, and
# content_split + circular padding at 15,000 (still at lr 2e-3)
vidshard eval drnet runs/drnet-pmax-nf96-swap0-lr5e5 --checkpoint step-00040000 probe=mlp probe_clips=4000 \
    eval_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/nf96_lr5e5
vidshard eval drnet runs/drnet-pmax-nf64-swap0-split-circ --checkpoint step-00015000 probe=mlp probe_clips=4000 \
    eval_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_15k
# the split-circ curves: resume with
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-split-circ --steps 30000 --device cpu --threads 1 \
    --channels-last --time-limit 9000
# nf 96 with content_split and circular padding (started at the end of the tenth session; resume with --resume)
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true \
    content_pad=circular --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 \
    --eval-every 2500 --sample-every 0 --channels-last --time-limit 1800 --run-dir runs/drnet-pmax-nf96-swap0-split-circ
# eleventh session (2026-12-05): the width-96 run's 40,000-step checkpoint read on all 1,000 held-out clips
# (read_clips, new; nf96_lr5e5/eval.json now), and how blurred its reconstructions are in the reader's terms
vidshard eval drnet runs/drnet-pmax-nf96-swap0-lr5e5 --checkpoint step-00040000 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/nf96_lr5e5
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/recon_blur.py data/mmc32 \
    runs/drnet-pmax-nf96-swap0-lr5e5:step-00040000 1000 > docs/results/drnet/cpu_mnist/recon_blur.txt
# content_split + circular padding, nf 64: its 20,000-step checkpoint on a copy at lr 2e-4 to 30,000
cp -a runs/drnet-pmax-nf64-swap0-split-circ runs/drnet-pmax-nf64-swap0-split-circ-lr2e4  # then rm step-00020090
vidshard train drnet --resume runs/drnet-pmax-nf64-swap0-split-circ-lr2e4 lr=0.0002 --amend --steps 30000 \
    --eval-every 2500 --device cpu --threads 1 --channels-last --time-limit 4200
vidshard eval drnet runs/drnet-pmax-nf64-swap0-split-circ-lr2e4 --checkpoint step-00030000 probe=mlp \
    probe_clips=4000 eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_lr2e4_30k
# a teacher-forced predictor on standardised poses on the width-96 encoders at 40,000 steps (30 minutes beside
# two other processes, then 20 more beside one), evaluated on all 1,000 held-out clips
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true phase=predictor \
    encoders=runs/drnet-pmax-nf96-swap0-lr5e5/checkpoints/step-00040000 pose_scale=data --steps 20000 --workers 1 \
    --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 1800 \
    --run-dir runs/drnet-pmax-nf96-lstm
vidshard train drnet --resume runs/drnet-pmax-nf96-lstm --steps 20000 --device cpu --threads 1 --time-limit 1200
vidshard eval drnet runs/drnet-pmax-nf96-lstm probe=mlp probe_clips=4000 eval_clips=1000 read_clips=1000 \
    --device cpu --out docs/results/drnet/cpu_mnist/nf96_lr5e5/pose_scale
# the nf 96 split + circular run resumed (stopped by its --time-limit), and its 10,000-step checkpoint in full
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ --steps 30000 --device cpu --threads 1 \
    --channels-last --time-limit 8400
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ --checkpoint step-00010000 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_nf96_10k
# split_curves.{png,txt}: the content_split runs (the nf 64 circular one through its decay copy) beside the recipe
python -m trainers.eval.curves runs/drnet-pmax-nf64-swap0-split runs/drnet-pmax-nf64-swap0-split-circ-lr2e4 \
    runs/drnet-pmax-nf96-swap0-split-circ runs/drnet-pmax-nf64-swap0 --labels "content_split" \
    "content_split, content_pad=circular (lr 2e-4 from 20k)" "the same at nf 96 (lr 2e-3)" "channel_swap recipe (nf64)" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/split_curves.png > docs/results/drnet/cpu_mnist/split_curves.txt
# the width-96 predictor continued on a copy (to 9,699 steps), evaluated the same way
cp -a runs/drnet-pmax-nf96-lstm runs/drnet-pmax-nf96-lstm-long
vidshard train drnet --resume runs/drnet-pmax-nf96-lstm-long --steps 20000 --device cpu --threads 1 --time-limit 1200
vidshard eval drnet runs/drnet-pmax-nf96-lstm-long probe=mlp probe_clips=4000 eval_clips=1000 read_clips=1000 \
    --device cpu --out docs/results/drnet/cpu_mnist/nf96_lr5e5/pose_scale_long
# twelfth session (2026-12-05, a new machine: the runs above were not on it). Anti-aliased downsampling on the split
# content encoder (content_blur=true) at nf 96 ran at about 3 s a step against 1 without it, and was stopped after 24
# steps; instead two one-change runs of the nf 96 split + circular run from step 0, side by side: the similarity weight
# 10 times the paper's (stopped by hand after its evaluation at 2,500), and content_shift (new: every content frame
# rolled circularly at random in training; stopped by hand after its evaluation at 5,000)
vidshard synth moving-mnist --out data/mmc32 --clips 20000 --split 0.9,0.05,0.05 --shard-size 1000 \
    --mnist ../shared/data/mnist --size 32 --colors channel --seed 0
S="--data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true content_pad=circular"
vidshard train drnet $S alpha=10 --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 \
    --eval-every 2500 --sample-every 0 --channels-last --time-limit 9000 --run-dir runs/drnet-pmax-nf96-swap0-split-circ-a10
vidshard train drnet $S content_shift=true --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 \
    --ckpt-every 2500 --eval-every 2500 --sample-every 0 --channels-last --time-limit 9000 \
    --run-dir runs/drnet-pmax-nf96-swap0-split-circ-shift
# the content_shift run's 5,000-step checkpoint in full
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-shift --checkpoint step-00005000 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_shift_5k
# the control: the nf 96 split + circular run again on this machine (the tenth session's command above, stopped by hand
# after its evaluation at 2,500, which gives the earlier machine's figures to the last digit), and the curves
vidshard train drnet $S --steps 30000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2500 \
    --eval-every 2500 --sample-every 0 --channels-last --time-limit 9000 --run-dir runs/drnet-pmax-nf96-swap0-split-circ
# the control's 2,500-step checkpoint on two copies with the standardised similarity term, to 5,000 steps
for a in 0.1 0.01; do
    cp -a runs/drnet-pmax-nf96-swap0-split-circ runs/drnet-pmax-nf96-swap0-split-circ-std$a   # then rm step-00002680
    vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std$a sim=standardized alpha=$a --amend \
        --steps 5000 --eval-every 1250 --device cpu --threads 1 --channels-last --time-limit 3000
done
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-std0.01 --checkpoint step-00005000 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_5k
python -m trainers.eval.curves runs/drnet-pmax-nf96-swap0-split-circ runs/drnet-pmax-nf96-swap0-split-circ-shift \
    runs/drnet-pmax-nf96-swap0-split-circ-a10 runs/drnet-pmax-nf96-swap0-split-circ-std0.01 \
    runs/drnet-pmax-nf96-swap0-split-circ-std0.1 --labels "nf96 split + circular (this machine, to 2.5k)" \
    "… content_shift=true" "… alpha=10" "… sim=standardized alpha=0.01 from 2.5k" "… sim=standardized alpha=0.1 from 2.5k" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/shift_alpha_curves.png > docs/results/drnet/cpu_mnist/shift_alpha_curves.txt
# thirteenth session (2026-12-06, the same machine as the twelfth: its runs were still there, the processes not).
# The sim=standardized alpha=0.01 run, continued from its 5,000-step checkpoint at lr 2e-3 (the recipe's 25,000
# before the first decay), in time-limited pieces
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01 --steps 30000 --eval-every 2500 \
    --time-limit 9000
# sim=contrastive (new: InfoNCE between each clip's two content frames, the batch's other clips as negatives) on a
# copy of the control's 2,500-step checkpoint, as the standardised branch; stopped at 5,000
cp -a runs/drnet-pmax-nf96-swap0-split-circ runs/drnet-pmax-nf96-swap0-split-circ-con0.01   # then rm step-00002680
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-con0.01 sim=contrastive alpha=0.01 --amend \
    --steps 5000 --eval-every 1250 --device cpu --threads 1 --channels-last --time-limit 4500
# an early first decay: the standardised run's 7,500-step checkpoint on a copy at lr 2e-4
cp -a runs/drnet-pmax-nf96-swap0-split-circ-std0.01 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-lr2e4  # rm step-00005000
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01-lr2e4 lr=2e-4 --amend --steps 30000 \
    --eval-every 2500 --device cpu --threads 1 --channels-last --time-limit 6600
# whose fault a misread is (h_c's or the drawing's), on the checkpoints named in RESULTS.md
# the 5,000 and 10,000-step checkpoints of the standardised run
for s in 00005000 00010000; do
    python docs/results/drnet/cpu_mnist/misreads.py data/mmc32 runs/drnet-pmax-nf96-swap0-split-circ-std0.01:step-$s 1000 4000
done > docs/results/drnet/cpu_mnist/misreads.txt   # (the header line added by hand)
# the standardised run at 10,000 steps in full
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-std0.01 --checkpoint step-00010000 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_10k
# the curves of this session's runs (the lr 2e-4 copy stopped by hand after its evaluation at 12,500)
python -m trainers.eval.curves runs/drnet-pmax-nf96-swap0-split-circ-std0.01 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-lr2e4 \
    runs/drnet-pmax-nf96-swap0-split-circ-con0.01 --labels "nf96 split + circular, sim=standardized alpha=0.01 from 2.5k (lr 2e-3)" \
    "… lr 2e-4 from 7.5k" "nf96 split + circular, sim=contrastive alpha=0.01 from 2.5k" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/std_schedule_curves.png > docs/results/drnet/cpu_mnist/std_schedule_curves.txt
# fourteenth session (2026-12-06, the same machine again). The standardised run continued at lr 2e-3 from 14,571
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01 --steps 30000 --eval-every 2500 \
    --time-limit 7800 --device cpu --threads 1
# decoder=broadcast (new: a spatial broadcast decoder, Watters et al. 2019) on the standardised recipe from scratch:
# 2,500 steps as the control (sim mse, alpha 1), then the standardised term at alpha 0.01 on the same run dir
R=runs/drnet-pmax-nf96-swap0-split-circ-bcast
vidshard train drnet $S decoder=broadcast --steps 2500 --workers 1 --device cpu --threads 1 --log-every 100 \
    --ckpt-every 2500 --eval-every 2500 --sample-every 0 --channels-last --run-dir $R
vidshard train drnet --resume $R sim=standardized alpha=0.01 --amend --steps 30000 --eval-every 2500 \
    --device cpu --threads 1 --channels-last --time-limit 4200   # stopped by hand after its evaluation at 5,000
# the standardised run's swaps flattened at lr 2e-3 (0.721 / 0.734 / 0.738 at 15k / 17.5k / 20k): stopped at 20,230
# (its SIGTERM checkpoint), and the first decay taken at 20,000 on a copy
cp -a runs/drnet-pmax-nf96-swap0-split-circ-std0.01 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k  # rm step-00020230
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k lr=2e-4 --amend --steps 30000 \
    --eval-every 1250 --device cpu --threads 1 --channels-last --time-limit 2700
# misreads at 20,000 (before the decay) and at the decayed copy's 22,500, appended to misreads.txt
python docs/results/drnet/cpu_mnist/misreads.py data/mmc32 runs/drnet-pmax-nf96-swap0-split-circ-std0.01:step-00020000 1000 4000
python docs/results/drnet/cpu_mnist/misreads.py data/mmc32 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k:step-00022500 1000 4000
# the decayed copy's 22,500-step checkpoint in full
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k --checkpoint step-00022500 probe=mlp \
    probe_clips=4000 eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_22500
# the curves, with this session's runs (rerun with the 5e-5 branch further down, which overwrites them)
python -m trainers.eval.curves runs/drnet-pmax-nf96-swap0-split-circ-std0.01 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-lr2e4 \
    runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k runs/drnet-pmax-nf96-swap0-split-circ-con0.01 \
    runs/drnet-pmax-nf96-swap0-split-circ-bcast --labels "nf96 split + circular, sim=standardized alpha=0.01 from 2.5k (lr 2e-3)" \
    "… lr 2e-4 from 7.5k" "… lr 2e-4 from 20k" "nf96 split + circular, sim=contrastive alpha=0.01 from 2.5k" \
    "… decoder=broadcast, sim=standardized alpha=0.01 from 2.5k" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/std_schedule_curves.png > docs/results/drnet/cpu_mnist/std_schedule_curves.txt
# the predictor on the decayed copy's 22,500-step encoders (a first piece; resume with --resume)
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true \
    content_pad=circular sim=standardized alpha=0.01 phase=predictor \
    encoders=runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k/checkpoints/step-00022500 pose_scale=data --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 1080 \
    --run-dir runs/drnet-pmax-nf96-std0.01-d20k-lstm
# fifteenth session (2026-12-06, the same machine again). The decayed copy continued at lr 2e-4 from 23,689, and beside
# it a second decay (lr 5e-5) from 23,689 on a copy, one process each (OMP_NUM_THREADS=1)
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k --steps 30000 --eval-every 1250 \
    --device cpu --threads 1 --channels-last --time-limit 3600
cp -a runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k  # rm step-00022500 step-00022566
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k lr=5e-5 --amend --steps 30000 \
    --eval-every 1250 --device cpu --threads 1 --channels-last --time-limit 3600   # stopped by SIGTERM at 26,468
# the second decay's last checkpoint in full
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k --checkpoint step-00026468 probe=mlp \
    probe_clips=4000 eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d23k_26468
# both lines on to 30,000 steps, one process each (the lr 2e-4 one had stopped by its --time-limit at 27,185)
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k --steps 30000 --eval-every 1250 \
    --device cpu --threads 1 --channels-last --time-limit 3900
vidshard train drnet --resume runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k --steps 30000 --eval-every 1250 \
    --device cpu --threads 1 --channels-last --time-limit 3300
# both at 30,000 steps in full
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k --checkpoint step-00030000 probe=mlp \
    probe_clips=4000 eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k
vidshard eval drnet runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k --checkpoint step-00030000 probe=mlp \
    probe_clips=4000 eval_clips=1000 read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d23k_30k
# the curves, with the 5e-5 branch
python -m trainers.eval.curves runs/drnet-pmax-nf96-swap0-split-circ-std0.01 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-lr2e4 \
    runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k \
    runs/drnet-pmax-nf96-swap0-split-circ-con0.01 runs/drnet-pmax-nf96-swap0-split-circ-bcast \
    --labels "nf96 split + circular, sim=standardized alpha=0.01 from 2.5k (lr 2e-3)" \
    "… lr 2e-4 from 7.5k" "… lr 2e-4 from 20k" "… lr 2e-4 from 20k, 5e-5 from 23.7k" \
    "nf96 split + circular, sim=contrastive alpha=0.01 from 2.5k" \
    "… decoder=broadcast, sim=standardized alpha=0.01 from 2.5k" \
    --metrics swap_digit_acc rec_digit_acc probe_content_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/std_schedule_curves.png > docs/results/drnet/cpu_mnist/std_schedule_curves.txt
# the predictor on the 22,500-step encoders resumed for a second piece (its rollouts are for the next session)
vidshard train drnet --resume runs/drnet-pmax-nf96-std0.01-d20k-lstm --steps 20000 --device cpu --threads 1 --time-limit 2100
# misreads at the second decay's 26,468, appended to misreads.txt
python docs/results/drnet/cpu_mnist/misreads.py data/mmc32 runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k-d23k:step-00026468 1000 4000
# sixteenth session (2026-12-06). The last six checkpoints of both branches averaged, read on all 1,000 held-out
# clips (appended to ckpt_average.txt)
R=runs/drnet-pmax-nf96-swap0-split-circ-std0.01-d20k
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/ckpt_average.py data/mmc32 --clips=1000 $R-d23k:step-00026468 \
    $R-d23k:step-00027500 $R:step-00027185 $R:step-00027500 $R-d23k:step-00030000 $R:step-00030000 \
    >> docs/results/drnet/cpu_mnist/ckpt_average.txt
# the decoder trained further alone on the 30,000-step run's frozen encoders (phase=decoder, new), with L1 and, as
# the control, the run's own BCE; one process each (OMP_NUM_THREADS=1)
for v in l1 bce; do
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true \
    content_pad=circular sim=standardized alpha=0.01 phase=decoder encoders=$R/checkpoints/step-00030000 \
    rec_loss=$v lr=2e-4 --steps 8000 --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 1000 \
    --eval-every 1000 --sample-every 0 --time-limit 5400 --run-dir runs/drnet-nf96-d20k-30k-dec-$v
done
# both decoders at 3,000 steps, read on all 1,000 held-out clips (decoder_phase_reads.txt)
for v in bce l1; do
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/ckpt_average.py data/mmc32 --clips=1000 \
    runs/drnet-nf96-d20k-30k-dec-$v:step-00003000
done
# both decoders at 8,000 steps in full (MLP probe on 4,000 train clips, all 1,000 held-out clips read)
for v in l1 bce; do
vidshard eval drnet runs/drnet-nf96-d20k-30k-dec-$v probe=mlp probe_clips=4000 eval_clips=1000 read_clips=1000 \
    --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_${v}_8000
done
# misreads at the BCE decoder run's 8,000 steps, appended to misreads.txt
python docs/results/drnet/cpu_mnist/misreads.py data/mmc32 runs/drnet-nf96-d20k-30k-dec-bce:step-00008000 1000 4000
# the predictor on the BCE decoder run's 8,000-step checkpoint (the 30,000-step encoders; a first piece)
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true \
    content_pad=circular sim=standardized alpha=0.01 phase=predictor \
    encoders=runs/drnet-nf96-d20k-30k-dec-bce/checkpoints/step-00008000 pose_scale=data --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 4500 \
    --run-dir runs/drnet-nf96-dec-bce-lstm
# the decoder-phase curves (steps counted from the decoder phase's start at the 30,000-step checkpoint; rerun with
# the 16,000-step copy further down, which overwrites them)
python -m trainers.eval.curves runs/drnet-nf96-d20k-30k-dec-bce runs/drnet-nf96-d20k-30k-dec-l1 \
    --labels "decoder alone from 30k, BCE (the run's loss), lr 2e-4" "decoder alone from 30k, L1, lr 2e-4" \
    --metrics swap_digit_acc rec_digit_acc \
    --out docs/results/drnet/cpu_mnist/decoder_phase_curves.png > docs/results/drnet/cpu_mnist/decoder_phase_curves.txt
# the BCE decoder run on a copy to 16,000 decoder steps (the 8,000-step checkpoint kept in the original), in full
cp -a runs/drnet-nf96-d20k-30k-dec-bce runs/drnet-nf96-d20k-30k-dec-bce-16k
vidshard train drnet --resume runs/drnet-nf96-d20k-30k-dec-bce-16k --steps 16000 --device cpu --threads 1 --time-limit 3300
vidshard eval drnet runs/drnet-nf96-d20k-30k-dec-bce-16k probe=mlp probe_clips=4000 eval_clips=1000 read_clips=1000 \
    --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_16000
# the decoder-phase curves again with the 16,000-step copy (overwrites the ones above)
python -m trainers.eval.curves runs/drnet-nf96-d20k-30k-dec-bce-16k runs/drnet-nf96-d20k-30k-dec-l1 \
    --labels "decoder alone from 30k, BCE (the run's loss), lr 2e-4" "decoder alone from 30k, L1, lr 2e-4" \
    --metrics swap_digit_acc rec_digit_acc \
    --out docs/results/drnet/cpu_mnist/decoder_phase_curves.png > docs/results/drnet/cpu_mnist/decoder_phase_curves.txt
# the predictor's first piece in full (6,111 predictor steps), then a second piece
vidshard eval drnet runs/drnet-nf96-dec-bce-lstm --checkpoint step-00006111 probe=mlp probe_clips=4000 eval_clips=1000 \
    read_clips=1000 --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_8000/pose_scale
vidshard train drnet --resume runs/drnet-nf96-dec-bce-lstm --steps 20000 --device cpu --threads 1 --time-limit 1800
# the predictor's second piece (8,712 steps) drawn by the 16,000-step decoder (decoder_from=, new: the predictor's
# encoders are the 16,000-step run's too, byte for byte, as the decoder phase froze them)
vidshard eval drnet runs/drnet-nf96-dec-bce-lstm --checkpoint step-00008712 probe=mlp probe_clips=4000 eval_clips=1000 \
    read_clips=1000 decoder_from=runs/drnet-nf96-d20k-30k-dec-bce-16k/checkpoints/step-00016000 --device cpu \
    --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_8712
# a third piece of that predictor (to at most 20,000 steps) and, beside it, a predictor at 5x the LSTM learning rate
# (lstm_lr 1e-3; the paper's 2e-4 at batch 100) on the 16,000-step decoder run
vidshard train drnet --resume runs/drnet-nf96-dec-bce-lstm --steps 20000 --device cpu --threads 1 --time-limit 7500
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true \
    content_pad=circular sim=standardized alpha=0.01 phase=predictor \
    encoders=runs/drnet-nf96-d20k-30k-dec-bce-16k/checkpoints/step-00016000 pose_scale=data lstm_lr=1e-3 --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --eval-every 2000 --sample-every 0 \
    --time-limit 5700 --run-dir runs/drnet-nf96-dec16k-lstm-lr1e3
# the third piece was stopped (Ctrl-C: checkpoint at 12,824) to free a core, and evaluated with the 16,000-step decoder
vidshard eval drnet runs/drnet-nf96-dec-bce-lstm --checkpoint step-00012824 probe=mlp probe_clips=4000 eval_clips=1000 \
    read_clips=1000 decoder_from=runs/drnet-nf96-d20k-30k-dec-bce-16k/checkpoints/step-00016000 --device cpu \
    --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_12824
# the lstm_lr 1e-3 predictor at 4,000 steps in full (its own networks: the 16,000-step decoder run's)
vidshard eval drnet runs/drnet-nf96-dec16k-lstm-lr1e3 --checkpoint step-00004000 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu \
    --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_lr1e3_4000
# the 16,000-step decoder 4,000 steps further at lr 5e-5 (a decay; decoder_phase_reads.txt)
vidshard train drnet --data data/mmc32 --preset cpu_mnist content_pool=max nf=96 channel_swap=true content_split=true \
    content_pad=circular sim=standardized alpha=0.01 phase=decoder \
    encoders=runs/drnet-nf96-d20k-30k-dec-bce-16k/checkpoints/step-00016000 rec_loss=bce lr=5e-5 --steps 4000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 1000 --eval-every 0 --sample-every 0 \
    --time-limit 1560 --run-dir runs/drnet-nf96-dec-bce-16k-lr5e5
OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/ckpt_average.py data/mmc32 --clips=1000 \
    runs/drnet-nf96-dec-bce-16k-lr5e5:step-00004000 >> docs/results/drnet/cpu_mnist/decoder_phase_reads.txt
# the lstm_lr 1e-3 predictor at the end of its piece (8,168 steps) in full, with its own networks and with the
# lr 5e-5 decoder (decoder_from=)
vidshard eval drnet runs/drnet-nf96-dec16k-lstm-lr1e3 --checkpoint step-00008168 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 --device cpu \
    --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_lr1e3_8168
vidshard eval drnet runs/drnet-nf96-dec16k-lstm-lr1e3 --checkpoint step-00008168 probe=mlp probe_clips=4000 \
    eval_clips=1000 read_clips=1000 decoder_from=runs/drnet-nf96-dec-bce-16k-lr5e5/checkpoints/step-00004000 \
    --device cpu --out docs/results/drnet/cpu_mnist/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_lr1e3_8168_dec_lr5e5
# the per-step rollout reads of these predictors (rollout_reads.{png,txt})
P=docs/results/drnet/cpu_mnist
python $P/rollout_reads.py --out $P/rollout_reads.png \
    "lstm_lr 2e-4, 6,111 steps (8k decoder)=$P/split_circ_std001_d20k_30k_dec_bce_8000/pose_scale/eval.json" \
    "lstm_lr 2e-4, 8,712 steps=$P/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_8712/eval.json" \
    "lstm_lr 2e-4, 12,824 steps=$P/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_12824/eval.json" \
    "lstm_lr 1e-3, 4,000 steps=$P/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_lr1e3_4000/eval.json" \
    "lstm_lr 1e-3, 8,168 steps=$P/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_lr1e3_8168/eval.json" \
    "lstm_lr 1e-3, 8,168 steps, lr 5e-5 decoder=$P/split_circ_std001_d20k_30k_dec_bce_16000/pose_scale_lr1e3_8168_dec_lr5e5/eval.json" \
    > $P/rollout_reads.txt
