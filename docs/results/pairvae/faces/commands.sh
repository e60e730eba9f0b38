# The unordered-pairs VAE on the face corpus at CPU scale (one thread of a shared 2-core VM).
# data/faces64q: see docs/results/vsgan/faces/commands.sh (81 people, split by video, 1,051 clips of 16 frames)
# 29,246 steps in 20 minutes (stopped by --time-limit)
OMP_NUM_THREADS=1 vidshard train pairvae --data data/faces64q --preset cpu_faces --steps 30000 --device cpu \
    --threads 1 --workers 1 --run-dir runs/pairvae-cpu-faces --log-every 100 --sample-every 2000 \
    --ckpt-every 2000 --time-limit 1200
OMP_NUM_THREADS=1 vidshard eval pairvae runs/pairvae-cpu-faces --out docs/results/pairvae/faces
