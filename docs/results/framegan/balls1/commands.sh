# FrameGAN on 1 bouncing ball at CPU scale (one thread of a shared 2-core VM). Run from the repository root.
vidshard synth balls --out data/balls1 --clips 10000 --frames 30 --balls 1 --seed 0 --shard-size 1000
# stage 1, G_F and its 48 discriminators: 10,000 steps in 32 minutes
OMP_NUM_THREADS=1 vidshard train framegan --data data/balls1 --preset cpu-frames --threads 1 --workers 1 \
    --run-dir runs/framegan-balls1-frames --steps 10000 --ckpt-every 500 --sample-every 500 --log-every 50 \
    --time-limit 3000                 # repeat with --resume runs/framegan-balls1-frames until done
# stage 2, G_V on the frozen G_F and 16 video discriminators: 3,000 steps in 22 minutes
OMP_NUM_THREADS=1 vidshard train framegan --data data/balls1 --preset cpu-video frames_run=runs/framegan-balls1-frames \
    --threads 1 --workers 1 --run-dir runs/framegan-balls1-video3 --steps 3000 --ckpt-every 500 --sample-every 500 \
    --log-every 50 --time-limit 1500
OMP_NUM_THREADS=1 vidshard eval framegan runs/framegan-balls1-video3 --out docs/results/framegan/balls1
# stage 1 alone (Table 1's random-z row and the count of G_F's frames) is in the stage-1 run's own evaluation:
OMP_NUM_THREADS=1 vidshard eval framegan runs/framegan-balls1-frames --out runs/framegan-balls1-frames/eval-final
