"""Shared fixtures: the real data in ../shared/data and one local Ray instance per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VIDSHARD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_shared(*parts: str) -> Path:
    """Path under ../shared/data; under CI a missing path fails the test instead of skipping it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = f"test data {path} is missing (see ../shared/data/SOURCES.md)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session: ray.init() is slow, so it is paid once."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        from pipelines.prepare import RAY_SYSTEM_CONFIG
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}, _system_config=RAY_SYSTEM_CONFIG)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def small_sprites(tmp_path_factory) -> Path:
    """A small real Sprites set for evaluation recipes: 96 train and 24 test clips of 8 frames, 64x64."""
    from vidshard.cli import main
    out = tmp_path_factory.mktemp("sprites") / "sp"
    assert main(["synth", "sprites", "--out", str(out), "--clips", "120", "--split", "0.8,0,0.2",
                 "--sprites", str(require_shared("sprites", "li_mandt")), "--seed", "0"]) == 0
    return out
