# The video-set GAN on the face corpus at CPU scale, one change from cpu_faces: two time-scale updates (TTUR, Heusel
# et al. 2017, not in the paper): D at 4e-4, G at 1e-4 instead of both at 2e-4. Run from the repository root; the data
# as in ../commands.sh (this build: 1,052 clips, 850 in train). One piece, stopped by --time-limit (sixth session of
# 2026-12-03), beside DrNet trainings on the second core (for part of it a third process: fewer steps than the other
# levers' runs); the final checkpoint evaluated once with 400 codes, as decided before the run.
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces lr=0.0001 lr_d=0.0004 \
    --device cpu --threads 1 --workers 1 --steps 40000 --time-limit 5100 --run-dir runs/vsgan-cpu-faces-ttur \
    --log-every 100 --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-ttur identity_codes=400 --out docs/results/vsgan/faces/ttur
