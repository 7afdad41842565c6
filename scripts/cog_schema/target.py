"""The target callable and the inputs its parameters declare.

Follows replicate/cog 6110c912:
    pkg/schema/python/target.go   44-159  findTargetCallableNode, findStandaloneFunction,
                                          findPredictMethodInClass, collectPredictMethods (run() before predict())
    pkg/schema/python/inputs.go  275-302  inputFieldWithInfo, firstParamIsSelf
                                 311-440  extractInputs, parseTypedParameter, parseTypedDefaultParameter
    pkg/schema/types.go          243-252  ValidateInputField
"""

import ast

from .annotations import parse_type_annotation
from .input_types import resolve_input_type
from .inputs import is_input_call, parse_input_call, resolve_input_reference
from .module_scope import resolve_default_expr
from .result import DerivedInput, Finding, StaticSchema
from .source import Module
from .values import DROPPED, ERROR, GoValue, StaticSchemaError


def find_run_method(module: Module, target: str) -> ast.FunctionDef:
    """findTargetCallableNode: a top-level class named `target` and its run() (else predict()), looking in
    same-file parent classes too; else a top-level function named `target`, else one named `predict`."""
    classes = {s.name: s for s in module.tree.body if isinstance(s, ast.ClassDef)}
    if target in classes:
        run, predict, imported_parents = find_methods(module, classes[target], classes, set())
        if run or predict:
            return run or predict
        if imported_parents:
            raise StaticSchemaError(
                f"not emulated: {target} inherits run()/predict() from {', '.join(imported_parents)} in another file"
            )
        raise StaticSchemaError(f"{target} must define run() or predict()")
    for name in (target, "predict"):
        for stmt in module.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                return stmt
    raise StaticSchemaError(f"predictor not found: {target}")


def find_methods(module: Module, cls: ast.ClassDef, classes: dict, seen: set) -> tuple:
    """collectPredictMethods: the last def of each name wins; parents fill in what the class lacks."""
    if cls.name in seen:
        return None, None, []
    seen.add(cls.name)
    run = predict = None
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name == "run":
                run = stmt
            elif stmt.name == "predict":
                predict = stmt
    imported = []
    for base in cls.bases:
        name = module.text_of(base)
        if name in classes:
            parent_run, parent_predict, parent_imported = find_methods(module, classes[name], classes, seen)
            run, predict = run or parent_run, predict or parent_predict
            imported += parent_imported
        else:
            entry = module.imports.get(name.split(".")[0])
            if entry and entry[0] != "cog" and not entry[0].startswith("cog."):
                imported.append(f"{name} ({entry[0]})")
    return run, predict, imported


def iter_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef):
    """(arg, default, is_splat) in source order, defaults aligned as Python aligns them."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    yield from ((a, d, False) for a, d in zip(positional, defaults, strict=True))
    if args.vararg:
        yield args.vararg, None, True
    yield from ((a, d, False) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True))
    if args.kwarg:
        yield args.kwarg, None, True


def extract_inputs(module: Module, function: ast.FunctionDef, result: StaticSchema) -> None:
    """extractInputs + parseTypedParameter / parseTypedDefaultParameter, one parameter at a time."""
    untyped = [a for a, d, splat in iter_parameters(function) if a.annotation is None and d is None and not splat]
    skip_self = bool(untyped) and untyped[0].arg == "self"
    seen_self, order = False, 0
    for arg, default, splat in iter_parameters(function):
        name = arg.arg
        if splat:
            if arg.annotation is not None:
                result.findings.append(Finding(ERROR, "typed_parameter has no identifier", arg.lineno, name))
            continue
        if arg.annotation is None:
            if default is not None:
                result.findings.append(Finding(
                    ERROR, f"parameter '{name}' on {function.name} has no type annotation", arg.lineno, name
                ))
            elif skip_self and not seen_self and name == "self":
                seen_self = True
            else:
                result.findings.append(Finding(
                    DROPPED, f"parameter '{name}' has no type annotation: Cog leaves it out of the schema",
                    arg.lineno, name,
                ))
            continue
        try:
            result.inputs.append(derive_input(module, name, order, arg.annotation, default, result))
        except StaticSchemaError as error:
            result.findings.append(Finding(ERROR, str(error), (default or arg).lineno, name))
        order += 1


def derive_input(module: Module, name: str, order: int, annotation: ast.AST, default: ast.AST | None,
                 result: StaticSchema) -> DerivedInput:
    """parseTypedDefaultParameter: Input(...), then a registry reference, then a plain literal, else stop."""
    input_type = resolve_input_type(parse_type_annotation(module, annotation), module.imports)
    derived = DerivedInput(name, order, input_type)
    if default is None:
        return validate_input(derived)
    line = default.lineno
    if is_input_call(module, default):
        info = parse_input_call(module, default, name)
    elif (info := resolve_input_reference(module, default, name)) is None:
        value = resolve_default_expr(module, default)
        if value is None:
            text = module.outer_text(default)
            hint = module.registry.failures.get(text.split("(")[0])
            message = f"parameter '{name}': default `{text}` cannot be statically resolved"
            raise StaticSchemaError(message + (f" ({hint})" if hint else ""))
        derived.default = value
        add_value_notes(result, value, line, name)
        return validate_input(derived)

    if info.accept is not None and input_type.field_primitive() not in ("Path", "File"):
        raise StaticSchemaError(f"accept is only valid on Path or File inputs (parameter '{name}')")
    for kind, _, text in info.notes:
        result.findings.append(Finding(kind, f"parameter '{name}': {text}", line, name))
    for value in (info.default, info.description, info.regex, info.accept, *(info.choices or [])):
        if value is not None:
            add_value_notes(result, value, line, name)
    derived.default = info.default
    derived.description = None if info.description is None else info.description.value
    derived.ge, derived.le = info.ge, info.le
    derived.min_length, derived.max_length = info.min_length, info.max_length
    derived.regex = None if info.regex is None else info.regex.value
    derived.choices = info.choices
    derived.deprecated = info.deprecated
    derived.accept = None if info.accept is None else info.accept.value
    return validate_input(derived)


def add_value_notes(result: StaticSchema, value: GoValue, line: int, name: str) -> None:
    for kind, text in dict.fromkeys(value.all_notes()):
        result.findings.append(Finding(kind, f"parameter '{name}': {text}", line, name))


def validate_input(derived: DerivedInput) -> DerivedInput:
    """ValidateInputField: union inputs take no constraints or choices."""
    constrained = any(
        v is not None for v in (derived.ge, derived.le, derived.min_length, derived.max_length, derived.regex)
    )
    if derived.type.kind == "union" and (derived.choices or constrained):
        raise StaticSchemaError("unsupported type: constraints and choices are not supported on union inputs")
    return derived
