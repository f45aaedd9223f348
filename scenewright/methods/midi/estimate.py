"""How long the released MIDI model would take, estimated from a run of a smaller one.

A run with a small checkpoint (the ``midi-tiny`` fixture, a model of one's own) says little
about the released model's time: its steps are mostly per-operation overhead. The estimate
counts the released model's arithmetic from its configuration (the defaults of
:class:`MIDITransformerConfig` and :class:`MIDIVAEConfig`, which are the hub checkpoint's),
divides it by this machine's measured matrix-multiply rate at the released model's sizes,
and adds the small model's measured time per step (the overhead both pay):

    step ≈ measured small-model step + DiT FLOPs per step / rate
    decode ≈ per instance (KV cache FLOPs + field queries × FLOPs per query) / rate

The field queries are this run's: the same extraction at the same ``octree_depth`` (the
released model's fields may need a different number of queries).

>>> from scenewright.methods.midi.transformer import MIDITransformerConfig
>>> released = dit_step_flops(MIDITransformerConfig(), instances=1)
>>> round(released / 1e12, 1)                 # TFLOP per guided step, one instance
12.3
>>> dit_step_flops(MIDITransformerConfig(), instances=4) / released > 4     # MI attention grows as N²
True
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

CLIP_TOKENS = 1           # image_encoder_1: one image embedding per instance
DINO_TOKENS = 257         # image_encoder_2: DINOv2-L/14 at 224 px, CLS + 16 × 16 patches
MI_BLOCKS = 5             # blocks 8-12 attend across instances


def dit_step_flops(config, instances: int, mi_blocks: int = MI_BLOCKS) -> float:
    """FLOPs of the matrix products of one guided denoising step (conditional and
    unconditional halves, as the pipeline runs it) of a TripoSG-style DiT with ``config``
    (width, num_layers) over ``instances`` instances.

    Per token and block: self-attention projections 4d², MLP 2 × d × 4d, attention over the
    sequence (over all instances' in the MI blocks); the long skips add 2d² in the second half
    of the blocks. The two cross-attentions (query and output 2 × 2d², attention over the
    image tokens) run in the conditional half only: the unconditional half's zero conditions
    make them a constant, and their keys and values are computed once per run, not per step.
    """
    d, blocks = config.width, config.num_layers
    tokens = config.width + 1                   # the latent tokens (as many as the width) + time
    own = blocks * (4 + 8) * d * d + (blocks // 2) * 2 * d * d
    own += 2 * d * tokens * ((blocks - mi_blocks) + mi_blocks * instances)
    cross = blocks * (4 * d * d + 2 * d * (CLIP_TOKENS + DINO_TOKENS))
    macs = tokens * instances * (2 * own + cross)      # the unconditional half: own only
    return 2.0 * macs


def decoder_flops(config, latent_tokens: int, queries: int) -> float:
    """FLOPs to decode one instance: the decoder's self-attention blocks over the latent
    tokens (the KV cache, once) and, per field query, its cross-attention into them."""
    d = config.width_decoder
    cache = config.num_layers_decoder * latent_tokens * (12 * d * d + 2 * latent_tokens * d)
    cache += latent_tokens * 2 * d * d                        # keys and values of the cross-attention
    per_query = 51 * d + 2 * d * d + 2 * latent_tokens * d + 8 * d * d   # embed, q/out, attention, MLP
    return 2.0 * (cache + queries * per_query)


def matmul_rate(size: int = 2048, repeats: int = 2) -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s) at ``size``³, best of ``repeats``."""
    import torch
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size ** 3 / best


@dataclass
class ReleasedEstimate:
    """Seconds the released model would take at a run's settings on this machine."""

    denoise_s: float
    decode_s: float
    step_s: float                 # per denoising step
    rate_gflops: float            # the measured matrix-multiply rate
    small_step_s: float           # the run's own time per step
    queries: int                  # field queries of the run's decoding

    @property
    def total_s(self) -> float:
        return self.denoise_s + self.decode_s

    def to_json(self) -> dict:
        return {**{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()},
                "total_s": round(self.total_s, 1),
                "how": "released configuration's FLOPs / measured matmul rate + this run's time per step"}


def estimate_released(steps: int, instances: int, small_step_s: float, queries_per_instance: list[int],
                      rate: float | None = None) -> ReleasedEstimate:
    """The released model's time for ``steps`` steps over ``instances`` instances, given the
    small run's time per step and its field queries per instance (see the module docstring)."""
    from scenewright.methods.midi.transformer import MIDITransformerConfig
    from scenewright.methods.midi.vae import MIDIVAEConfig
    rate = rate or matmul_rate()
    dit, vae = MIDITransformerConfig(), MIDIVAEConfig()
    step = small_step_s + dit_step_flops(dit, instances) / rate
    decode = sum(decoder_flops(vae, dit.width, q) for q in queries_per_instance) / rate
    return ReleasedEstimate(step * steps, decode, step, rate / 1e9, small_step_s, int(sum(queries_per_instance)))


def describe(estimate: ReleasedEstimate, steps: int, instances: int) -> str:
    """One line for the user."""
    return (f"the released MIDI model would take about {_duration(estimate.total_s)} here at these settings "
            f"({steps} steps × {_duration(estimate.step_s)} for {instances} instances, decoding "
            f"{_duration(estimate.decode_s)}); estimated from its configuration, this machine's "
            f"{estimate.rate_gflops:.0f} GFLOP/s and this run's field queries")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
