"""Tiny Gemma-3: Gemma3ForConditionalGeneration (text decoder + SigLIP vision tower), its chat template and
processor, random weights."""

from pathlib import Path

import torch
from transformers import (
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3ImageProcessor,
    Gemma3Processor,
    Gemma3TextConfig,
    PreTrainedTokenizerFast,
    SiglipVisionConfig,
)

from scripts.harness.tiny_models.tokenizer import read_template, train_bpe_tokenizer

SPECIAL_TOKENS = [
    "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>",
]
IMAGE_SIZE = 28
IMAGE_TOKENS = 4


def build_tiny_gemma3(out_dir: str | Path, seed: int = 0) -> Path:
    out_dir = Path(out_dir)
    template = read_template("gemma3_chat_template.jinja")
    trained = train_bpe_tokenizer(SPECIAL_TOKENS, template, eos_token="<eos>")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trained.backend_tokenizer,
        bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
        chat_template=template,
        extra_special_tokens={
            "image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"
        },
    )
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
        chat_template=template,
        image_seq_length=IMAGE_TOKENS,
    )
    token_id = tokenizer.convert_tokens_to_ids
    config = Gemma3Config(
        text_config=Gemma3TextConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=64,
            max_position_embeddings=4096,
        ),
        vision_config=SiglipVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            image_size=IMAGE_SIZE, patch_size=7,
        ),
        mm_tokens_per_image=IMAGE_TOKENS,
        image_token_index=token_id("<image_soft_token>"),
        boi_token_index=token_id("<start_of_image>"),
        eoi_token_index=token_id("<end_of_image>"),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, token_id("<end_of_turn>")],
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, token_id("<end_of_turn>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
