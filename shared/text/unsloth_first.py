"""Import Unsloth before anything imports transformers, on machines where it can run.

Unsloth patches transformers at import time and must come first. It needs a CUDA GPU; elsewhere (CI,
laptops) it is not imported at all and `shared.text.loading.load_4bit_causal_lm` falls back to plain
transformers. Import this module at the very top of a predictor.
"""

import logging
import os

import torch

logger = logging.getLogger(__name__)

UNSLOTH = None
UNSLOTH_UNAVAILABLE = "no CUDA device"
if os.environ.get("USE_UNSLOTH", "1") == "0":
    UNSLOTH_UNAVAILABLE = "USE_UNSLOTH=0"
elif torch.cuda.is_available():
    try:
        import unsloth

        UNSLOTH = unsloth
    except Exception as error:  # ImportError, or its own checks failing on an unsupported GPU
        UNSLOTH_UNAVAILABLE = f"{type(error).__name__}: {error}"
