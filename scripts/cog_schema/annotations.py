"""Type annotations as Cog's static parser reads them, and the @streaming and @concurrent decorators.

Follows replicate/cog 6110c912 pkg/schema/python/annotations.go:
     13-128  parseTypeFromString, splitTopLevelPipes, splitTopLevelCommas
    130-231  parseTypeAnnotation
    233-246  functionSupportsStreaming, with its decorator helpers at 340-426
    247-261  functionIsAsync
    263-324  functionConcurrencyMax, decoratorCogConcurrentMax; 388-397, 408-415, 422-425 the name rules
"""

import ast
import re
from dataclasses import dataclass

from .literals import parse_default_value
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


Function = ast.FunctionDef | ast.AsyncFunctionDef


def is_streaming(module: Module, function: Function) -> bool:
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


def is_async(function: Function) -> bool:
    """functionIsAsync (247-261): tree-sitter's function_definition with a leading `async` token."""
    return isinstance(function, ast.AsyncFunctionDef)


def concurrent_decorator(module: Module, function: Function) -> ast.expr | None:
    """The first decorator, top down, that functionConcurrencyMax (263-282) takes for cog's @concurrent.

    expressionIsCogConcurrent (388-397) looks only at an identifier or an attribute, or at the function of a
    decorator call: `concurrent` / an alias of it imported from cog (identifierIsCogConcurrent, 422-425), or
    `X.concurrent` where X is `import cog` / `import cog as X` (attributeIsCogConcurrent, 408-415: Go cuts the text
    at its first ".", so `a.cog.concurrent` does not count). A `concurrent` from any other module, or defined in
    the file, is not cog's and is ignored, as is anything parenthesized."""
    for decorator in function.decorator_list:
        expression = decorator.func if isinstance(decorator, ast.Call) else decorator
        kind, text = module.node_kind(expression), module.text_of(expression)
        if kind == "identifier" and module.imports.get(text) == ("cog", "concurrent"):
            return decorator
        if kind == "attribute":
            prefix, _, attribute = text.partition(".")
            if attribute == "concurrent" and module.imports.get(prefix) == ("cog", "cog"):
                return decorator
    return None


def concurrency_max(module: Module, decorator: ast.expr) -> int:
    """decoratorCogConcurrentMax (284-324) for a decorator concurrent_decorator found.

    Bare `@concurrent`, `@concurrent()` and a call whose arguments are a bare generator (tree-sitter gives the call
    no argument_list) mean 1. Otherwise the argument list must hold exactly one named child, `max=` with a value
    parseDefaultValue reads as an int (a literal, `-1` included; no constant, no parentheses, no bool); a comment
    in the list counts as a child, as it does for Input() calls."""
    if not isinstance(decorator, ast.Call):
        return 1
    arguments = decorator.args
    if len(arguments) == 1 and isinstance(arguments[0], ast.GeneratorExp) and not decorator.keywords:
        if module.src.span(arguments[0])[0] == module.call_paren(decorator):
            return 1
    children = module.argument_children(decorator)
    if not children:
        return 1
    argument = children[0]
    if len(children) != 1 or not isinstance(argument, ast.keyword) or argument.arg != "max":
        raise StaticSchemaError("@concurrent only supports literal integer max=... arguments")
    value = parse_default_value(module, argument.value)
    if value is None or value.kind != "int":
        raise StaticSchemaError("@concurrent max must be an integer literal")
    if value.value < 1:
        raise StaticSchemaError("@concurrent max must be at least 1")
    # Go's `> math.MaxInt` check (318-321) cannot fire on 64 bits: strconv.ParseInt already refused larger ones.
    return value.value
