# The video-set GAN on the face corpus at CPU scale, one change from cpu_faces: DiffAugment on D's input (colour,
# translation, cutout; real and fake sets alike, one draw per set; Zhao et al. 2020, not in the paper), against a D
# that memorises 850 real clips. Run from the repository root; the data as in ../commands.sh (this build: 1,052 clips, 850
# in train). One piece, stopped by --time-limit at step 34,494 (fifth session of 2026-12-03), beside the
# mode-seeking run on the second core; the final checkpoint evaluated once with 400 codes, as decided before the run.
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces diffaug=color,translation,cutout \
    --device cpu --threads 1 --workers 1 --steps 40000 --time-limit 6300 --run-dir runs/vsgan-cpu-faces-diffaug \
    --log-every 100 --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-diffaug identity_codes=400 --out docs/results/vsgan/faces/diffaug
