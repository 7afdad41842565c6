"""Input types: what an annotation resolves to, and the JSON schema Cog writes for it.

Follows replicate/cog 6110c912:
    pkg/schema/types.go         32-52   PrimitiveType.JSONType
                                86-143  Repetition, FieldType, InputType, InputTypeKind
                               503-595  resolveInputType (Opaque and TypedDict are not emulated)
                               596-654  resolveInputUnion, validateUnionVariant
                               671-694  fieldTypeFromInputType
    pkg/schema/openapi_spec.go 273-311  inputTypeJSONSchema
"""

from dataclasses import dataclass

from .annotations import TypeAnn
from .imports import is_annotated, split_qualified
from .values import StaticSchemaError

PRIMITIVES = {
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "int": {"type": "integer"},
    "str": {"type": "string"},
    "Path": {"type": "string", "format": "uri"},
    "File": {"type": "string", "format": "uri"},
    "Secret": {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True},
    "Any": {"type": "object"},
}


def unresolvable(name: str, imports: dict, entry: tuple | None = None) -> StaticSchemaError:
    entry = entry or imports.get(name)
    if entry is not None and entry[0]:
        return StaticSchemaError(
            f"cannot resolve type '{name}' (imported from '{entry[0]}') - external types cannot be statically analyzed"
        )
    return StaticSchemaError(f"unsupported type: {name}")


@dataclass(frozen=True)
class InputType:
    """InputType: primitive / any / array / union, and whether None is allowed."""

    kind: str
    primitive: str = ""
    elem: "InputType | None" = None
    variants: tuple = ()
    nullable: bool = False

    def json_schema(self) -> dict:
        """inputTypeJSONSchema."""
        if self.kind == "primitive":
            schema = dict(PRIMITIVES[self.primitive])
        elif self.kind == "array":
            schema = {"type": "array", "items": self.elem.json_schema() if self.elem else {"type": "object"}}
        elif self.kind == "union":
            variants = [v.json_schema() | ({"nullable": True} if self.nullable else {}) for v in self.variants]
            schema = {"anyOf": variants}
        else:
            schema = {"type": "object"}
        if self.nullable:
            schema["nullable"] = True
        return schema

    def field_primitive(self) -> str:
        """fieldTypeFromInputType's primitive: what the enum component's type and the Secret rule look at."""
        if self.kind == "primitive":
            return self.primitive
        if self.kind == "array" and self.elem is not None and self.elem.kind == "primitive":
            return self.elem.primitive
        return "Any"

    def repetition(self) -> str:
        if self.kind == "array":
            return "optional_repeated" if self.nullable else "repeated"
        return "optional" if self.nullable else "required"


def resolve_input_type(ann: TypeAnn, imports: dict) -> InputType:
    """resolveInputType (Opaque and TypedDict are not emulated)."""
    if ann.kind == "generic" and is_annotated(ann.name, imports) and len(ann.args) >= 2:
        for meta in ann.args[1:]:
            if meta.kind == "simple" and split_qualified(meta.name, imports)[0] == "Opaque":
                raise StaticSchemaError("not emulated: Annotated[..., Opaque] inputs")
    if ann.kind == "simple":
        name, entry, _ = split_qualified(ann.name, imports)
        if name in ("dict", "Dict"):
            return InputType("any")
        if name not in PRIMITIVES:
            raise unresolvable(name, imports, entry)
        return InputType("any") if name == "Any" else InputType("primitive", name)
    if ann.kind == "generic":
        outer = split_qualified(ann.name, imports)[0]
        if outer in ("dict", "Dict"):
            return InputType("any")
        if outer == "Optional":
            if len(ann.args) != 1:
                raise StaticSchemaError(
                    f"unsupported type: Optional expects exactly 1 type argument, got {len(ann.args)}"
                )
            inner = resolve_input_type(ann.args[0], imports)
            return InputType(inner.kind, inner.primitive, inner.elem, inner.variants, True)
        if outer == "Union":
            return resolve_input_union(ann.args, imports)
        if is_annotated(ann.name, imports):
            return resolve_input_type(ann.args[0], imports)
        if outer in ("List", "list"):
            if len(ann.args) != 1:
                raise StaticSchemaError(f"unsupported type: List expects exactly 1 type argument, got {len(ann.args)}")
            inner = resolve_input_type(ann.args[0], imports)
            if inner.nullable or inner.kind in ("array", "union"):
                raise StaticSchemaError("unsupported type: nested generics like List[Optional[X]] are not supported")
            return InputType("array", elem=inner)
        raise StaticSchemaError(f"unsupported type: {outer}[...] is not a supported input type")
    return resolve_input_union(ann.args, imports)


def resolve_input_union(args: tuple, imports: dict) -> InputType:
    """resolveInputUnion: `X | None` is X made nullable; more than one non-None member is a union input."""
    variants, nullable = [], False
    for arg in args:
        if arg.kind == "simple" and arg.name == "None":
            nullable = True
            continue
        if arg.kind == "union" or (arg.kind == "generic" and arg.name == "Union"):
            raise StaticSchemaError("unsupported type: nested union inputs are not supported")
        variant = resolve_input_type(arg, imports)
        if variant.kind == "union":
            raise StaticSchemaError("unsupported type: nested union inputs are not supported")
        variants.append(variant)
    if not variants:
        raise StaticSchemaError("unsupported type: union inputs must include at least one non-None type")
    if len(variants) == 1:
        only = variants[0]
        return InputType(only.kind, only.primitive, only.elem, only.variants, only.nullable or nullable)
    for variant in variants:
        check_union_variant(variant)
    return InputType("union", variants=tuple(variants), nullable=nullable)


def check_union_variant(variant: InputType) -> None:
    if variant.nullable:
        raise StaticSchemaError("unsupported type: nested nullable variants are not supported in union inputs")
    if variant.kind == "primitive" and variant.primitive in ("Path", "File", "Secret"):
        raise StaticSchemaError(f"unsupported type: {variant.primitive} is not supported in union inputs")
    if variant.kind == "array" and variant.elem is not None:
        check_union_variant(variant.elem)
