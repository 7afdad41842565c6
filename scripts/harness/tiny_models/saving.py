"""Saving a tiny causal LM the way a Hub checkpoint is laid out: bf16 weights, tokenizer, generation config."""

from pathlib import Path

import torch


def save_causal_lm(model, tokenizer, out_dir: Path) -> Path:
    model = model.to(torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
