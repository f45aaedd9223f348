"""MIDI's denoiser: the TripoSG-style latent DiT (``TripoSGDiTModel``) with MI attention.

State-dict keys are the original's (743 tensors for 21 layers), so the hub checkpoint and
the ``midi-tiny`` fixture load as they are. Conventions (reference R1–R4, R9):
time token 0 with [sin, cos] features, parallel cross-attentions (CLIP ``attn2`` and
DINOv2 ``attn2_2``), U-ViT long skips (blocks 0–9 push, 11–20 pop, skip first,
Linear before LayerNorm), MI self-attention on blocks 8–12 per CFG half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scenewright.methods.midi.config import FromDict
from scenewright.methods.midi.attention import Attention

DEFAULT_MI_BLOCKS = tuple(range(8, 13))


@dataclass
class MIDITransformerConfig(FromDict):
    """``transformer/config.json`` of the checkpoint (defaults = the released model)."""

    num_attention_heads: int = 16
    width: int = 2048
    in_channels: int = 64
    num_layers: int = 21
    cross_attention_dim: int = 768
    cross_attention_2_dim: int = 1024


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the module dtype (as the original's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(x.dtype)


class GELUProj(nn.Module):
    """``ff.net.0``: Linear followed by exact (erf) GELU."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x))


class FeedForward(nn.Module):
    """``ff.net = [GELUProj(D→4D), Dropout, Linear(4D→D)]`` (keys ``net.0.proj``, ``net.2``)."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([GELUProj(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TimestepMLP(nn.Module):
    """``time_proj``: Linear(D→4D) → GELU → Linear(4D→D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(dim, 4 * dim)
        self.linear_2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.gelu(self.linear_1(x)))


def timestep_sinusoid(timestep: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) float timesteps on the 1000 scale → (B, dim) float32 ``[sin, cos]`` features.

    ω_i = exp(−ln(10000)·i/half), i = 0..half−1 with half = dim/2 (no frequency shift).
    """
    half = dim // 2
    exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timestep.device) / half
    args = timestep.float()[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class DiTBlock(nn.Module):
    """One block: self-attention, two parallel cross-attentions, MLP; optional long skip."""

    def __init__(self, cfg: MIDITransformerConfig, skip: bool):
        super().__init__()
        d, h = cfg.width, cfg.num_attention_heads
        self.norm1 = FP32LayerNorm(d, eps=1e-5)
        self.attn1 = Attention(d, h, qk_norm=True)
        self.norm2 = FP32LayerNorm(d, eps=1e-5)
        self.attn2 = Attention(d, h, kv_dim=cfg.cross_attention_dim, cross=True, qk_norm=True)
        self.norm2_2 = FP32LayerNorm(d, eps=1e-5)
        self.attn2_2 = Attention(d, h, kv_dim=cfg.cross_attention_2_dim, cross=True, qk_norm=True)
        self.norm3 = FP32LayerNorm(d, eps=1e-5)
        self.ff = FeedForward(d)
        if skip:
            self.skip_linear = nn.Linear(2 * d, d)
            self.skip_norm = FP32LayerNorm(d, eps=1e-5)
        else:
            self.skip_linear = self.skip_norm = None

    def forward(self, h: torch.Tensor, e1: torch.Tensor | None, e2: torch.Tensor | None,
                skip: torch.Tensor | None = None, num_instances: int | None = None,
                kv1: tuple | None = None, kv2: tuple | None = None,
                zero_cond_rows: int = 0) -> torch.Tensor:
        """h (B, 1+T, D); e1 (B', S1, C1); e2 (B', S2, C2) or kv1/kv2 precomputed cross K/V,
        for the last B' = B − ``zero_cond_rows`` rows (see :meth:`MIDITransformer.forward`)."""
        if self.skip_linear is not None:
            h = self.skip_norm(self.skip_linear(torch.cat([skip, h], dim=-1)))
        h = h + self.attn1(self.norm1(h), num_instances=num_instances)
        # Both cross-attentions read the same h (parallel, not sequential).
        c1 = _cross(self.attn2, self.norm2(h), e1, kv1, zero_cond_rows)
        c2 = _cross(self.attn2_2, self.norm2_2(h), e2, kv2, zero_cond_rows)
        h = h + c1 + c2
        return h + self.ff(self.norm3(h))


def _cross(attn: Attention, x: torch.Tensor, e: torch.Tensor | None, kv: tuple | None,
           zero_rows: int) -> torch.Tensor:
    """Cross-attention where the first ``zero_rows`` rows have an all-zero condition.

    A zero condition gives K = V = 0 exactly (no bias in to_k/to_v; RMSNorm of 0 is 0), so
    the attention output is 0 and the module returns ``to_out`` bias alone: the same
    numbers the full computation produces, without computing them (CFG's uncond half)."""
    if zero_rows == 0:
        return attn(x, e, kv=kv)
    bias = attn.to_out[0].bias
    const = (bias if bias is not None else x.new_zeros(x.shape[-1])).to(x.dtype)
    const = const.expand(min(zero_rows, x.shape[0]), x.shape[1], -1)
    if zero_rows >= x.shape[0]:
        return const
    return torch.cat([const, attn(x[zero_rows:], e, kv=kv)])


class MIDITransformer(nn.Module):
    """``TripoSGDiTModel``: (B, T, C) latents → (B, T, C) velocity (points toward data)."""

    def __init__(self, config: MIDITransformerConfig | None = None):
        super().__init__()
        cfg = self.config = config or MIDITransformerConfig()
        if cfg.num_layers % 2 != 1:
            raise ValueError(f"num_layers must be odd for the U-ViT skips, got {cfg.num_layers}")
        d = cfg.width
        self.proj_in = nn.Linear(cfg.in_channels, d)
        self.time_proj = TimestepMLP(d)
        mid = cfg.num_layers // 2
        self.blocks = nn.ModuleList([DiTBlock(cfg, skip=i > mid) for i in range(cfg.num_layers)])
        self.norm_out = nn.LayerNorm(d, eps=1e-5)
        self.proj_out = nn.Linear(d, cfg.in_channels)

    @property
    def dtype(self) -> torch.dtype:
        return self.proj_in.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.proj_in.weight.device

    def precompute_cross_kv(self, encoder_hidden_states: torch.Tensor,
                            encoder_hidden_states_2: torch.Tensor) -> list[tuple]:
        """Cross-attention K/V of every block for fixed conditions (reused at every step)."""
        return [(blk.attn2.cross_kv(encoder_hidden_states), blk.attn2_2.cross_kv(encoder_hidden_states_2))
                for blk in self.blocks]

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor | float,
                encoder_hidden_states: torch.Tensor | None = None,
                encoder_hidden_states_2: torch.Tensor | None = None,
                num_instances: int | None = None,
                mi_blocks: Iterable[int] = DEFAULT_MI_BLOCKS,
                cross_kv: Sequence[tuple] | None = None,
                zero_cond_rows: int = 0,
                return_block_outputs: bool = False):
        """Predict the velocity.

        hidden_states (B, T, C); timestep (B,) or scalar, σ·1000; encoder_hidden_states
        (B, S1, cross_attention_dim) CLIP; encoder_hidden_states_2 (B, S2, cross_attention_2_dim)
        DINOv2; ``num_instances`` N turns on MI attention in ``mi_blocks`` (groups of N
        consecutive batch items); ``cross_kv`` from :meth:`precompute_cross_kv` replaces
        the two conditions. ``zero_cond_rows`` k: the first k batch items have all-zero
        conditions (CFG's uncond half, R5) and the conditions / ``cross_kv`` given are those
        of the remaining B − k items only; the cross-attentions of the first k are not
        computed (their output is exactly the ``to_out`` bias). Returns (B, T, C), plus the list of block outputs
        (B, 1+T, D) when ``return_block_outputs``.
        """
        b = hidden_states.shape[0]
        t = torch.as_tensor(timestep, device=hidden_states.device)
        if t.ndim == 0:
            t = t.expand(b)
        temb = self.time_proj(timestep_sinusoid(t, self.config.width).to(self.dtype))
        h = torch.cat([temb[:, None, :], self.proj_in(hidden_states)], dim=1)
        mi = set(mi_blocks) if num_instances is not None else set()
        stack: list[torch.Tensor] = []
        outputs = []
        mid = self.config.num_layers // 2
        for i, blk in enumerate(self.blocks):
            kv1, kv2 = cross_kv[i] if cross_kv is not None else (None, None)
            h = blk(h, encoder_hidden_states, encoder_hidden_states_2,
                    skip=stack.pop() if i > mid else None,
                    num_instances=num_instances if i in mi else None, kv1=kv1, kv2=kv2,
                    zero_cond_rows=zero_cond_rows)
            if i < mid:
                stack.append(h)
            if return_block_outputs:
                outputs.append(h)
        out = self.proj_out(self.norm_out(h)[:, 1:])
        return (out, outputs) if return_block_outputs else out
