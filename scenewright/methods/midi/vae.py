"""MIDI's shape VAE (``TripoSGVAEModel``): a vecset encoder and a cross-attention SDF decoder.

The decoder turns T latent tokens into a key/value set once (``post_quant`` + self-attention
blocks, the "KV cache") and then answers any number of query points by one cross-attention
block; its output is **negated**, so values ≤ 0 are inside (reference R7). The encoder is
only needed for training and tests: it picks T query points from the surface by a seeded
subset and farthest-point sampling (FPS, written here in torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from scenewright.methods.midi.config import FromDict
from scenewright.methods.midi.attention import Attention
from scenewright.methods.midi.transformer import FeedForward

DECODE_CHUNK = 50_000   # the original's query chunk size


@dataclass
class MIDIVAEConfig(FromDict):
    """``vae/config.json`` of the checkpoint (defaults = the released model)."""

    in_channels: int = 3
    latent_channels: int = 64
    num_attention_heads: int = 8
    width_encoder: int = 512
    width_decoder: int = 1024
    num_layers_encoder: int = 8
    num_layers_decoder: int = 16
    embedding_type: str = "frequency"
    embed_frequency: int = 8
    embed_include_pi: bool = False

    @property
    def embed_dim(self) -> int:
        return self.in_channels * (1 + 2 * self.embed_frequency)


def embed_points(xyz: torch.Tensor, num_freqs: int = 8, include_pi: bool = False) -> torch.Tensor:
    """(…, 3) → (…, 3 + 6F): ``[x y z, sin(x·f_k)…, sin(y·f_k)…, …, cos(z·f_k)…]``, f_k = 2^k (·π)."""
    freqs = 2.0 ** torch.arange(num_freqs, dtype=xyz.dtype, device=xyz.device)
    if include_pi:
        freqs = freqs * torch.pi
    scaled = (xyz[..., None] * freqs).flatten(-2)          # coordinate-major
    return torch.cat([xyz, torch.sin(scaled), torch.cos(scaled)], dim=-1)


def farthest_point_sampling(points: torch.Tensor, k: int) -> torch.Tensor:
    """(B, M, 3) → (B, k) int64 indices: FPS from index 0, squared distance, first index on ties."""
    b, m, _ = points.shape
    if k > m:
        raise ValueError(f"cannot pick {k} of {m} points")
    idx = torch.zeros(b, k, dtype=torch.long, device=points.device)
    rows = torch.arange(b, device=points.device)
    dist = ((points - points[:, :1]) ** 2).sum(-1)         # (B, M) to the first pick
    for i in range(1, k):
        nxt = torch.argmax(dist, dim=1)                    # argmax returns the first maximum
        idx[:, i] = nxt
        dist = torch.minimum(dist, ((points - points[rows, nxt][:, None]) ** 2).sum(-1))
    return idx


def surface_subset(num_points: int, num_tokens: int, seed: int) -> np.ndarray:
    """The original's random subset: ``default_rng(seed).choice(P, 4T, replace=4T > P)``."""
    n = 4 * num_tokens
    return np.random.default_rng(seed).choice(num_points, n, replace=n > num_points)


class VAEBlock(nn.Module):
    """Pre-norm block: self-attention (``norm1``/``attn1``) or cross-attention
    (``norm2``/``attn2`` with ``norm_cross`` on its key/value input), then MLP (``norm3``/``ff``)."""

    def __init__(self, dim: int, heads: int, cross: bool):
        super().__init__()
        self.cross = cross
        if cross:
            self.norm2 = nn.LayerNorm(dim, eps=1e-5)
            self.attn2 = Attention(dim, heads, cross=True, cross_norm=True)
        else:
            self.norm1 = nn.LayerNorm(dim, eps=1e-5)
            self.attn1 = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                kv: tuple | None = None) -> torch.Tensor:
        if self.cross:
            x = x + self.attn2(self.norm2(x), context, kv=kv)
        else:
            x = x + self.attn1(self.norm1(x))
        return x + self.ff(self.norm3(x))


class VAEEncoder(nn.Module):
    def __init__(self, cfg: MIDIVAEConfig):
        super().__init__()
        w = cfg.width_encoder
        self.proj_in = nn.Linear(cfg.embed_dim + 3, w)
        self.blocks = nn.ModuleList([VAEBlock(w, cfg.num_attention_heads, cross=True)] +
                                    [VAEBlock(w, cfg.num_attention_heads, cross=False)
                                     for _ in range(cfg.num_layers_encoder)])
        self.norm_out = nn.LayerNorm(w, eps=1e-5)

    def forward(self, x_q: torch.Tensor, x_kv: torch.Tensor) -> torch.Tensor:
        """x_q (B, T, 54) queries, x_kv (B, P, 54) all points → (B, T, width_encoder)."""
        q, kv = self.proj_in(x_q), self.proj_in(x_kv)
        q = self.blocks[0](q, kv)
        for blk in self.blocks[1:]:
            q = blk(q)
        return self.norm_out(q)


class VAEDecoder(nn.Module):
    def __init__(self, cfg: MIDIVAEConfig):
        super().__init__()
        w = cfg.width_decoder
        self.blocks = nn.ModuleList([VAEBlock(w, cfg.num_attention_heads, cross=False)
                                     for _ in range(cfg.num_layers_decoder)] +
                                    [VAEBlock(w, cfg.num_attention_heads, cross=True)])
        self.proj_query = nn.Linear(cfg.embed_dim, w)
        self.norm_out = nn.LayerNorm(w, eps=1e-5)
        self.proj_out = nn.Linear(w, 1)


@dataclass
class Posterior:
    """Diagonal Gaussian over the latents: mean, logvar (clamped to [−30, 20]), std; (B, T, C)."""

    mean: torch.Tensor
    logvar: torch.Tensor

    @classmethod
    def from_moments(cls, moments: torch.Tensor) -> "Posterior":
        mean, logvar = moments.chunk(2, dim=-1)            # mean first
        return cls(mean, torch.clamp(logvar, -30.0, 20.0))

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype)
        return self.mean + self.std * noise.to(self.mean.device)


@dataclass
class EncodeResult:
    posterior: Posterior
    moments: torch.Tensor           # (B, T, 2C)
    encoder_out: torch.Tensor       # (B, T, width_encoder)
    subset_indices: np.ndarray      # (4T,)
    fps_indices: torch.Tensor       # (B, T) into the subset
    sampled_surface: torch.Tensor   # (B, T, 6)


class MIDIVAE(nn.Module):
    """``TripoSGVAEModel`` with the original's state-dict keys."""

    def __init__(self, config: MIDIVAEConfig | None = None):
        super().__init__()
        cfg = self.config = config or MIDIVAEConfig()
        if cfg.embedding_type != "frequency":
            raise ValueError(f"unsupported VAE embedding_type {cfg.embedding_type!r}")
        self.encoder = VAEEncoder(cfg)
        self.decoder = VAEDecoder(cfg)
        self.quant = nn.Linear(cfg.width_encoder, 2 * cfg.latent_channels)
        self.post_quant = nn.Linear(cfg.latent_channels, cfg.width_decoder)

    @property
    def dtype(self) -> torch.dtype:
        return self.quant.weight.dtype

    def embed(self, xyz: torch.Tensor) -> torch.Tensor:
        return embed_points(xyz, self.config.embed_frequency, self.config.embed_include_pi)

    # -- encoder ---------------------------------------------------------------------
    def encode(self, surface: torch.Tensor, num_tokens: int = 2048, seed: int = 0) -> EncodeResult:
        """surface (B, P, 6) xyz + normal → posterior over (B, num_tokens, C) latents."""
        b, p, _ = surface.shape
        subset = surface_subset(p, num_tokens, seed)
        sub = surface[:, torch.from_numpy(subset).to(surface.device)]
        fps = farthest_point_sampling(sub[..., :3].float(), num_tokens)
        sampled = torch.gather(sub, 1, fps[..., None].expand(-1, -1, sub.shape[-1]))
        x_kv = torch.cat([self.embed(surface[..., :3]), surface[..., 3:]], dim=-1)
        x_q = torch.cat([self.embed(sampled[..., :3]), sampled[..., 3:]], dim=-1)
        enc = self.encoder(x_q, x_kv)
        moments = self.quant(enc)
        return EncodeResult(Posterior.from_moments(moments), moments, enc, subset, fps, sampled)

    # -- decoder ---------------------------------------------------------------------
    def kv_cache(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (B, T, C) → decoder key/value tokens (B, T, width_decoder)."""
        h = self.post_quant(latents)
        for blk in self.decoder.blocks[:-1]:
            h = blk(h)
        return h

    def query_kv(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected keys/values of the query block for a KV cache: computed once per shape."""
        return self.decoder.blocks[-1].attn2.cross_kv(kv)

    def query(self, kv: torch.Tensor | tuple, points: torch.Tensor,
              chunk: int = DECODE_CHUNK) -> torch.Tensor:
        """Field values at points: kv (B, T, W) or :meth:`query_kv` output; points (B, M, 3)
        → (B, M, 1), negated decoder output (≤ 0 inside). Decodes ``chunk`` points at a time."""
        if isinstance(kv, torch.Tensor):
            kv = self.query_kv(kv)
        blk = self.decoder.blocks[-1]
        outs = []
        for start in range(0, points.shape[1], chunk):
            q = self.decoder.proj_query(self.embed(points[:, start:start + chunk].to(self.dtype)))
            q = blk(q, kv=kv)
            outs.append(-self.decoder.proj_out(self.decoder.norm_out(q)))
        return torch.cat(outs, dim=1)

    def decode(self, latents: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """latents (B, T, C), points (B, M, 3) → (B, M, 1) field, ≤ 0 inside."""
        return self.query(self.kv_cache(latents), points)

    def query_fn(self, latents_one: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """A one-instance ``query_fn(points (M, 3)) -> (M,)`` for grid extraction (KV cached)."""
        kv = self.query_kv(self.kv_cache(latents_one[None]))

        def fn(points) -> torch.Tensor:
            pts = torch.as_tensor(np.asarray(points) if not isinstance(points, torch.Tensor) else points,
                                  dtype=torch.float32, device=latents_one.device)
            with torch.no_grad():
                return self.query(kv, pts[None])[0, :, 0].float()
        return fn
