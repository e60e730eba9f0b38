# The video-set GAN on the face corpus at CPU scale, one change from cpu_faces: one-sided label smoothing, D's target on
# real sets 0.9 instead of 1 (real_label=0.9; Salimans et al. 2016, not in the paper), against a D that grows sure of
# 849 real clips. Run from the repository root; the data as in ../commands.sh. One piece, stopped by --time-limit at
# step 34,630 (fourth session of 2026-12-03, beside a DrNet training on the second core); the final checkpoint
# evaluated once with 400 codes, as decided before the run.
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces real_label=0.9 --device cpu --threads 1 \
    --workers 1 --steps 60000 --time-limit 6300 --run-dir runs/vsgan-cpu-faces-ls09 --log-every 100 --sample-every 1000 \
    --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-ls09 identity_codes=400 --out docs/results/vsgan/faces/label_smoothing
