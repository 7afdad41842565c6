"""Cog's OpenAPI layout of the derived inputs, and their comparison with a committed openapi.json.

Follows replicate/cog 6110c912 pkg/schema/openapi_spec.go 320-467 (buildInputSchema: x-order, allOf/$ref enum
components, nullable, default, required) and pkg/schema/types.go 841-865 (TitleCase).
"""

import json

from .input_types import PRIMITIVES
from .result import StaticSchema
from .values import MISSING


def openapi_components(result: StaticSchema) -> dict:
    """components.schemas as `cog build` writes them: Input, Output, and one enum schema per choices input."""
    properties, required, enums = {}, [], {}
    for item in result.inputs:
        prop: dict = {"x-order": item.order}
        if item.choices:
            json_type = PRIMITIVES.get(item.type.field_primitive(), {}).get("type") or "string"
            enums[item.name] = {
                "title": item.name, "description": "An enumeration.",
                "enum": [c.to_json() for c in item.choices], "type": json_type,
            }
            prop["allOf"] = [{"$ref": f"#/components/schemas/{item.name}"}]
        else:
            prop["title"] = " ".join(part[:1].upper() + part[1:] for part in item.name.split("_"))  # TitleCase
            prop.update(item.type.json_schema())
        repetition = item.type.repetition()
        nullable = repetition in ("optional", "optional_repeated") or item.type.nullable
        # A None default on a bare Secret means "no credential": Cog makes it optional
        # (TestNoneDefaultOnBareSecretIsOptional).
        if item.type.field_primitive() == "Secret" and repetition == "required" and item.default is not None and (
            item.default.kind == "none"
        ):
            nullable = True
        has_default = item.default is not None and not (item.default.kind == "none" and not nullable)
        if not has_default and (item.type.kind == "union" or repetition in ("required", "repeated")):
            required.append(item.name)
        if has_default:
            prop["default"] = item.default.to_json()
        if nullable:
            prop["nullable"] = True
        for key, value in (
            ("description", item.description), ("minimum", item.ge), ("maximum", item.le),
            ("minLength", item.min_length), ("maxLength", item.max_length), ("pattern", item.regex),
        ):
            if value is not None:
                prop[key] = value
        if item.deprecated:
            prop["deprecated"] = True
        if item.accept is not None:
            prop["x-cog-accept"] = item.accept
        properties[item.name] = prop
    input_schema = {"title": "Input", "type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    return {"Input": input_schema, "Output": result.output, **enums}


def comparable_inputs(schemas: dict) -> dict[str, dict]:
    """Each input of a components.schemas mapping as one flat dict, whichever layout wrote it: choices inline
    (`enum`, scripts/openapi_schema.py) or through allOf/$ref (`cog build`); `default: null` (Cog writes it on
    a nullable input declared default=None) equals no default (the runtime inspector's layout): an omitted
    input reaches run() as None either way; the title is left out (Cog omits it on choices inputs)."""
    input_schema = schemas["Input"]
    required = set(input_schema.get("required", []))
    fields = {}
    for name, prop in input_schema["properties"].items():
        flat = {k: v for k, v in prop.items() if k not in ("title", "allOf")}
        for part in prop.get("allOf", []):
            enum = schemas[part["$ref"].rsplit("/", 1)[-1]]
            flat.update(enum=enum["enum"], type=enum.get("type"))
        if "default" in flat and flat["default"] is None:
            del flat["default"]
        flat["nullable"] = bool(flat.get("nullable", False))
        flat["required"] = name in required
        fields[name] = flat
    return fields


def json_equal(a, b) -> bool:
    """JSON equality: 1 == 1.0 (Go writes whole floats without a point), but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def compare_with_committed(result: StaticSchema, committed: dict) -> list[str]:
    """Differences between the statically derived schema and a committed OpenAPI document, field by field."""
    schemas = committed["components"]["schemas"]
    ours, theirs = comparable_inputs(openapi_components(result)), comparable_inputs(schemas)
    ordered = lambda fields: sorted(fields, key=lambda n: fields[n].get("x-order", 0))  # noqa: E731
    differences = []
    if ordered(ours) != ordered(theirs):
        differences.append(f"inputs in order: static {ordered(ours)}, committed {ordered(theirs)}")
    for name in [n for n in ordered(theirs) if n in ours]:
        for key in sorted(ours[name].keys() | theirs[name].keys()):
            mine, committed_value = ours[name].get(key, MISSING), theirs[name].get(key, MISSING)
            if not json_equal(mine, committed_value):
                differences.append(f"{name}.{key}: static {_show(mine)}, committed {_show(committed_value)}")
    output = {k: v for k, v in (result.output or {}).items() if k != "title"}
    committed_output = {k: v for k, v in schemas.get("Output", {}).items() if k != "title"}
    if not json_equal(output, committed_output):
        differences.append(f"Output: static {output}, committed {committed_output}")
    committed_streaming = bool(
        committed.get("paths", {}).get("/predictions", {}).get("post", {}).get("x-cog-streaming", False)
    )
    if result.streaming != committed_streaming:
        differences.append(f"x-cog-streaming: static {result.streaming}, committed {committed_streaming}")
    return differences


def _show(value) -> str:
    return "(absent)" if value is MISSING else json.dumps(value)
