"""Test-only fault injection for builds, read from $VIDSHARD_TEST_FAULT (comma-separated items):

  die:N        this process dies (os._exit(70), as SIGKILL or the OOM killer would) at its N-th fault point
  points:FILE  the name of every fault point reached is appended to FILE, one a line (to choose N)
  wait:FILE    at every fault point, wait while FILE exists (a gate: a test holds a build mid-way)

Fault points mark each step a build takes on disk (a shard stored, a unit recorded, a version written,
the current pointer switched, ...), so a test can kill a build between any two of them. Each process
counts its own points: a seeded N is reproducible with the one-process executor (`--workers 1`).
pipelines/prepare.py reads its own kinds from the same variable (crash-once:SHARD, crash:SHARD, hang:VIDEO).
"""
from __future__ import annotations

import os
import time

ENV = "VIDSHARD_TEST_FAULT"
_reached = 0


def fault_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    global _reached
    _reached += 1
    for item in spec.split(","):
        kind, _, value = item.strip().partition(":")
        if kind == "points" and value:
            with open(value, "a") as f:
                f.write(name + "\n")
        elif kind == "die" and value.isdigit() and int(value) == _reached:
            os._exit(70)
        elif kind == "wait" and value:
            while os.path.exists(value):
                time.sleep(0.05)
