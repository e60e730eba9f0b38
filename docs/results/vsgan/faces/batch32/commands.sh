# The video-set GAN on the face corpus at CPU scale, one change from cpu_faces: 32 sets a step instead of cpu_faces' 16 (towards DCGAN's 64).
# Run from the repository root; the data as in ../commands.sh. One piece, stopped by --time-limit at step 18,939
# (third session of 2026-12-03, beside the other variant on the second core); the final checkpoint evaluated
# once, as decided before the run.
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces batch_size=32 --device cpu --threads 1 \
    --workers 1 --steps 60000 --time-limit 6600 --run-dir runs/vsgan-cpu-faces-bs32 --log-every 100 --sample-every 1000 \
    --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-bs32 identity_codes=400 --out docs/results/vsgan/faces/batch32
