"""The FLUX.1-dev engine behind both FLUX deployments: load, warm up, choose the live LoRAs, generate.

Text-to-image and image-to-image share its transformer, its compiled graph and its LoRA slots. What a
request asks for (styles, references, outputs, metrics) is `shared.flux.runner`'s business.
"""

import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from shared.common.compiled_graphs import compiled_graph_count
from shared.common.model_source import ModelSource
from shared.common.setup_stages import SetupStages
from shared.flux.hardware import choose_attention, choose_quantization, probe
from shared.flux.quantization import load_transformer
from shared.flux.settings import ATTENTION_BACKENDS, FluxSettings
from shared.lora.cache import lora_identity
from shared.lora.errors import LoraRefused
from shared.lora.formats import convert_lora, fit_rank, load_lora_tensors
from shared.lora.slots import NONE, LoraSlots

logger = logging.getLogger(__name__)

FLUX_DEV = ModelSource(
    repo_id="black-forest-labs/FLUX.1-dev",
    revision="3de623fc3c33e44ffbe2bad470d0f45bccf2eb21",
    revision_env="FLUX_REVISION",
    local_dir_env="FLUX_MODEL_DIR",
    gated=True,
    allow_patterns=("*.json", "*.txt", "*.model", "transformer/*", "vae/*", "text_encoder/*", "text_encoder_2/*",
                    "tokenizer/*", "tokenizer_2/*", "scheduler/*"),
)
# One PEFT adapter per slot, named after the input that fills it.
LORA_SLOTS = ("lora_weights", "extra_lora")


@dataclass(frozen=True, kw_only=True)
class ImageRequest:
    """One image: batch 1 keeps the compiled graph's shapes."""

    prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    strength: float | None = None  # image-to-image only


@dataclass(frozen=True)
class LoraChoice:
    """What a slot should hold. `name` is what the user asked for, safe to show (a reference without its URL
    query, `style:<name>`, or `none`); the slot is keyed on the file's identity, so a file that changed behind
    the same name is swapped in again."""

    name: str = NONE
    scale: float = 1.0
    path: Path | None = None  # the LoRA file; None for an empty slot

    def key(self) -> str:
        return NONE if self.path is None else lora_identity(self.path)


class SlotRefused(LoraRefused):
    """A LoRA refused for one slot; every slot still holds what it held before the request."""

    def __init__(self, slot: str, choice: LoraChoice, reason: str):
        super().__init__(f"{slot}: {choice.name} can't be used: {reason}")
        self.slot, self.choice = slot, choice


def compile_transformer(transformer: torch.nn.Module, quantization: str, mode: str = "regional") -> None:
    """The one torch.compile of the FLUX engine, in place (a torch.compile(module) wrapper would recompile on
    every hot-swap), fullgraph. `regional`: each block class in the transformer's `_repeated_blocks` is
    compiled once and its graph reused by every block of that class (diffusers' compile_repeated_blocks), the
    rest runs eagerly; `whole`: the transformer as one graph. A module without repeated blocks is compiled
    whole."""
    if quantization == "nf4":
        # bitsandbytes' CUDA 4-bit ops have data-dependent output shapes; without this dynamo graph-breaks on
        # them, which fullgraph=True turns into an error (diffusers' bnb 4-bit compile tests set it). Set on
        # the thread that compiles (warm-up, in setup): dynamo's config is per thread since torch 2.12.
        torch._dynamo.config.capture_dynamic_output_shape_ops = True
    if mode == "regional" and getattr(transformer, "_repeated_blocks", None):
        transformer.compile_repeated_blocks(fullgraph=True)
        # PEFT's hot-swap copies into the LoRA weights only when it sees the model compiled at its top level;
        # otherwise it swap_tensors them, turning Parameters into plain tensors, which the compiled blocks'
        # guards reject: a recompile per block class on every swap. swap_tensors refuses tensors that have a
        # weak reference, and PEFT then copies in place (peft/utils/hotswap.py), as for a whole-model compile.
        transformer._lora_hotswap_pins = [weakref.ref(weight) for name, weight in transformer.named_parameters()
                                          if ".lora_A." in name or ".lora_B." in name]
    else:
        transformer.compile(fullgraph=True)


class FluxEngine:
    def __init__(self, settings: FluxSettings, device: torch.device):
        self.settings = settings
        self.device = device
        accelerator = probe(device)
        self.quantization = choose_quantization(settings.quantize, accelerator)
        self.attention = choose_attention(settings.attention, accelerator)
        for what, choice in (("quantization", self.quantization), ("attention", self.attention)):
            logger.info("FLUX %s: %s (%s)", what, choice.name, choice.reason)

    def load(self, weights: Path, stages: SetupStages | None = None) -> None:
        """Load the pipelines from a FLUX.1-dev folder, prepare the LoRA slots, compile in place (lazily: the
        first warm-up call compiles). The LoRA slots are prepared before compiling: hot-swapping into slots
        made after the compile would corrupt later swaps."""
        from diffusers import FluxImg2ImgPipeline, FluxPipeline

        stages = stages or SetupStages("flux-dev")
        with stages.stage("load+quantize"):
            transformer = load_transformer(weights, self.quantization.name, self.device)
        with stages.stage("pipelines+LoRA slots"):
            self.text2img = FluxPipeline.from_pretrained(weights, transformer=transformer, dtype=torch.bfloat16)
            self.text2img.to(self.device)
            self.text2img.transformer.set_attention_backend(ATTENTION_BACKENDS[self.attention.name])
            # The VAE decoder is convolutions over 1 MP images: channels_last is the layout cuDNN runs fastest.
            self.text2img.vae.to(memory_format=torch.channels_last)
            self.img2img = FluxImg2ImgPipeline.from_pipe(self.text2img)  # same modules, no copy
            self.lora = LoraSlots(self.text2img, LORA_SLOTS, self.settings.lora.max_rank)
            self.lora.prepare()
        if self.settings.compile:
            compile_transformer(self.text2img.transformer, self.quantization.name, self.settings.compile_mode)
            logger.info("FLUX compile: %s", self.settings.compile_mode)

    def warm_up(self, stages: SetupStages | None = None) -> None:
        """Compile now, at the size most requests use, for both pipelines."""
        size = self.settings.warmup_size
        request = ImageRequest(prompt="warm up", width=size, height=size, steps=2, guidance=3.5, seed=0)
        with (stages or SetupStages("flux-dev")).warm_up():
            image = self.generate(request)
            self.generate(ImageRequest(**{**request.__dict__, "strength": 0.9}), image=image)
        logger.info("warm: %d compiled graph(s)", compiled_graph_count())

    def use_loras(self, choices: Mapping[str, LoraChoice]) -> None:
        """Make each slot hold its choice. Every new LoRA is read and checked before any slot is swapped, so
        a refused one (SlotRefused) leaves every slot as it was."""
        changes = {slot: c for slot, c in choices.items() if self.lora.live[slot] != (c.key(), c.scale)}
        fitted = {}
        for slot, choice in changes.items():
            try:
                if choice.path is None:
                    fitted[slot] = {}
                else:
                    fitted[slot] = self.lora.check_fits(self.read_lora(choice.path, f"{slot} ({choice.name})"))
            except LoraRefused as error:
                raise SlotRefused(slot, choice, str(error)) from None
        for slot, choice in changes.items():
            self.lora.swap(slot, choice.key(), fitted[slot], choice.scale)
            logger.info("LoRA %s: %s (scale %.2f)", slot, choice.name, choice.scale)

    def read_lora(self, path: Path, name: str | None = None) -> dict[str, torch.Tensor]:
        """Any accepted LoRA layout in the slots' layout (`shared.lora.formats`), fitted to the slots' rank.
        Whatever of the file the slots won't hold (a text-encoder part, deltas, the tail of a rank too high)
        is logged at warning level, one line per LoRA: Cog returns it in the prediction's logs."""
        lora = fit_rank(convert_lora(load_lora_tensors(path)), self.lora.max_rank, self.device)
        log = logger.warning if lora.changed() else logger.info
        log("LoRA %s: %s", name or path.name, lora.report())
        return lora.state_dict

    # no_grad, as diffusers' pipelines use, not inference_mode: compiled graphs over tensor-subclass weights
    # (torchao float8, bitsandbytes 4-bit) under inference_mode have open bugs (pytorch#170419).
    @torch.no_grad()
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
