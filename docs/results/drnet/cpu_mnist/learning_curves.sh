# DrNet learning-curve runs on channel-coloured Moving MNIST, 32x32 (one thread each, one run at a time).
vidshard synth moving-mnist --out data/mmc32 --clips 20000 --split 0.9,0.05,0.05 --shard-size 1000 \
    --mnist ../shared/data/mnist --size 32 --colors channel --seed 0
BASE="--data data/mmc32 --preset tiny --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 1500 \
    --eval-every 1500 --sample-every 1500 nf=32 content_dim=128 pose_dim=10 batch_size=32 rnn_size=256"
export OMP_NUM_THREADS=1
vidshard train drnet $BASE --steps 12000 --time-limit 3300 --run-dir runs/lc-nf32    # the base; stopped at 9741 steps
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-skip skip=true
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-nonorm normalize=false
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-lr5e-4 lr=0.0005
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-alpha0.1 alpha=0.1
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-alpha0 alpha=0
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-nohbn head_bn=false
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-bce rec_loss=bce
# 2026-12-03: the similarity term at alpha = 1 is ~1e-5 of the loss; two stronger weights on the BCE variant
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-bce-alpha100 rec_loss=bce alpha=100
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-bce-alpha1000 rec_loss=bce alpha=1000
# ... and resumed to see whether it overtakes alpha = 1 later (stopped by hand after the evaluation at 12,000)
vidshard train drnet --resume runs/lc-bce-alpha1000 --steps 30000 --device cpu --threads 1 --time-limit 1800
# 2026-12-03 (second session): the similarity term relative to h_c's batch variance (cannot be met by shrinking h_c);
# the first resumed to 12,000 steps (the same question as alpha = 1000: does position come back?)
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-bce-rel1 rec_loss=bce sim=relative alpha=1
vidshard train drnet --resume runs/lc-bce-rel1 --steps 12000 --device cpu --threads 1 --time-limit 1800
vidshard train drnet $BASE --steps 4500 --run-dir runs/lc-bce-rel0.1 rec_loss=bce sim=relative alpha=0.1
python -m trainers.eval.curves runs/lc-nf32 runs/lc-skip runs/lc-nonorm runs/lc-lr5e-4 runs/lc-alpha0.1 runs/lc-alpha0 \
    runs/lc-nohbn runs/lc-bce runs/lc-bce-alpha100 runs/lc-bce-alpha1000 runs/lc-bce-rel1 runs/lc-bce-rel0.1 \
    --labels base skip=true normalize=false lr=5e-4 alpha=0.1 alpha=0 head_bn=false rec_loss=bce bce,alpha=100 bce,alpha=1000 \
    bce,sim=relative bce,sim=relative,alpha=0.1 \
    --metrics probe_digits/content_acc probe_digits/pose_acc swap_mse position_r2_content \
    --out docs/results/drnet/cpu_mnist/learning_curves.png > docs/results/drnet/cpu_mnist/learning_curves.txt
# 2026-12-03 (sixth session): a content head that cannot read where a feature is (content_pool: a 1x1 conv and a
# global max or mean over the last 4x4 map instead of the paper's 4x4 conv), against the preset as it is, now read
# with positions by channel; then the pooled head with the similarity terms that kept position out before
LC="--data data/mmc32 --preset cpu_mnist --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 1500 \
    --eval-every 1500 --sample-every 1500"
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-base
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmax content_pool=max
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmean content_pool=mean
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmax-rel content_pool=max sim=relative
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmax-a100 content_pool=max alpha=100
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmax-rel0.1 content_pool=max sim=relative alpha=0.1
# ... and the pooled head's long run (commands.sh, pool_max) branched at step 10,000 into the relative similarity
# term (--amend), to see whether a term switched on once identity has started keeps identity and drops position;
# stopped by hand after its evaluation at 12,500
cp -a runs/drnet-cpu-mnist-pmax runs/drnet-cpu-mnist-pmax-rel    # then drop the copy's checkpoints after step 10,000
vidshard train drnet --resume runs/drnet-cpu-mnist-pmax-rel sim=relative --amend --steps 40000 --eval-every 2500 \
    --device cpu --threads 1 --time-limit 3000
# the pooled head with anti-aliased downsampling in the content encoder
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmax-blur content_pool=max content_blur=true
# the pooled head with circular padding in the content encoder (2026-12-04, new content_pad)
vidshard train drnet $LC --steps 4500 --run-dir runs/lc2-pmax-circ content_pool=max content_pad=circular
python -m trainers.eval.curves runs/lc2-base runs/lc2-pmax runs/lc2-pmean runs/lc2-pmax-rel runs/lc2-pmax-a100 \
    runs/lc2-pmax-rel0.1 runs/lc2-pmax-blur runs/lc2-pmax-circ --labels cpu_mnist pool=max pool=mean max,sim=relative \
    max,alpha=100 max,relative,alpha=0.1 max,blur=true max,pad=circular --metrics probe_digits/content_acc swap_digit_acc position_r2_pose position_r2_content \
    --out docs/results/drnet/cpu_mnist/learning_curves_pool.png > docs/results/drnet/cpu_mnist/learning_curves_pool.txt
