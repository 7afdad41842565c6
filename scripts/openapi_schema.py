"""Generate a deployment's OpenAPI schema from its predictor, the way `cog build` does.

The Cog server validates inputs only when `.cog/openapi_schema.json` exists, and `cog build` writes that
file inside the image. Here Cog's own inspector reads the predictor's signature and this script lays it
out as Cog's schema, so the local server validates exactly what the container validates.

    python -m scripts.openapi_schema deployments/smollm3            # print
    python -m scripts.openapi_schema deployments/smollm3 --write    # update openapi.json and .cog/
"""

import argparse
import ast
import json
import os
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = "openapi.json"
SERVER_SCHEMA = Path(".cog") / "openapi_schema.json"


def predictor_ref(deployment: Path) -> tuple[str, str]:
    config = yaml.safe_load((deployment / "cog.yaml").read_text())
    module_file, class_name = (config.get("run") or config["predict"]).split(":")
    return module_file, class_name


def run_method(source: str, class_name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in ("run", "predict"):
                    return item
    return None


def is_streaming(source: str, class_name: str) -> bool:
    """Cog marks streaming from the `@cog.streaming` decorator, which is a no-op at run time: read the source."""
    method = run_method(source, class_name)
    names = {ast.unparse(d).split("(")[0] for d in method.decorator_list} if method else set()
    return bool(names & {"streaming", "cog.streaming"})


def declared_none_defaults(source: str, class_name: str) -> set[str]:
    """Inputs declared `= None` or `Input(default=None, ...)`. `cog build` makes a bare `Secret` declared so
    optional (replicate/cog pkg/schema/openapi_spec.go buildInputSchema); the runtime inspector can't tell
    that declaration from no default at all, so read the source."""
    method = run_method(source, class_name)
    if method is None:
        return set()
    args = method.args
    positional = [*args.posonlyargs, *args.args]
    declared = [*zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)]
    declared += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]

    def is_none(node: ast.expr) -> bool:
        if isinstance(node, ast.Call):
            node = next((k.value for k in node.keywords if k.arg == "default"), None)
        return isinstance(node, ast.Constant) and node.value is None

    return {arg.arg for arg, default in declared if is_none(default)}


def input_schema(fields, none_defaults: set[str] = frozenset()) -> dict:
    properties, required = {}, []
    for name, field in sorted(fields.items(), key=lambda kv: kv[1].order):
        prop = {"title": name.replace("_", " ").title(), "x-order": field.order, **field.type.json_type()}
        if field.description is not None:
            prop["description"] = field.description
        if field.choices is not None:
            prop["enum"] = list(field.choices)
        for key, value in (
            ("minimum", field.ge),
            ("maximum", field.le),
            ("minLength", field.min_length),
            ("maxLength", field.max_length),
            ("pattern", field.regex),
            ("deprecated", field.deprecated),
        ):
            if value is not None:
                prop[key] = int(value) if isinstance(value, float) and prop["type"] == "integer" else value
        if field.default is not None:
            prop["default"] = field.type.json_encode(field.default)
        elif field.type.repetition.name.startswith("OPTIONAL") or (
            field.type.primitive.name == "SECRET" and name in none_defaults
        ):
            prop["nullable"] = True
        else:
            required.append(name)
        properties[name] = prop
    schema = {"title": "Input", "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def build_schema(deployment: Path) -> dict:
    deployment = deployment.resolve()
    module_file, class_name = predictor_ref(deployment)
    for path in (str(deployment), str(REPO)):
        if path not in sys.path:
            sys.path.insert(0, path)
    from cog import _inspector

    info = _inspector.create_predictor(Path(module_file).stem, class_name)
    source = (deployment / module_file).read_text()
    streaming = is_streaming(source, class_name)
    predict_op = {
        "summary": "Predict",
        "operationId": "predict_predictions_post",
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictionRequest"}}}
        },
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictionResponse"}}},
            },
            "422": {"description": "Validation Error"},
        },
    }
    if streaming:
        predict_op["x-cog-streaming"] = True
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {
            "/predictions": {"post": predict_op},
            "/predictions/{prediction_id}/cancel": {
                "post": {"summary": "Cancel", "operationId": "cancel_predictions__prediction_id__cancel_post"}
            },
            "/health-check": {"get": {"summary": "Healthcheck", "operationId": "healthcheck_health_check_get"}},
        },
        "components": {
            "schemas": {
                "Input": input_schema(info.inputs, declared_none_defaults(source, class_name)),
                "Output": info.output.json_type(),
                "PredictionRequest": {
                    "title": "PredictionRequest",
                    "type": "object",
                    "properties": {
                        "id": {"title": "Id", "type": "string"},
                        "input": {"$ref": "#/components/schemas/Input"},
                        "webhook": {"title": "Webhook", "type": "string", "format": "uri"},
                    },
                },
                "PredictionResponse": {
                    "title": "PredictionResponse",
                    "type": "object",
                    "properties": {
                        "id": {"title": "Id", "type": "string"},
                        "input": {"$ref": "#/components/schemas/Input"},
                        "output": {"$ref": "#/components/schemas/Output"},
                        "status": {
                            "title": "Status",
                            "type": "string",
                            "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
                        },
                        "error": {"title": "Error", "type": "string"},
                        "logs": {"title": "Logs", "type": "string"},
                        "metrics": {"title": "Metrics", "type": "object"},
                    },
                },
            }
        },
    }


def dumps(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment", type=Path)
    parser.add_argument("--write", action="store_true", help="update the committed openapi.json too")
    parser.add_argument("--server-only", action="store_true", help="write only .cog/openapi_schema.json")
    args = parser.parse_args()
    text = dumps(build_schema(args.deployment))
    if not (args.write or args.server_only):
        sys.stdout.write(text)
        return
    server_schema = args.deployment / SERVER_SCHEMA
    server_schema.parent.mkdir(exist_ok=True)
    # Atomically: two test workers may boot servers of one deployment at once, and coglet reads this file.
    partial = server_schema.with_name(f".{server_schema.name}.{os.getpid()}")
    partial.write_text(text)
    os.replace(partial, server_schema)
    if args.write:
        (args.deployment / SNAPSHOT).write_text(text)


if __name__ == "__main__":
    main()
