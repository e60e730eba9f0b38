# The unordered-pairs VAE on Sprites at CPU scale (one thread of a shared 2-core VM). Run from the repository root.
vidshard synth sprites --out data/sprites --clips 9000 --frames 8 --sprites ../shared/data/sprites/li_mandt \
    --seed 0 --shard-size 500
OMP_NUM_THREADS=1 vidshard train pairvae --data data/sprites --preset cpu_sprites --steps 40000 --device cpu \
    --threads 1 --workers 1 --run-dir runs/pairvae-cpu-sprites --log-every 100 --sample-every 2000 \
    --ckpt-every 2000 --time-limit 3300          # repeat with --resume runs/pairvae-cpu-sprites until done
# the judge (trainers/eval/judge.py, 32 px, FULL settings) trains once and is cached under $VIDSHARD_CACHE/judges
OMP_NUM_THREADS=1 vidshard eval pairvae runs/pairvae-cpu-sprites --out docs/results/pairvae/sprites
