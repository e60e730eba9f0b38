"""The DDP harness: process group, seeding, the `ctx` a model trains through, image grids (the run
configuration: trainers/runconfig.py).

One process (`vidshard train ...`) or one per GPU/CPU slot (`torchrun --nproc_per_node N -m trainers.train`)
run the same code; torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) picks
the mode. Models do their own alternating updates, so instead of wrapping them in DistributedDataParallel
the harness hands them `ctx.step(optimizer, loss)`, which all-reduces exactly that optimizer's gradients
(one flat buffer) before stepping. Every rank starts from identical weights and BatchNorm buffers are
averaged after each step, so all ranks hold bit-identical models throughout (tests/test_ddp.py checks it).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import os
import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from vidshard.errors import UsageError
from vidshard.io import save_image

# ---- process group ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def dist_env() -> Dist:
    """What torchrun (or torch.distributed.run) put in the environment; a plain run is rank 0 of 1."""
    return Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))


def pick_device(requested: str | None, local_rank: int) -> torch.device:
    if requested in (None, "auto"):
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available (use --device cpu)")
        device = torch.device("cuda", local_rank if requested == "cuda" else torch.device(requested).index)
        torch.cuda.set_device(device)
        return device
    if requested != "cpu":
        raise UsageError(f"--device {requested!r}: expected cpu, cuda or cuda:N")
    return torch.device("cpu")


def init_process_group(env: Dist, device: torch.device) -> None:
    """nccl between GPUs, gloo between CPU processes; rendezvous from MASTER_ADDR/MASTER_PORT (env://)."""
    if env.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # an hour, not the default minutes: the other ranks wait at a barrier while rank 0 evaluates
        dist.init_process_group(backend, rank=env.rank, world_size=env.world_size, timeout=datetime.timedelta(hours=1),
                                device_id=device if device.type == "cuda" else None)


def destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    """Rank src's value on every rank (used for the run directory name, which has a timestamp)."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def enable_tf32() -> None:
    """TF32 matmuls and convolutions on Ampere+ GPUs (the speed anchors in MODELS.md are fp32 + TF32)."""
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True


def speed_up(model: torch.nn.Module, channels_last: bool = False, compile: bool = False) -> torch.nn.Module:
    """The opt-in speed knobs shared by `vidshard train` and bench/train.py.

    channels_last: NHWC weights, which cuDNN's fastest convolution kernels want. compile: torch.compile
    each top-level submodule in place (module.compile() keeps state_dict keys, so checkpoints stay
    interchangeable with eager runs); a model's training_step itself stays eager, since it steps optimizers.
    """
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        for child in model.children():
            child.compile()
    return model


# ---- seeding ------------------------------------------------------------------------------------------------

def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int) -> int:
    """The data/augmentation seed of a rank: model init uses `seed` on every rank, then each rank draws
    from its own stream so ranks do not apply the same random offsets to different batches."""
    return (seed + 1_000_003 * (rank + 1)) % 2**63


@contextlib.contextmanager
def isolated_rng():
    """Run a block without touching the training RNG streams (CPU torch, numpy, python).

    Data loading and evaluation go through this, so that where an iterator is created or how many batches
    it prefetches never changes what the model draws: resuming mid-epoch then gives the same losses.
    """
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)


# ---- the context a model trains through ---------------------------------------------------------------------

class Context:
    """What a model's training_step sees: device, rank, autocast, gradient all-reduce, a per-rank generator.

    `generator` is a CPU torch.Generator seeded per rank (draw indices/offsets on CPU with it, then move);
    its state is checkpointed with the other RNGs.
    """

    def __init__(self, device: torch.device, env: Dist, seed: int, amp: bool = False):
        self.device = device
        self.rank, self.world_size, self.local_rank = env.rank, env.world_size, env.local_rank
        self.amp = amp and device.type == "cuda"
        self.generator = torch.Generator().manual_seed(rank_seed(seed, env.rank) + 1)

    def reseed(self, seed: int) -> None:
        """New random streams for this rank from `seed` (the global ones and the generator): a run resumed with
        another world size, whose checkpoint holds no streams for these ranks."""
        seed_all(seed)
        self.generator.manual_seed(seed + 1)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        """bf16 autocast on CUDA when --amp is on; a no-op on CPU (CPU bf16 is slower and changes results)."""
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """zero_grad, backward, mean-all-reduce this optimizer's gradients across ranks, optimizer.step().

        Only this optimizer's parameters are reduced: a model that steps its discriminator and its
        generator separately pays for each all-reduce once. A parameter whose grad is None (unused in this
        loss) is skipped on every rank alike, since every rank runs the same code.
        """
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.distributed:
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            self._all_reduce_mean_flat(grads)
        optimizer.step()

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """In place: the mean of `tensor` over ranks (identity when not distributed). Returns it."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
            tensor.div_(self.world_size)
        return tensor

    def _all_reduce_mean_flat(self, tensors: list[torch.Tensor]) -> None:
        """One collective for many tensors: flatten per dtype, reduce, copy back."""
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for group in by_dtype.values():
            flat = torch.cat([t.reshape(-1) for t in group])
            self.all_reduce_mean(flat)
            offset = 0
            for t in group:
                t.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()

    def sync_buffers(self, module: torch.nn.Module) -> None:
        """Average floating-point buffers (BatchNorm running stats) so every rank holds the same ones."""
        if self.distributed:
            self._all_reduce_mean_flat([b for b in module.buffers() if b.is_floating_point()])

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (init is seeded identically; this makes it certain)."""
        if self.distributed:
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def mean_metrics(self, metrics: dict[str, torch.Tensor | float]) -> dict[str, float]:
        """Logged values (0-dim tensors or floats) averaged over ranks, as Python floats: one stack, one
        all-reduce, one device-to-host copy (every rank must call this at the same steps)."""
        if not metrics:
            return {}
        keys = sorted(metrics)
        # on the model's device: gloo reduces CPU tensors, nccl only GPU ones
        t = torch.stack([torch.as_tensor(metrics[k], dtype=torch.float64).detach().to(self.device).reshape(())
                         for k in keys])
        self.all_reduce_mean(t)
        return dict(zip(keys, t.tolist()))


class LogWindow:
    """One rank's sums of a model's step outputs since the last log, kept where they are (device tensors
    stay on the device), so a training step never waits for the GPU; `take()` gives the window's means.

    Its state goes into the rank's checkpoint file, so a run resumed between two log steps logs the same
    means as one that was never interrupted.
    """

    def __init__(self):
        self.sums: dict[str, torch.Tensor | float] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict) -> None:
        for key, value in metrics.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise ValueError(f"training_step returned {key!r} of shape {tuple(value.shape)}: expected a scalar")
                value = value.detach().reshape(()).to(torch.float64)
            else:
                value = float(value)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def take(self) -> dict:
        """The means since the last take (tensors or floats, unreduced), and an empty window."""
        means = {k: v / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means

    def state(self) -> dict:
        """weights_only-safe: CPU float64 tensors and ints."""
        return {"sums": {k: torch.as_tensor(v, dtype=torch.float64).cpu() for k, v in self.sums.items()},
                "counts": dict(self.counts)}

    def load(self, state: dict | None, device: torch.device) -> None:
        state = state or {"sums": {}, "counts": {}}
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.counts = {k: int(n) for k, n in state["counts"].items()}


def state_hash(module: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (names, dtypes, shapes, bytes): equal iff the models are equal."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ---- image grids --------------------------------------------------------------------------------------------

def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one (3, H', W') image, `nrow` images a row, white padding (no torchvision)."""
    images = images.detach().float().cpu().clamp(0, 1)
    if images.ndim != 4:
        raise ValueError(f"image grid: expected (N, C, H, W), got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    rows = (n + ncol - 1) // ncol
    grid = torch.ones(c, rows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    return grid


def save_png(grid: torch.Tensor, path: str | Path) -> None:
    save_image((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), path)
