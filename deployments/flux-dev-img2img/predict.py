"""FLUX.1-dev image-to-image: the text-to-image engine with an input image and a prompt strength."""

import os

from cog import BaseRunner, Input, Path

from shared import inputs
from shared.flux_runner import FluxRequest, FluxRunner
from shared.flux_settings import FluxSettings
from shared.flux_sizes import image_size
from shared.images import load_image
from shared.serving import require_text


class Predictor(BaseRunner):
    def setup(self) -> None:
        self.flux = FluxRunner.start(FluxSettings.from_env(os.environ))

    def run(
        self,
        prompt: str = inputs.prompt(),
        image: Path = Input(description="The image to transform (PNG, JPEG, WebP, ...); resized to the output size."),
        prompt_strength: float = inputs.prompt_strength(),
        style: str = inputs.style(),
        aspect_ratio: str = inputs.aspect_ratio(),
        width: int = inputs.side("width"),
        height: int = inputs.side("height"),
        num_outputs: int = inputs.num_outputs(),
        num_inference_steps: int = inputs.num_inference_steps(),
        guidance: float = inputs.guidance(),
        seed: int | None = inputs.seed(),
        output_format: str = inputs.output_format(),
        output_quality: int = inputs.output_quality(),
        lora_weights: str = inputs.lora_weights(),
        lora_scale: float = inputs.lora_scale(),
    ) -> list[Path]:
        request = FluxRequest(
            prompt=require_text("prompt", prompt), style=style, size=image_size(aspect_ratio, width, height),
            num_outputs=num_outputs, steps=num_inference_steps, guidance=guidance, seed=seed,
            output_format=output_format, output_quality=output_quality,
            lora_weights=lora_weights, lora_scale=lora_scale,
            image=load_image(image, "image"), strength=prompt_strength,
        )
        return [Path(path) for path in self.flux.render(request, self.record_metric)]
