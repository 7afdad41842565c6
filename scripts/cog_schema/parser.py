"""The static step from cog.yaml to a StaticSchema, phase by phase in Cog's order.

Follows replicate/cog 6110c912:
    pkg/schema/openapi/generate.go   17-27   GenerateSchema: cog.yaml `run:` / `predict:` reference
    pkg/schema/generator.go          51-73   GenerateInfo;  216-222  parsePredictRef: "file.py:Name"
    pkg/schema/python/parser.go      79-300  ParseWithOptions and its phases: parse, imports, module scope,
                                             input registry, target, inputs, output (models are not emulated)
                                     44-77   ParseMetadataWithOptions: @concurrent and async, right after the target
    pkg/image/build.go              120-161  Build: that metadata pass (128) before the schema (140), then
                                             configWithDecoratorConcurrency (158; 492-505)
"""

import ast
import re
from pathlib import Path

from .annotations import concurrency_max, concurrent_decorator, is_async, is_streaming, parse_type_annotation
from .imports import collect_imports
from .inputs import collect_input_registry
from .module_scope import collect_module_scope
from .outputs import resolve_output_type
from .result import Finding, StaticSchema
from .source import Module
from .target import extract_inputs, find_run_method
from .values import ERROR, StaticSchemaError


def parse_module(text: str) -> Module:
    """ParseWithOptions' phases up to the input registry, each reading what the one before it collected."""
    module = Module(text)
    module.imports = collect_imports(module.tree)
    module.scope = collect_module_scope(module)
    module.registry = collect_input_registry(module)
    return module


def analyze_source(text: str, target: str) -> StaticSchema:
    """Run Cog's static schema step on predictor source `text` for the class or function `target`."""
    result = StaticSchema(target)
    try:
        module = parse_module(text)
        function = find_run_method(module, target)
    except SyntaxError as error:
        result.findings.append(Finding(ERROR, f"not emulated: Python syntax error: {error}", error.lineno or 0))
        return result
    except StaticSchemaError as error:
        result.findings.append(Finding(ERROR, str(error)))
        return result
    result.method = function.name
    check_concurrency(module, function, result)
    extract_inputs(module, function, result)
    try:
        if function.returns is None:
            # Go's message is the bare method name (WrapError(ErrMissingReturnType, name)); spelled out here.
            raise StaticSchemaError(f"{function.name}: missing return type annotation")
        output = resolve_output_type(module, parse_type_annotation(module, function.returns))
        result.output = {"title": "Output", **output}
        result.streaming = is_streaming(module, function)
        if result.streaming and result.output.get("x-cog-array-type") != "iterator":
            raise StaticSchemaError(
                "@streaming requires Iterator[...], AsyncIterator[...], ConcatenateIterator[...] or "
                "AsyncConcatenateIterator[...] return type"
            )
    except StaticSchemaError as error:
        result.findings.append(Finding(ERROR, str(error), function.lineno))
    result.findings = list(dict.fromkeys(result.findings))  # one note per parameter, however often it arose
    return result


ASYNC_REQUIRED = "@concurrent(max > 1) requires an async run() or predict() method"


def check_concurrency(module: Module, function: ast.FunctionDef | ast.AsyncFunctionDef, result: StaticSchema) -> None:
    """ParseMetadataWithOptions (parser.go 63-70): is_async, concurrency_max, and the rule that max > 1 needs an
    async method. `cog build` runs this pass first (build.go 128, generatePredictorMetadata), before the schema, so
    its errors come before any input or output error; the schema pass repeats the same checks after the output
    (parser.go 254, 278-284). build.go 499-500 has the rule a third time, worded "@cog.concurrent(max > 1) ...",
    but the parser has stopped the build before it, so the message `cog build` prints is the parser's."""
    result.is_async = is_async(function)
    decorator = concurrent_decorator(module, function)
    if decorator is None:
        return
    try:
        result.concurrency_max = concurrency_max(module, decorator)
    except StaticSchemaError as error:
        result.findings.append(Finding(ERROR, str(error), decorator.lineno))
        return
    if result.concurrency_max > 1 and not result.is_async:
        result.findings.append(Finding(ERROR, ASYNC_REQUIRED, function.lineno))


def baked_concurrency(schema: StaticSchema) -> int:
    """The COG_MAX_CONCURRENCY the built image runs with, cog.yaml having no `concurrency:` (analyze_deployment
    reports one as not emulated).

    build.go 492-505 configWithDecoratorConcurrency copies the decorator's max into the config, and the build bakes
    it as `ENV COG_MAX_CONCURRENCY=N` (dockerfile/standard_generator.go 379-381; build.go 622-624 for a custom
    Dockerfile), 1 for a bare @concurrent. Without a decorator nothing is baked and the runtime reads 1
    (crates/coglet-python/src/lib.rs 189-200). A schema with errors builds no image."""
    if schema.errors:
        raise StaticSchemaError(f"no image: `cog build` stops at: {schema.errors[0].message}")
    return schema.concurrency_max or 1


def config_declares_concurrency(deployment: Path) -> bool:
    """A top-level `concurrency:` key in cog.yaml, read without a YAML library."""
    return any(re.match(r"^concurrency\s*:", line) for line in (deployment / "cog.yaml").read_text().splitlines())


def predictor_ref(deployment: Path) -> str:
    """cog.yaml's top-level `run:` (or the older `predict:`) value, read without a YAML library."""
    found = {}
    for line in (deployment / "cog.yaml").read_text().splitlines():
        match = re.match(r"""^(run|predict):\s*(["']?)([^"'#]*)\2\s*(#.*)?$""", line)
        if match and match.group(3).strip():
            found[match.group(1)] = match.group(3).strip()
    if len(found) != 1:
        raise StaticSchemaError(f"{deployment / 'cog.yaml'}: expected exactly one of run: or predict:, got {found}")
    return next(iter(found.values()))


def analyze_deployment(deployment: Path) -> StaticSchema:
    """parsePredictRef + GenerateInfo for a deployment folder."""
    deployment = Path(deployment)
    try:
        ref = predictor_ref(deployment)
    except StaticSchemaError as error:
        return StaticSchema("", findings=[Finding(ERROR, str(error))])
    file_name, _, target = ref.partition(":")
    if not file_name or not target:
        return StaticSchema(ref, findings=[Finding(ERROR, f"invalid predict reference '{ref}'")])
    source = deployment / file_name
    if not source.is_file():
        return StaticSchema(target, findings=[Finding(ERROR, f"failed to read predictor source {source}")])
    result = analyze_source(source.read_text(), target)
    if config_declares_concurrency(deployment):
        # build.go 493-497: cog.yaml's concurrency.max wins over the decorator and has its own async rule.
        result.findings.append(Finding(ERROR, "not emulated: cog.yaml `concurrency:` (it overrides @concurrent)"))
    return result
