"""DrNet: disentangled content and pose from video, and its LSTM pose predictor.

    Denton & Birodkar, "Unsupervised Learning of Disentangled Representations from Video", NIPS 2017
    (arXiv:1705.10915; reference code edenton/drnet (Lua) and edenton/drnet-py).

Two encoders split every frame into a content vector h_c (what stays fixed in a clip) and a pose vector
h_p (what moves). A decoder rebuilds frame x_{t+k} from [h_c(x_t), h_p(x_{t+k})]. The loss is

    L = ||D(E_c(x_t), E_p(x_{t+k})) - x_{t+k}||^2 + alpha ||E_c(x_t) - E_c(x_{t+k'})||^2 + beta L_adv(E_p)

where L_adv = BCE(C(h_p1, h_p2), 1/2) on same-clip pairs (maximum entropy of a frozen scene discriminator
C), and C itself is trained separately with BCE (same clip = 1, different clips = 0) while the rest is
held fixed. Values the paper's text lost come from ../shared/MODELS.md §B and the Lua code.

Three phases of one module (one registry name, "drnet"):
  phase=drnet      the disentangling model (encoders, decoder, scene discriminator)
  phase=predictor  a 2-layer LSTM over pose vectors, trained on the frozen encoders of a finished drnet
                   run (cfg.encoders = that run's directory or checkpoint, loaded at step 0); rolls out
                   as far as wanted with the content vector of the last observed frame.
  phase=decoder    the decoder of a finished drnet run (cfg.encoders, loaded at step 0) trained further on
                   its frozen encoders with the reconstruction loss alone (not in the paper): what is drawn
                   changes, what the vectors carry does not.

Deliberate differences from the reference code (bugs there, see MODELS.md):
  - "different clip" pairs are a roll of the batch by a random non-zero shift, so no pair is a fixed point
    of a permutation (the port's randperm labels some identical-clip pairs as different);
  - frames are drawn at random offsets up to cfg.max_step (the Lua code's 12), per sample, not the port's
    frames 0-3;
  - vectors are L2-normalized as the paper says (the port does not);
  - C returns logits (sigmoid applied in the loss) so the BCE is safe under bf16 autocast.

Examples:
    vidshard train drnet --data data/mmnist --preset mnist
    vidshard train drnet --data data/mmnist --preset mnist phase=predictor encoders=runs/drnet-mnist
    vidshard train drnet --data data/mmnist --preset mnist phase=decoder encoders=runs/drnet-mnist rec_loss=l1
    vidshard eval drnet runs/drnet-mnist-lstm --data data/mmnist
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainers.eval.figures import analogy_grid, tile
from trainers.eval.probes import PROBES



POSE_SPREAD = 3.0   # pose_scale="data": poses divided by 3 std, so that nearly all fit in the predictor's tanh range


@dataclass
class Config:
    # data
    image_size: int = 64          # square frames; a power of two >= 16 (stride-2 layers: log2(size) - 2)
    channels: int = 3
    batch_size: int = 100
    max_step: int = 12            # window of frames per clip; content/pose/similarity frames drawn within it
    epoch_samples: int = 0        # clips per loader epoch over all ranks (0: the split's size); raise it on a
                                  # tiny dataset so an epoch is not a handful of batches
    channel_swap: bool = False    # swap colour channels 0 and 1 of each training clip with probability 1/2, all
                                  # its frames alike (not in the paper): in channel-coloured Moving MNIST (digit n
                                  # in channel n) which digit gets which channel is exchangeable, and a decoder
                                  # trained without it drew one channel's digits worse than the other's
    # networks (DCGAN-64 encoders and decoder)
    nf: int = 64                  # width of the first conv layer; doubles at every stride-2 layer
    content_dim: int = 128        # |h_c|
    pose_dim: int = 10            # |h_p| (10 Moving MNIST, 24 KTH/faces)
    skip: bool = False            # U-Net skips from the content encoder to the decoder (the paper's KTH model)
    dec_depth: int = 0            # extra 3x3 conv + BN + LReLU layers after the decoder's 4x4 head and each of
                                  # its upsamplings, and at full size a 3x3 conv draws the image from nf/2 maps
                                  # (not in the paper's MNIST decoder, where one transposed conv draws each scale
                                  # and the last one the pixels; VGG-style decoders such as its KTH model's stack
                                  # 3x3 convs per scale)
    decoder: str = "dcgan"        # "dcgan": the mirror of the encoders (the paper); "broadcast": a spatial
                                  # broadcast decoder (Watters et al. 2019, arXiv:1901.07017; not in the paper):
                                  # [h_c, h_p] tiled over the frame beside x, y coordinate maps, stride-1 3x3
                                  # convs at full size, so every pixel is drawn from where it is relative to the
                                  # positions in h_p instead of from a 4x4 map upsampled. Tried on Moving MNIST:
                                  # pose reads position better, digits are drawn later (docs/RESULTS.md)
    broadcast_width: int = 64     # decoder "broadcast": maps per layer (4 valid 3x3 convs, then a 1x1 to pixels)
    normalize: bool = True        # unit-norm h_c and h_p (the paper; the PyTorch port omits it)
    head_bn: bool = True          # BatchNorm before the vectors' tanh (the reference code); the similarity
                                  # term can shrink its scale until h_c is constant across clips
    content_pool: str = "none"    # "none": h_c from a 4x4 conv over the last map (the paper), which reads where
                                  # things are; "max" / "mean": a 1x1 conv, then a global max / mean over the
                                  # map, so h_c cannot tell which cell a feature came from (not in the paper)
    content_blur: bool = False    # anti-aliased downsampling in the content encoder (Zhang 2019, not in the paper):
                                  # a stride-1 3x3 conv, then a binomial 3x3 blur taken at stride 2, so features
                                  # shift with the image instead of flickering as a digit crosses the stride grid
    content_pad: str = "zeros"    # the content encoder's conv padding: "zeros" (the paper) or "circular" (not in
                                  # the paper): the frame read as a torus, so no layer can tell a feature near
                                  # the border (where zero padding differs from a black background's features)
                                  # from one in the middle; with content_pool it makes h_c exactly invariant to
                                  # circular shifts by multiples of the encoder's total stride
    content_split: bool = False   # the content encoder reads each colour channel as a one-channel image, with
                                  # the same weights for every channel, pools each channel's map on its own and
                                  # mixes the pooled vectors into h_c (not in the paper; needs content_pool). In
                                  # channel-coloured Moving MNIST (one digit per channel) no feature then sees
                                  # both digits, so h_c cannot read where they are from each other
    content_shift: bool = False   # in training, each frame the content encoder reads is rolled circularly by a
                                  # random offset (not in the paper; needs content_pad "circular" and a pooled
                                  # head, which make h_c invariant to shifts by whole strides already): where a
                                  # digit sits within the stride grid becomes noise to the decoder. It did not
                                  # make h_c drop that offset (docs/RESULTS.md, "The last tenth of position")
    disc_hidden: int = 100        # scene discriminator: 2 hidden layers of this width
    # losses and optimizer
    rec_loss: str = "mse"         # "mse" (the paper), "bce" (pixels as Bernoulli means; sets another scale for
                                  # alpha and beta) or "l1" (absolute error, not in the paper: where h_c leaves a
                                  # stroke uncertain, its optimum is the per-pixel median, drawn or not drawn,
                                  # where MSE's and BCE's is the grey mean of the alternatives)
    alpha: float = 1.0            # similarity weight
    sim: str = "mse"              # "mse" (the paper) or "relative": the same squared distance over the batch's
                                  # variance of h_c, which shrinking h_c's spread cannot lower (not in the paper),
                                  # or "standardized": each dimension's squared change over that dimension's
                                  # batch variance, which shrinking one dimension cannot lower either, or
                                  # "contrastive": InfoNCE, each clip's two content frames told apart from the
                                  # batch's other clips, which rewards what identifies a clip (not in the paper;
                                  # no gain at CPU scale)
    sim_temperature: float = 0.1  # sim "contrastive": the softmax temperature over cosine similarities
    beta: float = 0.1             # adversarial weight (0.1 MNIST/NORB/SUNCG, 1e-4 KTH/faces)
    lr: float = 0.002
    beta1: float = 0.5
    # phase 2: the LSTM pose predictor (or a decoder trained further)
    phase: str = "drnet"          # "drnet", "predictor" or "decoder" (the module docstring)
    encoders: str = ""            # predictor and decoder phases: a drnet run dir, checkpoint dir or state file
    n_past: int = 5               # frames observed (MNIST 5, KTH 10)
    n_future: int = 10            # frames predicted in training (both 10)
    rnn_size: int = 256
    rnn_layers: int = 2
    lstm_lr: float = 2e-4
    lstm_inputs: str = "truth"    # the predictor's inputs over the n_future steps in training: "truth" (teacher
                                  # forcing, the reference code) or "own": its own predictions, as in a rollout
                                  # (not in the paper), so it learns from the drift a rollout meets
    pose_scale: str = "none"      # the poses the predictor reads and predicts: "none" (h_p as the encoder gives it,
                                  # the paper) or "data": centred on the poses' mean and divided by POSE_SPREAD
                                  # times their std per dimension, both from the first batch (not in the paper).
                                  # A trained pose encoder can crowd h_p into a small cap of the unit sphere
                                  # (std ~0.01 a dimension), where an MSE of 1e-4 already means "predict the
                                  # mean" and rollouts stop moving
    # evaluation
    eval_clips: int = 256         # held-out clips scored by evaluate(); twice as many train clips fit the probes
    probe: str = "logistic"       # probe classifier: "logistic" (fast) or "mlp" (the paper's App. D: 2 x 256)
    rollout: int = 100            # length of the rollout GIF


PRESETS: dict[str, dict] = {
    # colored two-digit Moving MNIST, 64x64 (`vidshard synth moving-mnist`)
    "mnist": dict(image_size=64, channels=3, nf=64, content_dim=128, pose_dim=10, beta=0.1, batch_size=100,
                  n_past=5, n_future=10),
    # face clips from `vidshard prepare`: the KTH settings (skips, beta 1e-4, |h_p| 24, observe 10 / predict 10)
    "faces": dict(image_size=64, channels=3, nf=64, content_dim=128, pose_dim=24, skip=True, beta=1e-4,
                  batch_size=100, n_past=10, n_future=10),
    # channel-coloured two-digit Moving MNIST (--colors channel) at 32x32 on one CPU thread: wider than
    # tiny, the paper's |h_c| 128, |h_p| 10, offsets and beta; BCE reconstruction, the one change of the
    # learning-curve runs that made content carry digit shapes (docs/RESULTS.md, DrNet at CPU scale)
    "cpu_mnist": dict(image_size=32, channels=3, nf=32, content_dim=128, pose_dim=10, batch_size=32,
                      rec_loss="bce", rnn_size=256, n_past=5, n_future=10, eval_clips=256),
    # CPU smoke size for tests and the demo (its step cost: docs/BENCHMARKS.md "Training")
    "tiny": dict(image_size=32, channels=3, nf=16, content_dim=32, pose_dim=4, batch_size=16, rnn_size=64,
                 n_past=5, n_future=10, eval_clips=128, rollout=100),
}


def swap_channels(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Clips (B, T, C, H, W) with channels 0 and 1 swapped in about half of them (drawn on the CPU generator),
    every frame of a clip alike."""
    pick = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device, non_blocking=True)
    order = [1, 0, *range(2, x.shape[2])]
    return torch.where(pick[:, None, None, None, None], x[:, :, order], x)


PHASES = ("drnet", "predictor", "decoder")


def loader_kwargs(cfg: Config) -> dict:
    """Windows of contiguous frames: max_step of them for the drnet and decoder phases, n_past + n_future for
    the predictor."""
    n = cfg.n_past + cfg.n_future if cfg.phase == "predictor" else cfg.max_step
    kw = dict(sampler="window", n_frames=n, random=True, batch_size=cfg.batch_size)
    if cfg.epoch_samples > 0:
        kw["epoch_samples"] = cfg.epoch_samples
    return kw


def check_config(cfg: Config) -> None:
    n_down = math.log2(cfg.image_size) - 2
    if cfg.image_size < 16 or n_down != int(n_down):
        raise ValueError(f"drnet: image_size must be a power of two >= 16, got {cfg.image_size}")
    if cfg.phase not in PHASES:
        raise ValueError(f"drnet: phase must be one of {', '.join(PHASES)}, got {cfg.phase!r}")
    if cfg.max_step < 2:
        raise ValueError(f"drnet: max_step must be >= 2 (two different frames per clip), got {cfg.max_step}")
    if cfg.rec_loss not in ("mse", "bce", "l1"):
        raise ValueError(f"drnet: rec_loss must be 'mse', 'bce' or 'l1', got {cfg.rec_loss!r}")
    if cfg.content_pool not in ("none", "max", "mean"):
        raise ValueError(f"drnet: content_pool must be 'none', 'max' or 'mean', got {cfg.content_pool!r}")
    if cfg.content_pad not in ("zeros", "circular"):
        raise ValueError(f"drnet: content_pad must be 'zeros' or 'circular', got {cfg.content_pad!r}")
    if cfg.sim not in SIMILARITIES:
        raise ValueError(f"drnet: sim must be one of {', '.join(SIMILARITIES)}, got {cfg.sim!r}")
    if cfg.sim_temperature <= 0:
        raise ValueError(f"drnet: sim_temperature must be > 0, got {cfg.sim_temperature}")
    if cfg.probe not in PROBES:
        raise ValueError(f"drnet: probe must be one of {', '.join(PROBES)}, got {cfg.probe!r}")
    if cfg.lstm_inputs not in ("truth", "own"):
        raise ValueError(f"drnet: lstm_inputs must be 'truth' or 'own', got {cfg.lstm_inputs!r}")
    if cfg.pose_scale not in ("none", "data"):
        raise ValueError(f"drnet: pose_scale must be 'none' or 'data', got {cfg.pose_scale!r}")
    if cfg.n_past < 1 or cfg.n_future < 1:
        raise ValueError(f"drnet: n_past and n_future must be >= 1, got {cfg.n_past}, {cfg.n_future}")
    if cfg.decoder not in ("dcgan", "broadcast"):
        raise ValueError(f"drnet: decoder must be 'dcgan' or 'broadcast', got {cfg.decoder!r}")
    if cfg.decoder == "broadcast" and (cfg.skip or cfg.dec_depth):
        raise ValueError("drnet: decoder 'broadcast' takes no skips and no dec_depth (they shape the dcgan decoder)")
    if cfg.broadcast_width < 1:
        raise ValueError(f"drnet: broadcast_width must be >= 1, got {cfg.broadcast_width}")
    if cfg.dec_depth < 0:
        raise ValueError(f"drnet: dec_depth must be >= 0, got {cfg.dec_depth}")
    if cfg.content_split and (cfg.content_pool == "none" or cfg.skip):
        raise ValueError("drnet: content_split needs content_pool 'max' or 'mean' (a 4x4 head reads where things "
                         "are) and skip=false (the decoder's skips take whole-frame maps)")
    if cfg.content_shift and (cfg.content_pad != "circular" or cfg.content_pool == "none"):
        raise ValueError("drnet: content_shift needs content_pad 'circular' and content_pool 'max' or 'mean' (rolled "
                         "frames wrap around the border, which only a circularly padded, pooled encoder reads alike)")
    if cfg.channel_swap and cfg.channels < 2:
        raise ValueError(f"drnet: channel_swap needs at least 2 channels, got channels={cfg.channels}")


# ---- networks ------------------------------------------------------------------------------------------------

def widths(cfg: Config) -> list[int]:
    """Channels after each stride-2 layer: nf, 2nf, 4nf, ... down to a 4x4 map (64x64: 4 layers, 32x32: 3)."""
    n_down = int(math.log2(cfg.image_size)) - 2
    return [cfg.nf * 2 ** i for i in range(n_down)]


def down(cin: int, cout: int, pad: str = "zeros") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False, padding_mode=pad), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2, True))


class BlurDown(nn.Module):
    """A [1, 2, 1] x [1, 2, 1] / 16 blur per channel, taken at stride 2 (reflect padding, or circular with the
    encoder's)."""

    def __init__(self, channels: int, pad: str = "zeros"):
        super().__init__()
        self.pad = "circular" if pad == "circular" else "reflect"
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).expand(channels, 1, 3, 3).contiguous(),
                             persistent=False)

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode=self.pad), self.kernel, stride=2, groups=x.shape[1])


def blur_down(cin: int, cout: int, pad: str = "zeros") -> nn.Sequential:
    """down() anti-aliased: the same halving, with the subsampling after a blur instead of inside the conv."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False, padding_mode=pad), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2, True), BlurDown(cout, pad))


def conv3(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]


def up(cin: int, cout: int, depth: int = 0) -> nn.Sequential:
    """Double the map's size with a transposed conv, then `depth` 3x3 convs at the new size."""
    layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
    for _ in range(depth):
        layers += conv3(cout, cout)
    return nn.Sequential(*layers)


def image_out(cin: int, channels: int, depth: int) -> nn.Module:
    """The last doubling, to pixels: one transposed conv (the paper), or with depth > 0 a transposed conv to
    cin/2 maps, depth - 1 3x3 convs on them and a 3x3 conv to the image."""
    if depth == 0:
        return nn.ConvTranspose2d(cin, channels, 4, 2, 1)
    mid = max(cin // 2, channels)
    return nn.Sequential(up(cin, mid, depth - 1), nn.Conv2d(mid, channels, 3, 1, 1))


def pooling(pool: str) -> nn.Module:
    return nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)


def vector_head(cin: int, dim: int, pool: str, bn: bool) -> nn.Sequential:
    """The 4x4 map -> (N, dim, 1, 1), BN + tanh: a 4x4 conv, or a 1x1 conv and a global pool."""
    conv = [nn.Conv2d(cin, dim, 4, 1, 0)] if pool == "none" else [nn.Conv2d(cin, dim, 1), pooling(pool)]
    return nn.Sequential(*conv, *([nn.BatchNorm2d(dim)] if bn else []), nn.Tanh())


class Encoder(nn.Module):
    """DCGAN encoder: stride-2 convs to 4x4, a vector head (a 4x4 conv, or a 1x1 conv and a global pool),
    BN + tanh, then unit norm. split=True: each channel through the convs and a pooled 1x1 conv on its own,
    the channels' pooled vectors then mixed by a 1x1 conv + BN + tanh. keep_skips: forward also returns each
    block's feature map (the decoder's U-Net skips); otherwise an empty list."""

    def __init__(self, cfg: Config, dim: int, pool: str = "none", blur: bool = False, pad: str = "zeros",
                 split: bool = False, keep_skips: bool = False):
        super().__init__()
        w = widths(cfg)
        block = blur_down if blur else down
        self.split = split
        self.keep_skips = keep_skips
        cin = 1 if split else cfg.channels
        self.blocks = nn.ModuleList(block(a, b, pad) for a, b in zip([cin] + w[:-1], w))
        if split:   # per channel: 1x1 conv and pool; then vector_head mixes the channels (its pool sees 1x1)
            self.head = nn.Sequential(nn.Conv2d(w[-1], dim, 1), pooling(pool),
                                      nn.Unflatten(0, (-1, cfg.channels)), nn.Flatten(1, 2),
                                      *vector_head(cfg.channels * dim, dim, pool, cfg.head_bn))
        else:
            self.head = vector_head(w[-1], dim, pool, cfg.head_bn)
        self.normalize = cfg.normalize

    def forward(self, x):
        if self.split:
            x = x.flatten(0, 1)[:, None]
        skips = []
        for block in self.blocks:
            x = block(x)
            if self.keep_skips:
                skips.append(x)
        h = self.head(x).flatten(1)
        if self.normalize:
            h = F.normalize(h, dim=1)
        return h, skips


class Decoder(nn.Module):
    """Mirror of the encoder: [h_c, h_p] -> 4x4 -> ... -> image, sigmoid output. With skip=True the content
    encoder's feature map of each resolution is concatenated in (U-Net), so static background comes cheap."""

    def __init__(self, cfg: Config):
        super().__init__()
        w = widths(cfg)[::-1]  # e.g. [8nf, 4nf, 2nf, nf]
        k = 2 if cfg.skip else 1
        self.skip = cfg.skip
        self.head = nn.Sequential(nn.ConvTranspose2d(cfg.content_dim + cfg.pose_dim, w[0], 4, 1, 0, bias=False),
                                  nn.BatchNorm2d(w[0]), nn.LeakyReLU(0.2, True),
                                  *[layer for _ in range(cfg.dec_depth) for layer in conv3(w[0], w[0])])
        self.blocks = nn.ModuleList(up(cin * k, cout, cfg.dec_depth) for cin, cout in zip(w[:-1], w[1:]))
        self.out = image_out(w[-1] * k, cfg.channels, cfg.dec_depth)

    def forward(self, hc, hp, skips=None):
        x = self.head(torch.cat([hc, hp], 1)[:, :, None, None])
        skips = skips[::-1] if self.skip else None
        for i, block in enumerate(self.blocks):
            x = block(torch.cat([x, skips[i]], 1) if self.skip else x)
        x = self.out(torch.cat([x, skips[-1]], 1) if self.skip else x)
        return torch.sigmoid(x)


class BroadcastDecoder(nn.Module):
    """Spatial broadcast decoder (Watters et al. 2019): z = [h_c, h_p] tiled over a (H+8)x(W+8) grid beside
    x, y coordinates (-1 to 1 across the frame's pixels, beyond on the margin), four valid 3x3 convs (BN +
    LReLU) down to HxW, a 1x1 conv to the pixels, sigmoid. z is the same at every cell, so the first conv's z
    part is one linear map of z added to a conv of the coordinates: the same function without tiling z."""

    LAYERS = 4

    def __init__(self, cfg: Config):
        super().__init__()
        w, n = cfg.broadcast_width, cfg.image_size + 2 * self.LAYERS
        h = cfg.image_size   # grid cell i + LAYERS lies under output pixel i: the frame's pixels span [-1, 1]
        axis = (2 * (torch.arange(n, dtype=torch.float32) - self.LAYERS) - (h - 1)) / (h - 1)
        self.register_buffer("coords", torch.stack(torch.meshgrid(axis, axis, indexing="xy"))[None], persistent=False)
        self.z_in = nn.Linear(cfg.content_dim + cfg.pose_dim, w, bias=False)
        self.coord_in = nn.Conv2d(2, w, 3, bias=False)
        self.first = nn.Sequential(nn.BatchNorm2d(w), nn.LeakyReLU(0.2, True))
        self.body = nn.Sequential(*[layer for _ in range(self.LAYERS - 1)
                                    for layer in (nn.Conv2d(w, w, 3, bias=False), nn.BatchNorm2d(w),
                                                  nn.LeakyReLU(0.2, True))])
        self.out = nn.Conv2d(w, cfg.channels, 1)

    def forward(self, hc, hp, skips=None):
        x = self.coord_in(self.coords) + self.z_in(torch.cat([hc, hp], 1))[:, :, None, None]
        return torch.sigmoid(self.out(self.body(self.first(x))))


class SceneDiscriminator(nn.Module):
    """MLP on a pair of pose vectors: 2 hidden layers of 100, ReLU; returns the logit of "same clip"."""

    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.disc_hidden
        self.net = nn.Sequential(nn.Linear(2 * cfg.pose_dim, h), nn.ReLU(True), nn.Linear(h, h), nn.ReLU(True),
                                 nn.Linear(h, 1))

    def forward(self, hp1, hp2):
        return self.net(torch.cat([hp1, hp2], 1)).squeeze(1)


class PosePredictor(nn.Module):
    """[h_p(t-1), h_c] -> Linear -> LSTM(256) x 2 -> Linear -> tanh = h_p(t)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.embed = nn.Linear(cfg.pose_dim + cfg.content_dim, cfg.rnn_size)
        self.lstm = nn.LSTM(cfg.rnn_size, cfg.rnn_size, num_layers=cfg.rnn_layers, batch_first=True)
        self.out = nn.Linear(cfg.rnn_size, cfg.pose_dim)

    def forward(self, hp_prev, hc, state=None):
        """hp_prev (B, L, p), hc (B, c) -> predicted h_p for the next L steps (B, L, p), LSTM state."""
        x = torch.cat([hp_prev, hc[:, None].expand(-1, hp_prev.shape[1], -1)], 2)
        y, state = self.lstm(self.embed(x), state)
        return torch.tanh(self.out(y)), state


def init_weights(m: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BN scale N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


SIMILARITIES = ("mse", "relative", "standardized", "contrastive")


def similarity_loss(hc1: torch.Tensor, hc2: torch.Tensor, kind: str,
                    temperature: float = Config.sim_temperature) -> torch.Tensor:
    """Squared distance between the content vectors of two frames of each clip (hc2 held fixed, as the Lua
    code does); "relative" divides it by the variance of hc1 across the batch (mean over dimensions), so
    that the term measures within-clip change against between-clip spread: a content encoder that makes
    every h_c nearly alike (a collapsed head scale, a dominant bias) no longer satisfies it for free.
    "standardized" divides each dimension's squared change by that dimension's variance across the batch: a
    probe on standardised features reads a dimension however small it is, and so does this term.
    "contrastive" (InfoNCE, both directions, both frames trained) asks each clip's pair of codes to be more
    alike, by cosine, than either is to another clip's: pulling the pair together alone can be paid by a
    constant code; telling the clips apart cannot, and where they are does not help (the two frames'
    positions differ). Measured: a batch's clips are told apart by their strokes' styles at once, so the
    term hardly pushes toward the digits' identity (docs/RESULTS.md, "A contrastive content term")."""
    if kind == "contrastive":
        z1, z2 = F.normalize(hc1, dim=1), F.normalize(hc2, dim=1)
        logits = z1 @ z2.t() / temperature
        labels = torch.arange(len(z1), device=z1.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    if kind == "standardized":
        return ((hc1 - hc2.detach()) ** 2 / (hc1.var(dim=0) + 1e-8)).mean()
    sim = F.mse_loss(hc1, hc2.detach())
    if kind == "relative":
        sim = sim / (hc1.var(dim=0).mean() + 1e-8)
    return sim


def reconstruction_loss(rec: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean squared error, binary cross-entropy with the decoder's sigmoid outputs as Bernoulli means, or the
    mean absolute error."""
    if kind == "bce":
        return F.binary_cross_entropy(rec.clamp(1e-6, 1 - 1e-6), target)
    if kind == "l1":
        return F.l1_loss(rec, target)
    return F.mse_loss(rec, target)


# ---- frame selection -----------------------------------------------------------------------------------------

def generator_device(generator=None) -> torch.device:
    """Where a generator draws (random tensors must be made on its device); the CPU for the global one."""
    return generator.device if generator is not None else torch.device("cpu")


def draw_offsets(batch: int, window: int, generator=None) -> dict[str, torch.Tensor]:
    """Per-sample frame indices within a window: content t_c, pose/target t_p != t_c, similarity t_s != t_c,
    and the second pose frame t_a != t_p of the discriminator's same-clip pair."""
    dev = generator_device(generator)

    def other(t):  # uniform over the window minus t
        return (t + torch.randint(1, window, (batch,), generator=generator, device=dev)) % window

    t_c = torch.randint(0, window, (batch,), generator=generator, device=dev)
    t_p = other(t_c)
    return {"content": t_c, "pose": t_p, "similar": other(t_c), "pair": other(t_p)}


def take(frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """frames (B, T, C, H, W), t (B,) -> (B, C, H, W): frame t[i] of clip i."""
    return frames[torch.arange(frames.shape[0], device=frames.device), t.to(frames.device)]


def roll_frames(x: torch.Tensor, generator=None) -> torch.Tensor:
    """x (N, C, H, W) with each frame rolled circularly by its own random (dy, dx), drawn on the generator:
    frame i is torch.roll(x[i], (dy[i], dx[i]), (1, 2))."""
    N, _, H, W = x.shape
    dev = generator_device(generator)
    dy, dx = (torch.randint(0, n, (N, 1), generator=generator, device=dev).to(x.device, non_blocking=True)
              for n in (H, W))
    rows = (torch.arange(H, device=x.device) - dy) % H     # (N, H): the source row of each output row
    cols = (torch.arange(W, device=x.device) - dx) % W
    n = torch.arange(N, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def roll_shift(batch: int, generator=None) -> int:
    """A random non-zero shift: rolling the batch by it pairs every clip with a different clip."""
    dev = generator_device(generator)
    return int(torch.randint(1, batch, (1,), generator=generator, device=dev))


# ---- the model -----------------------------------------------------------------------------------------------

class Model(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.content_enc = Encoder(cfg, cfg.content_dim, cfg.content_pool, cfg.content_blur, cfg.content_pad,
                                   cfg.content_split, keep_skips=cfg.skip)
        self.pose_enc = Encoder(cfg, cfg.pose_dim)
        self.decoder = BroadcastDecoder(cfg) if cfg.decoder == "broadcast" else Decoder(cfg)
        self.scene_disc = SceneDiscriminator(cfg)
        self.apply(init_weights)
        self.predictor = PosePredictor(cfg) if cfg.phase == "predictor" else None
        for m in self.frozen():
            m.requires_grad_(False)
        self.scaled = self.predictor is not None and cfg.pose_scale == "data"
        if self.scaled:   # set from the first batch (fit_pose_scale); checkpointed, so eval and resume reuse them
            self.register_buffer("pose_mean", torch.zeros(cfg.pose_dim))
            self.register_buffer("pose_spread", torch.ones(cfg.pose_dim))
        self._opts = None
        self.train()

    def frozen(self) -> list[nn.Module]:
        """The networks a phase takes from cfg.encoders and never changes."""
        return {"drnet": [], "decoder": [self.content_enc, self.pose_enc, self.scene_disc],
                "predictor": [self.content_enc, self.pose_enc, self.decoder, self.scene_disc]}[self.cfg.phase]

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.frozen():  # frozen encoders keep their BN running statistics
            m.eval()
        return self

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self._opts is None:
            c = self.cfg
            def adam(nets: list[nn.Module]) -> torch.optim.Optimizer:
                return torch.optim.Adam([p for n in nets for p in n.parameters()], lr=c.lr, betas=(c.beta1, 0.999))

            frozen = self.frozen()
            if self.predictor is not None:
                self._opts = {"lstm": torch.optim.Adam(self.predictor.parameters(), lr=c.lstm_lr)}
            else:  # the phase's networks that are not frozen
                self._opts = {"main": adam([n for n in (self.content_enc, self.pose_enc, self.decoder)
                                            if all(n is not f for f in frozen)])}
                if all(self.scene_disc is not f for f in frozen):
                    self._opts["disc"] = adam([self.scene_disc])
        return self._opts

    # -- encoding helpers used by training, sampling and evaluation
    def encode(self, x):
        """x (N, C, H, W) -> h_c, h_p, content skips."""
        hc, skips = self.content_enc(x)
        hp, _ = self.pose_enc(x)
        return hc, hp, skips

    def decode(self, hc, hp, skips=None):
        return self.decoder(hc, hp, skips)

    # -- the evaluation kit's adapter (trainers/eval/__init__.py): content is static, pose is dynamic
    static_from = "frame"

    def encode_static(self, frames):
        """(B, T, C, H, W) -> (h_c, *skips) of each clip's first frame (the decoder needs the skips)."""
        hc, skips = self.content_enc(frames[:, 0])
        return (hc, *skips)

    def encode_dynamic(self, frames):
        """(B, T, C, H, W) -> h_p of every frame (B, T, p)."""
        return self.pose_sequence(frames)

    def generate(self, static, dynamic):
        """(h_c, *skips) of B clips and h_p (B, T, p) -> frames (B, T, C, H, W)."""
        hc, *skips = static
        B, T = dynamic.shape[:2]
        out = self.decoder(hc.repeat_interleave(T, 0), dynamic.flatten(0, 1), [s.repeat_interleave(T, 0) for s in skips])
        return out.view(B, T, *out.shape[1:])

    # -- phase 1: DrNet
    def training_step(self, batch: dict, step: int, ctx) -> dict[str, torch.Tensor]:
        """One step of the phase; returns detached 0-dim tensors on the device (never .item(): on a GPU
        every .item() waits for the queued kernels, so the CPU could not run ahead to the next step)."""
        x = batch["frames"]
        if self.cfg.channel_swap:
            x = swap_channels(x, ctx.generator)
        if self.predictor is not None:
            return self.predictor_step(x, step, ctx)
        B, T = x.shape[:2]
        window = min(T, self.cfg.max_step)
        # drawn on the CPU generator, moved once without waiting (a blocking copy is a device sync)
        t = {k: v.to(x.device, non_blocking=True) for k, v in draw_offsets(B, window, ctx.generator).items()}
        if self.cfg.phase == "decoder":
            return self.decoder_step(x, t, step, ctx)
        shift = roll_shift(B, ctx.generator)
        logs = self.disc_step(x, t, shift, ctx, batch.get("key"))
        logs.update(self.main_step(x, t, ctx))
        return logs

    def disc_step(self, x, t, shift, ctx, keys=None) -> dict[str, torch.Tensor]:
        """Scene discriminator: same-clip pose pairs -> 1, pairs from different clips -> 0; encoders fixed.
        Different-clip pairs are the batch rolled by `shift`; if sample keys are given, a pair that meets the
        same clip twice (a resampled loader can draw a clip twice in one batch) is left out of the loss."""
        B = x.shape[0]
        opt = self.optimizers()["disc"]
        with torch.no_grad(), ctx.autocast():
            hp, _ = self.pose_enc(torch.cat([take(x, t["pose"]), take(x, t["pair"])]))
        hp1, hp2 = hp.float().split(B)
        weight = torch.ones(2 * B, device=hp.device)
        if keys is not None:
            weight[B:] = torch.tensor([keys[i] != keys[(i - shift) % B] for i in range(B)],
                                      dtype=torch.float32).to(hp.device, non_blocking=True)
        with ctx.autocast():
            logits = torch.cat([self.scene_disc(hp1, hp2), self.scene_disc(hp1, hp2.roll(shift, 0))]).float()
            target = torch.cat([torch.ones(B, device=logits.device), torch.zeros(B, device=logits.device)])
            loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).sum() / weight.sum()
        ctx.step(opt, loss)
        acc = (((logits > 0) == (target > 0.5)).float() * weight).sum() / weight.sum()
        return {"disc_loss": loss.detach(), "disc_acc": acc.detach()}

    def main_step(self, x, t, ctx) -> dict[str, torch.Tensor]:
        """Reconstruction + alpha * similarity + beta * adversarial, with the scene discriminator frozen."""
        B, c = x.shape[0], self.cfg
        opt = self.optimizers()["main"]
        target = take(x, t["pose"])
        self.scene_disc.requires_grad_(False)
        try:
            content = torch.cat([take(x, t["content"]), take(x, t["similar"])])
            if c.content_shift:
                content = roll_frames(content, ctx.generator)
            with ctx.autocast():
                hc, skips = self.content_enc(content)
                hc1, hc2 = hc.split(B)
                hp, _ = self.pose_enc(torch.cat([target, take(x, t["pair"])]))
                hp1, hp2 = hp.split(B)
                rec = self.decoder(hc1, hp1, [s[:B] for s in skips])
                rec_loss = reconstruction_loss(rec.float(), target, c.rec_loss)
                sim_loss = similarity_loss(hc1.float(), hc2.float(), c.sim, c.sim_temperature)
                logits = self.scene_disc(hp1, hp2).float()
                adv_loss = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.5))
                loss = rec_loss + c.alpha * sim_loss + c.beta * adv_loss
            ctx.step(opt, loss)
        finally:
            self.scene_disc.requires_grad_(True)
        return {"loss": loss.detach(), "rec_loss": rec_loss.detach(), "sim_loss": sim_loss.detach(),
                "adv_loss": adv_loss.detach(), "disc_same_p": torch.sigmoid(logits.detach()).mean()}

    def load_frozen(self, step: int) -> None:
        """At step 0, the phase's networks from cfg.encoders (not in __init__, so evaluating or resuming a run
        takes them from its own checkpoint and never needs the DrNet run again); then, whatever mode the
        caller set, the frozen networks' BN statistics are kept from moving."""
        if step == 0:
            if not self.cfg.encoders:
                raise ValueError(f"drnet: phase={self.cfg.phase} needs encoders=DRNET_RUN_DIR (a trained drnet run "
                                 "to freeze)")
            load_drnet_weights(self, self.cfg.encoders)
        for m in self.frozen():
            m.eval()

    def decoder_step(self, x, t, step, ctx) -> dict[str, torch.Tensor]:
        """Phase decoder: the reconstruction term alone, through the decoder, on the frozen encoders' vectors
        (content and pose frames drawn as in DrNet's step; never rolled, as content_shift is a lesson for the
        content encoder, frozen here)."""
        self.load_frozen(step)
        target = take(x, t["pose"])
        with torch.no_grad(), ctx.autocast():
            hc, skips = self.content_enc(take(x, t["content"]))
            hp, _ = self.pose_enc(target)
        with ctx.autocast():
            rec = self.decoder(hc, hp, skips)
            loss = reconstruction_loss(rec.float(), target, self.cfg.rec_loss)
        ctx.step(self.optimizers()["main"], loss)
        return {"rec_loss": loss.detach()}

    # -- phase 2: the LSTM pose predictor
    def pose_sequence(self, x):
        """x (B, T, C, H, W) -> h_p (B, T, p) from the frozen pose encoder."""
        hp, _ = self.pose_enc(x.flatten(0, 1))
        return hp.view(*x.shape[:2], -1)

    def predictor_step(self, x, step, ctx) -> dict[str, torch.Tensor]:
        """Teacher forcing: predict h_p(t) from [h_p(t-1), h_c(last observed frame)] for t = 1 .. T-1, on the
        networks load_frozen takes from cfg.encoders."""
        c = self.cfg
        self.load_frozen(step)
        with torch.no_grad(), ctx.autocast():
            hp = self.pose_sequence(x).float()
            hc, _ = self.content_enc(x[:, c.n_past - 1])
        if step == 0 and self.scaled:
            self.fit_pose_scale(hp, ctx)
        hp = self.to_predicted(hp)
        with ctx.autocast():
            pred = self.predict_poses(hp, hc.float())
            loss = F.mse_loss(pred.float(), hp[:, 1:])
        ctx.step(self.optimizers()["lstm"], loss)
        return {"lstm_loss": loss.detach()}

    def fit_pose_scale(self, hp: torch.Tensor, ctx) -> None:
        """pose_scale="data": the mean and POSE_SPREAD x the std per dimension of this batch's poses (B, T, p),
        averaged over ranks so that every rank scales alike."""
        flat = hp.flatten(0, 1)
        self.pose_mean.copy_(ctx.all_reduce_mean(flat.mean(0)))
        self.pose_spread.copy_(ctx.all_reduce_mean(flat.std(0)).clamp_min(1e-6) * POSE_SPREAD)

    def to_predicted(self, hp: torch.Tensor) -> torch.Tensor:
        """Encoder poses -> the predictor's coordinates (the same with pose_scale="none")."""
        return (hp - self.pose_mean) / self.pose_spread if self.scaled else hp

    def from_predicted(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.pose_spread + self.pose_mean if self.scaled else z

    def predict_poses(self, hp: torch.Tensor, hc: torch.Tensor) -> torch.Tensor:
        """h_p (B, T, p) -> predictions of h_p(1 .. T-1). Inputs are the true h_p(t-1), or with lstm_inputs="own"
        the predictor's own output from the last observed frame on (its first future input stays the truth)."""
        if self.cfg.lstm_inputs == "truth":
            return self.predictor(hp[:, :-1], hc)[0]
        pred, state = self.predictor(hp[:, :self.cfg.n_past], hc)
        return torch.cat([pred, self.roll_poses(pred[:, -1:], hc, state, hp.shape[1] - 1 - self.cfg.n_past)], 1)

    def roll_poses(self, h, hc, state, steps: int) -> torch.Tensor:
        """Feed the predictor its own output `steps` times from pose h (B, 1, p) -> (B, steps, p)."""
        poses = []
        for _ in range(steps):
            h, state = self.predictor(h, hc, state)
            poses.append(h)
        return torch.cat(poses, 1) if poses else h[:, :0]

    @torch.no_grad()
    def rollout(self, past: torch.Tensor, steps: int) -> torch.Tensor:
        """Observe past (B, n, C, H, W), predict `steps` frames (B, steps, C, H, W) with the content of the
        last observed frame; predictions are fed back as pose inputs, pixels never are."""
        if self.predictor is None:
            raise RuntimeError("drnet: rollout needs the predictor phase (phase=predictor)")
        hp = self.to_predicted(self.pose_sequence(past))
        hc, skips = self.content_enc(past[:, -1])
        _, state = self.predictor(hp[:, :-1], hc) if past.shape[1] > 1 else (None, None)
        return self.generate((hc, *skips), self.from_predicted(self.roll_poses(hp[:, -1:], hc, state, steps)))

    # -- images for TensorBoard
    @torch.no_grad()
    def sample(self, batch: dict) -> dict[str, torch.Tensor]:
        """Each grid is one image (1, C, H, W): 'analogy' (content of row clip x pose of column clip) and,
        in the predictor phase, 'rollout' (observed then predicted frames, one clip per row)."""
        was_training = self.training
        self.eval()
        x = batch["frames"][:8]
        out = {"analogy": analogy_grid(self, x[:, :1], x[:, -1])[None]}
        if self.predictor is not None and x.shape[1] > self.cfg.n_past:
            pred = self.rollout(x[:, : self.cfg.n_past], x.shape[1] - self.cfg.n_past)
            out["rollout"] = tile(torch.cat([x[:, : self.cfg.n_past], pred], 1))[None]
        self.train(was_training)
        return out


DRNET_PARTS = ("content_enc", "pose_enc", "decoder", "scene_disc")
ENCODERS = ("content_enc", "pose_enc")


def of_parts(state: dict, parts: tuple[str, ...]) -> dict:
    """The entries of a state dict that belong to the named networks."""
    return {k: v for k, v in state.items() if k.startswith(tuple(f"{n}." for n in parts))}


def read_drnet_state(path: str, option: str) -> dict:
    """A finished DrNet's model state from a run directory (its latest checkpoint), a checkpoint directory or a
    state file (weights_only=True); errors name the setting that gave the path (`option`)."""
    from trainers import checkpoint as ckpt
    p = Path(path)
    if p.is_dir() and ckpt.latest(p) is not None:
        p = ckpt.latest(p)
    if p.is_dir():
        if not (p / ckpt.STATE).is_file():
            raise FileNotFoundError(f"drnet: {option}={path}: no checkpoint found "
                                    f"(expected RUN_DIR/checkpoints/step-*/{ckpt.STATE})")
        p = p / ckpt.STATE
    if not p.is_file():
        raise FileNotFoundError(f"drnet: {option}={path}: no such file or directory")
    state = torch.load(p, map_location="cpu", weights_only=True)
    return state.get("model", state)


def load_parts(model: Model, state: dict, parts: tuple[str, ...], source: str) -> None:
    """Copy the named networks from a DrNet state into the model, checking they exist and fit."""
    wanted = of_parts(model.state_dict(), parts)
    missing = [k for k in wanted if k not in state]
    if missing:
        raise ValueError(f"drnet: {source} is not a DrNet checkpoint of this shape: lacks {', '.join(missing[:5])}")
    bad = [k for k in wanted if state[k].shape != wanted[k].shape]
    if bad:
        raise ValueError(f"drnet: {source}: shape mismatch for {', '.join(bad[:5])} (different nf/dims/image_size?)")
    model.load_state_dict({k: state[k] for k in wanted}, strict=False)


def load_drnet_weights(model: Model, path: str) -> None:
    """Load a finished DrNet's encoders, decoder and discriminator (for the predictor and decoder phases)."""
    load_parts(model, read_drnet_state(path, "encoders"), DRNET_PARTS, path)


def load_decoder(model: Model, path: str) -> None:
    """Replace the model's decoder with the one in another DrNet checkpoint, e.g. a predictor's rollouts drawn
    by a decoder the decoder phase trained further. Only a decoder trained on these very encoders draws their
    codes, so a checkpoint whose encoders differ in any tensor (BN statistics included) is refused."""
    state = read_drnet_state(path, "decoder_from")
    differ = [k for k, v in of_parts(model.state_dict(), ENCODERS).items()
              if k not in state or not torch.equal(v.cpu(), state[k])]
    if differ:
        raise ValueError(f"drnet: decoder_from={path}: its encoders differ from this run's ({', '.join(differ[:3])}"
                         f"{' …' if len(differ) > 3 else ''}); a decoder draws only the codes it was trained on")
    load_parts(model, state, ("decoder",), path)
