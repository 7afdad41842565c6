"""Type annotations as Cog's static parser reads them, and the @streaming decorator.

Follows replicate/cog 6110c912 pkg/schema/python/annotations.go:
     13-128  parseTypeFromString, splitTopLevelPipes, splitTopLevelCommas
    130-231  parseTypeAnnotation
    233-246  functionSupportsStreaming, with its decorator helpers at 340-426
"""

import ast
import re
from dataclasses import dataclass

from .source import Module
from .values import StaticSchemaError


@dataclass(frozen=True)
class TypeAnn:
    kind: str  # simple, generic, union
    name: str = ""
    args: tuple = ()


def parse_type_from_string(text: str) -> TypeAnn | None:
    """parseTypeFromString: forward references and string annotations."""
    text = text.strip()
    if not text:
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return parse_type_from_string(text[1:-1])
    parts = _split_top_level(text, "|")
    if len(parts) > 1:
        members = [parse_type_from_string(p) for p in parts]
        return None if None in members else TypeAnn("union", args=tuple(members))
    if "[" in text and text.endswith("]"):
        bracket = text.index("[")
        args = [parse_type_from_string(p) for p in _split_top_level(text[bracket + 1 : -1], ",")]
        if not args or None in args:
            return None
        return TypeAnn("generic", text[:bracket].strip(), tuple(args))
    if all(part and re.fullmatch(r"[A-Za-z0-9_]+", part) for part in text.split(".")):
        return TypeAnn("simple", text)
    return None


def _split_top_level(text: str, separator: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def parse_type_annotation(module: Module, node: ast.AST) -> TypeAnn:
    """parseTypeAnnotation."""
    if isinstance(node, ast.Name):
        return TypeAnn("simple", node.id)
    if isinstance(node, ast.Subscript):
        elements = node.slice.elts if module.node_kind(node.slice) == "expression_list" else [node.slice]
        args = tuple(parse_type_annotation(module, e) for e in elements)
        return TypeAnn("generic", module.text_of(node.value), args)
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, ast.BitOr):
            raise StaticSchemaError("unsupported type: non-union binary operator in type annotation")
        members: list[TypeAnn] = []
        for side in (node.left, node.right):
            ann = parse_type_annotation(module, side)
            members += ann.args if ann.kind == "union" else [ann]
        return TypeAnn("union", args=tuple(members))
    if isinstance(node, ast.Constant) and node.value is None:
        return TypeAnn("simple", "None")
    if isinstance(node, ast.Attribute):
        return TypeAnn("simple", module.text_of(node))
    text = module.text_of(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = text.strip("\"'")
    ann = parse_type_from_string(text)
    if ann is None:
        raise StaticSchemaError(f"unsupported type: {text}")
    return ann


def is_streaming(module: Module, function: ast.FunctionDef) -> bool:
    """functionSupportsStreaming: @streaming imported from cog (alias too) or @cog.streaming after `import cog`."""
    for decorator in function.decorator_list:
        expression = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = module.text_of(expression)
        if isinstance(expression, ast.Name) and module.imports.get(text, ("", ""))[0] == "cog" and (
            module.imports[text][1] == "streaming"
        ):
            return True
        if isinstance(expression, ast.Attribute) and text.count(".") == 1:
            prefix, attribute = text.split(".")
            if attribute == "streaming" and module.imports.get(prefix) == ("cog", "cog"):
                return True
    return False
