"""The model registry: name -> module path. Adding a model is one new file here plus one line below.

A model module follows the contract in docs/TRAINING.md: `Config` (a dataclass of paper defaults),
`PRESETS`, `loader_kwargs(cfg)`, `Model(cfg)` with `optimizers()`, `training_step(batch, step, ctx)`,
`sample(batch)` and the evaluation kit's adapter methods (trainers/eval/__init__.py). What its paper
reports is measured by `trainers/eval/<name>.py` (`evaluate(model, cfg, data, out_dir, **kw)`).
"""
from __future__ import annotations

import importlib
from types import ModuleType

REGISTRY: dict[str, str] = {
    "drnet": "trainers.models.drnet",
    "framegan": "trainers.models.framegan",
    "pairvae": "trainers.models.pairvae",
    "vsgan": "trainers.models.vsgan",
}

# name -> the module whose evaluate() measures what the model's paper reports, with the kit
EVALUATORS: dict[str, str] = {
    "drnet": "trainers.eval.drnet",
    "framegan": "trainers.eval.framegan",
    "pairvae": "trainers.eval.pairvae",
    "vsgan": "trainers.eval.vsgan",
}

REQUIRED = ("Config", "Model", "loader_kwargs")


def load_model_module(name: str) -> ModuleType:
    """Import a registered model module; unknown names raise listing what is registered."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(REGISTRY))}")
    module = importlib.import_module(REGISTRY[name])
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"model module {REGISTRY[name]} lacks {', '.join(missing)} (see docs/TRAINING.md)")
    return module


def load_evaluator(name: str):
    """The `evaluate(model, cfg, data, out_dir, **kw)` of a registered model (EVALUATORS)."""
    load_model_module(name)
    if name not in EVALUATORS:
        raise ValueError(f"model {name!r} has no evaluation recipe (EVALUATORS in {__name__})")
    return importlib.import_module(EVALUATORS[name]).evaluate
