"""Input(...) calls and the input registry: `Class.attr = Input(...)` and methods that return one.

Follows replicate/cog 6110c912 pkg/schema/python/inputs.go:
     11-40   inputCallInfo, inputRegistry          173-248  resolveInputReference
     41-158  collectInputRegistry, collectInputAttribute, collectInputMethod
    159-172  findReturnInputCall                   441-458  isInputCall
                                                   459-534  parseInputCall
"""

import ast
from dataclasses import dataclass, field

from .literals import (
    parse_bool_literal,
    parse_default_value,
    parse_list_literal,
    parse_number_literal,
    parse_string_literal,
)
from .module_scope import assignment_parts, resolve_choices_expr, resolve_default_expr, resolve_string_expr
from .source import Module, excerpt
from .values import DROPPED, GoValue, StaticSchemaError


@dataclass
class InputInfo:
    """inputCallInfo: what Cog read from one Input(...) call. `notes`: (kind, keyword, text)."""

    default: GoValue | None = None
    description: GoValue | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: GoValue | None = None
    choices: list[GoValue] | None = None
    deprecated: bool | None = None
    accept: GoValue | None = None
    notes: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class InputRegistry:
    attributes: dict[str, InputInfo] = field(default_factory=dict)
    methods: dict[str, tuple[list[str], InputInfo]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # key -> why Cog left it out of the registry


def is_input_call(module: Module, node: ast.AST) -> bool:
    """isInputCall: a call whose callee text is `Input`, or a name imported as cog's Input (alias included).
    `cog.Input(...)` is not recognised. Go checks the text before the import, so any callee spelled `Input`
    counts, wherever it was imported from; this follows Go."""
    if module.node_kind(node) != "call" or module.is_parenthesized(node.func):
        return False
    name = module.text_of(node.func)
    return name == "Input" or module.imports.get(name) == ("cog", "Input")


def parse_input_call(module: Module, call: ast.Call, param: str) -> InputInfo:
    """parseInputCall: keyword arguments only; raises StaticSchemaError where Cog's build stops."""
    info = InputInfo()

    def drop(keyword: str, text: str) -> None:
        info.notes.append((DROPPED, keyword, text))

    for argument in module.positional_arguments(call):
        if isinstance(argument, ast.AST):  # comments are skipped, as Cog skips them
            drop("", f"argument {excerpt(module.text_of(argument))} to Input(): Cog reads name=value arguments only")
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        key, node, text = keyword.arg, keyword.value, excerpt(module.text_of(keyword.value))
        if key == "default":
            value = resolve_default_expr(module, node)
            if value is None:
                drop(key, f"default={text} is not a literal or same-file constant: Cog uses None")
                value = GoValue("none")
            info.default = value
        elif key == "default_factory":
            raise StaticSchemaError(
                f"parameter '{param}': default_factory is not supported in static schema generation"
            )
        elif key == "description":
            info.description = resolve_string_expr(module, node)
            if info.description is None:
                drop(key, f"description={text} is not a string literal or same-file constant: Cog drops it")
        elif key in ("ge", "le", "min_length", "max_length"):
            number = parse_number_literal(module, node)
            if number is None:
                drop(key, f"{key}={text} is not a number literal: Cog drops the bound")
            elif key in ("ge", "le"):
                setattr(info, key, number)
            else:
                # Go converts with uint64(n): fractions are truncated.
                setattr(info, key, int(number) if number >= 0 else int(number) % 2**64)
        elif key in ("regex", "accept"):
            setattr(info, key, parse_string_literal(module, node))
            if getattr(info, key) is None:
                drop(key, f"{key}={text} is not a string literal: Cog drops it")
        elif key == "choices":
            items = parse_list_literal(module, node)
            resolved = (items, ()) if items is not None else resolve_choices_expr(module, node)
            if resolved is None:
                raise StaticSchemaError(f"parameter '{param}': choices expression cannot be statically resolved")
            info.choices = resolved[0]
            info.notes += [(kind, key, f"choices={text}: {note}") for kind, note in resolved[1]]
        elif key == "deprecated":
            info.deprecated = parse_bool_literal(module, node)
            if info.deprecated is None:
                drop(key, f"deprecated={text} is not True/False: Cog drops it")
        else:
            drop(key, f"unknown Input() keyword {key}=: Cog ignores it")
    return info


def method_parameter_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """collectInputMethod's ParamNames: named parameters in source order, minus self/cls and *args/**kwargs."""
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg not in ("self", "cls")]


def collect_input_registry(module: Module) -> InputRegistry:
    """collectInputRegistry: `Class.attr = Input(...)` and `def Class.method(...): return Input(...)` in top-level
    classes. An Input(...) that fails to parse is left out silently; using it later is a hard error."""
    registry = InputRegistry()
    for cls in (s for s in module.tree.body if isinstance(s, ast.ClassDef)):
        for stmt in cls.body:
            parts = assignment_parts(stmt)
            if parts and is_input_call(module, parts[1]):
                key = f"{cls.name}.{parts[0]}"
                try:
                    registry.attributes[key] = parse_input_call(module, parts[1], key)
                except StaticSchemaError as error:
                    registry.failures[key] = str(error)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                call = first_returned_input_call(module, stmt)
                if call is None:
                    continue
                key = f"{cls.name}.{stmt.name}"
                try:
                    registry.methods[key] = (method_parameter_names(stmt), parse_input_call(module, call, key))
                except StaticSchemaError as error:
                    registry.failures[key] = str(error)
    return registry


def first_returned_input_call(module: Module, function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Call | None:
    """findReturnInputCall: the first `return Input(...)` directly in the body (not inside if/with/try)."""
    for stmt in function.body:
        if isinstance(stmt, ast.Return) and stmt.value is not None and is_input_call(module, stmt.value):
            return stmt.value
    return None


def resolve_input_reference(module: Module, node: ast.AST, param: str) -> InputInfo | None:
    """resolveInputReference: `Class.attr`, or `Class.method(...)` with call-site default / description / ge / le
    literals overriding the method's Input(...). Other call-site arguments are not applied."""
    kind = module.node_kind(node)
    if kind == "attribute":
        info = module.registry.attributes.get(module.text_of(node))
        return None if info is None else InputInfo(**{**info.__dict__, "notes": list(info.notes)})
    if kind != "call" or module.node_kind(node.func) != "attribute":
        return None
    key = module.text_of(node.func)
    if key not in module.registry.methods:
        return None
    param_names, base = module.registry.methods[key]
    info = InputInfo(**{**base.__dict__, "notes": list(base.notes)})

    bound: dict[str, tuple[str, ast.AST | int]] = {}
    positional = module.positional_arguments(node)
    for index, argument in enumerate(positional):
        label = module.text_of(argument) if isinstance(argument, ast.AST) else "a comment"
        if index < len(param_names):
            bound[param_names[index]] = (label, argument)
        else:
            info.notes.append((DROPPED, "", f"extra argument {excerpt(label)} to {key}(): Cog ignores it"))
    for keyword in node.keywords:
        if keyword.arg is not None:
            bound[keyword.arg] = (module.text_of(keyword.value), keyword.value)

    # Go fills a map: a parameter bound twice keeps its last binding (Python would refuse the call anyway).
    for name, (label, argument) in bound.items():
        where = f"{name}={excerpt(label)} in {key}(...)"
        if name not in ("default", "description", "ge", "le"):
            info.notes.append((DROPPED, "", f"{where}: Cog applies only default/description/ge/le at a call site"))
            continue
        value = None
        if isinstance(argument, ast.AST) and not isinstance(argument, ast.keyword):
            if name == "default":
                value = parse_default_value(module, argument)
            elif name == "description":
                value = parse_string_literal(module, argument)
            else:
                value = parse_number_literal(module, argument)
        if value is None:
            info.notes.append((DROPPED, "", f"{where} is not a literal: Cog keeps {key}'s own {name}"))
            continue
        setattr(info, name, value)
        info.notes = [n for n in info.notes if n[1] != name]
    return info
