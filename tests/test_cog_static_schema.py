"""Cog's static schema step (scripts/cog_schema/): one rule per test on small predictors, then every
deployment: nothing that stops `cog build`, nothing it drops, and the inputs it derives equal openapi.json."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts.cog_schema import (
    StaticSchemaError,
    analyze_deployment,
    analyze_source,
    baked_concurrency,
    comparable_inputs,
    compare_with_committed,
    go_parse_float,
    openapi_components,
)
from scripts.cog_schema.__main__ import report

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENTS = REPO / "deployments"
NAMES = sorted(p.name for p in DEPLOYMENTS.iterdir() if (p / "cog.yaml").is_file())

HEADER = "from cog import BaseRunner, ConcatenateIterator, Input, Path, Secret, streaming\n"


def predictor(tmp_path: Path, body: str, header: str = HEADER, run_key: str = "run") -> Path:
    """A deployment folder with a cog.yaml and a predict.py of `header` + `body`."""
    (tmp_path / "cog.yaml").write_text(f'build:\n  python_version: "3.11"\n{run_key}: "predict.py:Predictor"\n')
    (tmp_path / "predict.py").write_text(header + textwrap.dedent(body))
    return tmp_path


def run_method(params: str, returns: str = "str", module: str = "", decorator: str = "") -> str:
    """predict.py text: module-level code, then a Predictor whose run() takes `params`."""
    params = textwrap.indent(textwrap.dedent(params).strip(), " " * 8)
    return (
        textwrap.dedent(module)
        + "\n\nclass Predictor(BaseRunner):\n"
        + (f"    {decorator}\n" if decorator else "")
        + f"    def run(\n        self,\n{params}\n    ) -> {returns}:\n        return ''\n"
    )


def analyze(tmp_path: Path, params: str, **kwargs):
    return analyze_deployment(predictor(tmp_path, run_method(params, **kwargs)))


def properties(result) -> dict:
    return openapi_components(result)["Input"]["properties"]


def messages(findings) -> list[str]:
    return [f.message for f in findings]


# --- How each input is derived -----------------------------------------------------------------------------------


def test_direct_input_calls_give_each_input_in_order_with_its_type_default_bounds_and_description(tmp_path):
    result = analyze(tmp_path, """
        prompt: str = Input(description="What to write about.", min_length=1, max_length=500),
        image: Path = Input(description="An image."),
        steps: int = Input(default=28, ge=1, le=50),
        guidance: float = Input(default=3.5, ge=0.0, le=10.0),
        fast: bool = Input(default=False),
    """)
    assert result.findings == []
    props = properties(result)
    assert list(props) == ["prompt", "image", "steps", "guidance", "fast"]
    assert [p["x-order"] for p in props.values()] == [0, 1, 2, 3, 4]
    assert props["prompt"] == {
        "x-order": 0, "title": "Prompt", "type": "string", "description": "What to write about.",
        "minLength": 1, "maxLength": 500,
    }
    assert props["image"]["type"] == "string" and props["image"]["format"] == "uri"
    assert props["steps"] == {"x-order": 2, "title": "Steps", "type": "integer", "default": 28, "minimum": 1,
                                   "maximum": 50}
    assert (props["guidance"]["type"], props["guidance"]["default"]) == ("number", 3.5)
    assert props["fast"]["type"] == "boolean" and props["fast"]["default"] is False
    assert openapi_components(result)["Input"]["required"] == ["prompt", "image"]


def test_input_imported_under_an_alias_is_recognised_but_cog_dot_input_is_not(tmp_path):
    result = analyze(tmp_path, "steps: int = In(default=4, ge=1)", module="from cog import Input as In\n")
    assert result.findings == []
    assert properties(result)["steps"]["minimum"] == 1

    result = analyze(tmp_path, "steps: int = cog.Input(default=4)", module="import cog\n")
    assert messages(result.errors) == [
        "parameter 'steps': default `cog.Input(default=4)` cannot be statically resolved"
    ]


def test_a_same_file_class_attribute_bound_to_input_is_followed(tmp_path):
    module = """
        class Inputs:
            prompt = Input(description="Text prompt.", min_length=1)
            top_k: int = Input(description="Top k.", default=50, ge=0, le=1000)
    """
    result = analyze(tmp_path, "prompt: str = Inputs.prompt,\ntop_k: int = Inputs.top_k", module=module)
    assert result.findings == []
    props = properties(result)
    assert props["prompt"]["minLength"] == 1 and "default" not in props["prompt"]
    assert (props["top_k"]["default"], props["top_k"]["maximum"]) == (50, 1000)


def test_a_same_file_class_method_returning_input_takes_literal_call_site_overrides(tmp_path):
    module = """
        class Inputs:
            @staticmethod
            def temperature(default: float = 0.7, description: str = "unused") -> float:
                return Input(description="Sampling temperature.", default=default, ge=0.0, le=2.0)
    """
    result = analyze(tmp_path, "temperature: float = Inputs.temperature(default=0.6)", module=module)
    assert result.findings == []
    assert properties(result)["temperature"] == {
        "x-order": 0, "title": "Temperature", "type": "number", "description": "Sampling temperature.",
        "default": 0.6, "minimum": 0.0, "maximum": 2.0,
    }

    # Positional call-site arguments bind to the method's parameters in order, as Go binds them.
    result = analyze(tmp_path, "temperature: float = Inputs.temperature(0.9)", module=module)
    assert result.findings == [] and properties(result)["temperature"]["default"] == 0.9


def test_a_method_default_that_only_python_knows_is_dropped_and_the_input_becomes_required(tmp_path):
    module = """
        class Inputs:
            @staticmethod
            def temperature(default: float = 0.7) -> float:
                return Input(description="Sampling temperature.", default=default, ge=0.0, le=2.0)
    """
    result = analyze(tmp_path, "temperature: float = Inputs.temperature()", module=module)
    assert result.errors == []
    assert messages(result.dropped) == [
        "parameter 'temperature': default=`default` is not a literal or same-file constant: Cog uses None"
    ]
    props = properties(result)
    assert "default" not in props["temperature"]
    assert openapi_components(result)["Input"]["required"] == ["temperature"]


def test_call_site_arguments_other_than_default_description_ge_le_are_ignored(tmp_path):
    module = """
        MAX_NEW_TOKENS = 16384

        class Inputs:
            @staticmethod
            def max_new_tokens(default: int, maximum: int) -> int:
                return Input(description="Tokens.", default=default, ge=1, le=maximum)
    """
    result = analyze(
        tmp_path, "max_new_tokens: int = Inputs.max_new_tokens(default=2048, maximum=MAX_NEW_TOKENS)", module=module
    )
    assert result.errors == []
    assert messages(result.dropped) == [
        "parameter 'max_new_tokens': le=`maximum` is not a number literal: Cog drops the bound",
        "parameter 'max_new_tokens': maximum=`MAX_NEW_TOKENS` in Inputs.max_new_tokens(...): "
        "Cog applies only default/description/ge/le at a call site",
    ]
    assert "maximum" not in properties(result)["max_new_tokens"]


def test_a_default_from_another_module_stops_the_build(tmp_path):
    result = analyze(tmp_path, """
        prompt: str = inputs.prompt(),
        seed: int | None = inputs.seed(),
    """, module="from shared import inputs\n")
    assert messages(result.errors) == [
        "parameter 'prompt': default `inputs.prompt()` cannot be statically resolved",
        "parameter 'seed': default `inputs.seed()` cannot be statically resolved",
    ]
    assert "cannot be statically resolved" in result.errors[0].message


def test_plain_defaults_are_literals_or_same_file_constants(tmp_path):
    module = 'DEFAULT_MODE = "think"\nLIMIT = 2**31 - 1\n'
    result = analyze(tmp_path, """
        top_k: int = 50,
        mode: str = DEFAULT_MODE,
        temperature: float = -0.5,
    """, module=module)
    assert result.findings == []
    assert [properties(result)[n]["default"] for n in ("top_k", "mode", "temperature")] == [50, "think", -0.5]

    # LIMIT is an expression, not a literal: Cog never records it as a constant.
    result = analyze(tmp_path, "seed: int = LIMIT", module=module)
    assert messages(result.errors) == ["parameter 'seed': default `LIMIT` cannot be statically resolved"]


def test_a_bound_that_is_not_a_number_literal_is_silently_dropped(tmp_path):
    module = "MAX_NEW_TOKENS = 16384\n"
    result = analyze(tmp_path, """
        max_new_tokens: int = Input(default=2048, ge=1, le=MAX_NEW_TOKENS),
        seed: int = Input(default=0, ge=0, le=2**31 - 1),
        steps: int = Input(default=4, ge=1, le=1_000),
        size: int = Input(default=64, ge=0x10),
    """, module=module)
    assert result.errors == []
    assert messages(result.dropped) == [
        "parameter 'max_new_tokens': le=`MAX_NEW_TOKENS` is not a number literal: Cog drops the bound",
        "parameter 'seed': le=`2**31 - 1` is not a number literal: Cog drops the bound",
        "parameter 'size': ge=`0x10` is not a number literal: Cog drops the bound",  # Go's ParseFloat: no hex ints
    ]
    props = properties(result)
    assert "maximum" not in props["max_new_tokens"] and "maximum" not in props["seed"]
    assert props["steps"]["maximum"] == 1000


def test_a_description_or_default_that_is_not_a_literal_is_dropped(tmp_path):
    module = 'MAX = 8\nHELP = "From a constant."\n\ndef pick():\n    return 3\n'
    result = analyze(tmp_path, """
        a: int = Input(description=f"Between 1 and {MAX}.", default=pick()),
        b: int = Input(description=HELP, default=MAX),
    """, module=module)
    assert result.errors == []
    assert messages(result.dropped) == [
        "parameter 'a': description=`f\"Between 1 and {MAX}.\"` is not a string literal or same-file constant: "
        "Cog drops it",
        "parameter 'a': default=`pick()` is not a literal or same-file constant: Cog uses None",
    ]
    props = properties(result)
    assert "description" not in props["a"] and "default" not in props["a"]
    assert (props["b"]["description"], props["b"]["default"]) == ("From a constant.", 8)


def test_cog_reads_strings_as_the_text_between_their_outer_quotes(tmp_path):
    result = analyze(tmp_path, r'''
        a: str = Input(description="one " "two"),
        b: str = Input(description="tab\there"),
        c: str = Input(description=("in parentheses")),
        d: str = Input(description="plain, on one line"),
    ''')
    assert result.errors == []
    props = properties(result)
    assert props["a"]["description"] == 'one " "two'
    assert props["b"]["description"] == "tab\\there"
    assert "description" not in props["c"]
    assert props["d"]["description"] == "plain, on one line"
    assert [f.param for f in result.altered] == ["a", "b"]
    assert [f.param for f in result.dropped] == ["c"]


@pytest.mark.parametrize("expression", [
    '["a", "b", "custom"]',
    'CHOICES + ["custom"]',
    'list(SIZES.keys()) + ["custom"]',
])
def test_choices_resolve_from_literals_constants_and_dict_keys(tmp_path, expression):
    module = 'CHOICES = ["a", "b"]\nSIZES = {"a": (1, 2), "b": (3, 4)}\n'
    result = analyze(tmp_path, f'size: str = Input(default="a", choices={expression})', module=module)
    assert result.findings == []
    components = openapi_components(result)
    assert components["Input"]["properties"]["size"]["allOf"] == [{"$ref": "#/components/schemas/size"}]
    assert components["size"]["enum"] == ["a", "b", "custom"] and components["size"]["type"] == "string"


def test_choices_from_dict_values(tmp_path):
    module = 'STEPS = {"a": 1, "b": 2}'
    result = analyze(tmp_path, "n: int = Input(default=1, choices=list(STEPS.values()))", module=module)
    assert result.findings == [] and openapi_components(result)["n"] == {
        "title": "n", "description": "An enumeration.", "enum": [1, 2], "type": "integer"
    }


@pytest.mark.parametrize("expression", ["sorted(STYLES)", "[*STYLES, 'none']", "list(STYLES)", "styles()"])
def test_choices_cog_cannot_resolve_stop_the_build(tmp_path, expression):
    module = 'STYLES = {"anime": 1}\n\ndef styles():\n    return ["anime"]\n'
    result = analyze(tmp_path, f'style: str = Input(default="anime", choices={expression})', module=module)
    assert messages(result.errors) == ["parameter 'style': choices expression cannot be statically resolved"]


def test_a_comment_inside_a_choices_list_stops_the_build(tmp_path):
    # tree-sitter keeps comments as children of the list, and Cog's parseListLiteral rejects any child that is
    # not a literal.
    result = analyze(tmp_path, """
        fmt: str = Input(default="webp", choices=[
            "webp",  # smallest
            "png",
        ]),
    """)
    assert messages(result.errors) == ["parameter 'fmt': choices expression cannot be statically resolved"]


def test_default_factory_stops_the_build(tmp_path):
    result = analyze(tmp_path, "tags: list[str] = Input(default_factory=list)")
    assert messages(result.errors) == [
        "parameter 'tags': default_factory is not supported in static schema generation"
    ]


def test_an_optional_seed_is_nullable_and_not_required(tmp_path):
    result = analyze(tmp_path, """
        prompt: str,
        seed: int | None = Input(description="Seed.", default=None, ge=0, le=2147483647),
        other: Optional[int] = Input(default=None),
        bare: int | None = None,
    """, module="from typing import Optional\n")
    assert result.findings == []
    components = openapi_components(result)
    assert components["Input"]["properties"]["seed"] == {
        "x-order": 1, "title": "Seed", "type": "integer", "nullable": True, "default": None,
        "description": "Seed.", "minimum": 0, "maximum": 2147483647,
    }
    assert components["Input"]["properties"]["other"]["nullable"] is True
    assert components["Input"]["properties"]["bare"]["nullable"] is True
    assert components["Input"]["required"] == ["prompt"]


def test_a_none_default_on_a_plain_int_makes_it_required_not_nullable(tmp_path):
    result = analyze(tmp_path, "seed: int = Input(default=None)")
    components = openapi_components(result)
    assert "nullable" not in components["Input"]["properties"]["seed"]
    assert components["Input"]["required"] == ["seed"]


def test_secret_and_optional_path_inputs(tmp_path):
    result = analyze(tmp_path, """
        token: Secret = Input(description="API token.", default=None),
        key: Secret = Input(description="Required key."),
        image: Path | None = Input(description="Optional image.", default=None),
        images: list[Path] = Input(description="Images."),
    """)
    assert result.findings == []
    components = openapi_components(result)
    props = components["Input"]["properties"]
    secret = {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
    assert props["token"].items() >= (secret | {"nullable": True, "default": None}).items()
    assert props["key"].items() >= secret.items() and "nullable" not in props["key"]
    assert props["image"].items() >= {"type": "string", "format": "uri", "nullable": True}.items()
    assert props["images"]["items"] == {"type": "string", "format": "uri"}
    assert components["Input"]["required"] == ["key", "images"]


def test_an_untyped_parameter_with_a_default_stops_the_build(tmp_path):
    result = analyze(tmp_path, "steps=4")
    assert messages(result.errors) == ["parameter 'steps' on run has no type annotation"]


def test_an_unsupported_input_type_stops_the_build(tmp_path):
    result = analyze(tmp_path, "size: tuple[int, int] = Input(default=(1, 1))")
    assert messages(result.errors) == ["unsupported type: tuple[...] is not a supported input type"]


@pytest.mark.parametrize(("returns", "decorator", "expected"), [
    ("ConcatenateIterator[str]", "@streaming", {
        "type": "array", "items": {"type": "string"},
        "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate",
    }),
    ("list[Path]", "", {"type": "array", "items": {"type": "string", "format": "uri"}}),
    ("str", "", {"type": "string"}),
])
def test_outputs(tmp_path, returns, decorator, expected):
    result = analyze(tmp_path, "prompt: str", returns=returns, decorator=decorator)
    assert result.findings == []
    assert result.output == {"title": "Output", **expected}
    assert result.streaming == bool(decorator)


@pytest.mark.parametrize(("returns", "decorator", "error"), [
    ("str", "@streaming", "@streaming requires Iterator[...], AsyncIterator[...], ConcatenateIterator[...] or "
                          "AsyncConcatenateIterator[...] return type"),
    ("str | None", "", "unsupported output type: Optional is not allowed as a return type"),
    ("ConcatenateIterator[int]", "", "ConcatenateIterator element type must be str, got int"),
])
def test_outputs_cog_rejects(tmp_path, returns, decorator, error):
    assert messages(analyze(tmp_path, "prompt: str", returns=returns, decorator=decorator).errors) == [error]


def test_the_target_comes_from_cog_yaml_and_run_wins_over_predict(tmp_path):
    body = """
        class Predictor(BaseRunner):
            def predict(self, old: str) -> str:
                return old

            def run(self, new: int) -> str:
                return ""
    """
    result = analyze_deployment(predictor(tmp_path, body, run_key="predict"))
    assert (result.target, result.method, [i.name for i in result.inputs]) == ("Predictor", "run", ["new"])

    result = analyze_deployment(predictor(tmp_path, "class Other(BaseRunner):\n    pass\n"))
    assert messages(result.errors) == ["predictor not found: Predictor"]


def test_go_float_parsing():
    assert [go_parse_float(t) for t in ("1", "-0.5", "1_000", "1e3", " 2 ", "0x1p4", "inf")] == [
        1.0, -0.5, 1000.0, 1000.0, 2.0, 16.0, float("inf")
    ]
    assert [go_parse_float(t) for t in ("0x10", "- 1", "2**31", "1__0", "MAX", "1e999")] == [None] * 6


# --- @concurrent and async run() ------------------------------------------------------------------------------

ASYNC_REQUIRED = "@concurrent(max > 1) requires an async run() or predict() method"
LITERAL_MAX = "@concurrent max must be an integer literal"
KEYWORD_ONLY = "@concurrent only supports literal integer max=... arguments"


def concurrent_source(decorators: str, header: str = "from cog import BaseRunner, concurrent\n", asynchronous=True,
                      returns: str = "str", params: str = "prompt: str", module: str = "") -> str:
    """predict.py text whose Predictor.run() carries `decorators` (one per line)."""
    lines = "".join(f"    {d}\n" for d in textwrap.dedent(decorators).strip().splitlines())
    prefix = "async " if asynchronous else ""
    return (
        header + textwrap.dedent(module) + "\n\nclass Predictor(BaseRunner):\n" + lines
        + f"    {prefix}def run(self, {params}) -> {returns}:\n        return ''\n"
    )


@pytest.mark.parametrize(("header", "decorator"), [
    ("from cog import BaseRunner, concurrent\n", "@concurrent(max=4)"),
    ("import cog\nfrom cog import BaseRunner\n", "@cog.concurrent(max=4)"),
    ("import cog as c\nfrom cog import BaseRunner\n", "@c.concurrent(max=4)"),
    ("from cog import BaseRunner\nfrom cog import concurrent as slots\n", "@slots(max=4)"),
    ("from cog import BaseRunner, concurrent\n", "@concurrent(max=0x4)"),
])
def test_cogs_concurrent_decorator_sets_the_max_and_the_image_gets_it(header, decorator):
    result = analyze_source(concurrent_source(decorator, header), "Predictor")
    assert result.findings == []
    assert (result.concurrency_max, result.is_async, baked_concurrency(result)) == (4, True, 4)


@pytest.mark.parametrize("decorator", [
    "@concurrent", "@concurrent()", "@concurrent(  )", "@concurrent(x for x in [])",
])
def test_a_concurrent_decorator_without_max_means_one_and_allows_a_sync_run(decorator):
    result = analyze_source(concurrent_source(decorator, asynchronous=False), "Predictor")
    assert result.findings == []
    assert (result.concurrency_max, result.is_async, baked_concurrency(result)) == (1, False, 1)


@pytest.mark.parametrize("asynchronous", [True, False])
def test_without_the_decorator_nothing_is_set_and_the_image_runs_one_at_a_time(asynchronous):
    result = analyze_source(concurrent_source("", asynchronous=asynchronous), "Predictor")
    assert result.findings == []
    assert (result.concurrency_max, result.is_async, baked_concurrency(result)) == (None, asynchronous, 1)


@pytest.mark.parametrize(("arguments", "error"), [
    ("max=MAX_CONCURRENCY", LITERAL_MAX),
    ('max="4"', LITERAL_MAX),
    ("max=4.0", LITERAL_MAX),
    ("max=True", LITERAL_MAX),
    ("max=(4)", LITERAL_MAX),
    ("max=2 * 2", LITERAL_MAX),
    ("max=99999999999999999999", LITERAL_MAX),  # beyond int64: strconv.ParseInt fails
    ("4", KEYWORD_ONLY),
    ("limit=4", KEYWORD_ONLY),
    ("max=4, extra=1", KEYWORD_ONLY),
    ("**options", KEYWORD_ONLY),
    ("max=4  # a comment is one more child of the argument list\n    ", KEYWORD_ONLY),
    ("max=0", "@concurrent max must be at least 1"),
    ("max=-2", "@concurrent max must be at least 1"),
])
def test_a_max_cog_cannot_read_as_an_integer_literal_stops_the_build(arguments, error):
    source = concurrent_source(f"@concurrent({arguments})", module="MAX_CONCURRENCY = 4\noptions = {}\n")
    result = analyze_source(source, "Predictor")
    assert messages(result.errors) == [error]
    assert result.concurrency_max is None
    with pytest.raises(StaticSchemaError, match="no image"):
        baked_concurrency(result)


def test_max_above_one_on_a_sync_run_stops_the_build_and_comes_before_input_errors():
    source = concurrent_source("@concurrent(max=4)", asynchronous=False, params="size: tuple[int, int]")
    result = analyze_source(source, "Predictor")
    # `cog build` reads the decorator in its metadata pass (build.go 128), before the schema's inputs.
    assert messages(result.errors) == [ASYNC_REQUIRED, "unsupported type: tuple[...] is not a supported input type"]
    assert (result.concurrency_max, result.is_async) == (4, False)
    with pytest.raises(StaticSchemaError, match="requires an async"):
        baked_concurrency(result)
    fine = analyze_source(concurrent_source("@concurrent(max=1)", asynchronous=False), "Predictor")
    assert fine.findings == [] and baked_concurrency(fine) == 1


@pytest.mark.parametrize(("header", "decorator"), [
    ("from other import concurrent\nfrom cog import BaseRunner\n", "@concurrent(max=4)"),
    ("from cog import BaseRunner, concurrent\nfrom other import concurrent\n", "@concurrent(max=4)"),  # last wins
    ("from cog import BaseRunner, concurrent as slots\n", "@concurrent(max=4)"),  # only the alias is bound
    ("from cog import BaseRunner\n\ndef concurrent(max):\n    return lambda f: f\n", "@concurrent(max=4)"),
    ("from cog import BaseRunner\nimport cog.x\n", "@cog.x.concurrent(max=4)"),
    ("from cog import BaseRunner\nfrom cog import concurrent\n", "@(concurrent)(max=4)"),
    ("from cog import BaseRunner, concurrent\n", "@concurrent(max=4)(None)"),
])
def test_a_decorator_that_is_not_cogs_concurrent_is_ignored(header, decorator):
    # A sync run: with cog's decorator this would stop the build, so no error shows it was not taken for cog's.
    result = analyze_source(concurrent_source(decorator, header, asynchronous=False), "Predictor")
    assert result.findings == []
    assert (result.concurrency_max, baked_concurrency(result)) == (None, 1)


def test_the_topmost_cog_concurrent_decorator_is_the_one_read():
    header = "import cog\nfrom cog import BaseRunner, concurrent\n"
    result = analyze_source(concurrent_source("@concurrent(max=2)\n@cog.concurrent(max=8)", header), "Predictor")
    assert result.concurrency_max == 2
    result = analyze_source(concurrent_source("@concurrent(max=MAX)\n@cog.concurrent(max=8)", header), "Predictor")
    assert messages(result.errors) == [LITERAL_MAX]


CONCATENATE = {
    "type": "array", "items": {"type": "string"},
    "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate",
}
ITERATOR = {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"}


@pytest.mark.parametrize(("imports", "returns", "expected"), [
    ("from cog import AsyncConcatenateIterator\n", "AsyncConcatenateIterator[str]", CONCATENATE),
    ("from typing import AsyncIterator\n", "AsyncIterator[str]", ITERATOR),
    ("from collections.abc import AsyncIterator\n", "AsyncIterator[str]", ITERATOR),
    ("import typing\n", "typing.AsyncIterator[str]", ITERATOR),
])
def test_an_async_streaming_run_with_concurrency_resolves_as_an_iterator(imports, returns, expected):
    header = "from cog import BaseRunner, concurrent, streaming\n" + imports
    result = analyze_source(concurrent_source("@concurrent(max=32)\n@streaming", header, returns=returns), "Predictor")
    assert result.findings == []
    assert result.output == {"title": "Output", **expected}
    assert (result.streaming, result.concurrency_max, result.is_async) == (True, 32, True)


def test_async_concatenate_iterator_of_int_is_rejected_like_the_sync_one():
    header = "from cog import AsyncConcatenateIterator, BaseRunner, concurrent\n"
    result = analyze_source(concurrent_source("", header, returns="AsyncConcatenateIterator[int]"), "Predictor")
    assert messages(result.errors) == ["ConcatenateIterator element type must be str, got int"]


def test_the_cli_prints_the_baked_concurrency_only_where_a_decorator_is_present(tmp_path):
    def cli_report(name: str, decorator: str, asynchronous: bool = True) -> tuple[list[str], int]:
        (tmp_path / name).mkdir()
        source = concurrent_source(decorator, asynchronous=asynchronous)
        text, problems = report(predictor(tmp_path / name, "", header=source))
        return text.splitlines(), problems

    lines, problems = cli_report("decorated", "@concurrent(max=4)")
    assert "  concurrency: @concurrent max=4 on async run(): ENV COG_MAX_CONCURRENCY=4" in lines and problems == 0
    lines, problems = cli_report("plain", "")
    assert not any("concurrency" in line for line in lines) and problems == 0
    lines, problems = cli_report("sync", "@concurrent(max=4)", asynchronous=False)
    assert "  concurrency: @concurrent max=4 on sync run(): not built" in lines and problems == 1


def test_a_concurrency_key_in_cog_yaml_is_reported_as_not_emulated(tmp_path):
    deployment = predictor(tmp_path, "", header=concurrent_source("@concurrent(max=4)"))
    (deployment / "cog.yaml").write_text((deployment / "cog.yaml").read_text() + "concurrency:\n  max: 2\n")
    result = analyze_deployment(deployment)
    assert messages(result.errors) == ["not emulated: cog.yaml `concurrency:` (it overrides @concurrent)"]


# --- Comparing with the committed schema --------------------------------------------------------------------------


def test_comparison_reads_both_layouts_and_reports_each_field_that_differs(tmp_path):
    result = analyze(tmp_path, """
        mode: str = Input(description="Mode.", default="a", choices=["a", "b"]),
        seed: int | None = Input(description="Seed.", default=None, ge=0),
    """)
    runtime_layout = {"components": {"schemas": {
        "Input": {"title": "Input", "type": "object", "properties": {
            "mode": {"title": "Mode", "x-order": 0, "type": "string", "description": "Mode.", "enum": ["a", "b"],
                     "default": "a"},
            "seed": {"title": "Seed", "x-order": 1, "type": "integer", "description": "Seed.", "minimum": 0,
                     "nullable": True},
        }},
        "Output": {"title": "Output", "type": "string"},
    }}}
    assert compare_with_committed(result, runtime_layout) == []
    assert comparable_inputs(openapi_components(result)) == comparable_inputs(runtime_layout["components"]["schemas"])

    changed = json.loads(json.dumps(runtime_layout))
    inputs = changed["components"]["schemas"]["Input"]["properties"]
    inputs["seed"]["maximum"] = 10
    inputs["mode"]["enum"] = ["a", "b", "c"]
    inputs["mode"]["default"] = True
    assert compare_with_committed(result, changed) == [
        'mode.default: static "a", committed true',
        'mode.enum: static ["a", "b"], committed ["a", "b", "c"]',
        "seed.maximum: static (absent), committed 10",
    ]


RUNTIME_CHECKED = '''
class Predictor(BaseRunner):
    @streaming
    def run(
        self,
        prompt: str = Input(description="Text prompt for the model.", min_length=1),
        mode: str = Input(description="Reasoning mode.", choices=["think", "no_think"], default="think"),
        max_new_tokens: int = Input(description="Tokens to generate.", default=2048, ge=1, le=16384),
        temperature: float = Input(description="Sampling temperature.", default=0.6, ge=0.0, le=2.0),
        seed: int | None = Input(description="Random seed.", default=None, ge=0, le=2147483647),
        image: Path | None = Input(description="Optional image.", default=None),
        token: Secret = Input(description="API token.", default=None),
        key: Secret = Input(description="Required key."),
    ) -> ConcatenateIterator[str]:
        yield prompt
'''


def test_the_static_schema_equals_what_the_runtime_inspector_writes_for_literal_inputs(tmp_path):
    """The same predictor through scripts/openapi_schema.py (Cog's runtime inspector, what the local server and
    the committed openapi.json use) and through the static emulation: the two schemas agree field by field."""
    deployment = predictor(tmp_path, RUNTIME_CHECKED)
    runtime = json.loads(subprocess.run(
        [sys.executable, "-m", "scripts.openapi_schema", str(deployment)],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout)
    result = analyze_deployment(deployment)
    assert result.findings == []
    assert compare_with_committed(result, runtime) == []
    # cog build makes a Secret declared default=None optional; the runtime path must agree (it did not).
    assert runtime["components"]["schemas"]["Input"]["required"] == ["prompt", "key"]


# --- Every deployment ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_deployment_passes_cogs_static_schema_step(name):
    result = analyze_deployment(DEPLOYMENTS / name)
    assert [str(f) for f in result.errors] == [], f"`cog build` of {name} would stop at the first of these"
    assert [str(f) for f in result.dropped + result.altered] == [], f"`cog build` of {name} would lose or change these"
    committed = json.loads((DEPLOYMENTS / name / "openapi.json").read_text())
    assert compare_with_committed(result, committed) == [], (
        f"the schema `cog build` derives for {name} differs from its committed openapi.json"
    )
