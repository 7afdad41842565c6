"""One definition of each input the deployments share: name, description, range, default.

Predictors declare `prompt: str = inputs.prompt()` and so on. A deployment may pick its model's
recommended default and a tighter maximum, but never a different meaning; the committed OpenAPI
schemas (tests/test_openapi_snapshots.py) catch any drift.
"""

from cog import Input

from shared.flux_sizes import ASPECT_RATIOS

MAX_SEED = 2**31 - 1


def prompt(description: str = "Text prompt for the model.") -> str:
    return Input(description=description, min_length=1)


def system_prompt(default: str = "", description: str | None = None) -> str:
    return Input(
        description=description or "System prompt that sets the assistant's behaviour. Empty uses the model's own.",
        default=default,
    )


def max_new_tokens(default: int, maximum: int) -> int:
    return Input(
        description=f"Maximum number of tokens to generate (1-{maximum}); the prompt and the answer must also "
        "fit the model's context window.",
        default=default,
        ge=1,
        le=maximum,
    )


def temperature(default: float) -> float:
    return Input(
        description="Sampling temperature (0-2). 0 picks the most likely token every step (greedy, deterministic).",
        default=default,
        ge=0.0,
        le=2.0,
    )


def top_p(default: float = 0.95) -> float:
    return Input(
        description="Nucleus sampling (0.01-1): sample only from the smallest set of tokens whose probabilities "
        "add up to top_p. 1 disables it.",
        default=default,
        ge=0.01,
        le=1.0,
    )


def top_k(default: int = 50) -> int:
    return Input(
        description="Sample only from the top_k most likely tokens (0-1000). 0 disables it.",
        default=default,
        ge=0,
        le=1000,
    )


def seed() -> int:
    return Input(
        description=f"Random seed (0-{MAX_SEED}) for reproducible outputs. Leave empty for a random seed; "
        "the seed used is printed in the logs.",
        default=None,
        ge=0,
        le=MAX_SEED,
    )


# Image generation (FLUX). Names follow Replicate's FLUX models, so existing clients keep working.

MIN_SIDE, MAX_SIDE = 64, 2048


def aspect_ratio() -> str:
    return Input(
        description="Aspect ratio of the image (about 1 megapixel). 'custom' uses width and height.",
        choices=[*ASPECT_RATIOS, "custom"],
        default="1:1",
    )


def side(name: str) -> int:
    return Input(
        description=f"Image {name} in pixels ({MIN_SIDE}-{MAX_SIDE}, rounded down to a multiple of 16); "
        "used only when aspect_ratio is 'custom'.",
        default=1024,
        ge=MIN_SIDE,
        le=MAX_SIDE,
    )


def num_outputs() -> int:
    return Input(description="Number of images (1-4); image i uses seed + i.", default=1, ge=1, le=4)


def num_inference_steps(default: int = 28) -> int:
    return Input(description="Denoising steps (1-50). More is slower and finer.", default=default, ge=1, le=50)


def guidance(default: float = 3.5) -> float:
    return Input(description="Guidance (0-10): how closely the image follows the prompt.", default=default, ge=0, le=10)


def output_format() -> str:
    return Input(description="Image file format.", choices=["webp", "jpg", "png"], default="webp")


def output_quality() -> int:
    return Input(
        description="Quality (0-100) for webp and jpg; png is lossless and ignores it.", default=90, ge=0, le=100
    )


def lora_weights() -> str:
    return Input(
        description="A LoRA to apply instead of a built-in style: a Hugging Face repo (owner/name or "
        "owner/name/file.safetensors), a .safetensors URL, or a local path. Downloaded once, then cached.",
        default="",
    )


def lora_scale() -> float:
    return Input(description="Strength of the LoRA or style (0-2).", default=1.0, ge=0, le=2)


def prompt_strength() -> float:
    return Input(
        description="How much to change the input image (0-1]: 1 ignores it, small values keep it.",
        default=0.8,
        ge=0.01,
        le=1.0,
    )


def style() -> str:
    from shared.styles import TRIGGERS

    return Input(
        description="A built-in style LoRA. auto: picked from a trigger word in the prompt. none: the base model. "
        "A trigger word picks its style and is added to the prompt if missing.",
        choices=["auto", "none", *TRIGGERS],
        default="auto",
    )
