"""Attention of MIDI's DiT and VAE: head-major fused Q/K/V split, QK RMSNorm, MI groups.

The original stores ``to_q``, ``to_k`` and ``to_v`` as three matrices but reads their
concatenated output as ``heads`` chunks of ``[q_h | k_h | v_h]`` (R1 of the reference).
Cross-attention reads ``cat(to_k(e), to_v(e))`` as chunks of ``[k_h | v_h]``; its query is an
ordinary ``(heads, head_dim)`` view. Shapes: B batch, T query tokens, S key tokens,
D width, H heads, d = D / H.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# "sdpa": torch's fused scaled_dot_product_attention; "math": explicit softmax(QK^T)V, the
# straightforward reference used by tests and the benchmark.
_BACKEND = ["sdpa"]


@contextlib.contextmanager
def attention_backend(name: str) -> Iterator[None]:
    """Temporarily switch every MIDI attention to ``"sdpa"`` or ``"math"``."""
    if name not in ("sdpa", "math"):
        raise ValueError(f"unknown attention backend {name!r}")
    old = _BACKEND[0]
    _BACKEND[0] = name
    try:
        yield
    finally:
        _BACKEND[0] = old


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d), (B, H, S, d), (B, H, S, d) → (B, H, T, d); scale 1/√d, no mask."""
    if _BACKEND[0] == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1])
    weights = torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1)
    return weights @ v


@dataclass(frozen=True)
class PaddedGroups:
    """MI attention over padded groups (the original's training branch).

    The batch is consecutive groups of ``size`` items. In group g the first ``counts[g]``
    items are the scene's instances and attend over each other (as :func:`attend_mi`); the
    rest are padding (duplicated instances) that attend to themselves only."""

    size: int
    counts: tuple

    def __post_init__(self):
        if self.size < 1 or any(not 1 <= int(c) <= self.size for c in self.counts):
            raise ValueError(f"group counts {self.counts} must lie in 1..{self.size}")


def attend_padded_groups(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         groups: PaddedGroups) -> torch.Tensor:
    """:class:`PaddedGroups` attention: q, k, v (B, H, T, d), B = size·len(counts) → (B, H, T, d)."""
    p = groups.size
    if q.shape[0] != p * len(groups.counts):
        raise ValueError(f"batch {q.shape[0]} is not {len(groups.counts)} groups of {p}")
    out = torch.empty_like(q)
    for g, n in enumerate(int(c) for c in groups.counts):
        real = slice(g * p, g * p + n)
        out[real] = attend_mi(q[real], k[real], v[real], n)
        if n < p:
            pad = slice(g * p + n, (g + 1) * p)
            out[pad] = attend(q[pad], k[pad], v[pad])
    return out


def attend_mi(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_instances) -> torch.Tensor:
    """Multi-instance attention: each run of ``num_instances`` batch items shares its K/V.

    Every instance's queries attend over the concatenation (instance order) of the keys and
    values of all N instances of its group. Rather than repeating K/V per instance (as the
    original does), the group's queries are stacked along the token axis and attend in one
    call: the result is the same and K/V are never copied N times.
    q, k, v: (B, H, T, d) with B a multiple of N → (B, H, T, d).
    """
    if isinstance(num_instances, PaddedGroups):
        return attend_padded_groups(q, k, v, num_instances)
    b, h, t, d = q.shape
    n = int(num_instances)
    if n <= 0 or b % n:
        raise ValueError(f"batch {b} is not a multiple of num_instances={n}")
    g = b // n

    def group(x: torch.Tensor) -> torch.Tensor:  # (g·n, h, t, d) → (g, h, n·t, d)
        return x.reshape(g, n, h, x.shape[2], d).permute(0, 2, 1, 3, 4).reshape(g, h, n * x.shape[2], d)

    out = attend(group(q), group(k), group(v))                      # (g, h, n·t, d)
    return out.reshape(g, h, n, t, d).permute(0, 2, 1, 3, 4).reshape(b, h, t, d)


def _consecutive(ws: list[torch.Tensor]) -> bool:
    """True if the 2-D tensors are contiguous, equally wide, consecutive row blocks of one storage."""
    if any(not w.is_contiguous() or w.dim() != 2 or w.shape[1] != ws[0].shape[1] for w in ws):
        return False
    ptr = ws[0].untyped_storage().data_ptr()
    offset = ws[0].storage_offset()
    for w in ws:
        if w.untyped_storage().data_ptr() != ptr or w.storage_offset() != offset:
            return False
        offset += w.numel()
    return True


def _fusable(*linears: nn.Module) -> bool:
    """True when one fused matmul may replace the modules' calls: plain ``nn.Linear`` (not a
    LoRA wrapper, whose output is more than its weight) and no gradient needed (the fused
    weight is a detached copy or view)."""
    if any(type(lin) is not nn.Linear for lin in linears):
        return False
    return not (torch.is_grad_enabled() and any(lin.weight.requires_grad for lin in linears))


def pack_attention_weights(model: nn.Module) -> nn.Module:
    """:meth:`Attention.pack_weights` on every attention module of ``model``."""
    for mod in model.modules():
        if isinstance(mod, Attention):
            mod.pack_weights()
    return model


class Attention(nn.Module):
    """One attention module with the original's parameter names.

    Parameters: ``to_q`` (D→D), ``to_k``/``to_v`` (kv_dim→D), all without bias; ``to_out.0``
    (D→D, bias); ``norm_q``/``norm_k`` (RMSNorm over d, eps 1e-6) when ``qk_norm``;
    ``norm_cross`` (LayerNorm over kv_dim, eps 1e-5) when ``cross_norm`` (the VAE's).
    """

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None, cross: bool = False,
                 qk_norm: bool = False, cross_norm: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.head_dim, self.cross = dim, heads, dim // heads, cross
        kv_dim = dim if kv_dim is None else kv_dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])
        self.norm_q = nn.RMSNorm(self.head_dim, eps=1e-6) if qk_norm else None
        self.norm_k = nn.RMSNorm(self.head_dim, eps=1e-6) if qk_norm else None
        self.norm_cross = nn.LayerNorm(kv_dim, eps=1e-5) if cross_norm else None
        self._fused: tuple | None = None

    # -- projections -------------------------------------------------------------------
    def _weights_key(self, *ws: torch.Tensor) -> tuple:
        return tuple((w.data_ptr(), w._version, w.dtype, w.device) for w in ws)

    def _fused_weight(self, *linears: nn.Linear) -> torch.Tensor:
        """Concatenated weight of ``linears`` (rows stacked).

        After :meth:`pack_weights` the weights are consecutive rows of one buffer and this
        is a view of it (no copy). Otherwise a concatenated copy is cached until any weight
        changes."""
        ws = [lin.weight.detach() for lin in linears]
        if _consecutive(ws):
            return ws[0].as_strided((sum(w.shape[0] for w in ws), ws[0].shape[1]), ws[0].stride())
        key = self._weights_key(*ws)
        if self._fused is None or self._fused[0] != key:
            self._fused = (key, torch.cat(ws, dim=0))
        return self._fused[1]

    def pack_weights(self) -> None:
        """Store ``to_q|to_k|to_v`` (self-attention) or ``to_k|to_v`` (cross-attention) as
        row blocks of one buffer, so the fused projection needs no extra copy of the
        weights. Parameter names, shapes and values are unchanged. A later ``.to()`` that
        copies the parameters undoes the packing (the cached-copy path then takes over)."""
        group = (self.to_k, self.to_v) if self.cross else (self.to_q, self.to_k, self.to_v)
        if _consecutive([lin.weight.detach() for lin in group]):
            return
        buf = torch.cat([lin.weight.detach() for lin in group], dim=0)
        row = 0
        for lin in group:
            n = lin.weight.shape[0]
            lin.weight = nn.Parameter(buf[row:row + n], requires_grad=lin.weight.requires_grad)
            row += n
        self._fused = None

    def _norm(self, x: torch.Tensor, norm: nn.Module | None) -> torch.Tensor:
        return x if norm is None else norm(x)

    def self_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D) → q, k, v (B, H, T, d) by the head-major split, QK-normed."""
        b, t, _ = x.shape
        if _BACKEND[0] == "sdpa" and _fusable(self.to_q, self.to_k, self.to_v):   # one fused matmul
            qkv = F.linear(x, self._fused_weight(self.to_q, self.to_k, self.to_v))
        else:
            qkv = torch.cat([self.to_q(x), self.to_k(x), self.to_v(x)], dim=-1)
        qkv = qkv.view(b, t, self.heads, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.split(self.head_dim, dim=-1)
        return self._norm(q, self.norm_q), self._norm(k, self.norm_k), v

    def cross_kv(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition e (B, S, kv_dim) → k, v (B, H, S, d); cacheable across denoising steps."""
        b, s, _ = e.shape
        if self.norm_cross is not None:
            e = self.norm_cross(e)
        if _BACKEND[0] == "sdpa" and _fusable(self.to_k, self.to_v):
            kv = F.linear(e, self._fused_weight(self.to_k, self.to_v))
        else:
            kv = torch.cat([self.to_k(e), self.to_v(e)], dim=-1)
        kv = kv.view(b, s, self.heads, 2 * self.head_dim).transpose(1, 2)
        k, v = kv.split(self.head_dim, dim=-1)
        return self._norm(k, self.norm_k), v

    def merge(self, out: torch.Tensor) -> torch.Tensor:
        """(B, H, T, d) → to_out(B, T, D), heads merged head-major."""
        b, h, t, d = out.shape
        return self.to_out[0](out.transpose(1, 2).reshape(b, t, h * d))

    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                num_instances: int | None = None) -> torch.Tensor:
        """Self-attention (``cross=False``) or cross-attention over ``encoder_hidden_states``
        or precomputed ``kv`` (from :meth:`cross_kv`). ``num_instances`` switches a
        self-attention to MI attention. x (B, T, D) → (B, T, D)."""
        if not self.cross:
            q, k, v = self.self_qkv(x)
            if num_instances is not None:
                return self.merge(attend_mi(q, k, v, num_instances))
            return self.merge(attend(q, k, v))
        b, t, _ = x.shape
        q = self.to_q(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        q = self._norm(q, self.norm_q)
        if kv is None:
            if encoder_hidden_states is None:
                raise ValueError("cross-attention needs encoder_hidden_states or kv")
            kv = self.cross_kv(encoder_hidden_states)
        return self.merge(attend(q, *kv))
