"""Tiny FLUX.1: FluxPipeline with the real component classes (FluxTransformer2DModel, AutoencoderKL, CLIP and
T5 text encoders with locally made tokenizers), random weights, saved with `save_pretrained`."""

from pathlib import Path

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

from scripts.harness.tiny_models.tokenizer import CORPUS

WORDS = sorted({w.strip(".,:;!?\"'()") for line in CORPUS for w in line.split()} - {""})
CHARS = sorted({c for line in CORPUS for c in line if not c.isspace()})


def clip_tokenizer() -> CLIPTokenizer:
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in [*CHARS, *(c + "</w>" for c in CHARS), *(w.lower() + "</w>" for w in WORDS)]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer() -> T5TokenizerFast:
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [("▁" + w, -2.0) for w in WORDS] + [(c, -5.0) for c in CHARS]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)


def build_tiny_flux(out_dir: str | Path, seed: int = 0) -> Path:
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    clip, t5 = clip_tokenizer(), t5_tokenizer()
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    )
    # Four blocks: latents are 1/8 of the image, as FLUX.1's VAE makes them, so sizes follow the real rules
    # (sides multiples of 16) and a 1 MP image costs what a 1 MP image costs the real pipeline's shapes.
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=4, sample_size=32,
        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(clip), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        projection_dim=32, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=len(t5), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, decoder_start_token_id=0,
    ))
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=vae, text_encoder=text_encoder, tokenizer=clip,
        text_encoder_2=text_encoder_2, tokenizer_2=t5, transformer=transformer,
    )
    pipe.save_pretrained(out_dir)
    return out_dir
