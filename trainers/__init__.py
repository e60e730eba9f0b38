"""Training: one DDP harness (trainers/harness.py), one self-contained module per model (trainers/models/),
the `vidshard train` / `vidshard eval` entry points and atomic, exactly-resumable checkpoints.

Nothing here imports ray, mediapipe or decord: a training machine needs torch, numpy and webdataset only.
"""
