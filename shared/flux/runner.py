"""One FLUX prediction, top to bottom: pick the style, fetch the LoRAs, swap them in, generate one image per
seed, check the images, save each with its parameters, report metrics.

Both FLUX predictors hold a `FluxRunner` and hand it a `FluxRequest`; `shared.flux.engine.FluxEngine` does the
model work.
"""

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from shared.common.compile_cache import CompileCache
from shared.common.compiled_graphs import compiled_graph_count
from shared.common.inputs import PROMPT_MAX_CHARS, SECRET_MAX_CHARS, require_text
from shared.common.metrics import RecordMetric, record_metrics
from shared.common.runtime import PredictionTimer, begin_setup, seed_everything
from shared.common.secrets import redact_in_logs, secret_value
from shared.common.setup_stages import SetupStages
from shared.flux.engine import FLUX_DEV, FluxEngine, ImageRequest, LoraChoice, SlotRefused
from shared.flux.image_outputs import save_image
from shared.flux.safety_checker import SafetyChecker, withhold_flagged
from shared.flux.settings import FluxSettings
from shared.flux.styles import Style, pick_style
from shared.lora.sources import LoraCache, parse_reference, resolve_reference, resolve_style

logger = logging.getLogger(__name__)

# What T5 can read (512 tokens) at a generous characters-per-token average (shared/common/inputs.py); the schema
# refuses longer prompts, this bound holds where no schema is checked (a Cog server without
# .cog/openapi_schema.json validates nothing).
PROMPT_CHARS = PROMPT_MAX_CHARS["flux-dev-txt2img"]


@dataclass(frozen=True, kw_only=True)
class FluxRequest:
    """A FLUX prediction's inputs, as Cog validated them."""

    prompt: str
    style: str
    size: tuple[int, int]
    num_outputs: int
    steps: int
    guidance: float
    seed: int | None
    output_format: str
    output_quality: int
    lora_weights: str = ""
    lora_scale: float = 1.0
    extra_lora: str = ""
    extra_lora_scale: float = 1.0
    image: Image.Image | None = field(default=None, repr=False)  # image-to-image only
    strength: float | None = None  # image-to-image only
    # Cog `Secret`s or strings; without one, HF_TOKEN / CIVITAI_API_TOKEN. Never logged, never in a repr.
    hf_token: object = field(default=None, repr=False)
    civitai_token: object = field(default=None, repr=False)
    disable_safety_checker: bool = False


class FluxRunner:
    def __init__(self, engine: FluxEngine, lora_cache: LoraCache, token: str | None,
                 safety_checker: SafetyChecker | None = None, output_dir: Path | None = None):
        self.engine = engine
        self.lora_cache = lora_cache
        self.token = token
        self.output_dir = output_dir  # images are written here (OUTPUT_DIR), else to a fresh temporary folder
        # Anything with `flagged(images) -> list[bool]`; None returns every image unchecked.
        self.safety_checker = safety_checker

    @classmethod
    def start(cls, settings: FluxSettings) -> "FluxRunner":
        """A predictor's setup(): load FLUX.1-dev, compile it at the warm-up size, load the safety checker
        (always: `disable_safety_checker` is a per-request choice)."""
        setup = begin_setup()
        stages = SetupStages("flux-dev")
        compile_cache = CompileCache(setup.runtime.compile_cache, setup.device)
        compile_cache.load(stages)
        engine = FluxEngine(settings, setup.device)
        with stages.stage("resolve"):
            weights = FLUX_DEV.resolve(setup.token, setup.runtime)
        engine.load(weights, stages)
        engine.warm_up(stages)
        compile_cache.save(stages)
        with stages.stage("safety checker"):
            checker = SafetyChecker.load(setup.device, setup.token, setup.runtime)
        stages.finish(setup.runtime.setup_report)
        return cls(engine, LoraCache(settings.lora), setup.token, checker, setup.runtime.output_dir)

    def render(self, request: FluxRequest, record_metric: RecordMetric) -> list[Path]:
        timer = PredictionTimer(self.engine.device)
        graphs_before = compiled_graph_count()
        require_text("prompt", request.prompt)
        _require_short_tokens(request)
        self._mask_tokens(request)
        seed = seed_everything(request.seed)
        style, prompt = pick_style(bounded_prompt(request.prompt), request.style)
        # Both slots are resolved (downloaded, checked) before the engine swaps either.
        choices = {
            "lora_weights": self._first_slot(request, style),
            "extra_lora": self._reference(request.extra_lora, request.extra_lora_scale, "extra_lora", request),
        }
        self._use(choices)
        generated = []
        for index in range(request.num_outputs):
            image_request = ImageRequest(
                prompt=prompt, width=request.size[0], height=request.size[1], steps=request.steps,
                guidance=request.guidance, seed=seed + index, strength=request.strength,
            )
            generated.append((image_request, self.engine.generate(image_request, image=request.image)))
        # The safety check: every image passes it before anything is saved or returned.
        checker = None if request.disable_safety_checker else self.safety_checker
        kept = withhold_flagged(generated, checker, [image for _, image in generated])
        directory = self.output_dir or Path(tempfile.mkdtemp(prefix="flux-"))
        paths = []
        for image_request, image in kept:
            parameters = {**asdict(image_request), **_lora_parameters(choices), "model": FLUX_DEV.repo_id,
                          "mode": "txt2img" if request.image is None else "img2img"}
            paths.append(save_image(image, parameters, request.output_format, request.output_quality, directory))
        # Graphs compiled during this prediction: 0 unless it used a new image size. A recompile on a LoRA
        # swap would be a latency bug (tens of seconds on a GPU), so every prediction reports it.
        record_metrics(record_metric, {**timer.log(), "recompiles": compiled_graph_count() - graphs_before,
                                       "image_output_count": len(paths)})
        return paths

    def _first_slot(self, request: FluxRequest, style: Style | None) -> LoraChoice:
        """`lora_weights` when given, else the style's LoRA, else nothing."""
        if request.lora_weights.strip():
            return self._reference(request.lora_weights, request.lora_scale, "lora_weights", request)
        if style is not None:
            return LoraChoice(f"style:{style.name}", request.lora_scale,
                              resolve_style(style, self.lora_cache, self.token))
        return LoraChoice()

    def _reference(self, reference: str, scale: float, field: str, request: FluxRequest) -> LoraChoice:
        if not reference.strip():
            return LoraChoice()
        parsed = parse_reference(reference, field)
        path = resolve_reference(parsed, self.lora_cache, request.hf_token, request.civitai_token, field=field)
        return LoraChoice(parsed.describe(), scale, path)

    def _use(self, choices: dict[str, LoraChoice]) -> None:
        try:
            self.engine.use_loras(choices)
        except SlotRefused as refused:
            # A downloaded file the engine can't use would be refused again on every request: evict it.
            if refused.choice.path is not None:
                self.lora_cache.discard(refused.choice.path)
            raise

    def _mask_tokens(self, request: FluxRequest) -> None:
        """A token given with a request is masked in every later log line, ours or a library's."""
        for secret, env_var in ((request.hf_token, "HF_TOKEN"), (request.civitai_token, "CIVITAI_API_TOKEN")):
            value = secret_value(secret, env_var) if secret is not None else None
            redact_in_logs(value)


def bounded_prompt(prompt: str) -> str:
    """The prompt cut to PROMPT_CHARS before the tokenizers see it: they read all of a text before truncating it
    to 512 (T5) and 77 (CLIP) tokens, which for megabytes took longer than the image. Past PROMPT_CHARS, T5
    would have dropped the rest anyway."""
    if len(prompt) <= PROMPT_CHARS:
        return prompt
    logger.warning("prompt: %d characters, cut to %d (T5 reads 512 tokens)", len(prompt), PROMPT_CHARS)
    return prompt[:PROMPT_CHARS]


def _require_short_tokens(request: FluxRequest) -> None:
    """A token is sent in a header and masked in every later log line; Cog can't bound a `Secret`'s length."""
    for field_name, secret in (("hf_api_token", request.hf_token), ("civitai_api_token", request.civitai_token)):
        if secret is None:
            continue
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        if len(value) > SECRET_MAX_CHARS:
            raise ValueError(f"{field_name}: {len(value)} characters, longer than any token (at most "
                             f"{SECRET_MAX_CHARS})")


def _lora_parameters(choices: dict[str, LoraChoice]) -> dict:
    """What goes into each image's metadata: `lora` / `lora_scale` for the first slot, `<slot>` /
    `<slot>_scale` for the others."""
    parameters = {}
    for slot, choice in choices.items():
        name = "lora" if slot == "lora_weights" else slot
        parameters[name], parameters[f"{name}_scale"] = choice.name, choice.scale
    return parameters
