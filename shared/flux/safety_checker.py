"""Withholding NSFW images the way replicate/cog-flux does: two models, and an image is withheld only when
both flag it.

1. CompVis/stable-diffusion-safety-checker, the checker diffusers' Stable Diffusion pipelines ship: a CLIP
   ViT-L/14 image embedding compared by cosine with 17 concept (and 3 special-care) embeddings, each against
   its own threshold. It errs on the side of flagging.
2. Falconsai/nsfw_image_detection, a ViT-base classifier ("normal" / "nsfw"), asked only about the images the
   first flagged; it overrules the false positives.

Cost (counted with torch's FlopCounterMode on the real architectures): 156 GFLOP per image for the checker,
34 GFLOP per flagged image for the classifier, against roughly 3 PFLOP for one 1024x1024 FLUX.1-dev image
at 28 steps. Weights in fp16: 0.61 GB and 0.17 GB.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared.common.model_source import ModelSource
from shared.common.settings import RuntimeSettings

logger = logging.getLogger(__name__)

# Revisions: the Hub commits the public code that pins these models uses (cog-flux downloads the same
# weights from Replicate's own mirror). The checker's commit holds pytorch_model.bin, not safetensors.
SAFETY_CHECKER = ModelSource(
    repo_id="CompVis/stable-diffusion-safety-checker",
    revision="cb41f3a270d63d454d385fc2e4f571c487c253c5",
    local_dir_env="SAFETY_CHECKER_MODEL_DIR",
    allow_patterns=("config.json", "preprocessor_config.json", "pytorch_model.bin"),
)
NSFW_CLASSIFIER = ModelSource(
    repo_id="Falconsai/nsfw_image_detection",
    revision="96cb0d0342c7afb80cab76ecc58b265fa44da256",
    local_dir_env="NSFW_CLASSIFIER_MODEL_DIR",
    allow_patterns=("config.json", "preprocessor_config.json", "model.safetensors"),
)


class AllImagesFlaggedError(RuntimeError):
    """Every image of a prediction was withheld."""


def checker_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, as cog-flux runs it: the checker compares cosines with thresholds to 3 decimals, and
    bf16's 8-bit mantissa (about 0.4 % per value) could flip a borderline verdict. fp32 on CPU."""
    return torch.float16 if device.type == "cuda" else torch.float32


@dataclass
class ConceptChecker:
    """diffusers' StableDiffusionSafetyChecker with its CLIP image processor."""

    model: torch.nn.Module
    processor: object
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def from_dir(cls, path: Path, device: torch.device, dtype: torch.dtype) -> "ConceptChecker":
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessor

        # Its forward warns "a black image will be returned instead" for each flag; here nothing is
        # blacked out (the image is withheld) and flagged() logs its own line.
        logging.getLogger(StableDiffusionSafetyChecker.__module__).setLevel(logging.ERROR)
        model = StableDiffusionSafetyChecker.from_pretrained(path, dtype=dtype).to(device).eval()
        return cls(model, CLIPImageProcessor.from_pretrained(path), device, dtype)

    def flagged(self, images: list[Image.Image]) -> list[bool]:
        pixels = self.processor(images, return_tensors="pt").pixel_values.to(self.device, self.dtype)
        # forward() blacks out flagged entries of `images`; a placeholder array takes that write.
        placeholder = np.zeros((len(images), 1, 1, 3))
        with torch.inference_mode():
            _, flags = self.model(clip_input=pixels, images=placeholder)
        return [bool(flag) for flag in flags]


@dataclass
class NsfwClassifier:
    """An image classifier whose labels include "normal"; any other top label counts as flagged."""

    model: torch.nn.Module
    processor: object
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def from_dir(cls, path: Path, device: torch.device, dtype: torch.dtype) -> "NsfwClassifier":
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        model = AutoModelForImageClassification.from_pretrained(path, dtype=dtype).to(device).eval()
        if "normal" not in model.config.label2id:
            raise ValueError(f"{path}: the classifier has no 'normal' label ({sorted(model.config.label2id)})")
        return cls(model, AutoImageProcessor.from_pretrained(path), device, dtype)

    def flagged(self, images: list[Image.Image]) -> list[bool]:
        pixels = self.processor(images, return_tensors="pt").pixel_values.to(self.device, self.dtype)
        with torch.inference_mode():
            labels = self.model(pixel_values=pixels).logits.argmax(-1).tolist()
        return [self.model.config.id2label[label] != "normal" for label in labels]


@dataclass
class SafetyChecker:
    concepts: ConceptChecker
    classifier: NsfwClassifier

    @classmethod
    def load(cls, device: torch.device, token: str | None = None,
             runtime: RuntimeSettings | None = None) -> "SafetyChecker":
        """Both models from their pinned revisions, or from SAFETY_CHECKER_MODEL_DIR /
        NSFW_CLASSIFIER_MODEL_DIR."""
        dtype = checker_dtype(device)
        return cls(
            ConceptChecker.from_dir(SAFETY_CHECKER.resolve(token, runtime), device, dtype),
            NsfwClassifier.from_dir(NSFW_CLASSIFIER.resolve(token, runtime), device, dtype),
        )

    def flagged(self, images: list[Image.Image]) -> list[bool]:
        """One verdict per image: True when both models flag it."""
        if not images:
            return []
        images = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        flags = self.concepts.flagged(images)
        suspects = [index for index, flag in enumerate(flags) if flag]
        if suspects:
            confirmed = self.classifier.flagged([images[index] for index in suspects])
            for index, flag in zip(suspects, confirmed, strict=True):
                flags[index] = flag
            logger.info(
                "safety checker: %d of %d images flagged by the concept checker, %d confirmed by the classifier",
                len(suspects), len(images), sum(confirmed),
            )
        return flags


def withhold_flagged(images: list, checker: SafetyChecker | None, pil_images: list[Image.Image] | None = None):
    """The images to return, flagged ones left out (`checker` None: all of them). `pil_images` are the same
    images as PIL, when `images` are something else (paths, tensors). Raises AllImagesFlaggedError when
    nothing is left."""
    if checker is None or not images:
        return list(images)
    flags = checker.flagged(pil_images if pil_images is not None else images)
    kept = [image for image, flag in zip(images, flags, strict=True) if not flag]
    if not kept:
        raise AllImagesFlaggedError(
            f"the safety checker flagged every generated image ({len(images)} of {len(images)}) as NSFW and "
            "withheld it; try a different prompt or seed"
        )
    if len(kept) < len(images):
        logger.info("safety checker: withheld %d of %d images", len(images) - len(kept), len(images))
    return kept
