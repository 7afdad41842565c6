"""The canonical definition of every input the deployments share, as data.

Cog's CLI reads each predictor's `run()` signature statically before it builds (replicate/cog
pkg/schema/python/inputs.go): a default must be a literal `Input(...)` call in predict.py itself, so the
predictors spell their inputs out. This module is what those declarations must agree with:
tests/test_input_specs.py compares every declared input with its entry in `CANONICAL` (description,
default, bounds, choices). A deployment may change only the fields `TUNABLE` names for that input (its
model's recommended default, a tighter maximum); descriptions mention `{le}` or `{default}` where they
quote a tunable value, and are compared after filling it in.
"""

from cog import Input

from shared.flux.sizes import ASPECT_RATIOS  # FLUX output sizes: the choices of `aspect_ratio`
from shared.flux.styles import STYLES

MAX_SEED = 2**31 - 1

# --- How long a free-text input may be ------------------------------------------------------------------------
# Every free-text input carries a `max_length`, so Cog answers an oversized one with a 422 that names it before
# any of our code runs: an 8 MB prompt otherwise holds the container's only slot while the tokenizers read all
# of it (over 90 s for FLUX, which then keeps 512 tokens; ~19 s for a text model's 5.6M tokens, which are then
# refused as too long). Cog's static parser takes only number literals there, so each predict.py
# spells the number out and tests/test_input_specs.py checks it against these.
#
# A text prompt may be as long as the most tokens its model can read, times the most characters one token can
# stand for on average. BPE / SentencePiece vocabularies of 100k-260k entries (SmolLM3's, Phi-4's, Gemma 3's,
# T5's) average about 4-5 characters per token on English prose, 3-4 on code, 1-3 on most other scripts (which
# only makes a character bound looser for them); only padding-like text (long runs of spaces or one symbol)
# goes higher. 16 is 3-4 times the prose figure: a prompt refused by this bound is far past what the model
# reads, and only padding-like text could be refused while it would have fit.
MAX_CHARS_PER_TOKEN = 16
# The most prompt tokens each deployment's model reads: the text models' trained context
# (`max_position_embeddings` of their published configs), and FLUX's T5 prompt (`max_sequence_length`=512;
# CLIP reads 77 of the same text). The deployments' MAX_CONTEXT_TOKENS (prompt + answer) may be lower; that
# bound is applied at run time by shared.text.service.refuse_text_past_context, before the tokenizer.
PROMPT_TOKENS = {
    "smollm3": 65536,
    "gemma3": 131072,
    "phi4-reasoning": 32768,
    "flux-dev-txt2img": 512,
    "flux-dev-img2img": 512,
}
# A system prompt shares the prompt's context window, so it gets the same bound.
PROMPT_MAX_CHARS = {name: tokens * MAX_CHARS_PER_TOKEN for name, tokens in PROMPT_TOKENS.items()}
# stop_sequences: at most 16 sequences of at most 200 characters and their commas (3,215; shared.text.stop_sequences
# checks those); the slack allows doubled or trailing commas, which are dropped.
STOP_SEQUENCES_MAX_CHARS = 4096
# A LoRA reference: a Hub id, a link or a local path. 2,048 is the URL length browsers and CDNs commonly accept;
# Hub, civitai and signed download links are a few hundred characters at most.
LORA_REFERENCE_MAX_CHARS = 2048
# Cog's inspector refuses `max_length` on a `Secret`, so the FLUX runner checks tokens itself: Hugging Face
# tokens are 37 characters, civitai keys 32; 1,024 leaves room for any other token scheme.
SECRET_MAX_CHARS = 1024

MIN_SIDE, MAX_SIDE = 64, 2048
STYLE_TRIGGERS = [trigger for style in STYLES for trigger in style.triggers]  # the predictors list them literally

# Shared by every deployment.
# max_length is the deployment's PROMPT_MAX_CHARS (TUNABLE; tests/test_input_specs.py checks the value).
PROMPT = Input(description="Text prompt for the model.", min_length=1, max_length=PROMPT_MAX_CHARS["smollm3"])
SEED = Input(
    description=f"Random seed (0-{MAX_SEED}) for reproducible outputs. Leave empty for a random seed; "
    "the seed used is printed in the logs.",
    default=None,
    ge=0,
    le=MAX_SEED,
)

# Text generation (SmolLM3, Gemma-3, Phi-4). Names follow Replicate's language models.
SYSTEM_PROMPT = Input(
    description="System prompt that sets the assistant's behaviour. Empty uses the model's own.",
    default="",
    max_length=PROMPT_MAX_CHARS["smollm3"],
)
MAX_NEW_TOKENS = Input(
    description="Maximum number of tokens to generate (1-{le}); the prompt and the answer must also fit the "
    "model's context window.",
    default=1024,
    ge=1,
    le=8192,
)
TEMPERATURE = Input(
    description="Sampling temperature (0-2). 0 picks the most likely token every step (greedy, deterministic).",
    default=0.7,
    ge=0.0,
    le=2.0,
)
TOP_P = Input(
    description="Nucleus sampling (0.01-1): sample only from the smallest set of tokens whose probabilities "
    "add up to top_p. 1 disables it.",
    default=0.95,
    ge=0.01,
    le=1.0,
)
TOP_K = Input(
    description="Sample only from the top_k most likely tokens (0-1000). 0 disables it.", default=50, ge=0, le=1000
)
STOP_SEQUENCES = Input(
    description="Comma-separated texts that end the answer where they first appear (up to 16, each up to 200 "
    "characters); the stop text itself is not returned. Example: '</answer>,Question:'.",
    default="",
    max_length=STOP_SEQUENCES_MAX_CHARS,
)

# Image generation (FLUX). Names, ranges and defaults follow replicate/cog-flux, so existing clients keep working.
ASPECT_RATIO = Input(
    description="Aspect ratio of the image (about 1 megapixel). 'custom' uses width and height.",
    choices=[*ASPECT_RATIOS, "custom"],
    default="1:1",
)
WIDTH = Input(
    description=f"Image width in pixels ({MIN_SIDE}-{MAX_SIDE}, rounded down to a multiple of 16); "
    "used only when aspect_ratio is 'custom'.",
    default=1024,
    ge=MIN_SIDE,
    le=MAX_SIDE,
)
HEIGHT = Input(
    description=f"Image height in pixels ({MIN_SIDE}-{MAX_SIDE}, rounded down to a multiple of 16); "
    "used only when aspect_ratio is 'custom'.",
    default=1024,
    ge=MIN_SIDE,
    le=MAX_SIDE,
)
NUM_OUTPUTS = Input(description="Number of images (1-4); image i uses seed + i.", default=1, ge=1, le=4)
NUM_INFERENCE_STEPS = Input(
    description="Denoising steps (1-50). More is slower and finer.", default=28, ge=1, le=50
)
GUIDANCE = Input(description="Guidance (0-10): how closely the image follows the prompt.", default=3, ge=0, le=10)
OUTPUT_FORMAT = Input(description="Image file format.", choices=["webp", "jpg", "png"], default="webp")
OUTPUT_QUALITY = Input(
    description="Quality (0-100) for webp and jpg; png is lossless and ignores it.", default=80, ge=0, le=100
)
STYLE = Input(
    description="A built-in style LoRA. auto: picked from a trigger word in the prompt. none: the base model. "
    "A trigger word picks its style and is added to the prompt if missing.",
    choices=["auto", "none", *STYLE_TRIGGERS],
    default="auto",
)
LORA_WEIGHTS = Input(
    description="A LoRA to apply instead of a built-in style: a Hugging Face repo (owner/name means a Hugging "
    "Face repo here, not a Replicate model; or owner/name/file.safetensors, or a huggingface.co link), a civitai "
    "model link, any .safetensors URL, or the .tar URL a Replicate LoRA trainer outputs. kohya/FluxGym, ComfyUI, "
    "diffusers, XLabs and BFL-named files load; a text-encoder part is left out and the logs say so. Downloaded "
    "once, then cached.",
    default="",
    max_length=LORA_REFERENCE_MAX_CHARS,
)
LORA_SCALE = Input(description="Strength of the LoRA or style (-1 to 3).", default=1.0, ge=-1, le=3)
EXTRA_LORA = Input(
    description="A second LoRA applied together with the first (same forms as lora_weights).",
    default="",
    max_length=LORA_REFERENCE_MAX_CHARS,
)
EXTRA_LORA_SCALE = Input(description="Strength of the extra LoRA (-1 to 3).", default=1.0, ge=-1, le=3)
HF_API_TOKEN = Input(
    description="Hugging Face token for private or gated LoRAs (else HF_TOKEN on the server). Never logged.",
    default=None,
)
CIVITAI_API_TOKEN = Input(
    description="civitai token for LoRAs that need one (else CIVITAI_API_TOKEN on the server). Never logged.",
    default=None,
)
DISABLE_SAFETY_CHECKER = Input(
    description="Return images without running the safety checker on them.", default=False
)
IMAGE_TO_TRANSFORM = Input(description="The image to transform (PNG, JPEG, WebP, ...); resized to the output size.")
PROMPT_STRENGTH = Input(
    description="How much to change the input image (0-1]: 1 ignores it, small values keep it.",
    default=0.8,
    ge=0.01,
    le=1.0,
)
IMG2IMG_ASPECT_RATIO = Input(
    description="Aspect ratio of the output. match_input_image keeps the input's ratio at about 1 megapixel "
    "(sides multiples of 16, longest side at most 1440); 'custom' uses width and height.",
    choices=["match_input_image", *ASPECT_RATIOS, "custom"],
    default="match_input_image",
)

CANONICAL = {
    "prompt": PROMPT,
    "seed": SEED,
    "system_prompt": SYSTEM_PROMPT,
    "max_new_tokens": MAX_NEW_TOKENS,
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "top_k": TOP_K,
    "stop_sequences": STOP_SEQUENCES,
    "aspect_ratio": ASPECT_RATIO,
    "width": WIDTH,
    "height": HEIGHT,
    "num_outputs": NUM_OUTPUTS,
    "num_inference_steps": NUM_INFERENCE_STEPS,
    "guidance": GUIDANCE,
    "output_format": OUTPUT_FORMAT,
    "output_quality": OUTPUT_QUALITY,
    "style": STYLE,
    "lora_weights": LORA_WEIGHTS,
    "lora_scale": LORA_SCALE,
    "extra_lora": EXTRA_LORA,
    "extra_lora_scale": EXTRA_LORA_SCALE,
    "hf_api_token": HF_API_TOKEN,
    "civitai_api_token": CIVITAI_API_TOKEN,
    "disable_safety_checker": DISABLE_SAFETY_CHECKER,
    "prompt_strength": PROMPT_STRENGTH,
}
# Inputs whose definition differs by deployment on purpose.
DEPLOYMENT_VARIANTS = {
    ("flux-dev-img2img", "aspect_ratio"): IMG2IMG_ASPECT_RATIO,
    ("flux-dev-img2img", "image"): IMAGE_TO_TRANSFORM,
}
# What a deployment may choose for its model (its README says why): a recommended default, a tighter maximum,
# for system_prompt a description that says how its model's template uses it, and for the prompts the length
# its model reads (PROMPT_MAX_CHARS).
TUNABLE = {
    "prompt": ("max_length",),
    "max_new_tokens": ("default", "le"),
    "temperature": ("default",),
    "top_p": ("default",),
    "top_k": ("default",),
    "system_prompt": ("description", "max_length"),
}


def canonical(deployment: str, name: str):
    """The canonical `Input` for a deployment's input, or None for an input only that deployment has."""
    return DEPLOYMENT_VARIANTS.get((deployment, name), CANONICAL.get(name))


def require_text(name: str, value: str) -> str:
    """Reject a blank string with an error that names the field (the schema already rejects "")."""
    if not value or not value.strip():
        raise ValueError(f"{name}: must contain text, got an empty or blank string")
    return value
