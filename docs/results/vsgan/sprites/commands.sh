# The video-set GAN on Sprites at CPU scale (one thread of a shared 2-core VM). Run from the repository root.
vidshard synth sprites --out data/sprites --clips 9000 --frames 8 --sprites ../shared/data/sprites/li_mandt \
    --seed 0 --shard-size 500
# piece 1: 32,947 steps in 55 min (stopped by --time-limit); piece 2: resumed to 47,800 steps in 40 min
OMP_NUM_THREADS=1 vidshard train vsgan --data data/sprites --preset cpu_sprites --device cpu --threads 1 \
    --workers 1 --steps 60000 --time-limit 3300 --run-dir runs/vsgan-cpu-sprites --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard train vsgan --resume runs/vsgan-cpu-sprites --device cpu --threads 1 --time-limit 2400
# the judge (trainers/eval/judge.py, 32 px) trains once and is cached under $VIDSHARD_CACHE/judges;
# the latest checkpoint (step 47,000) is evaluated
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-sprites --out docs/results/vsgan/sprites
