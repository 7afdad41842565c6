"""Tiny SmolLM3: the real architecture (SmolLM3ForCausalLM) and chat template, random weights."""

from pathlib import Path

import torch
from transformers import SmolLM3Config, SmolLM3ForCausalLM

from scripts.harness.tiny_models.saving import save_causal_lm
from scripts.harness.tiny_models.scripted import chain, script_next_tokens
from scripts.harness.tiny_models.tokenizer import read_template, train_bpe_tokenizer

SPECIAL_TOKENS = ["<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
# What the scripted tiny model (used by `make demo`) answers, greedy, in no_think mode.
SCRIPT_ANSWER = "The capital of France is Paris."  # every token distinct in the tiny vocabulary


def build_tiny_smollm3(out_dir: str | Path, seed: int = 0, scripted: bool = False) -> Path:
    """`scripted=True`: greedy decoding answers `SCRIPT_ANSWER` and stops (see tiny_models/scripted.py)."""
    out_dir = Path(out_dir)
    tokenizer = train_bpe_tokenizer(
        SPECIAL_TOKENS,
        read_template("smollm3_chat_template.jinja"),
        eos_token="<|im_end|>",
        pad_token="<|end_of_text|>",
    )
    config = SmolLM3Config(
        vocab_size=len(tokenizer),
        hidden_size=256 if scripted else 64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        # SmolLM3 drops RoPE in every 4th layer (NoPE); keep one of each kind.
        no_rope_layers=[1, 0],
        use_sliding_window=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=not scripted,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(seed)
    model = SmolLM3ForCausalLM(config)
    if scripted:
        # The no_think prompt ends with a newline; the answer follows, then end of turn.
        answer = tokenizer(SCRIPT_ANSWER, add_special_tokens=False).input_ids
        newline = tokenizer("\n", add_special_tokens=False).input_ids
        script_next_tokens(model, chain([*newline, *answer, tokenizer.eos_token_id]))
    return save_causal_lm(model, tokenizer, out_dir)
