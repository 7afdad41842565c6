"""Loading transformers models and tokenizers from a resolved local directory."""

import logging
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


def load_causal_lm(path: Path, dtype: torch.dtype, device: torch.device, with_weights: bool = True):
    """`with_weights=False`: the architecture alone, for a saved served model to be loaded into."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not with_weights:
        return empty_model(AutoModelForCausalLM, path, dtype), tokenizer
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    logger.info("loaded %s (%s, %s) from %s", type(model).__name__, dtype, device, path)
    return model, tokenizer


def empty_model(auto_class, path: Path, dtype: torch.dtype):
    """The model `auto_class.from_pretrained(path)` would give, with its parameters on the meta device (no memory,
    no reading of weight files); buffers the model computes itself (rotary frequencies) are real."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, GenerationConfig

    with init_empty_weights():
        model = auto_class.from_config(AutoConfig.from_pretrained(path), dtype=dtype)
    if (path / "generation_config.json").is_file():  # from_pretrained reads it too: eos ids, sampling defaults
        model.generation_config = GenerationConfig.from_pretrained(path)
    return model.eval()


def load_4bit_causal_lm(path: Path, device: torch.device, max_seq_length: int):
    """A causal LM in 4-bit: Unsloth's fast path on CUDA, else transformers (+ bitsandbytes NF4).

    Returns (model, tokenizer, backend) and logs which backend was chosen and why.
    """
    from shared.text.unsloth_first import UNSLOTH, UNSLOTH_UNAVAILABLE

    if UNSLOTH is not None and device.type == "cuda":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(path), max_seq_length=max_seq_length, load_in_4bit=True, dtype=None
        )
        FastLanguageModel.for_inference(model)
        logger.info("backend: unsloth (4-bit, fast inference kernels; its own decode loop, not torch.compile)")
        return model, tokenizer, "unsloth"

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    tokenizer = AutoTokenizer.from_pretrained(path)
    kwargs = {"dtype": torch.bfloat16, "device_map": str(device)}
    prequantized = getattr(AutoConfig.from_pretrained(path), "quantization_config", None) is not None
    if not prequantized:  # a checkpoint saved in 4-bit carries its own quantization config
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
    backend = "transformers+bitsandbytes-nf4"
    logger.info("backend: %s (unsloth not used: %s)", backend, UNSLOTH_UNAVAILABLE)
    return model, tokenizer, backend


def load_image_text_model(path: Path, dtype: torch.dtype, device: torch.device, with_weights: bool = True):
    """An image-text-to-text model (Gemma 3, ...) and its processor."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(path)
    if not with_weights:
        return empty_model(AutoModelForImageTextToText, path, dtype), processor
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype).to(device).eval()
    logger.info("loaded %s (%s, %s) from %s", type(model).__name__, dtype, device, path)
    return model, processor
