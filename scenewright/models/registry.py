"""The models scenewright can use, as data: hub repository, revision, licence, real config sizes.

``revision`` is what ``models download`` asks the hub for unless ``--revision`` is given;
the commit it resolved to is written into the folder's ``scenewright-model.json`` so a
run records exactly which weights it used. ``config`` holds the real checkpoint's key
sizes (from its ``config.json`` on the hub) so memory can be computed without a download
(:mod:`scenewright.models.memory`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    name: str                 # the role and sub-folder name: depth | detector | segmenter | dinov2 | midi
    repo_id: str
    licence: str              # as stated on the model card
    what: str
    revision: str = "main"
    approx_size: str = ""     # download size, for the user's information
    config: dict = field(default_factory=dict)   # real key sizes, see memory.py


MODELS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec(
        "depth", "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf", "apache-2.0",
        "metric depth, Depth Anything V2 (ViT-S) fine-tuned on Hypersim (indoor, max 20 m)",
        approx_size="100 MB",
        # The Base and Large metric checkpoints are CC-BY-NC-4.0; Small is Apache-2.0.
        config={"kind": "depth_anything", "hidden_size": 384, "num_hidden_layers": 12,
                "num_attention_heads": 6, "neck_hidden_sizes": [48, 96, 192, 384],
                "fusion_hidden_size": 64, "max_depth": 20}),
    ModelSpec(
        "detector", "IDEA-Research/grounding-dino-tiny", "apache-2.0",
        "open-vocabulary boxes from label text, Grounding DINO (Swin-T + BERT-base)",
        approx_size="690 MB",
        config={"kind": "grounding_dino", "embed_dim": 96, "depths": [2, 2, 6, 2],
                "num_heads": [3, 6, 12, 24], "text_hidden_size": 768, "text_layers": 12,
                "d_model": 256, "encoder_layers": 6, "decoder_layers": 6, "num_queries": 900}),
    ModelSpec(
        "segmenter", "facebook/sam-vit-base", "apache-2.0",
        "masks from boxes, Segment Anything (ViT-B)",
        approx_size="375 MB",
        config={"kind": "sam", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                "global_attn_indexes": [2, 5, 8, 11]}),
    ModelSpec(
        "dinov2", "facebook/dinov2-small", "apache-2.0",
        "appearance features for the layout method's retrieval (--set features=dinov2)",
        approx_size="90 MB",
        config={"kind": "dinov2", "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6}),
    ModelSpec(
        "midi", "VAST-AI/MIDI-3D", "mit",
        "MIDI multi-instance diffusion (the midi method)", approx_size="5 GB",
        config={"kind": "midi"}),
]}

# What `models download all` fetches.
ALL = ("depth", "detector", "segmenter", "dinov2", "midi")
