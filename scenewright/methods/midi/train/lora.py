"""LoRA on MIDI's DiT: peft adapters on the attention projections, adapter files, merging.

Training wraps ``to_q``, ``to_k``, ``to_v`` and ``to_out.0`` of every ``attn1``, ``attn2`` and
``attn2_2`` with peft's ``lora.Linear`` (W x + s·B A x, s = α / r). The adapter is saved in
peft's own layout (``adapter_config.json`` + ``adapter_model.safetensors`` with keys
``base_model.model.<module>.lora_{A,B}.weight``), so peft's ``PeftModel.from_pretrained``
reads it too. Inference needs no peft: :func:`merge_lora_file` adds s·B A into the weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from scenewright.errors import InputError

TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."


def _peft():
    try:
        import peft
    except ImportError:
        raise InputError("LoRA training needs peft: pip install peft (or use --full for full "
                         "fine-tuning)") from None
    return peft


def lora_config(rank: int = 64, alpha: float = 32.0, targets=TARGETS):
    """peft ``LoraConfig`` for the DiT's attention projections (module names end with ``targets``)."""
    peft = _peft()
    return peft.LoraConfig(r=int(rank), lora_alpha=float(alpha), target_modules=list(targets),
                           lora_dropout=0.0, bias="none", init_lora_weights=True)


def add_lora(transformer: nn.Module, config) -> nn.Module:
    """Wrap the targets with LoRA layers in place and freeze everything else.

    peft initialises B = 0, so the wrapped model starts equal to the base."""
    peft = _peft()
    model = peft.inject_adapter_in_model(config, transformer)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors with peft's file keys (``base_model.model.…lora_A.weight``)."""
    peft = _peft()
    state = peft.get_peft_model_state_dict(model)
    return {PEFT_PREFIX + k: v.detach().float().contiguous().cpu() for k, v in state.items()}


def save_adapter(model: nn.Module, config, folder) -> Path:
    """``folder/adapter_config.json`` + ``folder/adapter_model.safetensors`` (each atomic)."""
    from safetensors.torch import save_file
    from scenewright.fileio import atomic_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / ADAPTER_WEIGHTS) as tmp:
        save_file(lora_state_dict(model), str(tmp), metadata={"format": "pt"})
    cfg = config.to_dict()
    cfg = {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
    with atomic_file(folder / ADAPTER_CONFIG) as tmp:
        tmp.write_text(json.dumps(cfg, indent=2, default=str) + "\n")
    return folder


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's state dict (original key names) with every LoRA delta added in
    float32: what the transformer's weight file holds after merging."""
    base = {}
    for name, t in model.state_dict().items():
        if "lora_" in name:
            continue
        base[name.replace(".base_layer.", ".")] = t.detach().float().clone()
    adapter = {k[len(PEFT_PREFIX):]: v for k, v in lora_state_dict(model).items()}
    scales = {}
    for mod_name, mod in model.named_modules():
        if hasattr(mod, "scaling") and isinstance(getattr(mod, "scaling"), dict) and mod.scaling:
            scales[mod_name] = float(next(iter(mod.scaling.values())))
    for mod_name, s in scales.items():
        a, b = adapter[f"{mod_name}.lora_A.weight"], adapter[f"{mod_name}.lora_B.weight"]
        base[f"{mod_name}.weight"] += s * (b @ a)
    return {k: v.contiguous() for k, v in base.items()}


# -- inference: reading an adapter file and merging it --------------------------------
def read_adapter(path) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float, Path]:
    """An adapter file or folder → ({module: (A (r, in), B (out, r))}, scaling, weights file).

    ``path``: ``adapter_model.safetensors`` (its ``adapter_config.json`` beside it) or the
    folder holding both. Scaling s = α / r, or α / √r with ``use_rslora``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = Path(path)
    weights = path / ADAPTER_WEIGHTS if path.is_dir() else path
    cfg_path = weights.parent / ADAPTER_CONFIG
    if not weights.is_file():
        raise InputError(f"{weights}: LoRA adapter file not found")
    if not cfg_path.is_file():
        raise InputError(f"{cfg_path}: missing; a LoRA adapter needs its adapter_config.json beside "
                         f"{weights.name} (rank and alpha)")
    try:
        cfg = json.loads(cfg_path.read_text())
        r, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{cfg_path}: not a LoRA adapter config ({type(exc).__name__}: {exc})") from None
    if r < 1:
        raise InputError(f"{cfg_path}: rank r must be >= 1, got {r}")
    scaling = alpha / (r ** 0.5) if cfg.get("use_rslora") else alpha / r
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{weights}: cannot read safetensors ({exc})") from None
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in state.items():
        k = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
        for part in ("lora_A", "lora_B"):
            tag = f".{part}."
            if tag in k:
                mod = k.split(tag)[0]
                pairs.setdefault(mod, {})[part] = t
                break
        else:
            raise InputError(f"{weights}: tensor {key} is not a LoRA A/B weight")
    out = {}
    for mod, ab in pairs.items():
        if set(ab) != {"lora_A", "lora_B"}:
            raise InputError(f"{weights}: module {mod} lacks its {'lora_B' if 'lora_A' in ab else 'lora_A'} weight")
        out[mod] = (ab["lora_A"], ab["lora_B"])
    if not out:
        raise InputError(f"{weights}: holds no LoRA weights")
    return out, scaling, weights


@torch.no_grad()
def merge_lora_file(transformer: nn.Module, path) -> int:
    """Add the adapter at ``path`` into ``transformer``'s weights in place: W += s·B A.

    The product is formed in float32 and added in the weights' dtype; packed attention
    weights stay packed (the addition is in place). Returns the number of merged modules.
    A module or shape the transformer does not have is an InputError naming the file."""
    pairs, scaling, weights = read_adapter(path)
    modules = dict(transformer.named_modules())
    for mod, (a, b) in sorted(pairs.items()):
        lin = modules.get(mod)
        if not isinstance(lin, nn.Linear):
            raise InputError(f"{weights}: module {mod} is not a linear layer of this MIDI transformer "
                             "(an adapter for another model?)")
        want = tuple(lin.weight.shape)
        if a.shape[1] != want[1] or b.shape[0] != want[0] or a.shape[0] != b.shape[1]:
            raise InputError(f"{weights}: {mod} has A {tuple(a.shape)}, B {tuple(b.shape)} but the "
                             f"weight is {want} (an adapter for another model size?)")
        delta = scaling * (b.float() @ a.float())
        lin.weight.add_(delta.to(lin.weight.device, lin.weight.dtype))
    return len(pairs)


def adapter_path_ok(path: str | os.PathLike) -> Path:
    """Validate an adapter path early (before weights load); returns the weights file."""
    return read_adapter(path)[2]
