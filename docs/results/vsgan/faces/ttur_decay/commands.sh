# The video-set GAN on the face corpus at CPU scale: the two-time-scale run of ../ttur (26,635 steps, D 4e-4, G 1e-4)
# continued with both learning rates divided by 10 (D 4e-5, G 1e-5) for 6,365 more steps, to 33,000 (2026-12-04, one
# piece beside a DrNet training on the second core); a learning-rate decay at the end of training, not in the paper.
# The copy keeps ../ttur's run as it was; --amend carries weights, Adam's moments, step and loader position over.
# The final checkpoint evaluated once with 400 codes, as decided before the run.
cp -a runs/vsgan-cpu-faces-ttur runs/vsgan-ttur-decay
OMP_NUM_THREADS=1 vidshard train vsgan --resume runs/vsgan-ttur-decay lr=0.00001 lr_d=0.00004 --amend --steps 33000 \
    --device cpu --threads 1 --time-limit 3000
OMP_NUM_THREADS=1 vidshard eval vsgan runs/vsgan-ttur-decay identity_codes=400 --out docs/results/vsgan/faces/ttur_decay
