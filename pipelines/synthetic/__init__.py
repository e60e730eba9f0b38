"""Synthetic video datasets with exact labels: colored Moving MNIST (DrNet), bouncing balls (FrameGAN)
and LPC Sprites (Li & Mandt). `vidshard synth` writes them as shards (cli.py); `render` re-renders a clip
from its json and `counterfactual` renders the content of one clip with the pose of another.

Imports numpy, PIL and scipy only: trainers import this package to score content/pose swaps.
"""
from .common import GENERATORS, SynthError, counterfactual, generator, render

__all__ = ["GENERATORS", "SynthError", "counterfactual", "generator", "render"]
