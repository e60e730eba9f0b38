# The video-set GAN on the face corpus at CPU scale with a spectrally normalised discriminator (spectral=true; not in
# the paper, Miyato et al. 2018: every conv of D divided by its largest singular value, D's BN dropped, its convs
# given biases), cpu_faces otherwise, the committed run's data. One time-limited piece (2026-12-04, beside other jobs
# on the second core); the final checkpoint of that piece evaluated once with 400 codes, as decided before the run.
# (A first run without the biases, stopped at 8,862 steps, drew grey faces: see docs/RESULTS.md.)
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces spectral=true --device cpu --threads 1 \
    --workers 1 --steps 40000 --time-limit 4000 --run-dir runs/vsgan-cpu-faces-sn --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-sn identity_codes=400 --out docs/results/vsgan/faces/spectral
# during the run, its step-15,000 checkpoint at the recipe's default 100 codes (step15000/eval.json)
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-sn --checkpoint step-00015000 --out docs/results/vsgan/faces/spectral/step15000
