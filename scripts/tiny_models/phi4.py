"""Tiny Phi-4: the Phi3 architecture Phi-4 uses, its ChatML-with-<|im_sep|> template, random weights."""

from pathlib import Path

import torch
from transformers import Phi3Config, Phi3ForCausalLM

from scripts.tiny_models.tokenizer import read_template, train_bpe_tokenizer

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|dummy_85|>"]


def build_tiny_phi4(out_dir: str | Path, seed: int = 0) -> Path:
    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(
        SPECIAL_TOKENS,
        read_template("phi4_reasoning_chat_template.jinja"),
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        pad_token="<|dummy_85|>",
    )
    tokenizer.add_tokens(["<think>", "</think>"])  # plain added tokens, as in Phi-4-reasoning's tokenizer
    config = Phi3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        original_max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Phi3ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
