"""The output type: what a return annotation resolves to.

Follows replicate/cog 6110c912:
    pkg/schema/schema_type.go  239-263  resolveSchemaType (BaseModel outputs are not emulated)
                               281-330  resolveSimpleSchemaType
                               344-432  resolveGenericSchemaType, resolveUnionSchemaType
    pkg/schema/types.go        760-789  opaqueContainerName
"""

import ast

from .annotations import TypeAnn
from .imports import is_annotated, split_qualified
from .input_types import PRIMITIVES, unresolvable
from .source import Module
from .values import StaticSchemaError


def container_name(name: str, imports: dict) -> str | None:
    """opaqueContainerName: List / Optional / Union from typing, or the builtin list."""
    resolved, entry, qualified = split_qualified(name, imports)
    if qualified:
        if entry and entry[0] in ("typing", "typing_extensions") and entry[1] == entry[0] and (
            resolved in ("List", "Optional", "Union")
        ):
            return resolved
        return None
    entry = imports.get(name)
    if entry is not None:
        if entry == ("builtins", "list"):
            return "list"
        if entry[0] in ("typing", "typing_extensions") and entry[1] in ("List", "Optional", "Union"):
            return entry[1]
        return None
    return "list" if name == "list" else None


def resolve_output_type(module: Module, ann: TypeAnn) -> dict:
    """resolveSchemaType for a return annotation (BaseModel outputs are not emulated)."""
    imports = module.imports
    if ann.kind == "generic" and is_annotated(ann.name, imports):
        return resolve_output_type(module, ann.args[0])
    if ann.kind == "union" or (ann.kind == "generic" and split_qualified(ann.name, imports)[0] == "Union"):
        members = ann.args
        if len(members) == 2 and any(m.kind == "simple" and m.name == "None" for m in members):
            raise StaticSchemaError("unsupported output type: Optional is not allowed as a return type")
        raise StaticSchemaError("unsupported type: union types are not supported as output")
    if ann.kind == "simple":
        name, entry, qualified = split_qualified(ann.name, imports)
        if any(isinstance(s, ast.ClassDef) and s.name == ann.name for s in module.tree.body):
            raise StaticSchemaError(f"not emulated: output model class {ann.name}")
        if name in ("Any", "dict", "Dict"):
            return {"type": "object"}
        if container_name(ann.name, imports) in ("list", "List"):
            return {"type": "array", "items": {"type": "object"}}
        if name not in PRIMITIVES:
            if (qualified and entry) or imports.get(name):
                raise unresolvable(name, imports, entry)
            raise StaticSchemaError(
                f"cannot resolve type '{name}' - it is not a primitive type (str, int, float, bool, Path) "
                "and no BaseModel definition was found in the predict file"
            )
        return dict(PRIMITIVES[name])
    outer = split_qualified(ann.name, imports)[0]
    if outer in ("dict", "Dict"):
        if len(ann.args) != 2:
            raise StaticSchemaError("unsupported type: dict expects 0 or 2 type arguments")
        return {"type": "object", "additionalProperties": resolve_output_type(module, ann.args[1])}
    if outer == "Optional":
        raise StaticSchemaError("unsupported output type: Optional is not allowed as a return type")
    if container_name(ann.name, imports) in ("list", "List"):
        if len(ann.args) != 1:
            raise StaticSchemaError("unsupported type: list expects exactly 1 type argument")
        return {"type": "array", "items": resolve_output_type(module, ann.args[0])}
    if outer in ("Iterator", "AsyncIterator"):
        if len(ann.args) != 1:
            raise StaticSchemaError("unsupported type: Iterator expects exactly 1 type argument")
        return {"type": "array", "items": resolve_output_type(module, ann.args[0]), "x-cog-array-type": "iterator"}
    if outer in ("ConcatenateIterator", "AsyncConcatenateIterator"):
        if len(ann.args) != 1:
            raise StaticSchemaError("unsupported type: ConcatenateIterator expects exactly 1 type argument")
        inner = ann.args[0]
        if inner.kind != "simple":
            raise StaticSchemaError("unsupported type: ConcatenateIterator element type must be a simple type")
        if inner.name != "str":
            raise StaticSchemaError(f"ConcatenateIterator element type must be str, got {inner.name}")
        return {
            "type": "array", "items": {"type": "string"},
            "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate",
        }
    raise StaticSchemaError(f"unsupported type: {outer}[...] is not a supported output type")
