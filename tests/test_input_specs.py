"""Each predictor spells out its inputs (Cog's CLI can only read literal `Input(...)` calls); they must agree with
the canonical definitions in shared/common/inputs.py, except for the fields a deployment may tune."""

import dataclasses
import inspect

import pytest

from scripts.harness.deployment_predictor import deployment_names, predictor_class
from shared.common import inputs
from shared.flux.styles import TRIGGERS
from shared.text.stop_sequences import MAX_STOP_SEQUENCE_CHARS, MAX_STOP_SEQUENCES

NAMES = deployment_names()


def declared_parameters(name: str) -> dict[str, inspect.Parameter]:
    run = predictor_class(name).run
    return {p: param for p, param in inspect.signature(run).parameters.items() if p != "self"}


def declared_inputs(name: str) -> dict:
    return {p: param.default for p, param in declared_parameters(name).items()}


def mismatch(deployment: str, input_name: str, declared) -> tuple[dict, dict] | None:
    """(declared, wanted) where a declaration differs from its canonical definition, else None."""
    spec = inputs.canonical(deployment, input_name)
    want, got = dataclasses.asdict(spec), dataclasses.asdict(declared)
    for field in inputs.TUNABLE.get(input_name, ()):
        want[field] = got[field]
    want["description"] = want["description"].format(**got)
    return None if got == want else (got, want)


@pytest.mark.parametrize("name", NAMES)
def test_shared_inputs_match_their_canonical_definition(name):
    shared = {n: d for n, d in declared_inputs(name).items() if inputs.canonical(name, n) is not None}
    assert len(shared) >= 5, f"{name}: only {len(shared)} inputs are shared ones"
    for input_name, declared in shared.items():
        assert mismatch(name, input_name, declared) is None, f"{name}.{input_name} differs from shared/common/inputs.py"


@pytest.mark.parametrize("name", NAMES)
def test_every_deployment_takes_prompt_and_seed(name):
    declared = declared_inputs(name)
    assert {"prompt", "seed"} <= set(declared)


@pytest.mark.parametrize("name", NAMES)
def test_every_free_text_input_has_a_length_bound(name):
    """An unbounded string is read in full by whatever comes next (a tokenizer, a URL parser) while the only
    slot waits; with `max_length` Cog refuses it first. `Secret`s can't take one (Cog's inspector refuses it):
    the FLUX runner bounds those itself."""
    free_text = [
        p for p, param in declared_parameters(name).items()
        if param.annotation is str and not param.default.choices
    ]
    assert "prompt" in free_text
    unbounded = [p for p in free_text if declared_inputs(name)[p].max_length is None]
    assert unbounded == [], f"{name}: free-text inputs without max_length"


@pytest.mark.parametrize("name", NAMES)
def test_prompts_are_bounded_by_what_their_model_reads(name):
    declared = declared_inputs(name)
    want = inputs.PROMPT_MAX_CHARS[name]
    assert want == inputs.PROMPT_TOKENS[name] * inputs.MAX_CHARS_PER_TOKEN
    for field in ("prompt", "system_prompt"):
        if field in declared:
            assert declared[field].max_length == want, f"{name}.{field}: max_length is not PROMPT_MAX_CHARS"


def test_the_stop_sequences_bound_admits_every_list_the_parser_accepts():
    longest_accepted = MAX_STOP_SEQUENCES * MAX_STOP_SEQUENCE_CHARS + (MAX_STOP_SEQUENCES - 1)
    assert inputs.STOP_SEQUENCES.max_length >= longest_accepted


def test_tunable_fields_are_real_fields():
    fields = {f.name for f in dataclasses.fields(inputs.PROMPT)}
    for name, tunable in inputs.TUNABLE.items():
        assert name in inputs.CANONICAL
        assert set(tunable) <= fields


def test_style_choices_are_the_styles_trigger_words():
    assert inputs.STYLE.choices == ["auto", "none", *TRIGGERS]


def test_drift_is_caught_but_tuning_is_not():
    assert mismatch("smollm3", "top_p", dataclasses.replace(inputs.TOP_P, ge=0.0)) is not None
    assert mismatch("smollm3", "top_p", dataclasses.replace(inputs.TOP_P, default=0.9)) is None
    assert mismatch("smollm3", "seed", dataclasses.replace(inputs.SEED, description="Seed.")) is not None
    tighter = inputs.MAX_NEW_TOKENS.description.format(le=4096)
    longer = dataclasses.replace(inputs.MAX_NEW_TOKENS, le=4096, description=tighter)
    assert mismatch("smollm3", "max_new_tokens", longer) is None
    unfilled = dataclasses.replace(inputs.MAX_NEW_TOKENS, le=4096, description="Maximum number of tokens (1-8192).")
    assert mismatch("smollm3", "max_new_tokens", unfilled) is not None
    unbounded = dataclasses.replace(inputs.LORA_WEIGHTS, max_length=None)
    assert mismatch("flux-dev-txt2img", "lora_weights", unbounded) is not None
