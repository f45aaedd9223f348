"""MIDI's rectified-flow Euler scheduler (``RectifiedFlowScheduler``, inference part).

Forward process x_t = (1 − σ)·x0 + σ·ε; the model predicts v ≈ x0 − ε (toward data), so a
step is ``x ← x + (σ_i − σ_{i+1})·v``: the opposite sign to diffusers' FlowMatchEuler
(reference R6). The DiT receives ``timesteps[i] = σ_i·1000`` as a float.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from scenewright.methods.midi.config import FromDict


@dataclass
class RectifiedFlowConfig(FromDict):
    """``scheduler/scheduler_config.json`` (defaults = the original code's)."""

    num_train_timesteps: int = 1000
    shift: float = 1.0
    use_dynamic_shifting: bool = False


class RectifiedFlowScheduler:
    """σ schedule 1 − i/n, optionally shifted ``s·σ / (1 + (s − 1)·σ)``, Euler steps."""

    def __init__(self, config: RectifiedFlowConfig | None = None, **overrides):
        self.config = dataclasses.replace(config or RectifiedFlowConfig(), **overrides)
        if self.config.use_dynamic_shifting:
            raise ValueError("use_dynamic_shifting is not supported (the released model does not use it)")
        self.timesteps = torch.empty(0)
        self.sigmas = torch.empty(0)
        self.num_inference_steps = 0
        self._step_index = 0

    @classmethod
    def from_config(cls, config: dict | RectifiedFlowConfig, **overrides) -> "RectifiedFlowScheduler":
        if isinstance(config, dict):
            config = RectifiedFlowConfig.from_dict(config)
        return cls(config, **overrides)

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device = "cpu") -> None:
        """σ_i = 1 − i/n (float64), shifted, cast to float32; ``timesteps`` = σ·T; 0 appended to σ."""
        n = int(num_inference_steps)
        if n < 1:
            raise ValueError(f"num_inference_steps must be ≥ 1, got {n}")
        sig = 1.0 - np.arange(n, dtype=np.float64) / n
        s = float(self.config.shift)
        sig = s * sig / (1.0 + (s - 1.0) * sig)
        sigmas = torch.from_numpy(sig).to(torch.float32)
        self.timesteps = (sigmas * self.config.num_train_timesteps).to(device)
        self.sigmas = torch.cat([sigmas, torch.zeros(1)]).to(device)
        self.num_inference_steps = n
        self._step_index = 0

    def index_for_timestep(self, timestep: torch.Tensor | float) -> int:
        hits = (self.timesteps == torch.as_tensor(timestep, dtype=self.timesteps.dtype)).nonzero()
        return int(hits[0, 0]) if len(hits) else self._step_index

    def step(self, model_output: torch.Tensor, timestep: torch.Tensor | float | None,
             sample: torch.Tensor, step_index: int | None = None) -> torch.Tensor:
        """One Euler step in float32: x + (σ_i − σ_{i+1})·v, returned in ``sample``'s dtype."""
        i = step_index if step_index is not None else (
            self.index_for_timestep(timestep) if timestep is not None else self._step_index)
        if not 0 <= i < self.num_inference_steps:
            raise IndexError(f"step index {i} outside 0..{self.num_inference_steps - 1}")
        dt = self.sigmas[i] - self.sigmas[i + 1]
        out = sample.float() + dt.to(sample.device) * model_output.float()
        self._step_index = i + 1
        return out.to(sample.dtype)
