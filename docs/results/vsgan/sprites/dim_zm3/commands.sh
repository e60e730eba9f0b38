# The video-set GAN on Sprites at CPU scale with a 3-d motion code (cpu_sprites otherwise; the run in
# ../width32 uses 8). Run from the repository root; the data as in ../commands.sh.
# One piece: 60,000 steps in 95 minutes on one thread (2026-12-03, beside another training on the second core).
OMP_NUM_THREADS=1 vidshard train vsgan --data data/sprites --preset cpu_sprites dim_zm=3 --device cpu --threads 1 \
    --workers 1 --steps 60000 --time-limit 6000 --run-dir runs/vsgan-cpu-sprites-zm3 --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-sprites-zm3 --out docs/results/vsgan/sprites/dim_zm3
