"""Tiny Phi-4: the Phi3 architecture Phi-4 uses, its ChatML-with-<|im_sep|> template, random weights."""

from pathlib import Path

import torch
from transformers import Phi3Config, Phi3ForCausalLM

from scripts.harness.tiny_models.saving import save_causal_lm
from scripts.harness.tiny_models.scripted import chain, script_next_tokens
from scripts.harness.tiny_models.tokenizer import read_template, train_bpe_tokenizer

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|dummy_85|>"]


# What the scripted tiny model answers: a reasoning block, then an answer it repeats until max_new_tokens.
SCRIPT_REASONING = "First, add"
SCRIPT_ANSWER = " The capital of France is Paris."


def build_tiny_phi4(out_dir: str | Path, seed: int = 0, scripted: bool = False) -> Path:
    """`scripted=True` wires the weights so greedy decoding after the prompt emits
    `<think>First, add</think> The capital of France is Paris.` and repeats the answer: a real reasoning trace
    from a real model, for the reasoning splitter's end-to-end test."""
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
        hidden_size=256 if scripted else 64,
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
    model = Phi3ForCausalLM(config)
    if scripted:
        script_reasoning(model, tokenizer)
    return save_causal_lm(model, tokenizer, out_dir)


def script_reasoning(model: Phi3ForCausalLM, tokenizer) -> None:
    encode = lambda text: tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
    answer = encode(SCRIPT_ANSWER)
    tokens = [tokenizer.convert_tokens_to_ids("<|im_sep|>"), tokenizer.convert_tokens_to_ids("<think>"),
              *encode(SCRIPT_REASONING), tokenizer.convert_tokens_to_ids("</think>"), *answer]
    script_next_tokens(model, chain(tokens) + [(answer[-1], answer[0])])  # the answer loops
