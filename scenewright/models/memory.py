"""Memory a real model needs, from its config alone: parameters × bytes per parameter.

The model is built from the real checkpoint's key sizes (``ModelSpec.config``) on
PyTorch's ``meta`` device, which allocates no storage, so the parameter count is exact
for that architecture and nothing is downloaded. Activations come on top (they depend on
the image size); the figure is the weights' resident size.
"""

from __future__ import annotations

from scenewright.models.registry import MODELS

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def build_config(spec_config: dict):
    """A transformers config with the real checkpoint's sizes, or None (kind not modelled)."""
    import transformers as T
    c = dict(spec_config)
    kind = c.pop("kind")
    if kind == "depth_anything":
        backbone = T.Dinov2Config(hidden_size=c["hidden_size"], num_hidden_layers=c["num_hidden_layers"],
                                  num_attention_heads=c["num_attention_heads"],
                                  intermediate_size=4 * c["hidden_size"], image_size=518, patch_size=14,
                                  out_indices=[3, 6, 9, 12] if c["num_hidden_layers"] == 12 else [5, 12, 18, 24],
                                  reshape_hidden_states=False)
        return T.DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=c["neck_hidden_sizes"],
                                     fusion_hidden_size=c["fusion_hidden_size"], reassemble_hidden_size=c["hidden_size"],
                                     depth_estimation_type="metric", max_depth=c["max_depth"])
    if kind == "grounding_dino":
        backbone = T.SwinConfig(embed_dim=c["embed_dim"], depths=c["depths"], num_heads=c["num_heads"],
                                window_size=7, out_indices=[2, 3, 4])
        text = T.BertConfig(hidden_size=c["text_hidden_size"], num_hidden_layers=c["text_layers"])
        return T.GroundingDinoConfig(backbone_config=backbone, text_config=text, d_model=c["d_model"],
                                     encoder_layers=c["encoder_layers"], decoder_layers=c["decoder_layers"],
                                     num_queries=c["num_queries"])
    if kind == "sam":
        h = c["hidden_size"]
        vision = T.SamVisionConfig(hidden_size=h, num_hidden_layers=c["num_hidden_layers"],
                                   num_attention_heads=c["num_attention_heads"], mlp_dim=4 * h,
                                   global_attn_indexes=c["global_attn_indexes"])
        return T.SamConfig(vision_config=vision)
    if kind == "dinov2":
        return T.Dinov2Config(hidden_size=c["hidden_size"], num_hidden_layers=c["num_hidden_layers"],
                              num_attention_heads=c["num_attention_heads"], intermediate_size=4 * c["hidden_size"])
    return None


def parameter_count(name: str) -> int | None:
    """Exact parameter count of the real model ``name`` (None when its kind is not modelled here)."""
    import torch
    import transformers as T
    config = build_config(MODELS[name].config)
    if config is None:
        return None
    auto = {"depth_anything": T.AutoModelForDepthEstimation, "grounding_dino": T.AutoModelForZeroShotObjectDetection,
            "sam": T.SamModel, "dinov2": T.Dinov2Model}[MODELS[name].config["kind"]]
    with torch.device("meta"):
        model = auto.from_config(config) if hasattr(auto, "from_config") and auto is not T.SamModel \
            and auto is not T.Dinov2Model else auto(config)
    return int(sum(p.numel() for p in model.parameters()))


def weights_bytes(name: str, dtype: str = "float32") -> int | None:
    n = parameter_count(name)
    return None if n is None else n * BYTES[dtype]


def parameter_count_of_folder(folder) -> int:
    """Parameters stored in a model folder's safetensors files, read from their headers
    (shapes only, no tensor is loaded): the exact count of a checkpoint that is present."""
    import math
    from pathlib import Path

    from safetensors import safe_open
    total = 0
    for path in sorted(Path(folder).rglob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                total += math.prod(f.get_slice(key).get_shape())
    return total
