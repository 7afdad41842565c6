"""Literals as Cog's static parser reads them: by tree-sitter node type, from the source text.

Follows replicate/cog 6110c912 pkg/schema/python/literals.go:
     12-77   parseDefaultValue          111-126  parseBoolLiteral
     79-100  parseStringLiteral         128-141  parseListLiteral
    102-109  parseNumberLiteral         143-164  parseDictLiteral
                                        166-179  parseSetLiteral
"""

import ast

from .source import Module, excerpt
from .values import ALTERED, DROPPED, MISSING, GoValue, go_parse_float, go_parse_int, go_string_literal


def string_value(module: Module, node: ast.AST) -> GoValue | None:
    """parseStringLiteral applied to a node's source text, with a note when Python reads the literal differently."""
    text = module.text_of(node)
    value = go_string_literal(text)
    if value is None:
        return None
    python_value = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else MISSING
    notes = ()
    if python_value is MISSING or python_value != value:
        shown = "not a literal" if python_value is MISSING else repr(python_value)
        notes = ((ALTERED, f"string {excerpt(text)}: Cog reads {value!r}, Python {shown}"),)
    return GoValue("str", value, notes)


def parse_default_value(module: Module, node: ast.AST) -> GoValue | None:
    """parseDefaultValue: literals only, by tree-sitter node type."""
    kind = module.node_kind(node)
    if kind == "none":
        return GoValue("none")
    if kind in ("true", "false"):
        return GoValue("bool", kind == "true")
    if kind == "integer":
        value = go_parse_int(module.text_of(node))
        return None if value is None else GoValue("int", value)
    if kind == "float":
        value = go_parse_float(module.text_of(node))
        return None if value is None else GoValue("float", value)
    if kind == "string":
        return string_value(module, node)
    if kind in ("list", "set"):
        items = parse_items(module, node, node.elts)
        return None if items is None else GoValue(kind, tuple(items))
    if kind == "dictionary":
        return parse_dict_literal(module, node)
    if kind == "unary_operator":
        text = module.text_of(node).strip()
        if (number := go_parse_int(text)) is not None:
            return GoValue("int", number)
        if (number := go_parse_float(text)) is not None:
            return GoValue("float", number)
        return None
    if kind == "tuple":
        # Unparseable items are skipped, not fatal.
        items, notes = [], []
        for element in node.elts:
            value = parse_default_value(module, element)
            if value is None:
                notes.append((DROPPED, f"tuple item {excerpt(module.text_of(element))} is not a literal: Cog skips it"))
            else:
                items.append(value)
        return GoValue("list", tuple(items), tuple(notes))
    return None


def parse_items(module: Module, node: ast.AST, elements: list[ast.AST]) -> list[GoValue] | None:
    """parseListLiteral / parseSetLiteral: every named child must be a literal; a comment is a child too."""
    start, end = module.src.span(node)
    if module.src.comments_between(start, end, elements):
        return None
    items = []
    for element in elements:
        value = parse_default_value(module, element)
        if value is None:
            return None
        items.append(value)
    return items


def parse_list_literal(module: Module, node: ast.AST) -> list[GoValue] | None:
    if module.node_kind(node) != "list":
        return None
    return parse_items(module, node, node.elts)


def parse_dict_literal(module: Module, node: ast.Dict) -> GoValue:
    """parseDictLiteral: pairs whose key or value is not a literal are skipped, not fatal."""
    pairs, notes = [], []
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:
            notes.append((DROPPED, f"dict entry **{excerpt(module.text_of(value))}: Cog skips it"))
            continue
        parsed_key, parsed_value = parse_default_value(module, key), parse_default_value(module, value)
        if parsed_key is None or parsed_value is None:
            notes.append((DROPPED, f"dict entry {excerpt(module.text_of(key))}: ... is not a literal: Cog skips it"))
            continue
        pairs.append((parsed_key, parsed_value))
    return GoValue("dict", tuple(pairs), tuple(notes))


def parse_number_literal(module: Module, node: ast.AST) -> float | None:
    """parseNumberLiteral: strconv.ParseFloat of the node's source text, whatever the node is."""
    if module.is_parenthesized(node):
        return None
    return go_parse_float(module.text_of(node))


def parse_string_literal(module: Module, node: ast.AST) -> GoValue | None:
    if module.is_parenthesized(node):
        return None
    return string_value(module, node)


def parse_bool_literal(module: Module, node: ast.AST) -> bool | None:
    kind = module.node_kind(node)
    if kind in ("true", "false"):
        return kind == "true"
    return {"True": True, "False": False}.get(module.text_of(node))
