"""FLUX.1-dev text-to-image: quantized transformer, compiled once, LoRAs hot-swapped without recompiling."""

import os

from cog import BaseRunner, Input, Path, Secret

from shared.flux.engine import FLUX_DEV
from shared.flux.runner import FluxRequest, FluxRunner
from shared.flux.safety_checker import NSFW_CLASSIFIER, SAFETY_CHECKER
from shared.flux.settings import FluxSettings
from shared.flux.sizes import image_size

WEIGHTS = (FLUX_DEV, SAFETY_CHECKER, NSFW_CLASSIFIER)  # what `make weights-flux-dev-txt2img` bakes into the image


class Predictor(BaseRunner):
    def setup(self) -> None:
        self.flux = FluxRunner.start(FluxSettings.from_env(os.environ))

    def run(
        self,
        prompt: str = Input(description="Text prompt for the model.", min_length=1, max_length=8192),
        style: str = Input(
            description="A built-in style LoRA. auto: picked from a trigger word in the prompt. none: the base model. A trigger word picks its style and is added to the prompt if missing.",
            choices=["auto", "none", "Cinematic", "Photographic", "Anime", "Manga", "Digital art", "Pixel art",
                     "Fantasy art", "Neonpunk", "3D Model", "Painting", "Animation", "Illustration", "GHIBSKY"],
            default="auto",
        ),
        aspect_ratio: str = Input(
            description="Aspect ratio of the image (about 1 megapixel). 'custom' uses width and height.",
            choices=["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21", "custom"],
            default="1:1",
        ),
        width: int = Input(
            description="Image width in pixels (64-2048, rounded down to a multiple of 16); used only when aspect_ratio is 'custom'.",
            default=1024,
            ge=64,
            le=2048,
        ),
        height: int = Input(
            description="Image height in pixels (64-2048, rounded down to a multiple of 16); used only when aspect_ratio is 'custom'.",
            default=1024,
            ge=64,
            le=2048,
        ),
        num_outputs: int = Input(description="Number of images (1-4); image i uses seed + i.", default=1, ge=1, le=4),
        num_inference_steps: int = Input(
            description="Denoising steps (1-50). More is slower and finer.", default=28, ge=1, le=50
        ),
        guidance: float = Input(
            description="Guidance (0-10): how closely the image follows the prompt.", default=3, ge=0, le=10
        ),
        seed: int | None = Input(
            description="Random seed (0-2147483647) for reproducible outputs. Leave empty for a random seed; the seed used is printed in the logs.",
            default=None,
            ge=0,
            le=2147483647,
        ),
        output_format: str = Input(description="Image file format.", choices=["webp", "jpg", "png"], default="webp"),
        output_quality: int = Input(
            description="Quality (0-100) for webp and jpg; png is lossless and ignores it.", default=80, ge=0, le=100
        ),
        lora_weights: str = Input(
            description="A LoRA to apply instead of a built-in style: a Hugging Face repo (owner/name means a Hugging Face repo here, not a Replicate model; or owner/name/file.safetensors, or a huggingface.co link), a civitai model link, any .safetensors URL, or the .tar URL a Replicate LoRA trainer outputs. kohya/FluxGym, ComfyUI, diffusers, XLabs and BFL-named files load; a text-encoder part is left out and the logs say so. Downloaded once, then cached.",
            default="",
            max_length=2048,
        ),
        lora_scale: float = Input(description="Strength of the LoRA or style (-1 to 3).", default=1.0, ge=-1, le=3),
        extra_lora: str = Input(
            description="A second LoRA applied together with the first (same forms as lora_weights).",
            default="",
            max_length=2048,
        ),
        extra_lora_scale: float = Input(
            description="Strength of the extra LoRA (-1 to 3).", default=1.0, ge=-1, le=3
        ),
        hf_api_token: Secret | None = Input(
            description="Hugging Face token for private or gated LoRAs (else HF_TOKEN on the server). Never logged.",
            default=None,
        ),
        civitai_api_token: Secret | None = Input(
            description="civitai token for LoRAs that need one (else CIVITAI_API_TOKEN on the server). Never logged.",
            default=None,
        ),
        disable_safety_checker: bool = Input(description="Return images without running the safety checker on them.", default=False),
    ) -> list[Path]:
        request = FluxRequest(
            prompt=prompt, style=style, size=image_size(aspect_ratio, width, height),
            num_outputs=num_outputs, steps=num_inference_steps, guidance=guidance, seed=seed,
            output_format=output_format, output_quality=output_quality,
            lora_weights=lora_weights, lora_scale=lora_scale, extra_lora=extra_lora, extra_lora_scale=extra_lora_scale,
            hf_token=hf_api_token, civitai_token=civitai_api_token, disable_safety_checker=disable_safety_checker,
        )
        return [Path(path) for path in self.flux.render(request, self.record_metric)]
