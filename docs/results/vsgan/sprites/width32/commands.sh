# The video-set GAN on Sprites at CPU scale, cpu_sprites as it is (ngf = ndf = 32): the result committed until
# 2026-12-03, short of the bottomwear target (0.883); the data as in ../commands.sh. Run from the repository root.
# piece 1: 32,947 steps in 55 min (stopped by --time-limit); piece 2: resumed to 47,800 steps in 40 min
OMP_NUM_THREADS=1 vidshard train vsgan --data data/sprites --preset cpu_sprites --device cpu --threads 1 \
    --workers 1 --steps 60000 --time-limit 3300 --run-dir runs/vsgan-cpu-sprites --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard train vsgan --resume runs/vsgan-cpu-sprites --device cpu --threads 1 --time-limit 2400
# the judge (trainers/eval/judge.py, 32 px) trains once and is cached under $VIDSHARD_CACHE/judges;
# the latest checkpoint (step 47,000) is evaluated
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-sprites --out docs/results/vsgan/sprites/width32
