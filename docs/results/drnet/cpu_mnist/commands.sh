# DrNet at CPU scale on channel-coloured Moving MNIST, 32x32: the long run of the chosen preset (cpu_mnist:
# the learning-curve base with BCE reconstruction, see learning_curves.sh), then the LSTM predictor.
vidshard synth moving-mnist --out data/mmc32 --clips 20000 --split 0.9,0.05,0.05 --shard-size 1000 \
    --mnist ../shared/data/mnist --size 32 --colors channel --seed 0
export OMP_NUM_THREADS=1
# 18,328 steps in 45 minutes (stopped by --time-limit; two other trainings shared the 2 cores)
vidshard train drnet --data data/mmc32 --preset cpu_mnist --steps 60000 --workers 1 --device cpu --threads 1 \
    --log-every 100 --ckpt-every 2500 --eval-every 5000 --sample-every 5000 --time-limit 2700 --run-dir runs/drnet-cpu-mnist
# the predictor on the frozen encoders: 7,355 steps in 15 minutes
vidshard train drnet --data data/mmc32 --preset cpu_mnist phase=predictor encoders=runs/drnet-cpu-mnist --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 900 \
    --run-dir runs/drnet-cpu-mnist-lstm
vidshard eval drnet runs/drnet-cpu-mnist-lstm --out docs/results/drnet/cpu_mnist    # (piece 1's evaluation, replaced below)
# piece 2 (2026-12-03): resumed to 47,401 steps in 40 minutes, then a new predictor on those encoders, 10,607 steps in 15
vidshard train drnet --resume runs/drnet-cpu-mnist --device cpu --threads 1 --time-limit 2400
vidshard train drnet --data data/mmc32 --preset cpu_mnist phase=predictor encoders=runs/drnet-cpu-mnist --steps 20000 \
    --workers 1 --device cpu --threads 1 --log-every 100 --ckpt-every 2000 --sample-every 0 --time-limit 900 \
    --run-dir runs/drnet-cpu-mnist-lstm2
vidshard eval drnet runs/drnet-cpu-mnist-lstm2 --out docs/results/drnet/cpu_mnist   # eval.json, analogy.png, rollout.gif
