# FrameGAN on 3 bouncing balls at CPU scale (one thread of a shared 2-core VM). Run from the repository root.
vidshard synth balls --out data/balls3 --clips 10000 --frames 30 --balls 3 --seed 0 --shard-size 1000
# stage 1, G_F and its 48 discriminators: 10,000 steps in 45 minutes
OMP_NUM_THREADS=1 vidshard train framegan --data data/balls3 --preset cpu-frames --threads 1 --workers 1 \
    --run-dir runs/framegan-balls3-frames --steps 10000 --ckpt-every 500 --sample-every 500 --log-every 50 \
    --time-limit 3000                 # repeat with --resume runs/framegan-balls3-frames until done
OMP_NUM_THREADS=1 vidshard eval framegan runs/framegan-balls3-frames --out runs/framegan-balls3-frames/eval-final
# stage 2, G_V on the frozen G_F and 16 video discriminators: 3,000 steps in 12 minutes, then resumed to 6,000 (11 more)
OMP_NUM_THREADS=1 vidshard train framegan --data data/balls3 --preset cpu-video frames_run=runs/framegan-balls3-frames \
    --threads 1 --workers 1 --run-dir runs/framegan-balls3-video --steps 3000 --ckpt-every 500 --sample-every 500 \
    --log-every 50 --time-limit 1200
OMP_NUM_THREADS=1 vidshard train framegan --resume runs/framegan-balls3-video --steps 6000 --threads 1 --time-limit 1200
OMP_NUM_THREADS=1 vidshard eval framegan runs/framegan-balls3-video --out docs/results/framegan/balls3
