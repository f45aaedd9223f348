"""Tiny random-weight text-to-image pipelines with the real architectures, for tests.

``build_tiny_pipeline(folder)`` (Stable Diffusion: UNet, VAE, CLIP text encoder, DDIM) and
``build_tiny_flux_pipeline(folder)`` (FLUX.1: ``FluxTransformer2DModel`` with a guidance
embedding, a VAE with FLUX's 16 latent channels, shift and scaling factors, CLIP and T5 text
encoders, ``FlowMatchEulerDiscreteScheduler`` with FLUX.1-dev's resolution-dependent shift) write
a folder exactly as ``save_pretrained`` writes a real one, so it loads through
``DiffusionPipeline.from_pretrained``. The tokenizers are letter vocabularies assembled here (a
CLIP BPE with no merges, a T5 Unigram), so nothing comes from a model hub.
``build_tiny_lora(pipeline_folder, file)`` writes a random LoRA for the pipeline's denoiser (the
UNet or the FLUX transformer), loadable with ``load_lora_weights``. Pictures are noise of the
right shape.
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


def _t5_tokenizer():
    """A T5 (Unigram, sentencepiece-style ``▁`` word starts) tokenizer over single letters."""
    from transformers import T5Tokenizer
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    for ch in string.ascii_lowercase + string.digits + ".,'-":
        pieces += [(ch, -3.0), ("\u2581" + ch, -2.5)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512), len(pieces)


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


def build_tiny_flux_pipeline(folder, seed: int = 0, guidance_embeds: bool = True) -> Path:
    """A FLUX.1 pipeline folder (``FluxPipeline``) with random weights and FLUX's shapes at toy width:
    64 packed latent channels (16 VAE channels × 2×2 patches), rotary axes summing to the head
    size, the T5 width as the joint attention width and the CLIP width as the pooled width.
    ``guidance_embeds`` as FLUX.1-dev (True) or FLUX.1-schnell (False)."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    folder = Path(folder)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        clip_tokenizer, n_clip = _tokenizer(Path(tmp))
    t5_tokenizer, n_t5 = _t5_tokenizer()
    width = 16
    text = CLIPTextModel(CLIPTextConfig(vocab_size=n_clip, hidden_size=width, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    text_2 = T5EncoderModel(T5Config(vocab_size=n_t5, d_model=width, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                     relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                                     decoder_start_token_id=0))
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=width,
                                         pooled_projection_dim=width, guidance_embeds=guidance_embeds,
                                         axes_dims_rope=(2, 2, 4))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 16),
                        norm_num_groups=8, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                        scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipe = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text, tokenizer=clip_tokenizer,
                        text_encoder_2=text_2, tokenizer_2=t5_tokenizer, transformer=transformer)
    pipe.save_pretrained(str(folder))
    return folder


def build_tiny_lora(pipeline_folder, file, rank: int = 2, seed: int = 0) -> Path:
    """A random LoRA (rank ``rank``) on the denoiser's attention projections (the UNet, or the FLUX
    transformer), saved as one file."""
    import torch
    from diffusers import FluxPipeline, FluxTransformer2DModel, StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(seed)
    pipeline_folder = Path(pipeline_folder)
    flux = json.loads((pipeline_folder / "model_index.json").read_text())["_class_name"] == "FluxPipeline"
    denoiser = (FluxTransformer2DModel.from_pretrained(str(pipeline_folder / "transformer")) if flux
                else UNet2DConditionModel.from_pretrained(str(pipeline_folder / "unet")))
    denoiser.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():          # peft starts B at zero (no effect); a test LoRA must change the picture
        for name, param in denoiser.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    file = Path(file)
    if flux:
        FluxPipeline.save_lora_weights(str(file.parent), transformer_lora_layers=get_peft_model_state_dict(denoiser),
                                       weight_name=file.name)
    else:
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(denoiser))
        StableDiffusionPipeline.save_lora_weights(str(file.parent), unet_lora_layers=layers, weight_name=file.name)
    return file
