"""Emulate the static schema step of `cog build` / `cog push` / `cog run` on a deployment, with `ast` only.

Since SDK 0.17 the Cog CLI derives the OpenAPI schema by parsing predict.py with tree-sitter before it
builds anything, and stops the build on what it cannot resolve. The runtime inspector behind
scripts/openapi_schema.py imports the predictor instead and accepts far more, so a deployment can pass
every local test and still fail at the first step of `make build-<name>`. This package applies the CLI's
rules to the source text, reports what would stop or silently change the build, and lays the derived
inputs out as Cog's OpenAPI schema so they can be compared with the committed openapi.json.

    python -m scripts.cog_schema                          # every deployment with a cog.yaml
    python -m scripts.cog_schema deployments/smollm3 ...

Source followed: replicate/cog at 6110c912377d4ded0f57165d305821a14a9a4418 (`git describe`:
v0.22.0-5-g6110c912, 2026-08-21), the newest snapshot of the repository readable here. The deployments pin
SDK 0.23.1; rules that changed after that commit are not covered. The modules, lowest layer first, each
named after what it follows (its docstring gives the Go files and lines):

    values        types.go DefaultValue; Go's strconv as literals.go calls it
    source        the source as tree-sitter sees it (nodes.go, tree-sitter-python's node types)
    imports       imports.go CollectImports; types.go ImportContext
    literals      literals.go
    module_scope  module_scope.go
    inputs        inputs.go: Input(...) calls and the input registry
    annotations   annotations.go: type annotations, @streaming, @concurrent, async
    input_types   types.go resolveInputType; openapi_spec.go inputTypeJSONSchema
    outputs       schema_type.go resolveSchemaType
    result        types.go InputField, PredictorInfo
    target        target.go; inputs.go extractInputs; types.go ValidateInputField
    parser        parser.go ParseWithOptions, ParseMetadataWithOptions; generator.go; openapi/generate.go;
                  build.go configWithDecoratorConcurrency (the COG_MAX_CONCURRENCY the image gets)
    openapi       openapi_spec.go buildInputSchema, and the comparison with a committed openapi.json
    __main__      the CLI (pkg/image/build.go resolveBuildSchema)

Findings come in three kinds:
    error    the build stops here (Cog prints only the first one; all are listed)
    dropped  Cog leaves something out without a word (a bound, a description, a default, an argument)
    altered  Cog keeps a value that differs from the one Python sees: its string parsing takes the source text
             between the outer quotes, so escapes stay unprocessed and implicitly concatenated strings keep the
             quotes and whitespace between their parts

Not emulated, reported as errors that say so: BaseModel / TypedDict / Opaque types, run() inherited from a
class in another file, a `concurrency:` key in cog.yaml. Not checked at all: code tree-sitter-python would parse
differently from CPython (its error recovery), and the Python-version floor for concurrency > 1 (build.go 530-539;
3.11, config.go 34).

@concurrent follows `cog build`'s order: its metadata pass (build.go 128) reads the decorator and async-ness right
after finding the target, so its errors come before the inputs' and the output's.

Inferred from tree-sitter-python's grammar rather than read in Go: comments are `extras`, named children of
whatever node surrounds them, so Cog's parseListLiteral fails on a commented `choices=[...]` list and
resolveInputReference counts a comment among a call's positional arguments; this package follows that reading.
Where Cog stops at its first error, this package goes on and lists every one, in the order Cog meets them.
"""

from .openapi import comparable_inputs, compare_with_committed, openapi_components
from .parser import analyze_deployment, analyze_source, baked_concurrency
from .result import DerivedInput, Finding, StaticSchema
from .values import ALTERED, DROPPED, ERROR, StaticSchemaError, go_parse_float

__all__ = [
    "ALTERED", "DROPPED", "ERROR", "DerivedInput", "Finding", "StaticSchema", "StaticSchemaError",
    "analyze_deployment", "analyze_source", "baked_concurrency", "comparable_inputs", "compare_with_committed",
    "go_parse_float", "openapi_components",
]
