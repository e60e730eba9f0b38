"""Video-set GAN: a DCGAN whose discriminator judges sets of frames from one clip.

    Tuesca & Uzal, "Exploiting video sequences for unsupervised disentangling in generative adversarial
    networks", 2018 (arXiv:1910.11104; the copy in ../shared/papers spells the first author "Tiesca").
    No public code.

The generator G is an unchanged DCGAN generator: one frame per latent z = (z_C, z_M), z ~ U[-1, 1]. A
fake set is n frames G(z_C, z_M^1) ... G(z_C, z_M^n): z_C drawn once per set and shared by its frames,
z_M drawn per frame. A real set is n frames drawn at random from one clip (the loader's "frameset"
sampler). The discriminator D is a DCGAN discriminator over the n frames of a set stacked on the channel
axis (n * c input channels). Eq. 1 of the paper is the standard GAN value function on sets:

    min_G max_D  E_{x_1..n ~ one clip} log D({x_i}) + E_{z_C, z_M^1..n} log(1 - D({G(z_C, z_M^i)}))

A clip's frames share what does not move (identity, appearance) and differ in what does, so sets D accepts
need the static factors to come from z_C and only the changing ones from z_M: that is the split.

What the paper's text does not give, and what we chose (../shared/MODELS.md §A):
  - "trained following DCGAN": Adam lr 2e-4, betas (0.5, 0.999), weights N(0, 0.02), BN scale N(1, 0.02),
    BN in both nets (not on D's input layer), ReLU + tanh in G, LeakyReLU 0.2 in D, images in [-1, 1];
    G minimises the non-saturating -log D(G(z)) (DCGAN practice, not the minimax form of Eq. 1);
  - dim z_C and z_M, image size, batch and iterations are not given: 64x64, z_C 50, z_M 50, batch 64 sets;
  - the DCGAN 64x64 layers with ngf = ndf = 64, generalised to any power-of-two size >= 16 (one stride-2
    layer per doubling; 32x32 drops the widest layer);
  - real sets are unordered (sorted_frames=False): G's frames are exchangeable within a set, so sets kept
    in time order would give D a cue (the direction of motion) that G could never match;
  - the fake sets are generated once per step: D trains on them detached, then G on D's verdict after
    D's update (the PyTorch DCGAN example), so G's BN statistics move once per step;
  - D sees real and fake sets in separate batches (separate BN statistics, as DCGAN does).
The paper trains gray 64x64 faces (c = 1). Frames are fitted to the model with trainers.frames.fit_frames
inside training_step: a gray preset on RGB shards takes BT.601 luma, a 32x32 preset on 64x64 shards
area-shrinks, so the same shards serve every preset.

Evaluation-kit adapter (trainers/eval/__init__.py): static_from = "none" (no encoders); sample_static
gives z_C (n, dim_zc), sample_dynamic z_M (n, t, dim_zm), generate(z_C, z_M) frames (n, t, C, H, W) in
[0, 1]. generate runs G in whatever mode the model is in; evaluation puts it in eval mode (BN running
statistics), so a frame does not depend on the others generated with it.

Examples:
    vidshard train vsgan --data data/faces64 --preset faces                 # the paper: gray 64x64 faces
    vidshard train vsgan --data data/sprites --preset sprites dim_zc=32 dim_zm=16
    torchrun --nproc_per_node 4 -m trainers.train vsgan --data data/faces64 --preset faces_rgb
    vidshard train vsgan --resume runs/vsgan-faces-20261202-160000 --steps 40000      # continue, exactly
On a shared CPU, in pieces of at most an hour (each stops with a checkpoint; --resume continues exactly):
    OMP_NUM_THREADS=1 vidshard train vsgan --data data/sprites --preset cpu_sprites ngf=48 ndf=48 --device cpu \\
        --threads 1 --workers 1 --steps 60000 --time-limit 3300 --run-dir runs/vsgan-cpu-sprites
    OMP_NUM_THREADS=1 vidshard train vsgan --resume runs/vsgan-cpu-sprites --device cpu --threads 1 --time-limit 3300
    # faces at CPU scale: a spectrally normalised D is what brought z_C's identity change past 0.6 at norm 2
    OMP_NUM_THREADS=1 vidshard train vsgan --data data/faces64 --preset cpu_faces spectral=true --device cpu \\
        --threads 1 --workers 1 --steps 40000 --time-limit 3300 --run-dir runs/vsgan-cpu-faces-sn
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainers.eval.figures import tile
from trainers.frames import fit_frames
from trainers.layers import spread_of


@dataclass
class Config:
    # data
    image_size: int = 64          # frames G makes and D sees; a power of two >= 16 (shards are fitted to it)
    channels: int = 1             # 1: gray (the paper; RGB shards become BT.601 luma), 3: RGB
    batch_size: int = 64          # sets per step and process; each side of a step has batch_size * n_frames frames
    n_frames: int = 3             # frames per set: D's input has n_frames * channels channels (the paper's n = 3)
    sorted_frames: bool = False   # real sets in time order (False: shuffled, exchangeable like G's frames)
    flip: bool = False            # mirror each real set left-right with probability 1/2, all its frames alike
                                  # (not in the paper): twice the real sets for a D that overfits few clips;
                                  # on the face corpus G drew fewer people with it (docs/RESULTS.md)
    epoch_samples: int = 0        # clips per loader epoch over all ranks (0: the split's size)
    # latent z = (z_C, z_M), every component uniform in [-1, 1]
    dim_zc: int = 50              # content code: drawn once per set
    dim_zm: int = 50              # motion code: drawn per frame
    # networks (DCGAN)
    ngf: int = 64                 # G's last hidden width; G doubles it per layer towards its 4x4 input map
    ndf: int = 64                 # D's first width; doubles at every stride-2 layer down to 4x4
    spectral: bool = False        # D's convs spectrally normalised, its BN replaced by conv biases (not in the
                                  # paper, Miyato et al. 2018, SN-DCGAN): a D with a bounded slope, a check on one
                                  # that wins so hard G's gradient says little (on faces it met the target)
    mbstd: bool = False           # D's last layer also sees the batch's feature spread (minibatch std; not in
                                  # the paper, Karras et al. 2018): a check on G drawing few identities
    real_label: float = 1.0       # D's target on real sets; < 1 is one-sided label smoothing (not in the paper,
                                  # Salimans et al. 2016): a check on a D that grows sure of few real clips
    diffaug: str = ""             # DiffAugment policy for D's input, real and fake sets alike, one draw per set
                                  # (not in the paper, Zhao et al. 2020): "color,translation,cutout" or a subset;
                                  # a check on a D that memorises few real clips
    mode_seeking: float = 0.0     # weight of a mode-seeking term on z_C (not in the paper, Mao et al. 2019): set
                                  # pairs share z_M, G also minimises 1 / (frame distance / z_C distance)
    # optimiser (DCGAN)
    lr: float = 2e-4              # G's, and D's unless lr_d is set
    lr_d: float = 0.0             # D's learning rate (0: lr). Above G's it is the two time-scale update rule (not in
                                  # the paper, Heusel et al. 2017, e.g. 4e-4 / 1e-4): a check on G chasing one D
    beta1: float = 0.5
    beta2: float = 0.999


PRESETS: dict[str, dict] = {
    # the paper: gray 64x64 faces (data/faces64 from `vidshard prepare` is RGB: trained on its luma)
    "faces": dict(image_size=64, channels=1),
    "faces_rgb": dict(image_size=64, channels=3),
    # `vidshard synth sprites`: 64x64 RGB, 8-frame clips; z_C holds appearance, action and direction
    "sprites": dict(image_size=64, channels=3),
    # `vidshard synth moving-mnist` with channel colours at 32x32
    "mnist": dict(image_size=32, channels=3),
    # One CPU core for 1-2 hours (--threads 1, one process); the step costs the widths were chosen on are in
    # docs/BENCHMARKS.md "CPU presets of pairvae and vsgan". Small codes (the paper does not fix them): a
    # clip's few categorical factors fit in z_C, pose or animation phase in z_M, and a small z_M leaves G
    # little room to hide appearance in it. Sprites at 32x32 (fit_frames area-shrinks the 64x64 shards;
    # hair, clothes and pose stay legible): width 32, 32 sets, G 0.37M weights (the Sprites result in
    # docs/RESULTS.md adds ngf=48 ndf=48: width 32 fell short on bottomwear). Faces stay 64x64 (the
    # identity metric is verified at 64 px) and RGB (the face embedding is trained on colour): width 24,
    # 16 sets, G 0.70M.
    "cpu_sprites": dict(image_size=32, channels=3, ngf=32, ndf=32, batch_size=32, dim_zc=16, dim_zm=8),
    "cpu_faces": dict(image_size=64, channels=3, ngf=24, ndf=24, batch_size=16, dim_zc=16, dim_zm=8),
}


def loader_kwargs(cfg: Config) -> dict:
    """Sets of n_frames frames of one clip each (the "frameset" sampler: a random subset of the clip)."""
    kw = dict(sampler="frameset", n_frames=cfg.n_frames, random=True, sorted_frames=cfg.sorted_frames,
              batch_size=cfg.batch_size)
    if cfg.epoch_samples > 0:
        kw["epoch_samples"] = cfg.epoch_samples
    return kw


def check_config(cfg: Config) -> None:
    levels = math.log2(cfg.image_size)
    if cfg.image_size < 16 or levels != int(levels):
        raise ValueError(f"vsgan: image_size must be a power of two >= 16, got {cfg.image_size}")
    if cfg.channels not in (1, 3):
        raise ValueError(f"vsgan: channels must be 1 (gray) or 3 (RGB), got {cfg.channels}")
    if cfg.n_frames < 2:
        raise ValueError(f"vsgan: n_frames must be >= 2 (a set shares z_C between frames), got {cfg.n_frames}")
    if cfg.dim_zc < 1 or cfg.dim_zm < 1:
        raise ValueError(f"vsgan: dim_zc and dim_zm must be >= 1, got {cfg.dim_zc}, {cfg.dim_zm}")
    if not 0.5 < cfg.real_label <= 1:
        raise ValueError(f"vsgan: real_label must be in (0.5, 1], got {cfg.real_label}")
    unknown = set(augment_policy(cfg.diffaug)) - set(AUGMENTS)
    if unknown:
        raise ValueError(f"vsgan: diffaug takes {', '.join(AUGMENTS)} (comma-separated), got {sorted(unknown)}")
    if cfg.lr <= 0 or cfg.lr_d < 0:
        raise ValueError(f"vsgan: lr must be > 0 and lr_d >= 0 (0: lr), got {cfg.lr}, {cfg.lr_d}")
    if cfg.mode_seeking < 0 or (cfg.mode_seeking > 0 and cfg.batch_size < 2):
        raise ValueError(f"vsgan: mode_seeking must be >= 0 and needs batch_size >= 2, got {cfg.mode_seeking}")


# ---- networks ------------------------------------------------------------------------------------------------

def pyramid(width: int, image_size: int) -> list[int]:
    """Widths at 4x4, 8x8, ... up to image_size / 2 as G meets them: 64x64 and width 64 -> [512, 256, 128, 64]."""
    levels = int(math.log2(image_size)) - 2
    return [width * 2 ** (levels - 1 - i) for i in range(levels)]


class Generator(nn.Module):
    """DCGAN G: z -> ConvT(4, 1, 0) to a 4x4 map, ConvT(4, 2, 1) + BN + ReLU per doubling, tanh frame."""

    def __init__(self, cfg: Config):
        super().__init__()
        w = pyramid(cfg.ngf, cfg.image_size)
        layers = [nn.ConvTranspose2d(cfg.dim_zc + cfg.dim_zm, w[0], 4, 1, 0, bias=False), nn.BatchNorm2d(w[0]),
                  nn.ReLU(True)]
        for cin, cout in zip(w, w[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(w[-1], cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, dim_zc + dim_zm) -> frames (N, C, H, W) in [-1, 1]."""
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """DCGAN D on a set: Conv(n*c -> ndf, 4, 2, 1) + LReLU, then Conv + BN + LReLU per halving down to 4x4
    (no BN with spectral: Model then normalises every conv),
    Conv(4, 1, 0) to one logit per set; with mbstd that last conv gets one more input channel, the spread of
    the 4x4 features over the batch (real and fake sets come in separate batches, so each is measured apart)."""

    def __init__(self, cfg: Config):
        super().__init__()
        w = pyramid(cfg.ndf, cfg.image_size)[::-1]
        self.in_channels = cfg.n_frames * cfg.channels
        self.mbstd = cfg.mbstd
        # Without BN the convs need biases: a bias-free D of convs and LeakyReLUs scales with its input, so it
        # gives a uniform mid-grey set (all zeros) logit 0, D = 0.5, whatever it learns, and G settles there.
        bias = cfg.spectral
        layers = [nn.Conv2d(self.in_channels, w[0], 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(w, w[1:]):
            norm = [] if cfg.spectral else [nn.BatchNorm2d(cout)]
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=bias), *norm, nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(w[-1] + int(cfg.mbstd), 1, 4, 1, 0, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, sets: torch.Tensor) -> torch.Tensor:
        """sets (B, n * c, H, W), frame-major channels -> logits (B,)."""
        if not self.mbstd:
            return self.net(sets).flatten()
        h = self.net[:-1](sets)
        h = torch.cat([h, spread_of(h, 0, (1, 2, 3)).expand(h.shape[0], 1, *h.shape[2:])], 1)
        return self.net[-1](h).flatten()


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: every conv weight ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def stack_sets(frames: torch.Tensor) -> torch.Tensor:
    """(B, n, c, H, W) -> (B, n * c, H, W): frame i of a set in channels i*c .. (i+1)*c - 1."""
    return frames.flatten(1, 2)


def uniform(shape: tuple, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[-1, 1] draws; from `generator` on its device, else from torch's global RNG on `device`."""
    if generator is not None:
        device = generator.device
    return torch.rand(shape, generator=generator, device=device) * 2 - 1


# ---- the model -----------------------------------------------------------------------------------------------

class Model(nn.Module):
    static_from = "none"  # the evaluation kit's adapter: codes come from the prior, there is no encoder

    def __init__(self, cfg: Config):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.G = Generator(cfg)
        self.D = Discriminator(cfg)
        self.apply(dcgan_init)
        if cfg.spectral:   # after the init: the parametrisation divides whatever weights it is given
            for conv in [m for m in self.D.modules() if isinstance(m, nn.Conv2d)]:
                nn.utils.parametrizations.spectral_norm(conv)
        self.augment = augment_policy(cfg.diffaug)
        self._opts = None
        self.train()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self._opts is None:
            c = self.cfg
            betas = (c.beta1, c.beta2)
            self._opts = {"d": torch.optim.Adam(self.D.parameters(), lr=c.lr_d or c.lr, betas=betas),
                          "g": torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=betas)}
        return self._opts

    # -- latents and generation (the evaluation kit's adapter)
    def sample_static(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of z_C: (n, dim_zc) uniform in [-1, 1]."""
        return uniform((n, self.cfg.dim_zc), generator, self.device)

    def sample_dynamic(self, n: int, t: int, generator: torch.Generator | None = None, static=None) -> torch.Tensor:
        """(n, t, dim_zm): z_M drawn independently for every frame (the prior does not depend on z_C)."""
        return uniform((n, t, self.cfg.dim_zm), generator, self.device)

    def set_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The latents of n fake sets: (n, n_frames, dim_zc + dim_zm), z_C repeated within a set."""
        return latents(self.sample_static(n, generator), self.sample_dynamic(n, self.cfg.n_frames, generator))

    def frames(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, T, dim_zc + dim_zm) -> G's frames (B, T, C, H, W) in [-1, 1]."""
        x = self.G(z.flatten(0, 1))
        return x.view(*z.shape[:2], *x.shape[1:])

    def generate(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """z_C (B, dim_zc) and z_M (B, T, dim_zm) -> frames (B, T, C, H, W) in [0, 1]."""
        return (self.frames(latents(static, dynamic)) + 1) / 2

    # -- training
    def real_sets(self, frames: torch.Tensor) -> torch.Tensor:
        """The loader's (B, n, C', H', W') frames in [0, 1] -> (B, n, channels, size, size) in [-1, 1]."""
        return fit_frames(frames, self.cfg.image_size, self.cfg.channels) * 2 - 1

    def training_step(self, batch: dict, step: int, ctx) -> dict[str, torch.Tensor]:
        """One D update on real vs fake sets, then one G update through the updated D. z is drawn from
        torch's global RNG on the device (per rank, checkpointed). Returns detached 0-dim tensors."""
        real = self.real_sets(batch["frames"])
        B = real.shape[0]
        if self.cfg.flip:
            real = mirror_some(real)
        opt = self.optimizers()
        judge = lambda sets: self.D(stack_sets(diff_augment(sets, self.augment))).float()
        with ctx.autocast():
            z = self.set_latents(B)
            if self.cfg.mode_seeking > 0:
                z = pair_motion(z, self.cfg.dim_zc)
            fake = self.frames(z)
            real_logits = judge(real)
            fake_logits = judge(fake.detach())
            d_loss = real_loss(real_logits, self.cfg.real_label) + F.softplus(fake_logits).mean()
        ctx.step(opt["d"], d_loss)
        self.D.requires_grad_(False)  # G's step must not leave gradients in D
        try:
            with ctx.autocast():
                g_loss = F.softplus(-judge(fake)).mean()  # non-saturating -log D(G(z))
                if self.cfg.mode_seeking > 0:
                    g_loss = g_loss + self.cfg.mode_seeking * mode_seeking_loss(fake.float(), z, self.cfg.dim_zc)
            ctx.step(opt["g"], g_loss)
        finally:
            self.D.requires_grad_(True)
        with torch.no_grad():
            return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                    "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean(),
                    "spread_real": set_spread(real), "spread_fake": set_spread(fake.detach().float())}

    # -- images for TensorBoard
    @torch.no_grad()
    def sample(self, batch: dict, rows: int = 8, cols: int = 8) -> dict[str, torch.Tensor]:
        """'sets': row i is one z_C, column j one z_M, the same z_M in every row (along a row only motion
        should change, down a column only content); the latents are the same at every call (seed 0), so
        grids of successive steps compare. 'real': real sets as the model sees them, one per row."""
        was_training = self.training
        self.eval()
        gen = torch.Generator(device=self.device).manual_seed(0)
        z_c = self.sample_static(rows, gen)
        z_m = self.sample_dynamic(1, cols, gen).expand(rows, -1, -1)
        out = {"sets": tile(self.generate(z_c, z_m).float())[None]}
        real = self.real_sets(batch["frames"][:rows])
        out["real"] = tile((real + 1) / 2)[None]
        self.train(was_training)
        return out


def real_loss(logits: torch.Tensor, label: float) -> torch.Tensor:
    """D's binary cross-entropy on real sets against target `label`: -log D(real) at 1 (the paper); below 1
    the one-sided smoothed target, whose minimum is at D(real) = label. D = sigmoid(logit)."""
    return (label * F.softplus(-logits) + (1 - label) * F.softplus(logits)).mean()


AUGMENTS = ("color", "translation", "cutout")


def augment_policy(text: str) -> list[str]:
    """'color,translation' -> ['color', 'translation'] ('' -> [])."""
    return [p.strip() for p in text.split(",") if p.strip()]


def diff_augment(sets: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) on sets (B, n, C, H, W) in [-1, 1], differentiable in the frames: one
    random draw per set, the same for its n frames, so that a set's frames stay alike or unlike as they were.
    color: brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]; translation: up to 1/8 of the side,
    zero fill; cutout: one zeroed square of half the side. Draws from torch's global RNG on the sets' device."""
    B, dev = sets.shape[0], sets.device
    draw = lambda: torch.rand(B, 1, 1, 1, 1, device=dev)
    x = sets
    if "color" in policy:
        x = x + (draw() - 0.5)
        if x.shape[2] > 1:
            grey = x.mean(2, keepdim=True)
            x = (x - grey) * (draw() * 2) + grey
        mean = x.mean((2, 3, 4), keepdim=True)
        x = (x - mean) * (draw() + 0.5) + mean
    if "translation" in policy:
        x = translate(x, max(1, x.shape[-1] // 8))
    if "cutout" in policy:
        x = x * cutout_mask(B, x.shape[-2], x.shape[-1], dev)[:, None, None]
    return x


def translate(sets: torch.Tensor, reach: int) -> torch.Tensor:
    """Shift each set by a random whole number of pixels in [-reach, reach] on each axis, zeros coming in."""
    B, _, _, H, W = sets.shape
    shift = torch.randint(-reach, reach + 1, (2, B, 1, 1), device=sets.device)
    rows = (torch.arange(H, device=sets.device)[None, :, None] - shift[0]).expand(B, H, W)
    cols = (torch.arange(W, device=sets.device)[None, None, :] - shift[1]).expand(B, H, W)
    inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    index = (rows.clamp(0, H - 1) * W + cols.clamp(0, W - 1)).flatten(1)
    flat = sets.flatten(3)
    moved = flat.gather(3, index[:, None, None].expand(-1, *flat.shape[1:3], -1)).view_as(sets)
    return moved * inside[:, None, None].to(sets.dtype)


def cutout_mask(B: int, H: int, W: int, device) -> torch.Tensor:
    """(B, H, W): ones with one zeroed square of half the side per set, centred anywhere in the frame."""
    h, w = H // 2, W // 2
    top = torch.randint(0, H + 1 - h % 2, (B, 1, 1), device=device) - h // 2
    left = torch.randint(0, W + 1 - w % 2, (B, 1, 1), device=device) - w // 2
    r = torch.arange(H, device=device)[None, :, None]
    c = torch.arange(W, device=device)[None, None, :]
    hole = (r >= top) & (r < top + h) & (c >= left) & (c < left + w)
    return (~hole).float()


def pair_motion(z: torch.Tensor, dim_zc: int) -> torch.Tensor:
    """Latents (B, n, dim_zc + dim_zm) of B sets -> the same with set i + B // 2 taking set i's z_M: pairs that
    differ only in z_C, for the mode-seeking term (each set's z_M is still uniform, so G's sets are too)."""
    half = z.shape[0] // 2
    z = z.clone()
    z[half:2 * half, :, dim_zc:] = z[:half, :, dim_zc:]
    return z


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, dim_zc: int) -> torch.Tensor:
    """Mao et al. 2019 on the pairs of pair_motion: 1 / (mean |frame difference| / mean |z_C difference| +
    1e-5), smallest when G's frames move most per unit of z_C."""
    half = z.shape[0] // 2
    d_img = (fake[:half] - fake[half:2 * half]).abs().mean()
    d_z = (z[:half, 0, :dim_zc] - z[half:2 * half, 0, :dim_zc]).abs().mean()
    return 1 / (d_img / d_z + 1e-5)


def mirror_some(sets: torch.Tensor) -> torch.Tensor:
    """(B, n, C, H, W) -> the same with each set mirrored left-right with probability 1/2, all n frames of
    a set alike (a mirrored face is the same person). Draws from torch's global RNG on the sets' device."""
    pick = torch.rand(sets.shape[0], device=sets.device) < 0.5
    return torch.where(pick[:, None, None, None, None], sets.flip(-1), sets)


def latents(static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
    """z_C (B, dim_zc) and z_M (B, T, dim_zm) -> z (B, T, dim_zc + dim_zm), z_C the same in all T frames."""
    return torch.cat([static[:, None].expand(-1, dynamic.shape[1], -1), dynamic], 2)


def set_spread(sets: torch.Tensor) -> torch.Tensor:
    """Mean over pixels and sets of the standard deviation across a set's frames (B, n, C, H, W) in [-1, 1]:
    how much the frames of a set differ. A G that ignores z_M gives 0; beside the real sets' value it shows
    whether fake sets vary as much as a clip does. (Written out: torch's std over dim 1 was 10x slower here.)"""
    dev = sets - sets.mean(1, keepdim=True)
    return (dev.pow(2).sum(1) / (sets.shape[1] - 1)).sqrt().mean()
