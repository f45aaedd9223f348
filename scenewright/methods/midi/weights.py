"""Loading a MIDI checkpoint folder (diffusers layout) and fetching it when online.

A checkpoint folder (the hub's ``VAST-AI/MIDI-3D`` or the ``midi-tiny`` fixture) holds
``model_index.json`` and seven components: ``transformer``/``vae`` (config.json +
``diffusion_pytorch_model[.fp16|.bf16].safetensors``), ``scheduler`` (scheduler_config.json),
``image_encoder_{1,2}`` (transformers models) and ``feature_extractor_{1,2}`` (processor
configs). The index names the original's module paths; they are mapped to our classes.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scenewright.errors import InputError
from scenewright.fileio import read_json

HUB_REPO = "VAST-AI/MIDI-3D"
HOW_TO_GET = ("get the weights with `scenewright models download midi --to DIR` "
              f"(downloads {HUB_REPO}, about 5 GB) and pass --weights DIR")

# Module paths the original's model_index.json uses → our implementation (as dotted names).
CLASS_MAP = {
    ("midi.models.transformers.triposg_transformer", "TripoSGDiTModel"):
        "scenewright.methods.midi.transformer.MIDITransformer",
    ("midi.models.autoencoders.autoencoder_kl_triposg", "TripoSGVAEModel"):
        "scenewright.methods.midi.vae.MIDIVAE",
    ("midi.schedulers.scheduling_rectified_flow", "RectifiedFlowScheduler"):
        "scenewright.methods.midi.scheduler.RectifiedFlowScheduler",
    ("transformers", "CLIPVisionModelWithProjection"): "transformers.CLIPVisionModelWithProjection",
    ("transformers", "Dinov2Model"): "transformers.Dinov2Model",
    ("transformers", "CLIPImageProcessor"): "transformers.CLIPImageProcessor",
    ("transformers", "BitImageProcessor"): "transformers.BitImageProcessor",
}
COMPONENTS = ("transformer", "vae", "scheduler", "image_encoder_1", "image_encoder_2",
              "feature_extractor_1", "feature_extractor_2")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def check_folder(folder: str | os.PathLike) -> dict:
    """Validate a checkpoint folder; return its model_index (components → [module, class])."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: MIDI weights folder not found; {HOW_TO_GET}")
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise InputError(f"{index_path}: missing, so {folder} is not a MIDI checkpoint folder; {HOW_TO_GET}")
    index = read_json(index_path)
    missing = [c for c in COMPONENTS if c not in index]
    if missing:
        raise InputError(f"{index_path}: components {missing} are not listed; {HOW_TO_GET}")
    for comp in COMPONENTS:
        entry = index[comp]
        if not (isinstance(entry, list) and len(entry) == 2 and tuple(entry) in CLASS_MAP):
            raise InputError(f"{index_path}: component {comp!r} has class {entry!r}, which this "
                             f"reimplementation does not know (expected one of the original's)")
        if not (folder / comp).is_dir():
            raise InputError(f"{folder / comp}: component folder missing; {HOW_TO_GET}")
    return index


def weight_file(component: Path, stem: str = "diffusion_pytorch_model") -> Path:
    """The component's safetensors file: plain first, then the fp16/bf16 variants."""
    for name in (f"{stem}.safetensors", f"{stem}.fp16.safetensors", f"{stem}.bf16.safetensors"):
        if (component / name).is_file():
            return component / name
    if any(component.glob(f"{stem}*.safetensors.index.json")):
        raise InputError(f"{component}: sharded weights are not supported; merge them into {stem}.safetensors")
    raise InputError(f"{component / (stem + '.safetensors')}: weight file missing; {HOW_TO_GET}")


def load_state_dict_strict(model: nn.Module, path: Path, dtype: torch.dtype) -> None:
    """Load ``path`` into ``model`` with a strict key, shape and dtype check; cast to ``dtype``.

    Raises InputError listing missing and unexpected keys, or the first shape mismatches."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read safetensors ({exc})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" … ({len(keys)} in all)" if len(keys) > 8 else "")
        raise InputError(f"{path}: keys do not match the model: missing [{show(missing)}], "
                         f"unexpected [{show(unexpected)}] — is this a {type(model).__name__} checkpoint?")
    bad = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
           if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        k, got, want = bad[0]
        raise InputError(f"{path}: tensor {k} has shape {got} but the config next to it implies "
                         f"{want} ({len(bad)} mismatched tensors; weights of another model size?)")
    wrong = [(k, v.dtype) for k, v in state.items() if v.dtype not in FLOAT_DTYPES]
    if wrong:
        raise InputError(f"{path}: tensor {wrong[0][0]} has dtype {wrong[0][1]}; expected floating-point weights")
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True)
    model.to(dtype)


def _config(component: Path, name: str = "config.json") -> dict:
    path = component / name
    if not path.is_file():
        raise InputError(f"{path}: missing; {HOW_TO_GET}")
    return read_json(path)


def _load_model(comp: Path, model_cls, config_cls, what: str, dtype: torch.dtype):
    """Build ``model_cls`` from ``comp/config.json`` and load its weights strictly."""
    try:
        model = model_cls(config_cls.from_dict(_config(comp)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{comp / 'config.json'}: invalid {what} config ({exc})") from None
    load_state_dict_strict(model, weight_file(comp), dtype)
    return model.eval()


def load_transformer(folder: str | os.PathLike, dtype: torch.dtype = torch.float32):
    from scenewright.methods.midi.transformer import MIDITransformer, MIDITransformerConfig
    return _load_model(Path(folder) / "transformer", MIDITransformer, MIDITransformerConfig,
                       "transformer", dtype)


def load_vae(folder: str | os.PathLike, dtype: torch.dtype = torch.float32):
    from scenewright.methods.midi.vae import MIDIVAE, MIDIVAEConfig
    return _load_model(Path(folder) / "vae", MIDIVAE, MIDIVAEConfig, "VAE", dtype)


def load_scheduler(folder: str | os.PathLike):
    from scenewright.methods.midi.scheduler import RectifiedFlowScheduler
    comp = Path(folder) / "scheduler"
    try:
        return RectifiedFlowScheduler.from_config(_config(comp, "scheduler_config.json"))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{comp / 'scheduler_config.json'}: invalid scheduler config ({exc})") from None


def load_image_encoder(folder: str | os.PathLike, which: int, dtype: torch.dtype = torch.float32):
    """``image_encoder_1`` (CLIPVisionModelWithProjection) or ``image_encoder_2`` (Dinov2Model,
    7 input channels) via transformers' ``from_pretrained``, with a strict loading check."""
    import transformers
    comp = Path(folder) / f"image_encoder_{which}"
    cls = transformers.CLIPVisionModelWithProjection if which == 1 else transformers.Dinov2Model
    _config(comp)
    weight_file(comp, "model")
    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        # transformers prints a loading report on stdout when keys differ; we raise our own.
        with contextlib.redirect_stdout(io.StringIO()):
            model, info = cls.from_pretrained(str(comp), dtype=dtype, output_loading_info=True)
    except Exception as exc:   # transformers raises many kinds on foreign or corrupt files
        raise InputError(f"{comp}: cannot load {cls.__name__} ({type(exc).__name__}: {exc})") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()
    missing, unexpected = sorted(info["missing_keys"]), sorted(info["unexpected_keys"])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or unexpected or mismatched:
        raise InputError(f"{comp}: weights do not match {cls.__name__}: missing {missing[:6]}, "
                         f"unexpected {unexpected[:6]}, mismatched {mismatched[:6]}")
    if which == 2 and model.config.num_channels != 7:
        raise InputError(f"{comp / 'config.json'}: DINOv2 has {model.config.num_channels} input "
                         "channels; MIDI's needs 7 (instance RGB, scene RGB, mask)")
    return model.eval()


@dataclass
class MIDIComponents:
    transformer: Any
    vae: Any
    scheduler: Any
    image_encoder_1: Any
    image_encoder_2: Any
    feature_extractor_1: Any
    feature_extractor_2: Any
    folder: Path


def load_components(folder: str | os.PathLike, dtype: str | torch.dtype = "float32",
                    device: str | torch.device = "cpu") -> MIDIComponents:
    """Load all seven components of a checkpoint folder (InputError on any problem)."""
    from scenewright.methods.midi.preprocess import load_processor
    folder = Path(folder)
    check_folder(folder)
    dt = parse_dtype(dtype)
    from scenewright.methods.midi.attention import pack_attention_weights
    comps = MIDIComponents(
        # Packed after the move: fused projections then read the weights in place.
        transformer=pack_attention_weights(load_transformer(folder, dt).to(device)),
        vae=pack_attention_weights(load_vae(folder, dt).to(device)),
        scheduler=load_scheduler(folder),
        image_encoder_1=load_image_encoder(folder, 1, dt).to(device),
        image_encoder_2=load_image_encoder(folder, 2, dt).to(device),
        feature_extractor_1=load_processor(folder / "feature_extractor_1", "clip"),
        feature_extractor_2=load_processor(folder / "feature_extractor_2", "dinov2"),
        folder=folder)
    return comps
