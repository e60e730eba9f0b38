# The video-set GAN on the face corpus at CPU scale, one change from cpu_faces: a mode-seeking term on z_C
# (mode_seeking=1.0: set pairs share z_M, G also minimises 1 / (frame distance / z_C distance); Mao et al. 2019, not
# in the paper), against a generator that draws fewer people than the data holds. Run from the repository root; the
# data as in ../commands.sh (this build: 1,052 clips, 850 in train). One piece, stopped by --time-limit at step 37,483
# (fifth session of 2026-12-03), beside the DiffAugment run on the second core; the final checkpoint evaluated once
# with 400 codes, as decided before the run.
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces mode_seeking=1.0 \
    --device cpu --threads 1 --workers 1 --steps 40000 --time-limit 6300 --run-dir runs/vsgan-cpu-faces-ms \
    --log-every 100 --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-ms identity_codes=400 --out docs/results/vsgan/faces/mode_seeking
