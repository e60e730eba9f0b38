# The video-set GAN on the face corpus at CPU scale with a minibatch-std channel in D (mbstd=true; not in the
# paper; cpu_faces otherwise: the committed result in the folder above has none). Run from the repository
# root; the data as in ../commands.sh. One piece, stopped by --time-limit at step 34,447 (2026-12-03, beside
# other trainings on the second core).
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces mbstd=true --device cpu --threads 1 \
    --workers 1 --steps 40000 --time-limit 6000 --run-dir runs/vsgan-cpu-faces-mbstd --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces-mbstd identity_codes=400 --out docs/results/vsgan/faces/mbstd
