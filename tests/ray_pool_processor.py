"""A processor for tests/test_prepare.py (imported by Ray's workers as tests.ray_pool_processor): process_video,
each clip's json noting the worker process that made it and the Ray worker pool it belongs to."""
from __future__ import annotations

import os


def tagged_process_video(path, source_id, cfg, model_path=None, stats=None):
    from pipelines.faces.video import process_video
    from pipelines.prepare import POOL_ENV
    for key, frames, meta in process_video(path, source_id, cfg, model_path=model_path, stats=stats):
        yield key, frames, {**meta, "worker_pid": os.getpid(), "worker_pool": os.environ.get(POOL_ENV)}
