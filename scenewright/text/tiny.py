"""A tiny random-weight Stable Diffusion pipeline with the real architecture, for tests.

``build_tiny_pipeline(folder)`` writes a folder exactly as ``save_pretrained`` writes a real
one (``model_index.json``, unet, vae, text encoder, a CLIP tokenizer with a letter vocabulary,
scheduler), so it loads through ``DiffusionPipeline.from_pretrained`` like FLUX or SD would.
``build_tiny_lora(pipeline_folder, file)`` writes a LoRA for its UNet (peft), loadable with
``load_lora_weights``. Pictures from it are noise of the right shape.
"""

from __future__ import annotations

import json
import string
from pathlib import Path


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + string.digits + ".,'-":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77), len(vocab)


def build_tiny_pipeline(folder, seed: int = 0) -> Path:
    import tempfile

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer, n_vocab = _tokenizer(Path(tmp))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), norm_num_groups=8, cross_attention_dim=16,
                                attention_head_dim=2,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                        norm_num_groups=8, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"))
    text = CLIPTextModel(CLIPTextConfig(vocab_size=n_vocab, hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                   scheduler=DDIMScheduler(clip_sample=False, steps_offset=1), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    return folder


def build_tiny_lora(pipeline_folder, file, rank: int = 2, seed: int = 0) -> Path:
    """A random LoRA (rank ``rank``) on the UNet's attention projections, saved as one file."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict
    from diffusers.utils import convert_state_dict_to_diffusers

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(str(Path(pipeline_folder) / "unet"))
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():          # peft starts B at zero (no effect); a test LoRA must change the picture
        for name, param in unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    file = Path(file)
    StableDiffusionPipeline.save_lora_weights(str(file.parent), unet_lora_layers=layers, weight_name=file.name)
    return file
