"""The one test hook: fault injection, read from $VIDSHARD_TEST_FAULT (comma-separated items) here and
nowhere else. Tests set it; nothing else should.

The build core (shards/build.py, the store), in every process that reaches a fault point:
  die:N         this process dies (os._exit(70), as SIGKILL or the OOM killer would) at its N-th fault point
  points:FILE   the name of every fault point reached is appended to FILE, one a line (to choose N)
  wait:FILE     at every fault point, wait while FILE exists (a gate: a test holds a build mid-way)
`vidshard prepare` (pipelines/prepare.py; the driver reads the spec with `spec()` and hands it to its tasks,
since Ray workers may not share the driver's environment):
  crash-once:SHARD  the worker filling that shard dies once (a marker file remembers), then succeeds
  crash:SHARD       the worker filling that shard dies every time
  hang:VIDEOID      the task decoding that video sleeps (exercises --video-timeout)

Fault points mark each step a build takes on disk (a shard stored, a unit recorded, a version written,
the current pointer switched, ...), so a test can kill a build between any two of them. Each process
counts its own points: a seeded N is reproducible with the one-process executor (`--workers 1`).
"""
from __future__ import annotations

import os
import time

ENV = "VIDSHARD_TEST_FAULT"
_reached = 0


def spec() -> str | None:
    """This process's fault spec ($VIDSHARD_TEST_FAULT), or None."""
    return os.environ.get(ENV) or None


def values(kind: str, fault_spec: str | None) -> set[str]:
    """The values given to one kind of item in a spec: values('crash', 'crash:train-000001,die:3') ->
    {'train-000001'}."""
    out = set()
    for item in (fault_spec or "").split(","):
        k, _, v = item.strip().partition(":")
        if k == kind and v:
            out.add(v)
    return out


def fault_point(name: str) -> None:
    """A step of a build on disk: dies, records or waits here as this process's spec says."""
    current = spec()
    if not current:
        return
    global _reached
    _reached += 1
    for value in values("points", current):
        with open(value, "a") as f:
            f.write(name + "\n")
    if str(_reached) in values("die", current):
        os._exit(70)
    for value in values("wait", current):
        while os.path.exists(value):
            time.sleep(0.05)
