"""One definition of each input the deployments share: name, description, range, default.

Predictors declare `prompt: str = inputs.prompt()` and so on. A deployment may pick its model's
recommended default and a tighter maximum, but never a different meaning; the committed OpenAPI
schemas (tests/test_openapi_snapshots.py) catch any drift.
"""

from cog import Input

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
