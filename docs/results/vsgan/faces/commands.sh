# The video-set GAN on real faces at CPU scale (one thread of a shared 2-core VM). Run from the repository root.
# The corpus: 81 clips of 81 people, tracked face crops 64x64 RGB, clips of 16 frames, split by video
# (80/10/10: people in val and test never appear in train); 1,051 clips, 849 of them in train.
vidshard prepare --input ../shared/data/faces --out data/faces64q --size 64 --frames 16 --split 0.8,0.1,0.1 \
    --videos-per-shard 16
# piece 1: 14,904 steps in 55 minutes, piece 2: to 24,721 steps in 30 more (both stopped by --time-limit);
# piece 3 (2026-12-03): to 40,000 steps (the run's --steps) in 38 more, beside another training on the second core
OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64q --preset cpu_faces --device cpu --threads 1 \
    --workers 1 --steps 40000 --time-limit 3300 --run-dir runs/vsgan-cpu-faces --log-every 100 \
    --sample-every 1000 --ckpt-every 1000
OMP_NUM_THREADS=1 vidshard train vsgan --resume runs/vsgan-cpu-faces --device cpu --threads 1 --time-limit 1800
OMP_NUM_THREADS=1 vidshard train vsgan --resume runs/vsgan-cpu-faces --device cpu --threads 1 --time-limit 3000
# identity distances: dlib ResNet (dlib-bin + face-recognition-models), 400 codes per norm, held-out real
# clips of the val and test videos for the calibration
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-cpu-faces identity_codes=400 --out docs/results/vsgan/faces
