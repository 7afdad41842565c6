"""A bounded fuzz of each deployment's committed input schema through the real Cog server: whatever a client
sends, the answer is never a 5xx and the server is READY for the next request.

Inputs are drawn from the committed openapi.json's input schema, with the expensive knobs capped so every
request finishes quickly on a CPU with a tiny model (the ranges above the caps are the same code path), file
inputs drawn from a fixed set of good and bad references that never leave the loopback, and a share of
requests that break the schema on purpose. Examples are derandomized, so CI sees the same requests every run.
"""

import base64
import copy
import io
import json
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from scripts.harness.cog_server import DEPLOYMENTS, CogServer

EXAMPLES_PER_DEPLOYMENT = 12
# Upper bounds that keep one request well under a second or two on CPU with a tiny model.
CAPS = {"max_new_tokens": 4, "num_inference_steps": 2, "num_outputs": 2, "width": 128, "height": 128}
CHEAP_CHOICES = {"aspect_ratio": ["custom"]}


def png_data_uri(size=(48, 32)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


FILE_REFERENCES = [
    png_data_uri(),
    "data:image/png;base64,bm90IGFuIGltYWdl",  # "not an image"
    "data:,",
    "not a uri",
    "/etc/passwd",
    "file:///etc/passwd",
    "http://127.0.0.1:9/unreachable.png",  # a closed loopback port: fails at once, never leaves the machine
]


def input_schema(name: str) -> dict[str, dict]:
    """The committed Input properties with their enum references inlined."""
    document = json.loads((DEPLOYMENTS / name / "openapi.json").read_text())
    components = document["components"]["schemas"]
    properties = copy.deepcopy(components["Input"]["properties"])
    for spec in properties.values():
        for ref in spec.pop("allOf", []):
            spec.update(components[ref["$ref"].rsplit("/", 1)[1]])
    return properties


def values_for(field: str, spec: dict) -> st.SearchStrategy:
    """Values the schema allows for one input, with the expensive ones capped."""
    if spec.get("format") == "uri":
        values = st.sampled_from(FILE_REFERENCES)
    elif "enum" in spec:
        cheap = [v for v in spec["enum"] if v in CHEAP_CHOICES.get(field, spec["enum"])]
        values = st.sampled_from(cheap or spec["enum"][:1])
    elif spec.get("type") in ("integer", "number"):
        low, high = spec.get("minimum"), min(spec.get("maximum", 10**9), CAPS.get(field, 10**9))
        if spec["type"] == "integer":
            values = st.integers(low, high)
        else:
            values = st.floats(low, high, allow_nan=False, allow_infinity=False)
    elif spec.get("type") == "boolean":
        values = st.booleans()
    else:
        values = st.text(min_size=spec.get("minLength", 0), max_size=40)
    return st.one_of(values, st.none()) if spec.get("nullable") else values


def requests_for(name: str) -> st.SearchStrategy:
    properties = input_schema(name)
    required = _required(properties)
    # The capped fields are always sent: left out, their defaults (1024x1024, 28 steps) would be the slow path.
    required |= (set(CAPS) | set(CHEAP_CHOICES)) & set(properties)
    valid = st.fixed_dictionaries(
        {field: values_for(field, properties[field]) for field in required},
        optional={field: values_for(field, spec) for field, spec in properties.items() if field not in required},
    )
    # Break one field: a value of the wrong type or out of range, or a field the schema doesn't have.
    wrong = st.one_of(
        st.none(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20), st.lists(st.integers(), max_size=2),
    )
    broken = st.tuples(valid, st.sampled_from([*sorted(properties), "no_such_input"]), wrong).map(
        lambda case: {**case[0], case[1]: case[2]}
    )
    return st.one_of(valid, valid, broken)


def tiny_model_env(name: str, request) -> dict[str, str]:
    base = {"DEVICE": "cpu", "COMPILE": "0", "HF_TOKEN": "hf_fuzz_token_never_logged"}
    if name.startswith("flux"):
        return {**base, **request.getfixturevalue("flux_env")}
    fixture, variable = {
        "smollm3": ("tiny_smollm3", "SMOLLM3_MODEL_DIR"),
        "gemma3": ("tiny_gemma3", "GEMMA3_MODEL_DIR"),
        "phi4-reasoning": ("tiny_phi4", "PHI4_MODEL_DIR"),
    }[name]
    return {**base, variable: str(request.getfixturevalue(fixture)), "MAX_CONTEXT_TOKENS": "1024"}


NAMES = sorted(p.parent.name for p in DEPLOYMENTS.glob("*/cog.yaml"))


@pytest.fixture(scope="module", params=NAMES)
def server(request):
    """One server per deployment, shared by this module's tests (pytest groups them by deployment)."""
    with CogServer(request.param, tiny_model_env(request.param, request)) as running:
        yield running


def test_no_input_gets_a_server_error(server):
    answered = []

    @settings(
        max_examples=EXAMPLES_PER_DEPLOYMENT, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests_for(server.deployment.name))
    def one_request(inputs):
        response = server.post(inputs, timeout=120)
        assert response.status_code < 500, f"{inputs} -> {response.status_code} {response.text[:500]}"
        body = response.json()
        if response.status_code == 200:
            assert body["status"] in ("succeeded", "failed"), body
        answered.append(response.status_code)
        server.wait_until_ready(timeout=60)

    one_request()
    assert requests.get(f"{server.url}/health-check", timeout=10).json()["status"] == "READY"
    assert "hf_fuzz_token_never_logged" not in server.log_tail(chars=10**7)
    assert len(answered) >= EXAMPLES_PER_DEPLOYMENT // 2


# Cog's 422 arrives before any of our code runs: a few seconds is a generous bound for refusing megabytes
# on a loaded CPU, and far below what reading them would cost (a tokenizer took >90 s for 8 MB).
PROMPT_REFUSAL_SECONDS = 5


def test_every_length_bound_is_enforced_by_cog_before_our_code(server):
    """Each string input one character past its committed maxLength gets a 422 that names it, at once; the
    next request is answered as usual."""
    properties = input_schema(server.deployment.name)
    bounded = {field: spec["maxLength"] for field, spec in properties.items() if "maxLength" in spec}
    assert "prompt" in bounded
    cheap = cheap_request(properties)
    for field, limit in bounded.items():
        started = time.monotonic()
        response = server.post({**cheap, field: "x" * (limit + 1)})
        elapsed = time.monotonic() - started
        assert response.status_code == 422, f"{field}: {response.status_code} {response.text[:300]}"
        assert ["body", "input", field] in [error["loc"] for error in response.json()["detail"]]
        assert elapsed < PROMPT_REFUSAL_SECONDS, f"{field}: the 422 took {elapsed:.1f} s"
    assert server.predict(**cheap)["status"] == "succeeded"


def _required(properties: dict[str, dict]) -> set[str]:
    return {field for field, spec in properties.items() if "default" not in spec and not spec.get("nullable")}


def cheap_request(properties: dict[str, dict]) -> dict:
    """The required inputs (a prompt, img2img's image) and the expensive knobs at their minimum."""
    inputs = {field: png_data_uri() if properties[field].get("format") == "uri" else "a lighthouse"
              for field in _required(properties)}
    inputs |= {field: properties[field]["minimum"] for field in CAPS if field in properties}
    return inputs | {field: choices[0] for field, choices in CHEAP_CHOICES.items() if field in properties}
