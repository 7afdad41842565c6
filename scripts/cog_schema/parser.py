"""The static step from cog.yaml to a StaticSchema, phase by phase in Cog's order.

Follows replicate/cog 6110c912:
    pkg/schema/openapi/generate.go   17-27   GenerateSchema: cog.yaml `run:` / `predict:` reference
    pkg/schema/generator.go          51-73   GenerateInfo;  216-222  parsePredictRef: "file.py:Name"
    pkg/schema/python/parser.go      79-300  ParseWithOptions and its phases: parse, imports, module scope,
                                             input registry, target, inputs, output (models are not emulated)
"""

import re
from pathlib import Path

from .annotations import is_streaming, parse_type_annotation
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
    return analyze_source(source.read_text(), target)
