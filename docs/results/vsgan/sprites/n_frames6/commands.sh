# A variant tried for bottomwear (docs/RESULTS.md, video-set GAN, Sprites): 6 frames a set instead of 3, otherwise
# the cpu_sprites preset on the same data (../commands.sh makes it). CPU scale: one thread of the shared 2-core VM,
# beside another training on the second core. 33,340 steps in 70 minutes (stopped by --time-limit).
OMP_NUM_THREADS=1 vidshard train vsgan --data data/sprites --preset cpu_sprites --device cpu --threads 1 --workers 1 \
    --steps 60000 --time-limit 4200 --run-dir runs/vsgan-cpu-sprites-n6 --log-every 100 --sample-every 1000 \
    --ckpt-every 1000 n_frames=6
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-sprites-n6 --out docs/results/vsgan/sprites/n_frames6
