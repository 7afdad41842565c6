"""Loading transformers models and tokenizers from a resolved local directory."""

import logging
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


def load_causal_lm(path: Path, dtype: torch.dtype, device: torch.device):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    logger.info("loaded %s (%s, %s) from %s", type(model).__name__, dtype, device, path)
    return model, tokenizer
