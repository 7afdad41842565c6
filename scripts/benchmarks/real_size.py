"""Real-size architectures from the models' published configs, with random weights (speed doesn't depend on
the weight values, and nothing has to be downloaded). Used by `scripts.benchmarks --gpu`."""

import torch


def smollm3_3b():
    from transformers import SmolLM3Config, SmolLM3ForCausalLM

    config = SmolLM3Config(  # HuggingFaceTB/SmolLM3-3B config.json
        vocab_size=128256, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
        num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=65536, rope_theta=5_000_000.0,
        no_rope_layer_interval=4, tie_word_embeddings=True,
    )
    return SmolLM3ForCausalLM(config)


def gemma3_4b_text():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(  # google/gemma-3-4b-it text_config
        vocab_size=262208, hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
        num_attention_heads=8, num_key_value_heads=4, head_dim=256, sliding_window=1024,
        max_position_embeddings=131072,
    )
    return Gemma3ForCausalLM(config)


def phi4_14b():
    from transformers import Phi3Config, Phi3ForCausalLM

    config = Phi3Config(  # microsoft/Phi-4-reasoning-plus config.json
        vocab_size=100352, hidden_size=5120, intermediate_size=17920, num_hidden_layers=40,
        num_attention_heads=40, num_key_value_heads=10, max_position_embeddings=32768, rope_theta=500_000.0,
    )
    return Phi3ForCausalLM(config)


def build_on(device: torch.device, factory):
    """Random weights straight on the device, made in bf16: no multi-GB host copy, and no fp32 copy first
    (Phi-4's would take 59 GB)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            return factory().to(torch.bfloat16).eval()
    finally:
        torch.set_default_dtype(previous)


def flux_dev_transformer():
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(  # black-forest-labs/FLUX.1-dev transformer/config.json
        patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
        num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
        axes_dims_rope=(16, 56, 56),
    )


def t5_xxl_encoder():
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(  # FLUX.1-dev text_encoder_2 (T5 v1.1 XXL encoder)
        vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False,
    ))


def save_flux_dev(out_dir, device: torch.device):
    """A FLUX.1-dev-sized pipeline with random weights, saved where `FLUX_MODEL_DIR` can point (~34 GB).

    The tokenizers are the tiny ones: their token ids are valid inputs to the full-size encoders, and
    nothing here depends on what the text means.
    """
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    from scripts.harness.tiny_models.flux import clip_tokenizer, t5_tokenizer

    vae = AutoencoderKL(  # FLUX.1-dev vae/config.json
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2, norm_num_groups=32, sample_size=1024, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=0.1159, scaling_factor=0.3611,
    )
    clip = CLIPTextModel(CLIPTextConfig(  # openai/clip-vit-large-patch14 text model
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        projection_dim=768, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
            base_image_seq_len=256, max_image_seq_len=4096,
        ),
        vae=vae.to(torch.bfloat16), text_encoder=clip.to(torch.bfloat16), tokenizer=clip_tokenizer(),
        text_encoder_2=build_on(device, t5_xxl_encoder), tokenizer_2=t5_tokenizer(),
        transformer=build_on(device, flux_dev_transformer),
    )
    pipe.save_pretrained(out_dir)
    return out_dir
