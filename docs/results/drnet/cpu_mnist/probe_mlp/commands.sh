# The long run's final encoders and predictor (../commands.sh), evaluated with the paper's App. D probe (an MLP,
# 2 x 256) fitted on 4,000 training clips and scored on 1,000 held-out ones (the default recipe: logistic,
# 512 and 256; ../probe_size.txt has the probe against its fitting clips). CPU scale. Run from the repository root.
OMP_NUM_THREADS=1 vidshard eval drnet runs/drnet-cpu-mnist-lstm2 probe=mlp eval_clips=1000 probe_clips=4000 \
    --out docs/results/drnet/cpu_mnist/probe_mlp
