# The video-set GAN on the face corpus at CPU scale with wider networks (ngf = ndf = 32 instead of cpu_faces'
# 24; cpu_faces otherwise: the committed result is in the folder above). Run from the repository root; the
# data as in ../commands.sh. One piece, stopped by --time-limit at step 25,095 (2026-12-03, beside another
# training and other jobs on the second core, so 25k steps in 115 minutes).
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces ngf=32 ndf=32 --device cpu \
    --threads 1 --workers 1 --steps 60000 --time-limit 6900 --run-dir runs/vsgan-cpu-faces-w32 --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-w32 identity_codes=400 --out docs/results/vsgan/faces/width32
