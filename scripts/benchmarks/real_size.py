"""Real-size architectures from the models' published configs, with random weights (speed doesn't depend on
the weight values, and nothing has to be downloaded). Used by `scripts.benchmark --gpu`."""

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
    """Random weights straight on the device in bf16: no multi-GB host copy."""
    with torch.device(device):
        return factory().to(torch.bfloat16).eval()
