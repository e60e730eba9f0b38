"""FrameGAN: a frame generator first, then a recurrent generator that walks its latent space.

    Albuquerque, Monteiro & Falk, "Learning to navigate image manifolds induced by generative adversarial
    networks for unsupervised video generation", 2018 (arXiv:1901.11384; reference code belaalb/frameGAN).

Stage 1 trains a DCGAN-like frame generator G_F: z ~ N(0, I_100) -> one 30x30 frame, against K = 48
discriminators, each behind its own frozen unit-norm random projection (Neyshabur et al. 2017). Every D_k
is trained with the non-saturating loss on its own; G minimises the average of the K generator losses
(the paper's Eq. 3), or the reference code's hypervolume variant -mean_k log(eta - l_k), eta = slack * max l_k.
Stage 2 freezes G_F and trains G_V: z_V ~ N(0, I_100) -> FC stack -> 30 steps -> 2-layer BiLSTM -> Linear
-> a sequence of z_F, each rendered by G_F, against 16 video discriminators behind 3-D random projections.
Values the paper's text lost come from ../shared/MODELS.md §C and the reference code.

Two phases of one module (one registry name, "framegan"):
  phase=frames  G_F and the K frame discriminators, on single frames
  phase=video   G_V and the video discriminators on a frozen G_F, loaded at step 0 from a finished frames run
                (cfg.frames_run = that run's directory, a checkpoint directory or a state file)

The K discriminators are one batched network (DiscriminatorBank): their weights are stacked per layer,
(K, out, in, *kernel); the K projections are one matrix product over the input's patches, the layers on
large maps grouped convolutions (groups=K) and the last ones one batched matrix product per discriminator
(see DiscriminatorBank). One optimiser over the stacked tensors is K separate optimisers,
since RMSprop and Adam are elementwise and each D_k's loss reaches only its own slice; the discriminator
loss is the sum of the K losses so that each slice gets exactly its own gradient. `batched=False` builds the
looped reference instead (K separate modules with K optimisers, run one after another as the reference
code does) from the same initial weights; tests/test_framegan.py checks outputs and one step against it,
bench/framegan.py times both.

Deliberate differences from the reference code (MODELS.md §C):
  - G_V is batch-first throughout: (B, 30 x 128) becomes (B, 30, 128), never `view(30, B, -1)`, which
    mixed the samples of a batch;
  - G_V's output is not squashed to (-1, 1) by tanh: G_F was trained on z ~ N(0, I), whose coordinates
    mostly lie in (-3, 3) and whose norm is about 10, so tanh kept G_V inside a small, atypical core of the
    prior. z_F = b * tanh(x / b) with b = zf_bound (3 by default) reaches the whole typical region and still
    keeps G_F away from inputs it never saw (zf_bound=0: no bound at all);
  - discriminators return logits and the losses use BCE-with-logits (safe under bf16 autocast);
  - G_F stays in eval mode in stage 2 (frozen batch-norm statistics), as the reference's G_F does.

Evaluation adapter (trainers/eval/__init__.py): FrameGAN has no static code (static_from = "none").
sample_dynamic(n, t, generator) returns the z_F sequences G_V makes from z_V ~ N(0, I) (n, t, 100): the
codes the video generator chooses, which is also what the paper's Isomap (Fig. 5) shows; generate(None,
z_F) renders any (n, t, 100) sequence with G_F into frames (n, t, 1, 30, 30) in [0, 1]; sample_iid and
generate_iid give the Table 1 baseline of i.i.d. z_F ~ N(0, I) per frame. The bouncing-balls metrics and a
recipe built on this adapter are in trainers/eval/balls.py.

Examples:
    vidshard train framegan --data data/balls1 --preset cpu-frames --threads 1
    vidshard train framegan --data data/balls1 --preset cpu-video frames_run=runs/framegan-balls1-frames --threads 1
    vidshard train framegan --data data/balls3 --preset frames                 # the paper's stage 1 (GPU)
    vidshard eval framegan runs/framegan-balls1-video --data data/balls1
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainers.frames import fit_frames
from trainers.layers import spread_of
from vidshard.errors import InputError


@dataclass
class Config:
    # data
    image_size: int = 30          # square frames; the architecture makes 30x30 (2 -> 4 -> 8 -> 16 -> 30)
    channels: int = 1
    batch_size: int = 64          # phase frames: frames per step (paper 64); phase video: clips per step (paper 8)
    frames: int = 30              # phase video: clip length G_V generates and the video discriminators see
    epoch_samples: int = 0        # clips per loader epoch over all ranks (0: the split's size)
    phase: str = "frames"         # "frames" (stage 1: G_F) or "video" (stage 2: G_V on a frozen G_F)
    frames_run: str = ""          # phase video: the frames run (dir, checkpoint dir or state file) whose G_F is frozen
    # G_F
    z_dim: int = 100              # |z_F| = |z_V|
    gf_widths: tuple[int, ...] = (1024, 1024, 512, 256)  # channels at 2x2 (after the FC), 4x4, 8x8, 16x16
    gf_out_bias: float = 0.0      # initial bias of G_F's output layer (0: DCGAN); see the CPU presets
    # frame discriminators
    n_disc: int = 48              # K (the reference code's default is 8)
    d_widths: tuple[int, ...] = (256, 512, 1024)  # conv channels after the 15x15 projection: 8x8, 4x4, 2x2
    batched: bool = True          # False: K separate modules and optimisers in a loop (the reference; slower)
    mbstd: bool = False           # each discriminator's last layer also sees the batch's feature spread (not
                                  # in the paper; Karras et al. 2018): see the CPU presets
    lr: float = 3e-4              # phase frames: G_F and its discriminators
    disc_lr_mult: float = 1.0     # discriminators' lr = lr x this (both phases; the paper: 1)
    # losses and optimiser
    optimizer: str = "rmsprop"    # "rmsprop" (the paper) or "adam" (the reference code: betas 0.5, 0.999)
    g_loss: str = "mean"          # "mean" (Eq. 3, averaged over the K) or "hypervolume" (the reference code)
    nadir_slack: float = 1.5      # hypervolume: eta = slack * max_k l_k (1.5 in the reference train.py)
    # G_V
    gv_widths: tuple[int, ...] = (512, 1024, 2048)  # FC hidden widths; the last FC gives frames x gv_step (3840)
    gv_step: int = 128            # per-step width fed to the BiLSTM
    lstm_size: int = 256          # per direction
    lstm_layers: int = 2
    zf_bound: float = 3.0         # z_F = b * tanh(x / b) (0: linear); the reference's tanh is b = 1, see above
    zf_sphere: bool = False       # instead, scale each z_F to norm sqrt(z_dim), where N(0, I) samples lie
    zf_batchnorm: bool = False    # standardise each z_F dimension over the batch's clips and steps (a
                                  # BatchNorm without affine terms) before the bound or sphere: see cpu-video
    # video discriminators
    n_vdisc: int = 16
    vd_widths: tuple[int, ...] = (256, 512, 768)  # 3-D conv channels after the (30, 9, 9) projection
    video_lr: float = 2e-4        # phase video: G_V and its discriminators


PRESETS: dict[str, dict] = {
    # the paper's two stages (bouncing balls, 30x30, 30 frames): G_F K 48 batch 64; G_V K 16 batch 8
    "frames": dict(phase="frames", batch_size=64, n_disc=48),
    "video": dict(phase="video", batch_size=8, n_vdisc=16),
    # CPU scale (one thread; bench/framegan.py): narrow networks, all 48 discriminators. Three additions to
    # the paper, each measured in 3-minute runs on balls (the paper's settings, and a textbook DCGAN on the
    # same frames, collapsed to one ball position that hopped around): G_F's output starts dark
    # (tanh(-1.5) = -0.9, the frames' mean) instead of grey, so the first steps do not spend G's diversity on
    # darkening every frame; every discriminator's last layer sees the batch's spread (mbstd); and the narrow
    # frame discriminators learn 3x faster than the generator (disc_lr_mult; the video discriminators already
    # win easily against an early G_V, so stage 2 keeps the paper's 1).
    "cpu-frames": dict(phase="frames", batch_size=64, n_disc=48, gf_widths=(64, 64, 32, 16), d_widths=(8, 16, 32),
                       gf_out_bias=-1.5, mbstd=True, disc_lr_mult=3.0),
    # Stage 2 at CPU scale: with the soft bound G_V drifted to |z_F| ~ 27 (the prior's ~ 10), where G_F draws
    # empty frames that the video discriminators then reject forever; zf_sphere keeps every z_F on the
    # shell where G_F's training inputs lie. On the shell alone, G_V's codes barely differ across clips and
    # steps (spread 0.02-0.05 per dimension against the prior's 1) and walked to a dark spot of G_F within
    # 50 steps; zf_batchnorm gives every dimension the prior's mean and spread over the batch, and the
    # videos move from the first hundred steps.
    "cpu-video": dict(phase="video", batch_size=8, gf_widths=(64, 64, 32, 16), gv_widths=(256, 512), gv_step=32,
                      lstm_size=64, n_vdisc=16, vd_widths=(8, 16, 32), mbstd=True, zf_sphere=True,
                      zf_batchnorm=True),
    # test size: seconds on a CPU
    "tiny": dict(batch_size=8, n_disc=4, gf_widths=(16, 16, 8, 8), d_widths=(4, 8, 8), gv_widths=(32,),
                 gv_step=8, lstm_size=16, n_vdisc=3, vd_widths=(4, 4, 8)),
}


def loader_kwargs(cfg: Config) -> dict:
    """Single frames (a random one per clip) for stage 1, windows of cfg.frames for stage 2."""
    n = cfg.frames if cfg.phase == "video" else 1
    kw = dict(sampler="window", n_frames=n, random=True, batch_size=cfg.batch_size, with_meta=False)
    if cfg.epoch_samples > 0:
        kw["epoch_samples"] = cfg.epoch_samples
    return kw


def check_config(cfg: Config) -> None:
    problems = []
    if cfg.image_size != 30:
        problems.append(f"image_size must be 30 (the paper's architecture), got {cfg.image_size}")
    if cfg.phase not in ("frames", "video"):
        problems.append(f"phase must be 'frames' or 'video', got {cfg.phase!r}")
    if cfg.optimizer not in ("rmsprop", "adam"):
        problems.append(f"optimizer must be 'rmsprop' or 'adam', got {cfg.optimizer!r}")
    if cfg.g_loss not in ("mean", "hypervolume"):
        problems.append(f"g_loss must be 'mean' or 'hypervolume', got {cfg.g_loss!r}")
    if cfg.g_loss == "hypervolume" and cfg.nadir_slack <= 1:
        problems.append(f"nadir_slack must be > 1 (eta must exceed every loss), got {cfg.nadir_slack}")
    if len(cfg.gf_widths) != 4 or len(cfg.d_widths) != 3 or len(cfg.vd_widths) != 3:
        problems.append("gf_widths needs 4 values, d_widths and vd_widths 3 each")
    if cfg.n_disc < 1 or cfg.n_vdisc < 1:
        problems.append(f"n_disc and n_vdisc must be >= 1, got {cfg.n_disc}, {cfg.n_vdisc}")
    if cfg.phase == "video" and cfg.frames < 30:
        # the video discriminator's four temporal reductions (30 -> 15 -> 7 -> 4 -> 1) need 30 frames
        problems.append(f"frames must be >= 30 for the video discriminators, got {cfg.frames}")
    if cfg.phase == "video" and not cfg.frames_run:
        problems.append("phase=video needs frames_run=RUN_DIR (a trained phase=frames run whose G_F is frozen)")
    if cfg.zf_bound < 0:
        problems.append(f"zf_bound must be >= 0 (0: no bound), got {cfg.zf_bound}")
    if problems:
        raise ValueError("framegan: " + "; ".join(problems))


# ---- networks ------------------------------------------------------------------------------------------------

def dcgan_init(m: nn.Module) -> None:
    """Weights N(0, 0.02), biases 0; BN scale N(1, 0.02) (DCGAN, as the reference code)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class FrameGenerator(nn.Module):
    """G_F: z (B, 100) -> Linear + BN + ReLU -> w0 x 2 x 2 -> three ConvT(4, 2, 1) + BN + ReLU to 16x16 ->
    ConvT(4, 2, 2) + tanh -> (B, C, 30, 30) in [-1, 1]."""

    def __init__(self, cfg: Config):
        super().__init__()
        w = cfg.gf_widths
        self.w0 = w[0]
        self.fc = nn.Sequential(nn.Linear(cfg.z_dim, w[0] * 4, bias=False), nn.BatchNorm1d(w[0] * 4), nn.ReLU(True))
        self.ups = nn.Sequential(*[nn.Sequential(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                                                 nn.ReLU(True)) for a, b in zip(w[:-1], w[1:])])
        self.out = nn.ConvTranspose2d(w[-1], cfg.channels, 4, 2, 2)

    def forward(self, z):
        return torch.tanh(self.out(self.ups(self.fc(z).view(-1, self.w0, 2, 2))))


class VideoGenerator(nn.Module):
    """G_V: z_V (B, 100) -> FC stack (BN + ReLU) -> (B, frames, gv_step) -> BiLSTM (batch-first) -> Linear ->
    bounded z_F (B, frames, 100). No operation mixes the samples of a batch (eval mode: exactly; train mode
    only through batch-norm statistics)."""

    def __init__(self, cfg: Config):
        super().__init__()
        dims = [cfg.z_dim, *cfg.gv_widths, cfg.frames * cfg.gv_step]
        self.fc = nn.Sequential(*[nn.Sequential(nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(True))
                                  for a, b in zip(dims[:-1], dims[1:])])
        self.lstm = nn.LSTM(cfg.gv_step, cfg.lstm_size, cfg.lstm_layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * cfg.lstm_size, cfg.z_dim)
        self.norm = nn.BatchNorm1d(cfg.z_dim, affine=False) if cfg.zf_batchnorm else nn.Identity()
        self.frames, self.bound, self.sphere = cfg.frames, cfg.zf_bound, cfg.zf_sphere

    def forward(self, z):
        h = self.fc(z).view(z.shape[0], self.frames, -1)
        zf = self.out(self.lstm(h)[0])
        zf = self.norm(zf.reshape(-1, zf.shape[-1])).view(zf.shape)
        if self.sphere:
            return F.normalize(zf, dim=-1) * math.sqrt(zf.shape[-1])
        return self.bound * torch.tanh(zf / self.bound) if self.bound > 0 else zf


@dataclass(frozen=True)
class Geometry:
    """A discriminator's shape: input size, the random projection, then conv layers (out channels, kernel,
    stride, padding), LeakyReLU(0.2) after every layer but the last, whose one channel is the logit
    (averaged over any positions left)."""
    size: tuple                    # input frame size (H, W) or clip size (T, H, W)
    proj: tuple                    # (kernel, stride, padding) of the projection
    layers: tuple                  # ((out, kernel, stride, padding), ...)

    @property
    def dims(self) -> int:
        return len(self.size)


def frame_geometry(widths) -> Geometry:
    """30x30 -> projection 8x8 / 2 -> 15x15 -> 8x8 -> 4x4 -> 2x2 -> 1 (the reference code's discriminator)."""
    w0, w1, w2 = widths
    return Geometry((30, 30), (8, 2, 3), ((w0, 4, 2, 2), (w1, 4, 2, 1), (w2, 4, 2, 1), (1, 4, 1, 1)))


def video_geometry(widths, frames: int = 30) -> Geometry:
    """30x30x30 -> projection 1x8x8 / (1, 3, 3) -> (30, 9, 9) -> (15, 4, 4) -> (7, 3, 3) -> (4, 2, 2) -> 1."""
    v0, v1, v2 = widths
    return Geometry((frames, 30, 30), ((1, 8, 8), (1, 3, 3), (0, 2, 2)),
                    ((v0, 4, 2, 1), (v1, 4, (2, 1, 1), 1), (v2, 4, 1, (0, 1, 1)), (1, 4, 1, (0, 1, 1))))


def conv(dims: int):
    return F.conv2d if dims == 2 else F.conv3d


def per_dim(v, dims: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims


def conv_out(size, kernel, stride, padding) -> tuple:
    dims = len(size)
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in
                 zip(size, per_dim(kernel, dims), per_dim(stride, dims), per_dim(padding, dims)))


def dense_selection(size, kernel, stride, padding) -> torch.Tensor:
    """S (kernel volume, in positions x out positions): S[kappa, i, o] = 1 where output position o reads input
    position i through kernel offset kappa (zero padding reads nothing), so that a convolution on a map of
    this size is the matrix  W_dense[(i, c), (o, c')] = sum_kappa w[c', c, kappa] S[kappa, i, o]."""
    import itertools
    dims = len(size)
    kernel, stride, padding = per_dim(kernel, dims), per_dim(stride, dims), per_dim(padding, dims)
    out = conv_out(size, kernel, stride, padding)
    n_in, n_out = math.prod(size), math.prod(out)
    s = torch.zeros(math.prod(kernel), n_in, n_out)
    for oi, o in enumerate(itertools.product(*map(range, out))):
        for ki, kap in enumerate(itertools.product(*map(range, kernel))):
            i = [a * st - p + k for a, st, p, k in zip(o, stride, padding, kap)]
            if all(0 <= v < n for v, n in zip(i, size)):
                s[ki, sum(v * math.prod(size[d + 1:]) for d, v in enumerate(i)), oi] = 1
    return s.flatten(1)


def random_projections(k: int, channels: int, kernel, dims: int) -> torch.Tensor:
    """k frozen Gaussian filters (k, C, *kernel), each scaled to unit norm."""
    w = torch.randn(k, channels, *per_dim(kernel, dims))
    return w / w.flatten(1).norm(dim=1).view(-1, *[1] * (w.ndim - 1))


DENSE_MAX = 2 ** 20  # entries per discriminator up to which a layer's spread matrix may exceed its conv weight
LOOP_ABOVE = 1024    # in x out channels per discriminator above which a CPU runs a layer one discriminator at a time


class DiscriminatorBank(nn.Module):
    """K discriminators of one geometry as one network. Slice k of every stacked tensor is discriminator k's
    ordinary conv weight (weight_i: (K, out, in, *kernel), bias_i: (K, out)); `proj` is a buffer (frozen).
    forward(x (B, C, ...)) -> logits (B, K).

    The projections are one matrix product over the input's patches (`project`). The layers on large maps
    are grouped convolutions (groups=K, channels-last), except on a CPU for wide layers (more than
    LOOP_ABOVE in x out channels per discriminator: the paper's widths), whose grouped kernels are slower
    there than K ordinary convolutions on slices of the same stacked weights. From the first layer whose
    input has no more positions than its kernel has taps (and whose spread matrix stays small: no larger
    than the conv weight, or DENSE_MAX entries), a layer is one batched matrix product per discriminator,
    (B, positions x channels) @ (positions x channels, positions' x channels'), whose matrix is the conv
    weight spread over the positions (dense_selection): the same products as the convolution over its zero
    padding, at matrix-multiply speed and with no im2col copies (frames at CPU widths: 4x4 -> 2x2 and
    2x2 -> 1; at the paper's widths only 2x2 -> 1)."""

    def __init__(self, k: int, channels: int, geometry: Geometry, mbstd: bool = False):
        super().__init__()
        self.k, self.geometry, self.mbstd = k, geometry, mbstd
        self.register_buffer("proj", random_projections(k, channels, geometry.proj[0], geometry.dims))
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        self.first_dense = last = len(geometry.layers)
        self.loop_on_cpu = []
        size, cin = conv_out(geometry.size, *geometry.proj), 1
        for i, (cout, kernel, stride, padding) in enumerate(geometry.layers):
            kernel = per_dim(kernel, geometry.dims)
            cin += int(mbstd and i == last - 1)  # the spread is one more input channel of the last layer
            self.weights.append(nn.Parameter(torch.randn(k, cout, cin, *kernel) * 0.02))
            self.biases.append(nn.Parameter(torch.zeros(k, cout)))
            n_in, n_out = math.prod(size), math.prod(conv_out(size, kernel, stride, padding))
            dense_size = n_in * n_out * cin * cout  # its matrix, zeros included, next to the conv weight's size
            small = dense_size <= max(math.prod(kernel) * cin * cout, DENSE_MAX)
            if n_in <= math.prod(kernel) and small and self.first_dense == len(geometry.layers):
                self.first_dense = i
            # wide layers run per discriminator on a CPU, where grouped convolutions of wide groups are slower
            # than the same convolutions one by one (the loop's overhead is nothing next to their work)
            self.loop_on_cpu.append(cin * cout > LOOP_ABOVE)
            if i >= self.first_dense:  # not part of the state: rebuilt from the geometry
                self.register_buffer(f"select{i}", dense_selection(size, kernel, stride, padding), persistent=False)
            size, cin = conv_out(size, kernel, stride, padding), cout
        if mbstd and self.first_dense >= last:
            raise ValueError("DiscriminatorBank: mbstd needs a matrix-product last layer")

    def forward(self, x, groups: int = 1):
        """x (B, C, ...) -> logits (B, K); with mbstd the batch is `groups` equal groups (real, fake) whose
        spreads are measured apart."""
        g, run = self.geometry, conv(self.geometry.dims)
        fmt = torch.channels_last if g.dims == 2 else torch.channels_last_3d
        h = self.project(x)  # (B, K, ...), channels-last
        last = len(g.layers) - 1
        for i, ((_, _, stride, padding), w, b) in enumerate(zip(g.layers, self.weights, self.biases)):
            if i == self.first_dense:  # (B, K*C, ...) -> (K, B, positions x C), position-major
                h = h.view(h.shape[0], self.k, -1, *h.shape[2:]).movedim(2, -1).transpose(0, 1)
                h = h.reshape(self.k, h.shape[1], -1)
            if i == last and self.mbstd:  # h (K, B, P * C) -> (K, B, P * (C + 1))
                k, n = h.shape[:2]
                f = h.view(k, groups, n // groups, -1, w.shape[2] - 1)
                spread = spread_of(f, 2, (3, 4)).view(k, groups, 1, 1, 1).expand(-1, -1, n // groups, f.shape[3], 1)
                h = torch.cat([f, spread], 4).view(k, n, -1)
            if i < self.first_dense and self.loop_on_cpu[i] and h.device.type == "cpu":
                # unbind, not w[k]: its backward stacks the K gradients once instead of K full-size adds
                h = torch.cat([run(part, wk, bk, stride=stride, padding=padding)
                               for part, wk, bk in zip(h.chunk(self.k, 1), w.unbind(0), b.unbind(0))], 1)
            elif i < self.first_dense:
                h = run(h, w.flatten(0, 1).contiguous(memory_format=fmt), b.flatten(), stride=stride,
                        padding=padding, groups=self.k)
            else:
                h = self.dense(h, w, b, getattr(self, f"select{i}"))
            if i < last:  # in place: the layer's output is fresh, and LeakyReLU's backward reads its output
                h = F.leaky_relu(h, 0.2, inplace=True)
        if self.first_dense > last:
            return h.flatten(2).mean(2)  # (B, K): the last layer has one channel per discriminator
        return h.mean(2).t()

    def project(self, x):
        """The K projections of x (B, C, ...) as one matrix product over its 2-D patches (unfold), returned as
        (B, K, ...) in channels-last memory: no layout copy, and a backward to x at matrix-multiply speed
        (a 1-channel transposed convolution is slow on CPUs). A 3-D projection has a temporal kernel of 1:
        the same 2-D product per frame."""
        kernel, stride, padding = (per_dim(v, self.geometry.dims)[-2:] for v in self.geometry.proj)
        frames = None
        if self.geometry.dims == 3:
            t_kernel, t_stride, t_pad = (per_dim(v, 3)[0] for v in self.geometry.proj)
            if (t_kernel, t_stride, t_pad) != (1, 1, 0):
                raise ValueError("DiscriminatorBank: a 3-D projection must have temporal kernel 1, stride 1, padding 0")
            frames = x.shape[2]
            x = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, H, W)
        cols = F.unfold(x, kernel, padding=padding, stride=stride)  # (N, C*kh*kw, positions)
        h = cols.transpose(1, 2) @ self.proj.reshape(self.k, -1).t()  # (N, positions, K)
        out = conv_out(x.shape[2:], kernel, stride, padding)
        if frames is None:
            return h.view(x.shape[0], *out, self.k).permute(0, 3, 1, 2)
        return h.view(-1, frames, *out, self.k).permute(0, 4, 1, 2, 3)

    def dense(self, h, w, b, select):
        """h (K, B, P_in * C) -> (K, B, P_out * C'): the layer as one matrix per discriminator."""
        k, cout, cin = w.shape[:3]
        n_in = h.shape[2] // cin
        n_out = select.shape[1] // n_in
        m = (w.reshape(k * cout * cin, -1) @ select).view(k, cout, cin, n_in, n_out)
        m = m.permute(0, 3, 2, 4, 1).reshape(k, n_in * cin, n_out * cout)
        return torch.baddbmm(b.repeat(1, n_out)[:, None], h, m)

    def member(self, k: int) -> "Discriminator":
        """Discriminator k as a module of its own (copies of its weights): the looped reference."""
        return Discriminator(self, k)


class Discriminator(nn.Module):
    """One discriminator: its frozen projection (a buffer) and its conv layers; forward -> logits (B,)."""

    def __init__(self, bank: DiscriminatorBank, k: int):
        super().__init__()
        self.geometry = bank.geometry
        self.register_buffer("proj", bank.proj[k:k + 1].clone())
        self.weights = nn.ParameterList(nn.Parameter(w.detach()[k].clone()) for w in bank.weights)
        self.biases = nn.ParameterList(nn.Parameter(b.detach()[k].clone()) for b in bank.biases)

    def forward(self, x, groups: int = 1):
        g, run = self.geometry, conv(self.geometry.dims)
        h = run(x, self.proj, stride=g.proj[1], padding=g.proj[2])
        last = len(g.layers) - 1
        for i, ((_, _, stride, padding), w, b) in enumerate(zip(g.layers, self.weights, self.biases)):
            if i == last and w.shape[1] > h.shape[1]:  # mbstd: one more channel, the group's spread
                f = h.view(groups, -1, *h.shape[1:])
                spread = spread_of(f, 1, tuple(range(2, f.ndim)))
                h = torch.cat([h, spread.view(groups, 1, 1, *[1] * (h.ndim - 2)).expand(
                    -1, f.shape[1], 1, *h.shape[2:]).reshape(h.shape[0], 1, *h.shape[2:])], 1)
            h = run(h, w, b, stride=stride, padding=padding)
            if i < last:
                h = F.leaky_relu(h, 0.2)
        return h.flatten(1).mean(1)


class LoopedDiscriminators(nn.Module):
    """The reference: K discriminator modules run one after another. forward -> logits (B, K)."""

    def __init__(self, bank: DiscriminatorBank):
        super().__init__()
        self.k = bank.k
        self.members = nn.ModuleList(bank.member(k) for k in range(bank.k))

    def forward(self, x, groups: int = 1):
        return torch.stack([m(x, groups) for m in self.members], 1)


def make_discriminators(k: int, channels: int, geometry: Geometry, batched: bool, mbstd: bool = False) -> nn.Module:
    """A bank, or the looped reference built from a bank (so both start from the same weights given the
    same seed)."""
    bank = DiscriminatorBank(k, channels, geometry, mbstd)
    return bank if batched else LoopedDiscriminators(bank)


# ---- losses --------------------------------------------------------------------------------------------------

def per_disc_bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """logits (B, K) -> each discriminator's mean BCE against a constant target, (K,)."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target),
                                              reduction="none").mean(0)


def generator_loss(losses: torch.Tensor, cfg: Config) -> torch.Tensor:
    """The K generator losses (K,) -> one loss: their mean (Eq. 3), or the hypervolume -mean_k log(eta - l_k)
    with the nadir point eta = slack * max_k l_k held fixed (the reference code's; mean, not sum, so the
    scale does not grow with K)."""
    if cfg.g_loss == "mean":
        return losses.mean()
    eta = cfg.nadir_slack * losses.detach().max() + 1e-8
    return -torch.log(eta - losses).mean()


# ---- the model -----------------------------------------------------------------------------------------------

class Model(nn.Module):
    static_from = "none"  # the evaluation kit's adapter: FrameGAN has no static code

    def __init__(self, cfg: Config):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.gf = FrameGenerator(cfg)
        self.gf.apply(dcgan_init)
        nn.init.constant_(self.gf.out.bias, cfg.gf_out_bias)
        if cfg.phase == "frames":
            self.gv = None
            self.disc = make_discriminators(cfg.n_disc, cfg.channels, frame_geometry(cfg.d_widths), cfg.batched,
                                            cfg.mbstd)
        else:
            self.gv = VideoGenerator(cfg)
            self.disc = make_discriminators(cfg.n_vdisc, cfg.channels, video_geometry(cfg.vd_widths, cfg.frames),
                                            cfg.batched, cfg.mbstd)
            self.gf.requires_grad_(False)
        self._opts = None
        self.train()

    def frozen(self) -> list[nn.Module]:
        return [self.gf] if self.gv is not None else []

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.frozen():  # G_F keeps its batch-norm statistics in stage 2
            m.eval()
        return self

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """"gen" (G_F or G_V) and "disc" (the stacked bank); with batched=False one "discNN" per module."""
        if self._opts is None:
            c = self.cfg
            lr = c.lr if c.phase == "frames" else c.video_lr

            def make(params, scale=1.0):
                if c.optimizer == "adam":
                    return torch.optim.Adam(params, lr=lr * scale, betas=(0.5, 0.999))
                return torch.optim.RMSprop(params, lr=lr * scale)

            gen = self.gf if self.gv is None else self.gv
            self._opts = {"gen": make(gen.parameters())}
            if isinstance(self.disc, LoopedDiscriminators):
                self._opts.update({f"disc{k:02d}": make(m.parameters(), c.disc_lr_mult)
                                   for k, m in enumerate(self.disc.members)})
            else:
                self._opts["disc"] = make(self.disc.parameters(), c.disc_lr_mult)
        return self._opts

    # -- training
    def training_step(self, batch: dict, step: int, ctx) -> dict[str, torch.Tensor]:
        """One discriminator update (all K) and one generator update; detached 0-dim tensors out."""
        c = self.cfg
        x = fit_frames(batch["frames"], c.image_size, c.channels) * 2 - 1  # (B, T, C, H, W) in [-1, 1]
        B = x.shape[0]
        if self.gv is None:
            real = x[:, 0]
            z = torch.randn(B, c.z_dim, device=x.device)
            with ctx.autocast():
                fake = self.gf(z)
        else:
            if step == 0:
                load_frame_generator(self, c.frames_run)
            self.gf.eval()  # whatever mode the caller set: frozen batch-norm statistics must not move
            real = x[:, :c.frames].transpose(1, 2)  # (B, C, T, H, W)
            z = torch.randn(B, c.z_dim, device=x.device)
            with ctx.autocast():
                fake = self.render(self.gv(z)).transpose(1, 2)
        logs = self.disc_step(real, fake.detach(), ctx)
        logs.update(self.gen_step(fake, ctx))
        return logs

    def disc_step(self, real, fake, ctx) -> dict[str, torch.Tensor]:
        """Each discriminator: BCE(D_k(real), 1) + BCE(D_k(fake), 0). Batched: one step on the sum of the K
        losses (each slice gets exactly its own gradient); looped: K steps, one per module."""
        B = real.shape[0]
        both = torch.cat([real, fake.to(real.dtype)])
        opts = self.optimizers()
        if isinstance(self.disc, LoopedDiscriminators):
            logits, losses = [], []
            for k, member in enumerate(self.disc.members):
                with ctx.autocast():
                    out = member(both, 2)[:, None]
                loss = per_disc_bce(out[:B], 1.0) + per_disc_bce(out[B:], 0.0)
                ctx.step(opts[f"disc{k:02d}"], loss.sum())
                logits.append(out.detach())
                losses.append(loss.detach())
            logits, losses = torch.cat(logits, 1), torch.cat(losses)
        else:
            with ctx.autocast():
                out = self.disc(both, 2)  # two groups: real and fake (mbstd measures each apart)
            losses = per_disc_bce(out[:B], 1.0) + per_disc_bce(out[B:], 0.0)
            ctx.step(opts["disc"], losses.sum())
            logits, losses = out.detach(), losses.detach()
        p = torch.sigmoid(logits.float())
        return {"d_loss": losses.mean(), "d_real": p[:B].mean(), "d_fake": p[B:].mean()}

    def gen_step(self, fake, ctx) -> dict[str, torch.Tensor]:
        """The generator against all K discriminators (held fixed: no weight gradients are computed)."""
        self.disc.requires_grad_(False)
        try:
            with ctx.autocast():
                losses = per_disc_bce(self.disc(fake), 1.0)
            loss = generator_loss(losses, self.cfg)
            ctx.step(self.optimizers()["gen"], loss)
        finally:
            self.disc.requires_grad_(True)
        out = {"g_loss": losses.detach().mean()}  # always Eq. 3's average, whatever is minimised
        if self.cfg.g_loss == "hypervolume":
            out["hv_loss"] = loss.detach()
        return out

    # -- generation (training, sampling and the evaluation adapter)
    def render(self, zf: torch.Tensor) -> torch.Tensor:
        """z_F (B, T, z) -> frames (B, T, C, 30, 30) in [-1, 1] from G_F, one frame per code."""
        frames = self.gf(zf.reshape(-1, zf.shape[-1]))
        return frames.view(*zf.shape[:2], *frames.shape[1:])

    @contextlib.contextmanager
    def evaluating(self):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def sample_dynamic(self, n: int, t: int, generator: torch.Generator | None = None, static=None) -> torch.Tensor:
        """z_F sequences (n, t, z_dim) from G_V for z_V ~ N(0, I) drawn with `generator` (t <= cfg.frames)."""
        if self.gv is None:
            raise RuntimeError("framegan: sample_dynamic needs G_V (phase=video); use sample_iid for i.i.d. z_F")
        if t > self.cfg.frames:
            raise ValueError(f"framegan: G_V makes {self.cfg.frames} steps, asked for {t}")
        device = next(self.parameters()).device
        z = torch.randn(n, self.cfg.z_dim, generator=generator, device=generator.device if generator else device)
        with self.evaluating():
            return self.gv(z.to(device))[:, :t]

    def sample_iid(self, n: int, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, t, z_dim) i.i.d. N(0, I): every frame drawn on its own (Table 1's baseline, Fig. 5's prior)."""
        device = next(self.parameters()).device
        z = torch.randn(n, t, self.cfg.z_dim, generator=generator, device=generator.device if generator else device)
        return z.to(device)

    def generate(self, static=None, dynamic: torch.Tensor | None = None) -> torch.Tensor:
        """z_F sequences (n, t, z_dim) -> frames (n, t, C, 30, 30) in [0, 1]; `static` is ignored (none)."""
        if dynamic is None:
            raise ValueError("framegan: generate needs the z_F sequences (dynamic)")
        with self.evaluating():
            return (self.render(dynamic).float() + 1) / 2

    def generate_iid(self, n: int, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Videos of i.i.d. z_F ~ N(0, I) per frame, (n, t, C, 30, 30) in [0, 1]."""
        return self.generate(None, self.sample_iid(n, t, generator))

    # -- images for TensorBoard
    @torch.no_grad()
    def sample(self, batch: dict) -> dict[str, torch.Tensor]:
        """Stage 1: 'real' and 'generated' frames (N, C, H, W) (fixed z: comparable across steps). Stage 2:
        'videos', one image: 2 real clips, then 4 of G_V, then 2 of i.i.d. z_F, one clip per row."""
        from trainers.eval.figures import tile
        c = self.cfg
        gen = torch.Generator().manual_seed(0)
        x = fit_frames(batch["frames"][:8], c.image_size, c.channels)
        if self.gv is None:
            return {"real": x[:, 0], "generated": self.generate_iid(32, 1, gen)[:, 0]}
        t = min(c.frames, x.shape[1])
        rows = [x[:2, :t], self.generate(None, self.sample_dynamic(4, t, gen)), self.generate_iid(2, t, gen)]
        return {"videos": tile(torch.cat([r.to(x.device) for r in rows]))[None]}


def load_frame_generator(model: Model, path: str) -> None:
    """G_F's weights (and batch-norm statistics) from a finished frames run: its directory (latest
    checkpoint), a checkpoint directory or a state file; weights_only=True."""
    from trainers import checkpoint as ckpt
    p = Path(path)
    if p.is_dir():
        p = (ckpt.latest(p) or p) / ckpt.STATE
    if not p.is_file():
        raise InputError(f"framegan: frames_run={path}: no checkpoint found (expected a run directory, "
                                f"a checkpoint directory or a {ckpt.STATE})")
    state = torch.load(p, map_location="cpu", weights_only=True)
    state = {k[3:]: v for k, v in state.get("model", state).items() if k.startswith("gf.")}
    own = model.gf.state_dict()
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise InputError(f"framegan: {p} holds no G_F of this shape (a frames run with the same gf_widths, z_dim "
                         f"and channels is needed)")
    model.gf.load_state_dict(state)

