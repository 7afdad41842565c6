"""One FLUX.1-dev engine behind both FLUX deployments: text-to-image and image-to-image share its
transformer, its compiled graph and its LoRA slot."""

import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cog
import torch

from shared.compile import compiled_graph_count
from shared.image_outputs import save_image
from shared.inputs import ASPECT_RATIOS
from shared.lora import LoraHotSwapper, LoraRefused
from shared.lora_sources import LoraCache, Style, resolve_lora, resolve_style
from shared.model_source import ModelSource
from shared.outputs import output_dir
from shared.runtime import PredictionTimer, begin_setup, seed_everything
from shared.styles import TRIGGERS

logger = logging.getLogger(__name__)

FLUX_DEV = ModelSource(
    repo_id="black-forest-labs/FLUX.1-dev",
    revision=os.environ.get("FLUX_REVISION", "3de623fc3c33e44ffbe2bad470d0f45bccf2eb21"),
    local_dir_env="FLUX_MODEL_DIR",
    gated=True,
    allow_patterns=("*.json", "*.txt", "*.model", "transformer/*", "vae/*", "text_encoder/*", "text_encoder_2/*",
                    "tokenizer/*", "tokenizer_2/*", "scheduler/*"),
)


def pick_style(prompt: str, style: str) -> tuple[Style | None, str]:
    """The style to apply and the prompt to send. `auto` looks for a trigger word in the prompt; a trigger
    word given as `style` is added to the prompt when it isn't there yet."""
    if style == "none":
        return None, prompt
    if style == "auto":
        for trigger, found in TRIGGERS.items():
            if re.search(rf"\b{re.escape(trigger)}\b", prompt, flags=re.IGNORECASE):
                return found, prompt
        return None, prompt
    chosen = TRIGGERS[style]
    if not re.search(rf"\b{re.escape(style)}\b", prompt, flags=re.IGNORECASE):
        prompt = f"{style}, {prompt}"
    return chosen, prompt


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    lora: str
    lora_scale: float
    strength: float | None = None  # image-to-image only


class FluxEngine:
    def __init__(self, device: torch.device, token: str | None):
        self.device = device
        self.token = token
        self.lora_cache = LoraCache()
        self.max_rank = int(os.environ.get("MAX_LORA_RANK", "64"))

    def load(self) -> None:
        from diffusers import FluxImg2ImgPipeline, FluxPipeline

        path = FLUX_DEV.resolve(self.token)
        transformer = self._load_transformer(path)
        self.text2img = FluxPipeline.from_pretrained(path, transformer=transformer, dtype=torch.bfloat16)
        self.text2img.to(self.device)
        self.img2img = FluxImg2ImgPipeline.from_pipe(self.text2img)  # same modules, no copy
        self.lora = LoraHotSwapper(self.text2img, self.max_rank)
        self.lora.prepare()
        if os.environ.get("COMPILE", "1") == "1":
            # In place: a torch.compile(module) wrapper would recompile on every hot-swap.
            self.text2img.transformer.compile(fullgraph=True)

    def _load_transformer(self, path):
        from diffusers import FluxTransformer2DModel

        quantize = os.environ.get("FLUX_QUANTIZE", "nf4" if self.device.type == "cuda" else "int8")
        kwargs = {"subfolder": "transformer", "dtype": torch.bfloat16}
        if quantize == "nf4":  # bitsandbytes 4-bit needs CUDA
            from diffusers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
            )
        transformer = FluxTransformer2DModel.from_pretrained(path, **kwargs)
        if quantize == "int8":  # torchao INT8 weight-only: runs on CPU too, keeps hot-swap compile-clean
            from shared.layer_filter import LayerFilter
            from shared.quantization import quantize_int8_weight_only

            quantize_int8_weight_only(transformer, LayerFilter(include=(r".",)))
        logger.info("FLUX transformer: %s", quantize)
        return transformer

    def warm_up(self, size: int) -> None:
        """Compile now, at the size most requests use, for both pipelines."""
        request = ImageRequest("warm up", size, size, 2, 3.5, 0, "", 1.0)
        image = self.generate(request)
        self.generate(ImageRequest(**{**asdict(request), "strength": 0.9}), image=image)
        logger.info("warm: %d compiled graph(s)", compiled_graph_count())

    def use_lora(self, style: Style | None, lora_weights: str, scale: float) -> str:
        """Hot-swap the requested LoRA in (or none); returns its name. Unfit LoRAs raise ValueError."""
        if not lora_weights and style is None:
            self.lora.activate("none", None, 1.0)
            return "none"
        key = lora_weights.strip() if lora_weights else f"style:{style.name}"
        if self.lora.live != (key, scale):
            if lora_weights:
                path = resolve_lora(key, self.lora_cache, self.token)
            else:
                path = resolve_style(style, self.lora_cache, self.token)
            try:
                self.lora.activate(key, self._read_lora(path), scale)
            except LoraRefused as error:
                raise ValueError(f"lora_weights: {key} can't be used: {error}") from None
        return key

    def _read_lora(self, path) -> dict[str, torch.Tensor]:
        """A diffusers-format state dict (Kohya, XLabs, ... converted) with each layer's alpha/rank folded in."""
        try:
            state_dict, alphas, _ = self.text2img.lora_state_dict(
                str(path), return_alphas=True, return_lora_metadata=True
            )
        except Exception as error:  # corrupt file, unknown format
            raise LoraRefused(f"not a readable LoRA file ({type(error).__name__})") from None
        for alpha_key, alpha in (alphas or {}).items():
            prefix = alpha_key.removesuffix(".alpha")
            b_key, a_key = f"{prefix}.lora_B.weight", f"{prefix}.lora_A.weight"
            if b_key in state_dict:
                state_dict[b_key] = state_dict[b_key] * (float(alpha) / state_dict[a_key].shape[0])
        return state_dict

    @torch.inference_mode()
    def generate(self, request: ImageRequest, image=None):
        pipe = self.text2img if image is None else self.img2img
        kwargs = {"image": image, "strength": request.strength} if image is not None else {}
        if request.width * request.height > 1536 * 1536:  # decode big images in tiles: bounded VRAM
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()
        return pipe(
            prompt=request.prompt,
            width=request.width,
            height=request.height,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=torch.Generator(self.device).manual_seed(request.seed),
            **kwargs,
        ).images[0]


def image_size(aspect_ratio: str, width: int, height: int) -> tuple[int, int]:
    if aspect_ratio != "custom":
        return ASPECT_RATIOS[aspect_ratio]
    return width - width % 16, height - height % 16  # FLUX packs 2x2 latent patches of 8x8 pixels


def render_images(
    engine: FluxEngine,
    *,
    prompt: str,
    style: str,
    size: tuple[int, int],
    num_outputs: int,
    steps: int,
    guidance: float,
    seed: int,
    output_format: str,
    output_quality: int,
    lora_weights: str,
    lora_scale: float,
    image=None,
    strength: float | None = None,
) -> list:
    """Everything a FLUX prediction does after input checks: pick and swap the LoRA, generate one image per
    seed (batch 1 keeps the compiled graph's shapes), and save each with its parameters."""
    chosen, prompt = pick_style(prompt, style)
    lora = engine.use_lora(chosen, lora_weights, lora_scale)
    directory = output_dir() or Path(tempfile.mkdtemp(prefix="flux-"))
    paths = []
    for index in range(num_outputs):
        request = ImageRequest(prompt, *size, steps, guidance, seed + index, lora, lora_scale, strength)
        result = engine.generate(request, image=image)
        parameters = {**asdict(request), "model": FLUX_DEV.repo_id, "mode": "img2img" if image else "txt2img"}
        paths.append(save_image(result, parameters, output_format, output_quality, directory))
    return paths


class FluxRunner:
    """Setup and rendering shared by the FLUX predictors; each adds its own `run()` signature."""

    def setup(self) -> None:
        self.engine = FluxEngine(*begin_setup())
        self.engine.load()
        self.engine.warm_up(int(os.environ.get("WARMUP_SIZE", "1024")))

    def render(self, *, aspect_ratio: str, width: int, height: int, seed: int | None, **kwargs) -> list:
        timer = PredictionTimer(self.engine.device)
        graphs_before = compiled_graph_count()
        size = image_size(aspect_ratio, width, height)
        paths = render_images(self.engine, size=size, seed=seed_everything(seed), **kwargs)
        for key, value in timer.log().items():
            self.record_metric(key, value)
        # Graphs compiled during this prediction: 0 unless it used a new image size. A recompile on a LoRA
        # swap would be a latency bug (tens of seconds on a GPU), so every prediction reports it.
        self.record_metric("recompiles", compiled_graph_count() - graphs_before)
        return [cog.Path(p) for p in paths]
