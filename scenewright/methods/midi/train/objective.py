"""MIDI's training objective: rectified flow over padded multi-instance groups.

Forward process (reference R6): x_σ = (1 − σ)·x0 + σ·ε, and the DiT, given x_σ and the
timestep σ·1000, predicts v = x0 − ε (pointing toward data; the sampler steps
x ← x + (σ_i − σ_{i+1})·v). Loss: mean squared error of v, unweighted.

σ density: logit-normal, σ = sigmoid(u) with u ~ N(mean, std²) (mean 0, std 1).
One σ per scene, shared by its instances (they are denoised jointly at inference).
Image-condition drop: with probability 0.1 a scene's CLIP and DINOv2 conditions are set
to zeros, the negatives classifier-free guidance uses (R5).

Padded groups (the original's training branch): each scene becomes a group of P items.
A scene with n ≤ P instances has its n instances first (MI attention over the n) and
P − n duplicates of randomly chosen instances, which attend to themselves only
(single-object regularisation); a scene with n > P contributes a random P of them.

Every random draw of micro-batch m comes from generators seeded by (seed, m) alone, so a
run resumed at step k draws exactly what an uninterrupted run draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from scenewright.methods.midi.attention import PaddedGroups


@dataclass
class ObjectiveSettings:
    logit_mean: float = 0.0
    logit_std: float = 1.0
    cond_drop: float = 0.1
    group_size: int = 7            # P; the original's max_num_instances
    num_train_timesteps: int = 1000


@dataclass
class Batch:
    """One micro-batch of B scenes as B·P DiT items (float32, CPU)."""

    noisy: torch.Tensor        # (B·P, T, C) x_σ
    target: torch.Tensor       # (B·P, T, C) x0 − ε
    timestep: torch.Tensor     # (B·P,) σ·1000
    embeds_1: torch.Tensor     # (B·P, 1, D1), zeros where dropped
    embeds_2: torch.Tensor     # (B·P, S, D2)
    groups: PaddedGroups
    sigma: torch.Tensor        # (B,)
    dropped: torch.Tensor      # (B,) bool


def micro_batch_seed(seed: int, index: int) -> int:
    """A 63-bit seed for micro-batch ``index`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def scene_order(n_scenes: int, seed: int, start: int, count: int) -> list[int]:
    """Scene indices ``start .. start+count-1`` of the endless stream: one fresh permutation
    of all scenes per epoch, epoch e drawn from (seed, e)."""
    out = []
    for k in range(start, start + count):
        epoch, pos = divmod(k, n_scenes)
        perm = np.random.default_rng([int(seed), 7919, epoch]).permutation(n_scenes)
        out.append(int(perm[pos]))
    return out


def pick_group(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Indices of the P group items and the number of real ones (see the module doc)."""
    if n >= size:
        return np.sort(rng.choice(n, size, replace=False)), size
    return np.concatenate([np.arange(n), rng.choice(n, size - n, replace=True)]), n


def make_batch(scenes: list, settings: ObjectiveSettings, seed: int,
               fixed_sigma: float | None = None) -> Batch:
    """Draw everything for one micro-batch of cached scenes (``data.SceneSample``).

    ``fixed_sigma``: use this σ for every scene instead of the drawn one (evaluation)."""
    rng = np.random.default_rng(seed)
    g = torch.Generator("cpu").manual_seed(seed)
    p = settings.group_size
    picks, counts = [], []
    for s in scenes:
        idx, n_real = pick_group(s.n, p, rng)
        picks.append(torch.from_numpy(idx))
        counts.append(n_real)
    moments = torch.cat([s.moments[i] for s, i in zip(scenes, picks)]).float()
    e1 = torch.cat([s.embeds_1[i] for s, i in zip(scenes, picks)]).float()
    e2 = torch.cat([s.embeds_2[i] for s, i in zip(scenes, picks)]).float()
    mean, logvar = moments.chunk(2, dim=-1)
    logvar = logvar.clamp(-30.0, 20.0)
    b = len(scenes)
    # Fixed draw order: posterior noise, flow noise, u, drop.
    x0 = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g)
    eps = torch.randn(mean.shape, generator=g)
    u = torch.randn(b, generator=g) * settings.logit_std + settings.logit_mean
    sigma = torch.sigmoid(u) if fixed_sigma is None else torch.full((b,), float(fixed_sigma))
    dropped = torch.rand(b, generator=g) < settings.cond_drop
    s_items = sigma.repeat_interleave(p)[:, None, None]
    keep = (~dropped).repeat_interleave(p).float()
    return Batch(noisy=(1.0 - s_items) * x0 + s_items * eps, target=x0 - eps,
                 timestep=sigma.repeat_interleave(p) * settings.num_train_timesteps,
                 embeds_1=e1 * keep[:, None, None], embeds_2=e2 * keep[:, None, None],
                 groups=PaddedGroups(p, tuple(counts)), sigma=sigma, dropped=dropped)


def flow_loss(transformer, batch: Batch, mi_blocks, device=None) -> torch.Tensor:
    """Mean squared error of the DiT's velocity against x0 − ε (float32)."""
    device = device or next(transformer.parameters()).device
    pred = transformer(batch.noisy.to(device), batch.timestep.to(device), batch.embeds_1.to(device),
                       batch.embeds_2.to(device), num_instances=batch.groups, mi_blocks=mi_blocks)
    return F.mse_loss(pred.float(), batch.target.to(device).float())


@torch.no_grad()
def evaluation_loss(transformer, cache, settings: ObjectiveSettings, mi_blocks,
                    sigmas=(0.2, 0.5, 0.8), seed: int = 12345) -> float:
    """A fixed measure for comparing weights: the loss over every cached scene at fixed σ
    values, fixed noises and no condition drop (the training loss is noisy by design)."""
    import dataclasses
    evs = dataclasses.replace(settings, cond_drop=0.0)
    losses = [float(flow_loss(transformer, make_batch([cache[i]], evs, micro_batch_seed(seed, i), s), mi_blocks))
              for i in range(len(cache)) for s in sigmas]
    return float(np.mean(losses))
