"""FLUX.1-dev text-to-image: 4-bit transformer, compiled once, LoRA styles hot-swapped without recompiling."""

from cog import BaseRunner, Path

from shared import inputs
from shared.flux import FluxRunner
from shared.serving import require_text


class Predictor(FluxRunner, BaseRunner):
    def run(
        self,
        prompt: str = inputs.prompt(),
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
        require_text("prompt", prompt)
        return self.render(
            prompt=prompt, style=style, aspect_ratio=aspect_ratio, width=width, height=height,
            num_outputs=num_outputs, steps=num_inference_steps, guidance=guidance, seed=seed,
            output_format=output_format, output_quality=output_quality,
            lora_weights=lora_weights, lora_scale=lora_scale,
        )
