"""FLUX.1-dev: seconds per image of the deployments' engine against bf16 controls, in one run.

Controls: the plain bf16 `FluxPipeline`, eager and with its transformer compiled (no LoRA). Optimized: the
engine as deployed for each quantization (`FLUX_QUANTIZE`), compiled in place, with a LoRA live in its slot;
a different LoRA is hot-swapped in before every timed image, so each image also proves the swap cost no
recompile.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch

from scripts.benchmarks import deployed
from scripts.benchmarks.timing import GraphCounter, Spread, fresh_start, peak_memory_mb, seconds
from shared.flux.engine import ImageRequest

CONTROLS = ("bf16 eager", "bf16 + compile")
PROMPT = "a lighthouse at dawn, volumetric light, 35mm photograph"


@dataclass(frozen=True)
class ImageSize:
    side: int
    steps: int

    def request(self, seed: int = 0) -> ImageRequest:
        return ImageRequest(prompt=PROMPT, width=self.side, height=self.side, steps=self.steps, guidance=3.5,
                            seed=seed)


@dataclass
class ImageRow:
    variant: str
    role: str  # "control" or "optimized"
    quantize: str  # the transformer's weights: bf16, nf4, fp8, int8
    compiled: bool
    lora_live: bool
    side: int
    steps: int
    setup_s: float  # load (+ quantization, LoRA slot, compilation and warm-up for the engine)
    first_image_s: float
    s_per_image: Spread
    swap_s: Spread | None  # hot-swap of a LoRA before each timed image
    recompiles: int  # graphs compiled from the first timed image on
    peak_memory_mb: float
    notes: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)


def plain_pipeline(flux_dir: Path, device: torch.device, size: ImageSize, runs: int, compiled: bool) -> ImageRow:
    """The unoptimized control: diffusers' FluxPipeline in bf16, transformer compiled in place or not."""
    from diffusers import FluxPipeline

    from shared.flux.engine import compile_transformer

    fresh_start(device)
    start = time.perf_counter()
    pipe = FluxPipeline.from_pretrained(flux_dir, dtype=torch.bfloat16).to(device)
    if compiled:  # as the deployed engine compiles it (regional), without its quantization and LoRA slots
        compile_transformer(pipe.transformer, "bf16", "regional")
    setup = time.perf_counter() - start
    request = size.request()

    def image():
        return pipe(prompt=request.prompt, width=request.width, height=request.height,
                    num_inference_steps=request.steps, guidance_scale=request.guidance,
                    generator=torch.Generator(device).manual_seed(request.seed))

    first = seconds(image, device)
    graphs = GraphCounter()
    times = [seconds(image, device) for _ in range(runs)]
    row = ImageRow(
        variant="bf16 + compile" if compiled else "bf16 eager", role="control", quantize="bf16", compiled=compiled,
        lora_live=False, side=size.side, steps=size.steps, setup_s=setup, first_image_s=first,
        s_per_image=Spread.of(times), swap_s=None, recompiles=graphs.since(), peak_memory_mb=peak_memory_mb(device),
    )
    return row


def engine_variant(
    flux_dir: Path, device: torch.device, size: ImageSize, runs: int, quantize: str, loras: list[Path],
    max_lora_rank: int,
) -> ImageRow:
    """The deployments' engine: quantized, LoRA slot, compiled, warmed up as in setup(); then a LoRA swap
    before each timed image (alternating between `loras`)."""
    fresh_start(device)
    start = time.perf_counter()
    engine = deployed.flux_engine(device, flux_dir, quantize, size.side, max_lora_rank)
    setup = time.perf_counter() - start
    request = size.request()
    graphs = GraphCounter()
    swap_first = seconds(partial(deployed.use_lora, engine, loras[0]), device)
    first = seconds(lambda: engine.generate(request), device)
    swaps, times = [], []
    for index in range(runs):
        lora = loras[(index + 1) % len(loras)]
        swaps.append(seconds(partial(deployed.use_lora, engine, lora), device))
        times.append(seconds(lambda: engine.generate(request), device))
    row = ImageRow(
        variant=f"{quantize} + compile + LoRA live", role="optimized", quantize=quantize, compiled=True,
        lora_live=True, side=size.side, steps=size.steps, setup_s=setup, first_image_s=first,
        s_per_image=Spread.of(times), swap_s=Spread.of([swap_first, *swaps]), recompiles=graphs.since(),
        peak_memory_mb=peak_memory_mb(device),
        notes={"loras": [p.name for p in loras], "quantization": engine.quantization.reason,
               "attention": f"{engine.attention.name} ({engine.attention.reason})"},
    )
    return row


def random_loras(transformer_config: dict, out_dir: Path, ranks: tuple[int, int] = (16, 32)) -> list[Path]:
    """Two LoRA files for a FLUX transformer of this config, built from its layer shapes alone (the model is
    made on the meta device: no memory), one over attention, one over attention and feed-forward."""
    from diffusers import FluxTransformer2DModel
    from safetensors.torch import save_file

    from scripts.harness.tiny_models.flux_loras import random_lora

    config = {k: v for k, v in transformer_config.items() if not k.startswith("_")}
    with torch.device("meta"):
        transformer = FluxTransformer2DModel(**config)
    layers = {n: m for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    attention = [n for n in layers if n.endswith(("to_q", "to_k", "to_v"))]
    feed_forward = [n for n in layers if ".ff." in n or n.endswith(("proj_mlp", "proj_out"))]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (names, rank) in enumerate(((attention, ranks[0]), (attention + feed_forward, ranks[1]))):
        path = out_dir / f"lora{index}-r{rank}.safetensors"
        if not path.exists():
            save_file(random_lora(layers, names, rank, seed=index + 1), path)
        paths.append(path)
    return paths


def run_variants(
    flux_dir: Path, device: torch.device, size: ImageSize, runs: int, variants: list[str], loras: list[Path],
    max_lora_rank: int, record: Callable[[ImageRow], None], on_error: Callable[[str, BaseException], None],
) -> None:
    """`variants`: "bf16 eager", "bf16 + compile", or a quantization name for the engine. A variant that fails
    is reported to `on_error` and the next one runs."""
    for variant in variants:
        try:
            if variant in CONTROLS:
                record(plain_pipeline(flux_dir, device, size, runs, compiled=variant == "bf16 + compile"))
            else:
                record(engine_variant(flux_dir, device, size, runs, variant, loras, max_lora_rank))
        except Exception as error:  # an OOM or a graph break in one variant must not cost the others
            on_error(f"FLUX.1-dev / {variant}", error)
