"""The unordered-pairs VAE: a static code from every pair of frames, a dynamic code per frame.

    "Disentangled Dynamic Representations from Unordered Data", AABI 2018 (arXiv:1812.03962); no public
    code. The text in ../shared/papers lost most numbers; ../shared/MODELS.md §D restores what it can.

Generative model: f ~ N(0, I); z_i | f ~ N(mu(f), diag sigma^2(f)) i.i.d. over a clip's frames;
x_i | z_i, f ~ Bernoulli(decoder(z_i, f)). Inference: q(f | x_1..x_N) from the same layers applied to every
concatenated pair of frames, pooled, so f cannot depend on the frames' order; q(z_i | x_i) per frame. One
sample of f per clip and one z_i per frame give the ELBO

    ELBO = sum_i E log p(x_i | z_i, f) - KL(q(f) || N(0, I)) - sum_i E_q(f) KL(q(z_i | x_i) || p(z_i | f)),

logged as its three terms apart (per clip: nll, kl_f, kl_z; loss = -ELBO per clip, averaged over the batch).
Frames come from the loader's frame-set sampler, unsorted: N frames of a clip in random order.

Networks (Appendix C, 64×64; other sizes keep the 4×4 bottleneck with log2(size) - 2 stride-2 layers):
    trunk       shared by q(f) and q(z): [conv 4×4 stride 2, `width`, LeakyReLU] x 4 -> 4×4×width
    q(f)        per frame conv 3×3 `hidden` ReLU; per ordered pair (i, j) conv 3×3 `hidden` ReLU on the two
                maps concatenated, dense `hidden` ReLU; mean over pairs; dense 2|f| (mean, log variance)
    q(z | x)    dense `hidden` ReLU, dense `hidden` ReLU, dense 2|z| on the flattened trunk map
    p(z | f)    dense `hidden` ReLU, dense `hidden` ReLU, dense 2|z|
    p(x | z, f) dense [z, f] -> 4×4×width LeakyReLU, [deconv 4×4 stride 2, width, LeakyReLU] x 3,
                deconv 4×4 stride 2 to the channels: Bernoulli logits

Choices the paper leaves open, and why:
  - |f| = 512: the static head ends in "dense 1024", and the q(z) and prior heads end in "dense 4" for
    |z| = 2, i.e. twice the code size (a mean and a log variance). Read the same way, 1024 outputs are
    |f| = 512. Unused dimensions of a VAE code fall to the prior (KL 0, mean 0), so a generous |f| costs
    little; the CPU presets use 32.
  - |z| = 2 for faces, as the paper ("even with just two dimensions"; the "dense 4" heads). Sprites 3: the
    paper "increased" it for Sprites, whose sequences there held a character's whole sheet (every action and
    direction). Our Sprites clips are one action in one direction (both static here, so f carries them); what
    moves is the animation phase, a cycle, for which 2 dimensions suffice and a third gives slack. Moving
    MNIST 4: data/mmc32 has two digits moving independently, two 2-D positions (|z| 2 reconstructed worse in
    a measured comparison: MSE 0.0114 vs 0.0106 at equal CPU time). A small |z| also keeps appearance out
    of z: there it would cost KL once per frame, in f once per clip.
  - N (frames per set, lost): in the GPU presets 8 where clips are long enough (Moving MNIST 20, faces 16), the GPU anchor's
    size; Sprites 4 of its 8, so that every clip offers 70 different sets: q(f) then learns to agree across
    sets, and the within-clip spread of mu_f over random subsets is measurable at the set size it trained on
    (with N = 8 of 8 frames every subset is the whole clip and the spread is 0 by construction).
  - Pairs: all N(N - 1) ordered pairs (i != j), averaged (`pairs=all`). Ordered, because a concatenation
    [x_i, x_j] is not symmetric: averaging over both orders makes mu_f exactly invariant to permuting the
    frames (up to float rounding). "Random pairs" (`pairs=random`, `n_pairs` per clip, default N) draws ordered
    pairs with replacement in training only; encoding for evaluation always uses all pairs.
  - Where pairs meet: the trunk and the first 3×3 conv run once per frame; the pair layer is a conv on the
    two maps concatenated, computed as conv_left(map_i) + conv_right(map_j) (the same numbers: a conv is
    linear in its input channels), so its cost is O(N) convolutions plus O(N^2) additions. The mean is taken
    after the pair's dense `hidden` layer (the last dense is linear: pooling before or after it is the same).
  - The decoder's input layer (not listed: 4 deconvs of stride 2 need a 4×4 map) is a dense layer from
    [z, f] to 4×4×width; 3×3 convs use padding 1 (the 4×4 map stays 4×4); LeakyReLU slope 0.2 (DCGAN's).
  - The paper's Bernoulli likelihood ("sharper results than a Normal") on grey levels and colours in [0, 1]:
    binary cross-entropy with soft targets, summed over pixels; generate() returns the means sigmoid(logits).
  - Learning rate (lost): Adam 1e-4 at the paper's widths (256/512, batch 120, no normalization layers);
    CPU presets 1e-3 (narrow nets, short runs: held-out NLL after 60 CPU-seconds 1805 vs 1817 at 2e-3).
  - No KL annealing or free bits (the paper mentions none); the logged kl_f and kl_z show a collapse.

Presets: `sprites` (64×64, |z| 3, N 4), `mnist` (32×32 two-digit Moving MNIST of data/mmc32, |z| 4, N 8),
`faces` (64×64, |z| 2, N 8), the paper's widths and batch 120. CPU presets (32×32 via fit_frames, width 32,
hidden 64, |f| 32, 64 frames a step, Adam 1e-3): `cpu_sprites` (16 clips × 4 frames, |z| 3), `cpu_mnist`
(8 × 8, |z| 4), `cpu_faces` (16 × 4, |z| 2). 32×32 because the step costs ~3× less than 64×64 at the same
width and Sprites' four appearance attributes are colour regions that survive the area shrink (the
evaluation kit fits real frames the same way before judging them). The step costs of the sizes compared:
docs/BENCHMARKS.md "CPU presets of pairvae and vsgan".

Per CPU budget (80 CPU-seconds each, 3000 Sprites clips in memory) 32/64 at 16 × 4 reached the lowest held-out NLL
(1750; 8 × 4: 1788, 48/96: 1872); on Moving MNIST 8 × 8 beat 16 × 4 and 16 × 8 per frame (NLL 189 vs
192 and 199 per frame); on faces 16 × 4 beat 8 × 8 (reconstruction MSE 0.023 vs 0.027).

Examples:
    vidshard train pairvae --data data/sprites --preset sprites --steps 43000
    vidshard train pairvae --data data/mmc32 --preset mnist --steps 60000
    vidshard train pairvae --data data/faces64 --preset faces pairs=random
    OMP_NUM_THREADS=1 vidshard train pairvae --data data/sprites --preset cpu_sprites --steps 40000 \\
        --device cpu --threads 1 --workers 1 --run-dir runs/pairvae-cpu-sprites --time-limit 2400
    OMP_NUM_THREADS=1 vidshard train pairvae --resume runs/pairvae-cpu-sprites --threads 1 --time-limit 2400

What the paper reports (latent grids, swaps, the Sprites judge protocol, the spread of mu_f over frame
subsets) is measured by an evaluation recipe built on the kit (trainers/eval/), from the adapter methods
below and elbo_terms().
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainers.frames import fit_frames


@dataclass
class Config:
    # data
    image_size: int = 64          # square frames the model works at, a power of two >= 16; shards of another
                                  # size or channel count are fitted on the fly (trainers/frames.fit_frames)
    channels: int = 3
    batch_size: int = 120         # clips per process (the paper's 120)
    frames: int = 8               # N: frames per unordered set, drawn at random from a clip (lost; see header)
    epoch_samples: int = 0        # clips per loader epoch over all ranks (0: the split's size)
    # networks (Appendix C)
    width: int = 256              # channels of the trunk and decoder layers
    hidden: int = 512             # the 3×3 convs and dense layers of the heads and the prior
    f_dim: int = 512              # |f| (the "dense 1024" read as mean and log variance of 512)
    z_dim: int = 2                # |z| (2: the paper's faces and its 2-D latent grids)
    slope: float = 0.2            # LeakyReLU slope of the trunk and decoder
    pairs: str = "all"            # q(f) pooling in training: "all" ordered pairs i != j, or "random" pairs
    n_pairs: int = 0              # pairs per clip with pairs=random (0: N)
    # optimizer
    lr: float = 1e-4              # Adam (lost in the paper)


PRESETS: dict[str, dict] = {
    # Sprites (data/sprites: 64×64 RGB, 8-frame clips): the paper's widths, |z| 3, 4-frame sets
    "sprites": dict(image_size=64, channels=3, frames=4, z_dim=3, batch_size=120),
    # two-digit channel-coloured Moving MNIST (data/mmc32: 32×32, 20 frames): |z| 4, two 2-D positions
    "mnist": dict(image_size=32, channels=3, frames=8, z_dim=4, batch_size=120),
    # face crops (data/faces64: 64×64 RGB, 16 frames): |z| = 2 as the paper
    "faces": dict(image_size=64, channels=3, frames=8, z_dim=2, batch_size=120),
    # one-thread CPU runs of 1-2 hours at 32×32 (ms/step measured, see the header): 64 frames a step
    "cpu_sprites": dict(image_size=32, channels=3, frames=4, z_dim=3, width=32, hidden=64, f_dim=32,
                        batch_size=16, lr=1e-3),
    "cpu_mnist": dict(image_size=32, channels=3, frames=8, z_dim=4, width=32, hidden=64, f_dim=32,
                      batch_size=8, lr=1e-3),
    "cpu_faces": dict(image_size=32, channels=3, frames=4, z_dim=2, width=32, hidden=64, f_dim=32,
                      batch_size=16, lr=1e-3),
}


def loader_kwargs(cfg: Config) -> dict:
    """N frames of each clip from the frame-set sampler, in random order (the model never sees time)."""
    return dict(sampler="frameset", n_frames=cfg.frames, random=True, sorted_frames=False,
                batch_size=cfg.batch_size, with_meta=False, **({"epoch_samples": cfg.epoch_samples}
                                                               if cfg.epoch_samples > 0 else {}))


def check_config(cfg: Config) -> None:
    if cfg.image_size < 16 or cfg.image_size & (cfg.image_size - 1):
        raise ValueError(f"pairvae: image_size must be a power of two >= 16, got {cfg.image_size}")
    if cfg.frames < 2:
        raise ValueError(f"pairvae: frames must be >= 2 (q(f) reads pairs of frames), got {cfg.frames}")
    if cfg.pairs not in ("all", "random"):
        raise ValueError(f"pairvae: pairs must be 'all' or 'random', got {cfg.pairs!r}")
    if cfg.n_pairs < 0 or min(cfg.f_dim, cfg.z_dim, cfg.width, cfg.hidden) < 1:
        raise ValueError("pairvae: n_pairs must be >= 0 and f_dim, z_dim, width, hidden >= 1")


# ---- Gaussians -----------------------------------------------------------------------------------------------

def split_gaussian(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A head's 2d outputs -> (mean, log variance), each (..., d)."""
    mu, logvar = h.chunk(2, dim=-1)
    return mu, logvar


def reparameterize(mu, logvar, generator=None) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


def kl_standard(mu, logvar) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(0, I)), summed over the last dimension."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def kl_gauss(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) for diagonal Gaussians, summed over the last dimension."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1).sum(-1)


# ---- networks ------------------------------------------------------------------------------------------------

def n_stride2(image_size: int) -> int:
    """Stride-2 layers between the frame and the 4×4 map: 4 at 64×64, 3 at 32×32."""
    return int(math.log2(image_size)) - 2


def mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    """dense hidden ReLU, dense hidden ReLU, dense cout: the q(z | x) head and the prior p(z | f)."""
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(True), nn.Linear(hidden, hidden), nn.ReLU(True),
                         nn.Linear(hidden, cout))


class Trunk(nn.Module):
    """Frames (M, C, H, W) -> 4×4×width maps: stride-2 4×4 convs with LeakyReLU (shared by q(f) and q(z))."""

    def __init__(self, cfg: Config):
        super().__init__()
        layers, cin = [], cfg.channels
        for _ in range(n_stride2(cfg.image_size)):
            layers += [nn.Conv2d(cin, cfg.width, 4, 2, 1), nn.LeakyReLU(cfg.slope, True)]
            cin = cfg.width
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class StaticHead(nn.Module):
    """q(f | x_1..x_N) from trunk maps (B, N, width, 4, 4): per frame a 3×3 conv; per ordered pair (i, j) a
    3×3 conv on the concatenated maps and a dense layer; the mean over the pairs; a dense layer to (mu, logvar).

    The pair conv is one nn.Conv2d over 2·hidden input channels; it runs as its left half on map i plus its
    right half on map j (exactly the conv of the concatenation), so each frame is convolved once."""

    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden
        self.frame = nn.Conv2d(cfg.width, h, 3, 1, 1)
        self.pair = nn.Conv2d(2 * h, h, 3, 1, 1)
        self.dense = nn.Linear(h * 16, h)
        self.out = nn.Linear(h, 2 * cfg.f_dim)

    def forward(self, maps: torch.Tensor, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """maps (B, N, width, 4, 4); pairs (B, P, 2) or (P, 2) long indices (i, j) -> (mu_f, logvar_f)."""
        B, N = maps.shape[:2]
        s = F.relu(self.frame(maps.flatten(0, 1)))
        h = s.shape[1]
        left = F.conv2d(s, self.pair.weight[:, :h], self.pair.bias, padding=1).view(B, N, h, 4, 4)
        right = F.conv2d(s, self.pair.weight[:, h:], None, padding=1).view(B, N, h, 4, 4)
        if pairs.ndim == 2:
            pair_maps = left[:, pairs[:, 0]] + right[:, pairs[:, 1]]
        else:
            rows = torch.arange(B, device=maps.device)[:, None]
            pair_maps = left[rows, pairs[..., 0]] + right[rows, pairs[..., 1]]
        d = F.relu(self.dense(F.relu(pair_maps).flatten(2)))  # (B, P, hidden)
        return split_gaussian(self.out(d.mean(1)))


class Decoder(nn.Module):
    """[z, f] -> Bernoulli logits (M, C, H, W): a dense layer to 4×4×width, then stride-2 4×4 deconvs."""

    def __init__(self, cfg: Config):
        super().__init__()
        w = cfg.width
        self.width, self.slope = w, cfg.slope
        self.inp = nn.Linear(cfg.z_dim + cfg.f_dim, w * 16)
        layers = []
        for _ in range(n_stride2(cfg.image_size) - 1):
            layers += [nn.ConvTranspose2d(w, w, 4, 2, 1), nn.LeakyReLU(cfg.slope, True)]
        layers.append(nn.ConvTranspose2d(w, cfg.channels, 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.inp(torch.cat([z, f], -1)), self.slope)
        return self.net(h.view(-1, self.width, 4, 4))


def all_pairs(n: int, device=None) -> torch.Tensor:
    """The n(n - 1) ordered pairs (i, j), i != j, as a (P, 2) long tensor."""
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = i != j
    return torch.stack([i[keep], j[keep]], 1).to(device)


def random_pairs(batch: int, n: int, k: int, generator=None) -> torch.Tensor:
    """k ordered pairs (i, j), i != j, per clip, drawn with replacement: (batch, k, 2) on the CPU."""
    i = torch.randint(0, n, (batch, k), generator=generator)
    j = (i + torch.randint(1, n, (batch, k), generator=generator)) % n
    return torch.stack([i, j], -1)


# ---- the model -----------------------------------------------------------------------------------------------

class Model(nn.Module):
    static_from = "clip"  # the evaluation kit's adapter: q(f) reads the whole (unordered) clip

    def __init__(self, cfg: Config):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.trunk = Trunk(cfg)
        self.static_head = StaticHead(cfg)
        self.dynamic_head = mlp(cfg.width * 16, cfg.hidden, 2 * cfg.z_dim)   # q(z | x)
        self.prior = mlp(cfg.f_dim, cfg.hidden, 2 * cfg.z_dim)               # p(z | f)
        self.decoder = Decoder(cfg)
        self._opts = None
        self.train()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self._opts is None:
            self._opts = {"vae": torch.optim.Adam(self.parameters(), lr=self.cfg.lr)}
        return self._opts

    def fit(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) frames of any size and channel count -> the model's."""
        return fit_frames(frames, self.cfg.image_size, self.cfg.channels)

    # -- the three distributions of a clip
    def posteriors(self, x: torch.Tensor, pairs: torch.Tensor | None = None):
        """x (B, N, C, H, W) at the model's size -> ((mu_f, logvar_f) (B, |f|), (mu_z, logvar_z) (B, N, |z|)).
        pairs: (P, 2) or (B, P, 2) indices to pool over; default all ordered pairs."""
        B, N = x.shape[:2]
        maps = self.trunk(x.flatten(0, 1))
        if pairs is None:
            pairs = all_pairs(N, x.device)
        q_f = self.static_head(maps.view(B, N, *maps.shape[1:]), pairs)
        q_z = split_gaussian(self.dynamic_head(maps.flatten(1)).view(B, N, -1))
        return q_f, q_z

    def prior_z(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | f): (mean, log variance) (..., |z|)."""
        return split_gaussian(self.prior(f))

    def logits(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """z (B, T, |z|), f (B, |f|) -> Bernoulli logits (B, T, C, H, W)."""
        B, T = z.shape[:2]
        out = self.decoder(z.flatten(0, 1), f[:, None].expand(-1, T, -1).flatten(0, 1))
        return out.view(B, T, *out.shape[1:])

    def elbo_terms(self, x: torch.Tensor, pairs=None, generator=None) -> dict[str, torch.Tensor]:
        """Per clip (B,): nll = -sum_i log p(x_i | z_i, f), kl_f, kl_z (summed over frames), one sample of f
        and of each z_i (drawn from torch's RNG, or `generator` on x's device)."""
        (mu_f, lv_f), (mu_z, lv_z) = self.posteriors(x, pairs)
        f = reparameterize(mu_f, lv_f, generator)
        z = reparameterize(mu_z, lv_z, generator)
        mu_p, lv_p = self.prior_z(f)
        logits = self.logits(z, f).float()
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl_f = kl_standard(mu_f.float(), lv_f.float())
        kl_z = kl_gauss(mu_z.float(), lv_z.float(), mu_p[:, None].float(), lv_p[:, None].float()).sum(1)
        return {"nll": nll, "kl_f": kl_f, "kl_z": kl_z}

    def training_step(self, batch: dict, step: int, ctx) -> dict[str, torch.Tensor]:
        """One Adam step on -ELBO per clip; returns the ELBO and its terms (per clip) as detached 0-dim tensors."""
        x = self.fit(batch["frames"])
        B, N = x.shape[:2]
        pairs = None
        if self.cfg.pairs == "random":
            pairs = random_pairs(B, N, self.cfg.n_pairs or N, ctx.generator).to(x.device, non_blocking=True)
        with ctx.autocast():
            terms = {k: v.mean() for k, v in self.elbo_terms(x, pairs).items()}
            loss = terms["nll"] + terms["kl_f"] + terms["kl_z"]
        ctx.step(self.optimizers()["vae"], loss)
        out = {k: v.detach() for k, v in terms.items()}
        out["elbo"] = -loss.detach()
        out["loss"] = loss.detach()
        return out

    # -- the evaluation kit's adapter (trainers/eval/__init__.py); frames in [0, 1], any size
    @torch.no_grad()
    def encode_static(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> mu_f (B, |f|) from all ordered pairs of the given frames (order-free)."""
        (mu_f, _), _ = self.posteriors(self.fit(frames))
        return mu_f

    @torch.no_grad()
    def encode_dynamic(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> mu_z (B, T, |z|), each frame on its own."""
        x = self.fit(frames)
        B, T = x.shape[:2]
        h = self.dynamic_head(self.trunk(x.flatten(0, 1)).flatten(1))
        return split_gaussian(h.view(B, T, -1))[0]

    @torch.no_grad()
    def generate(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """f (B, |f|), z (B, T, |z|) -> Bernoulli means (B, T, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.logits(dynamic, static).float())

    def sample_static(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """f ~ N(0, I): (n, |f|)."""
        device = next(self.parameters()).device
        return torch.randn((n, self.cfg.f_dim), generator=generator, device=device)

    @torch.no_grad()
    def sample_dynamic(self, n: int, t: int, generator: torch.Generator | None = None,
                       static: torch.Tensor | None = None) -> torch.Tensor:
        """z_1..z_t ~ p(z | f) i.i.d. per clip: (n, t, |z|); f ~ N(0, I) when `static` is None."""
        f = self.sample_static(n, generator) if static is None else static
        mu, logvar = self.prior_z(f)
        return reparameterize(mu[:, None].expand(-1, t, -1), logvar[:, None].expand(-1, t, -1), generator)

    # -- images for TensorBoard
    @torch.no_grad()
    def sample(self, batch: dict) -> dict[str, torch.Tensor]:
        """Four grids, each one image (1, C, H, W), from up to 8 clips of the batch and a fixed seed:
        'recon' (each clip's frames over their reconstruction from the posterior means), 'resample_z' (per
        row a clip's first frame, then its f with z ~ p(z | f)), 'latent_grid' (clip 0's f, z swept over
        +-2 sd of p(z | f) in its first two dimensions) and 'prior' (rows of f ~ N(0, I), z ~ p(z | f))."""
        from trainers.eval.figures import tile
        was_training = self.training
        self.eval()
        x = self.fit(batch["frames"][:8]).float()
        gen = torch.Generator(device=x.device).manual_seed(0)
        f, z = self.encode_static(x), self.encode_dynamic(x)
        out = {"recon": tile(torch.stack([x, self.generate(f, z)], 1).flatten(0, 1))}
        z_new = self.sample_dynamic(len(x), 7, gen, static=f)
        out["resample_z"] = tile(torch.cat([x[:, :1], self.generate(f, z_new)], 1))
        out["latent_grid"] = tile(self.latent_grid(f[:1], 8)[0])
        f_prior = self.sample_static(8, gen)
        out["prior"] = tile(self.generate(f_prior, self.sample_dynamic(8, 8, gen, static=f_prior)))
        self.train(was_training)
        return {k: v.clamp(0, 1)[None] for k, v in out.items()}

    @torch.no_grad()
    def latent_grid(self, f: torch.Tensor, k: int = 8, span: float = 2.0) -> torch.Tensor:
        """For each f (B, |f|): frames (B, k, k, C, H, W) decoded from z on a k×k grid over the first two
        dimensions of p(z | f), mean +- span sd (further dimensions at the mean; |z| = 1 gives one row)."""
        mu, logvar = self.prior_z(f)
        sd = torch.exp(0.5 * logvar)
        steps = torch.linspace(-span, span, k, device=f.device)
        z = mu[:, None, None].expand(-1, k, k, -1).clone()
        z[..., 0] += steps[None, :, None] * sd[:, None, None, 0]
        if self.cfg.z_dim > 1:
            z[..., 1] += steps[None, None, :] * sd[:, None, None, 1]
        else:
            z = z[:, :1]
        frames = self.generate(f, z.flatten(1, 2))
        return frames.view(f.shape[0], z.shape[1], k, *frames.shape[2:])
