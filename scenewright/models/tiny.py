"""Tiny random-weight models with the real architectures, for tests and timing benchmarks.

``build_tiny_models(root)`` writes ``depth``, ``detector`` and ``segmenter`` folders under
``root`` exactly as ``save_pretrained`` writes the real ones (config.json, safetensors,
processor configs, the detector's tokenizer from a small vocabulary), so they load through
the code users take. Their outputs are meaningless but have the real shapes and types.
"""

from __future__ import annotations

import os
from pathlib import Path

# Words the tiny detector's tokenizer knows (anything else is [UNK]); the default vocabulary's words.
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "sofa", "armchair", "coffee", "table",
              "chair", "bed", "lamp", "plant", "cabinet", "tv", "desk", "stool", "bench", "dining", "nightstand",
              "wardrobe", "bookcase", "stand", "appliance", "bathtub", "toilet", "sink", "piano", "fireplace",
              "floor", "large", "vase", "tableware", "book", "electronics", "a", "the"]


def _quiet():
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def build_tiny_depth(folder: str | os.PathLike, seed: int = 0) -> Path:
    import torch
    import transformers as T
    _quiet()
    torch.manual_seed(seed)
    backbone = T.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                              patch_size=14, image_size=56, out_features=["stage1", "stage2"],
                              reshape_hidden_states=False)
    config = T.DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[16, 32],
                                   fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric",
                                   max_depth=20)
    model = T.DepthAnythingForDepthEstimation(config)
    model.save_pretrained(folder)
    # The real checkpoint's processor settings, at a smaller input size (518 → 56).
    T.DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
                        do_resize=True, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                        image_std=[0.229, 0.224, 0.225], resample=3).save_pretrained(folder)
    return Path(folder)


def build_tiny_detector(folder: str | os.PathLike, seed: int = 0) -> Path:
    import tempfile

    import torch
    import transformers as T
    _quiet()
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text("\n".join(TINY_VOCAB) + "\n")
        tokenizer = T.BertTokenizer(str(vocab), do_lower_case=True)
        swin = T.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1], num_heads=[1, 1, 1],
                            window_size=4, out_features=["stage2", "stage3"])
        text = T.BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
        # decoder_layers ≥ 2: the box heads of later layers are tied to the first.
        config = T.GroundingDinoConfig(backbone_config=swin, text_config=text, d_model=32, encoder_layers=1,
                                       decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                                       encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=30,
                                       num_feature_levels=2, encoder_n_points=2, decoder_n_points=2,
                                       max_text_len=64)
        T.GroundingDinoForObjectDetection(config).save_pretrained(folder)
        processor = T.GroundingDinoProcessor(
            image_processor=T.GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
            tokenizer=tokenizer)
        processor.save_pretrained(folder)
    return Path(folder)


def build_tiny_segmenter(folder: str | os.PathLike, seed: int = 0) -> Path:
    import torch
    import transformers as T
    _quiet()
    torch.manual_seed(seed)
    config = T.SamConfig(
        vision_config=T.SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64,
                                        output_channels=16, image_size=64, patch_size=8, global_attn_indexes=[1],
                                        window_size=4, num_pos_feats=8),
        prompt_encoder_config=T.SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=8,
                                                       mask_input_channels=4),
        mask_decoder_config=T.SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                                   mlp_dim=32, iou_head_hidden_dim=16))
    T.SamModel(config).save_pretrained(folder)
    T.SamProcessor(image_processor=T.SamImageProcessor(
        size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
        mask_size={"longest_edge": 16})).save_pretrained(folder)
    return Path(folder)


def build_tiny_models(root: str | os.PathLike, seed: int = 0) -> Path:
    """``root/depth``, ``root/detector``, ``root/segmenter``; returns ``root``."""
    root = Path(root)
    build_tiny_depth(root / "depth", seed)
    build_tiny_detector(root / "detector", seed)
    build_tiny_segmenter(root / "segmenter", seed)
    return root
