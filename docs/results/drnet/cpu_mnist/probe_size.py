"""The digit-pair probe of DrNet's content and pose vectors against the number of training clips it is fitted
on, for the kit's two probe kinds (logistic; the paper's App. D MLP), on 1,000 held-out clips. Calls the
function the evaluation recipe calls (trainers.eval.probes.probe_report) on one set of encoders, so the sizes
share everything else. Output: probe_size.txt. Run from the repository root:

    OMP_NUM_THREADS=1 python docs/results/drnet/cpu_mnist/probe_size.py runs/drnet-cpu-mnist data/mmc32
"""
import sys
import time

import torch

from trainers.eval import data as eval_data, probes
from trainers.evaluate import load_run

torch.set_num_threads(1)
_, cfg, model, _, _, facts = load_run("drnet", sys.argv[1])
print(facts, flush=True)
train, test, note = eval_data.eval_splits(sys.argv[2], 4000, 1000)
window = min(min(f.shape[0] for _, f, _ in train + test), cfg.max_step)
for n_train in (512, 2000, 4000):
    for kind in ("logistic", "mlp"):
        t0 = time.time()
        r = probes.probe_report(model, train[:n_train], test, window, "cpu", kind, ("content", "pose"))
        p = r["probe_digits"]
        print(f"fit on {n_train} clips, {kind}: content {p['content_acc']:.3f} pose {p['pose_acc']:.3f} "
              f"chance {p['chance']:.3f}; position R2 pose {r['position_r2_pose']:.3f} content "
              f"{r['position_r2_content']:.3f} ({time.time() - t0:.0f} s)", flush=True)
