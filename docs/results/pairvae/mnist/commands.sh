# The unordered-pairs VAE on channel-coloured Moving MNIST at CPU scale (one thread of a shared 2-core VM).
vidshard synth moving-mnist --out data/mmc32 --clips 20000 --split 0.9,0.05,0.05 --shard-size 1000 \
    --mnist ../shared/data/mnist --size 32 --colors channel --seed 0
# 22,856 steps in 25 minutes (stopped by --time-limit; --resume runs/pairvae-cpu-mnist continues)
OMP_NUM_THREADS=1 vidshard train pairvae --data data/mmc32 --preset cpu_mnist --steps 30000 --device cpu \
    --threads 1 --workers 1 --run-dir runs/pairvae-cpu-mnist --log-every 100 --sample-every 2000 \
    --ckpt-every 2000 --time-limit 1500
OMP_NUM_THREADS=1 vidshard eval pairvae runs/pairvae-cpu-mnist --out docs/results/pairvae/mnist
