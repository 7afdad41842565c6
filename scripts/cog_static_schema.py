"""Emulate the static schema step of `cog build` / `cog push` / `cog run` on a deployment, with `ast` only.

Since SDK 0.17 the Cog CLI derives the OpenAPI schema by parsing predict.py with tree-sitter before it
builds anything, and stops the build on what it cannot resolve. The runtime inspector behind
scripts/openapi_schema.py imports the predictor instead and accepts far more, so a deployment can pass
every local test and still fail at the first step of `make build-<name>`. This module applies the CLI's
rules to the source text, reports what would stop or silently change the build, and lays the derived
inputs out as Cog's OpenAPI schema so they can be compared with the committed openapi.json.

    python -m scripts.cog_static_schema                          # every deployment with a cog.yaml
    python -m scripts.cog_static_schema deployments/smollm3 ...

Source followed: replicate/cog at 6110c912377d4ded0f57165d305821a14a9a4418 (`git describe`:
v0.22.0-5-g6110c912, 2026-08-21), the newest snapshot of the repository readable here. The deployments pin
SDK 0.23.1; rules that changed after that commit are not covered.

    pkg/image/build.go               resolveBuildSchema: static generation unless `--openapi-schema FILE`
    pkg/schema/openapi/generate.go   GenerateSchema: cog.yaml `run:` / `predict:` reference
    pkg/schema/generator.go          parsePredictRef: "file.py:Name"
    pkg/schema/python/parser.go      ParseWithOptions: imports, module scope, input registry, target, inputs, output
    pkg/schema/python/imports.go     CollectImports (top-level imports only, builtins added)
    pkg/schema/python/module_scope.go  collectModuleScope, resolveDefaultExpr, resolveStringExpr,
                                     resolveChoicesExpr, resolveChoicesCall
    pkg/schema/python/literals.go    parseDefaultValue, parseStringLiteral, parseNumberLiteral, parseListLiteral,
                                     parseDictLiteral, parseSetLiteral, parseBoolLiteral
    pkg/schema/python/inputs.go      collectInputRegistry, collectInputAttribute, collectInputMethod,
                                     findReturnInputCall, resolveInputReference, extractInputs,
                                     parseTypedDefaultParameter, isInputCall, parseInputCall, inputFieldWithInfo
    pkg/schema/python/target.go      findTargetCallableNode, findPredictMethodInClass (run() before predict())
    pkg/schema/python/annotations.go parseTypeAnnotation, parseTypeFromString, functionSupportsStreaming
    pkg/schema/types.go              ResolveInputType, ValidateInputField, PrimitiveType.JSONType, UnwrapOptional
    pkg/schema/schema_type.go        ResolveSchemaType (outputs: str, list[Path], ConcatenateIterator[str], ...)
    pkg/schema/openapi_spec.go       buildInputSchema: x-order, allOf/$ref enum components, nullable, default, required

Findings come in three kinds:
    error    the build stops here (Cog prints only the first one; all are listed)
    dropped  Cog leaves something out without a word (a bound, a description, a default, an argument)
    altered  Cog keeps a value that differs from the one Python sees: its string parsing takes the source text
             between the outer quotes, so escapes stay unprocessed and implicitly concatenated strings keep the
             quotes and whitespace between their parts

Not emulated, reported as errors that say so: BaseModel / TypedDict / Opaque types, run() inherited from a
class in another file. Not checked at all: @concurrent, and code tree-sitter-python would parse differently
from CPython (its error recovery).
Inferred from tree-sitter-python's grammar rather than read in Go: comments are `extras`, named children of
whatever node surrounds them, so Cog's parseListLiteral fails on a commented `choices=[...]` list and
resolveInputReference counts a comment among a call's positional arguments; this module follows that reading.
Where Cog stops at its first error, this module goes on and lists every one, in the order Cog meets them.
"""

import argparse
import ast
import io
import json
import math
import re
import sys
import tokenize
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENTS = REPO / "deployments"

ERROR, DROPPED, ALTERED = "error", "dropped", "altered"
MISSING = object()


class StaticSchemaError(Exception):
    """Cog's build would stop with this message."""


@dataclass(frozen=True)
class Finding:
    kind: str  # ERROR, DROPPED or ALTERED
    message: str
    line: int = 0
    param: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.kind}: {where}{self.message}"


# --- Values as Cog's DefaultValue holds them (pkg/schema/types.go) -------------------------------------------


@dataclass(frozen=True)
class GoValue:
    """A statically parsed literal. `notes` are (kind, text) for what Cog lost or changed while parsing it."""

    kind: str  # none, bool, int, float, str, list, dict, set
    value: object = None  # scalar; tuple of GoValue for list/set; tuple of (GoValue, GoValue) for dict
    notes: tuple = ()

    def to_json(self):
        if self.kind in ("list", "set"):
            return [item.to_json() for item in self.value]
        if self.kind == "dict":
            return {_go_map_key(k): v.to_json() for k, v in self.value}
        return self.value

    def all_notes(self) -> tuple:
        notes = list(self.notes)
        if self.kind in ("list", "set"):
            for item in self.value:
                notes += item.all_notes()
        elif self.kind == "dict":
            for key, value in self.value:
                notes += key.all_notes() + value.all_notes()
        return tuple(notes)


def _go_map_key(key: GoValue) -> str:
    # DefaultValue.ToJSON: string keys as they are, others through fmt "%v".
    if key.kind == "str":
        return key.value
    if key.kind == "none":
        return "<nil>"
    if key.kind == "bool":
        return "true" if key.value else "false"
    if key.kind == "float" and float(key.value).is_integer():
        return str(int(key.value))
    return str(key.to_json())


# --- Go's strconv, as parseNumberLiteral / parseDefaultValue call it -----------------------------------------

_DIGITS = r"[0-9](?:_?[0-9])*"
_DEC_FLOAT = re.compile(rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:_?[0-9a-fA-F])*(?:\.[0-9a-fA-F_]*)?[pP][+-]?[0-9](?:_?[0-9])*")
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_INT = re.compile(
    r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)"
)


def go_parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64): decimal or hex (with a p exponent) floats, underscores between digits,
    inf/infinity/nan; anything else, and overflow, fails."""
    text = text.strip()
    if not text.isascii():
        return None
    if _SPECIAL_FLOAT.fullmatch(text):
        return float(text.replace("infinity", "inf").replace("Infinity", "inf").replace("INFINITY", "inf"))
    if _DEC_FLOAT.fullmatch(text):
        value = float(text.replace("_", ""))
    elif _HEX_FLOAT.fullmatch(text):
        sign = -1.0 if text.startswith("-") else 1.0
        value = sign * float.fromhex(text.lstrip("+-").replace("_", ""))
    else:
        return None
    return None if math.isinf(value) else value


def go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): base from the prefix (a leading 0 means octal), underscores, int64 range."""
    if not _INT.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    if len(body) > 1 and body[0] == "0" and body[1] in "0123456789":
        value = int(body, 8)
    else:
        value = int(body, 0)
    value *= sign
    return value if -(2**63) <= value < 2**63 else None


def go_string_literal(text: str) -> str | None:
    """parseStringLiteral: the text between the outer quotes, whatever the node is; only the r prefix counts."""
    for quote in ('"""', "'''"):
        if text.startswith(quote):
            return text[3:-3] if len(text) >= 6 else None
    if text.startswith(('"', "'")):
        return text[1:-1] if len(text) >= 2 else None
    if text.startswith(('r"', "r'")):
        return text[2:-1] if len(text) >= 3 else None
    return None


# --- The source as tree-sitter sees it -------------------------------------------------------------------------


class SourceText:
    """Byte offsets, token neighbours and comments, to tell what tree-sitter's node for an `ast` node is."""

    def __init__(self, text: str):
        self.text = text
        self.data = text.encode()
        self.line_starts = [0] + [i + 1 for i, byte in enumerate(self.data) if byte == 0x0A]
        lines = text.splitlines(keepends=True)
        self.tokens: list[tuple[int, int, str]] = []  # significant tokens: (start, end, string)
        self.comments: list[int] = []
        skip = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in skip:
                continue
            start = self._offset(lines, *tok.start)
            if tok.type == tokenize.COMMENT:
                self.comments.append(start)
            else:
                self.tokens.append((start, self._offset(lines, *tok.end), tok.string))
        self.token_starts = [t[0] for t in self.tokens]
        self.token_ends = [t[1] for t in self.tokens]

    def _offset(self, lines: list[str], row: int, col: int) -> int:
        if row > len(lines):
            return len(self.data)
        return self.line_starts[row - 1] + len(lines[row - 1][:col].encode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self.line_starts[node.lineno - 1] + node.col_offset,
            self.line_starts[node.end_lineno - 1] + node.end_col_offset,
        )

    def text_of(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode()

    def token_before(self, offset: int) -> tuple[int, str] | None:
        index = bisect_right(self.token_ends, offset) - 1
        return (self.tokens[index][0], self.tokens[index][2]) if index >= 0 else None

    def token_after(self, offset: int) -> tuple[int, str] | None:
        index = bisect_left(self.token_starts, offset)
        return (self.tokens[index][0], self.tokens[index][2]) if index < len(self.tokens) else None

    def comments_between(self, start: int, end: int, children: list[ast.AST]) -> list[int]:
        """Comments tree-sitter would attach to the node spanning start..end, not to one of its children."""
        spans = [self.span(child) for child in children]
        return [
            c for c in self.comments[bisect_left(self.comments, start) : bisect_left(self.comments, end)]
            if not any(s <= c < e for s, e in spans)
        ]


class Module:
    """One parsed predict.py with what Cog collects from its top level."""

    def __init__(self, text: str):
        self.src = SourceText(text)
        self.tree = ast.parse(text)
        self.parents = {child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)}
        self.imports = collect_imports(self.tree)
        self.scope = collect_module_scope(self)
        self.registry = collect_input_registry(self)

    def text_of(self, node: ast.AST) -> str:
        return self.src.text_of(node)

    def is_parenthesized(self, node: ast.AST) -> bool:
        """`ast` drops grouping parentheses; tree-sitter keeps them as a parenthesized_expression node. A "("
        just before the node is its own unless it opens the enclosing call or tuple, or the node starts where
        its parent starts (then the "(" is the parent's business)."""
        start = self.src.span(node)[0]
        before = self.src.token_before(start)
        if before is None or before[1] != "(":
            return False
        parent = self.parents.get(node)
        if parent is None or not hasattr(parent, "lineno"):
            return True
        parent_start = self.src.span(parent)[0]
        if parent_start == start:
            return False
        if isinstance(parent, ast.Call) and before[0] == self.call_paren(parent):
            return False
        return not (isinstance(parent, ast.Tuple) and before[0] == parent_start)

    def outer_text(self, node: ast.AST) -> str:
        """The node's text with its own grouping parentheses, as tree-sitter's Content() gives it."""
        start, end = self.src.span(node)
        if self.is_parenthesized(node):
            while (before := self.src.token_before(start)) and before[1] == "(" and (
                after := self.src.token_after(end)
            ) and after[1] == ")":
                start, end = before[0], after[0] + 1
        return self.src.data[start:end].decode()

    def node_kind(self, node: ast.AST) -> str:
        """The tree-sitter-python node type Cog's Go code switches on."""
        if self.is_parenthesized(node):
            return "parenthesized_expression"
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return "none"
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (str, bytes)):
                return "string"
            if isinstance(value, int):
                return "integer"
            if isinstance(value, float):
                return "float"
            return "other"
        if isinstance(node, ast.JoinedStr):
            return "string"
        if isinstance(node, ast.UnaryOp):
            return "not_operator" if isinstance(node.op, ast.Not) else "unary_operator"
        if isinstance(node, ast.Tuple):
            return "tuple" if self.src.data[self.src.span(node)[0] : self.src.span(node)[0] + 1] == b"(" else (
                "expression_list"
            )
        return {
            ast.List: "list", ast.Set: "set", ast.Dict: "dictionary", ast.Name: "identifier",
            ast.Attribute: "attribute", ast.Call: "call", ast.BinOp: "binary_operator",
        }.get(type(node), type(node).__name__)

    def call_paren(self, call: ast.Call) -> int | None:
        after = self.src.token_after(self.src.span(call.func)[1])
        return after[0] if after and after[1] == "(" else None

    def argument_children(self, call: ast.Call) -> list[ast.AST | int]:
        """The named children of a call's argument_list in source order: arguments, keyword arguments
        (`**kwargs` included) and comments (an int offset), which tree-sitter keeps as children too."""
        items: list[tuple[int, ast.AST | int]] = [(self.src.span(a)[0], a) for a in (*call.args, *call.keywords)]
        paren = self.call_paren(call)
        start, end = self.src.span(call)
        comments = self.src.comments_between(paren if paren is not None else start, end, [*call.args, *call.keywords])
        items += [(c, c) for c in comments]
        return [item for _, item in sorted(items, key=lambda pair: pair[0])]

    def positional_arguments(self, call: ast.Call) -> list[ast.AST | int]:
        """What resolveInputReference binds by position: every child that is not a `name=value` argument."""
        return [a for a in self.argument_children(call) if not (isinstance(a, ast.keyword) and a.arg is not None)]


# --- Literals (literals.go, module_scope.go) --------------------------------------------------------------------


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
        notes = ((ALTERED, f"string {_short(text)}: Cog reads {value!r}, Python {shown}"),)
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
                notes.append((DROPPED, f"tuple item {_short(module.text_of(element))} is not a literal: Cog skips it"))
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
            notes.append((DROPPED, f"dict entry **{_short(module.text_of(value))}: Cog skips it"))
            continue
        parsed_key, parsed_value = parse_default_value(module, key), parse_default_value(module, value)
        if parsed_key is None or parsed_value is None:
            notes.append((DROPPED, f"dict entry {_short(module.text_of(key))}: ... is not a literal: Cog skips it"))
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


# --- Imports, module scope, the input registry (imports.go, module_scope.go, inputs.go) -------------------------


def collect_imports(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """CollectImports: local name -> (module, original name), top-level statements only."""
    names: dict[str, tuple[str, str]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            module = "." * stmt.level + (stmt.module or "")
            for alias in stmt.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                names[alias.asname or alias.name] = (alias.name, alias.name)
    for builtin in ("str", "int", "float", "bool", "list", "dict", "set", "None"):
        names.setdefault(builtin, ("builtins", builtin))
    return names


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
            drop("", f"argument {_short(module.text_of(argument))} to Input(): Cog reads name=value arguments only")
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        key, node, text = keyword.arg, keyword.value, _short(module.text_of(keyword.value))
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
            info.notes.append((DROPPED, "", f"extra argument {_short(label)} to {key}(): Cog ignores it"))
    for keyword in node.keywords:
        if keyword.arg is not None:
            bound[keyword.arg] = (module.text_of(keyword.value), keyword.value)

    # Go fills a map: a parameter bound twice keeps its last binding (Python would refuse the call anyway).
    for name, (label, argument) in bound.items():
        where = f"{name}={_short(label)} in {key}(...)"
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


# --- Types (annotations.go, types.go, schema_type.go) ---------------------------------------------------------


@dataclass(frozen=True)
class TypeAnn:
    kind: str  # simple, generic, union
    name: str = ""
    args: tuple = ()


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


def split_qualified(name: str, imports: dict) -> tuple[str, tuple[str, str] | None, bool]:
    """ImportContext.ResolveQualifiedName: `alias.Type` -> `Type` (with alias's import entry, when known)."""
    if "." not in name:
        return name, None, False
    prefix, rest = name.split(".", 1)
    return rest, imports.get(prefix), True


def is_annotated(name: str, imports: dict) -> bool:
    resolved, entry, qualified = split_qualified(name, imports)
    if qualified:
        return resolved == "Annotated" and entry is not None and entry[0] in ("typing", "typing_extensions") and (
            entry[1] == entry[0]
        )
    entry = imports.get(name)
    return entry is not None and entry[0] in ("typing", "typing_extensions") and entry[1] == "Annotated"


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


# --- The target and its inputs (target.go, inputs.go, parser.go) ----------------------------------------------


@dataclass
class DerivedInput:
    """One InputField as Cog's static parser builds it."""

    name: str
    order: int
    type: InputType
    default: GoValue | None = None
    description: str | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: str | None = None
    choices: list | None = None
    deprecated: bool | None = None
    accept: str | None = None


@dataclass
class StaticSchema:
    """What Cog's static step derives from one predictor, and what it would stop on or lose."""

    target: str
    method: str = ""
    inputs: list[DerivedInput] = field(default_factory=list)
    output: dict | None = None
    streaming: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == ERROR]

    @property
    def dropped(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == DROPPED]

    @property
    def altered(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == ALTERED]


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


def analyze_source(text: str, target: str) -> StaticSchema:
    """Run Cog's static schema step on predictor source `text` for the class or function `target`."""
    result = StaticSchema(target)
    try:
        module = Module(text)
        function = find_run_method(module, target)
    except SyntaxError as error:
        result.findings.append(Finding(ERROR, f"not emulated: Python syntax error: {error}", error.lineno or 0))
        return result
    except StaticSchemaError as error:
        result.findings.append(Finding(ERROR, str(error)))
        return result
    result.method = function.name
    extract_inputs(module, function, result)
    try:
        if function.returns is None:
            # Go's message is the bare method name (WrapError(ErrMissingReturnType, name)); spelled out here.
            raise StaticSchemaError(f"{function.name}: missing return type annotation")
        output = resolve_output_type(module, parse_type_annotation(module, function.returns))
        result.output = {"title": "Output", **output}
        result.streaming = is_streaming(module, function)
        if result.streaming and result.output.get("x-cog-array-type") != "iterator":
            raise StaticSchemaError(
                "@streaming requires Iterator[...], AsyncIterator[...], ConcatenateIterator[...] or "
                "AsyncConcatenateIterator[...] return type"
            )
    except StaticSchemaError as error:
        result.findings.append(Finding(ERROR, str(error), function.lineno))
    result.findings = list(dict.fromkeys(result.findings))  # one note per parameter, however often it arose
    return result


def predictor_ref(deployment: Path) -> str:
    """cog.yaml's top-level `run:` (or the older `predict:`) value, read without a YAML library."""
    found = {}
    for line in (deployment / "cog.yaml").read_text().splitlines():
        match = re.match(r"""^(run|predict):\s*(["']?)([^"'#]*)\2\s*(#.*)?$""", line)
        if match and match.group(3).strip():
            found[match.group(1)] = match.group(3).strip()
    if len(found) != 1:
        raise StaticSchemaError(f"{deployment / 'cog.yaml'}: expected exactly one of run: or predict:, got {found}")
    return next(iter(found.values()))


def analyze_deployment(deployment: Path) -> StaticSchema:
    """parsePredictRef + GenerateInfo for a deployment folder."""
    deployment = Path(deployment)
    try:
        ref = predictor_ref(deployment)
    except StaticSchemaError as error:
        return StaticSchema("", findings=[Finding(ERROR, str(error))])
    file_name, _, target = ref.partition(":")
    if not file_name or not target:
        return StaticSchema(ref, findings=[Finding(ERROR, f"invalid predict reference '{ref}'")])
    source = deployment / file_name
    if not source.is_file():
        return StaticSchema(target, findings=[Finding(ERROR, f"failed to read predictor source {source}")])
    return analyze_source(source.read_text(), target)


# --- Cog's OpenAPI layout (openapi_spec.go buildInputSchema) and the comparison ----------------------------------


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


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f"`{text}`" if len(text) <= limit else f"`{text[: limit - 3]}...`"


# --- CLI ----------------------------------------------------------------------------------------------------------


def deployments() -> list[Path]:
    return sorted(p for p in DEPLOYMENTS.iterdir() if (p / "cog.yaml").is_file())


def report(deployment: Path) -> tuple[str, int]:
    """A readable report for one deployment and its number of problems."""
    result = analyze_deployment(deployment)
    lines = [f"== {deployment.name}: {result.target}.{result.method or '?'}()"]
    lines += [f"  {finding}" for finding in result.findings]
    differences = []
    committed = deployment / "openapi.json"
    if committed.is_file() and not result.errors:
        differences = compare_with_committed(result, json.loads(committed.read_text()))
        lines += [f"  differs from openapi.json: {d}" for d in differences]
    problems = len(result.findings) + len(differences)
    if result.errors:
        lines.append(f"  `cog build` stops at: {result.errors[0].message}")
    lines.append(f"  {problems} problem(s), {len(result.inputs)} input(s) derived")
    return "\n".join(lines), problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployments", nargs="*", type=Path, help="deployment folders (default: all)")
    args = parser.parse_args()
    total = 0
    for deployment in args.deployments or deployments():
        text, problems = report(deployment)
        print(text)
        total += problems
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
