"""Same-file module constants, and the expressions that may name them.

Follows replicate/cog 6110c912 pkg/schema/python/module_scope.go:
     11-47   collectModuleScope          78-126  resolveChoicesExpr
     49-62   resolveStringExpr          128-175  resolveChoicesCall
     64-76   resolveDefaultExpr
"""

import ast

from .literals import parse_default_value, parse_list_literal, parse_string_literal
from .source import Module
from .values import GoValue


def assignment_parts(stmt: ast.stmt) -> tuple[str, ast.AST] | None:
    """A single-name assignment (annotated or not) as tree-sitter's `assignment` node with an identifier left."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and stmt.simple and stmt.value is not None:
        return stmt.target.id, stmt.value
    return None


def collect_module_scope(module: Module) -> dict[str, GoValue]:
    """collectModuleScope: top-level NAME = <literal>; later assignments win, non-literals are skipped."""
    scope: dict[str, GoValue] = {}
    for stmt in module.tree.body:
        parts = assignment_parts(stmt)
        if parts and (value := parse_default_value(module, parts[1])) is not None:
            scope[parts[0]] = value
    return scope


def resolve_default_expr(module: Module, node: ast.AST) -> GoValue | None:
    """resolveDefaultExpr: a literal, or a same-file module constant bound to one."""
    value = parse_default_value(module, node)
    if value is None and module.node_kind(node) == "identifier":
        value = module.scope.get(node.id)
    return value


def resolve_string_expr(module: Module, node: ast.AST) -> GoValue | None:
    """resolveStringExpr: a string literal, or a same-file module constant bound to a string."""
    value = parse_string_literal(module, node)
    if value is None and module.node_kind(node) == "identifier":
        constant = module.scope.get(node.id)
        value = constant if constant is not None and constant.kind == "str" else None
    return value


def resolve_choices_expr(module: Module, node: ast.AST) -> tuple[list[GoValue], tuple] | None:
    """resolveChoicesExpr: a literal list, a same-file list constant, list(CONST.keys()/.values()), or `+` of
    those. Returns the items and what Cog lost building the constant they came from."""
    kind = module.node_kind(node)
    if kind == "list":
        items = parse_list_literal(module, node)
        return None if items is None else (items, ())
    if kind == "identifier":
        constant = module.scope.get(node.id)
        if constant is None or constant.kind != "list":
            return None
        return list(constant.value), constant.notes
    if kind == "call":
        return resolve_choices_call(module, node)
    if kind == "binary_operator" and isinstance(node.op, ast.Add):
        left, right = resolve_choices_expr(module, node.left), resolve_choices_expr(module, node.right)
        return None if left is None or right is None else (left[0] + right[0], left[1] + right[1])
    return None


def resolve_choices_call(module: Module, call: ast.Call) -> tuple[list[GoValue], tuple] | None:
    """resolveChoicesCall: list(CONST.keys()) or list(CONST.values()) of a same-file dict constant."""
    if module.text_of(call.func) != "list" or module.is_parenthesized(call.func):
        return None
    children = module.argument_children(call)
    inner = children[0] if children else None
    if not isinstance(inner, ast.Call) or module.node_kind(inner) != "call":
        return None
    method = inner.func
    if module.node_kind(method) != "attribute" or module.node_kind(method.value) != "identifier":
        return None
    constant = module.scope.get(method.value.id)
    if constant is None or constant.kind != "dict" or method.attr not in ("keys", "values"):
        return None
    index = 0 if method.attr == "keys" else 1
    return [pair[index] for pair in constant.value], constant.notes
