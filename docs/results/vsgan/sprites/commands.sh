# The video-set GAN on Sprites at CPU scale (one thread of a shared 2-core VM). Run from the repository root.
vidshard synth sprites --out data/sprites --clips 9000 --frames 8 --sprites ../shared/data/sprites/li_mandt \
    --seed 0 --shard-size 500
# cpu_sprites with wider networks (ngf = ndf = 48 instead of the preset's 32): one piece, stopped by --time-limit
# at step 33,170 (2026-12-03, beside another training and other jobs on the second core)
OMP_NUM_THREADS=1 vidshard train vsgan --data data/sprites --preset cpu_sprites ngf=48 ndf=48 --device cpu \
    --threads 1 --workers 1 --steps 90000 --time-limit 6900 --run-dir runs/vsgan-cpu-sprites-w48 --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
# the judge (trainers/eval/judge.py, 32 px) trains once and is cached under $VIDSHARD_CACHE/judges;
# the latest checkpoint (step 33,170) is evaluated, once, as decided before the run
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-sprites-w48 --out docs/results/vsgan/sprites
# earlier attempts, each in its own folder with its commands: width32/ (the preset as it is), n_frames6/, dim_zm3/
