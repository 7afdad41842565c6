"""The source as tree-sitter sees it, read with `ast` and `tokenize`: byte offsets, node types, grouping
parentheses and comments, which Cog's Go code meets as nodes and `ast` drops.

Follows replicate/cog 6110c912 pkg/schema/python/nodes.go 6-29 (NamedChildren, Content) and the
tree-sitter-python node types that literals.go, module_scope.go and inputs.go switch on. That comments are
`extras`, named children of whatever node surrounds them, comes from tree-sitter-python's grammar, not from Go.
"""

import ast
import io
import tokenize
from bisect import bisect_left, bisect_right

from .values import GoValue


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
        # Filled by parser.parse_module in Cog's phase order: each collector reads what the one before left.
        self.imports: dict[str, tuple[str, str]] = {}
        self.scope: dict[str, GoValue] = {}
        self.registry = None  # an inputs.InputRegistry

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


def excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f"`{text}`" if len(text) <= limit else f"`{text[: limit - 3]}...`"
