"""What a predictor's imported names refer to: Cog's ImportContext.

Follows replicate/cog 6110c912:
    pkg/schema/python/imports.go   11-134  CollectImports (top-level statements only, builtins added)
    pkg/schema/types.go           338-348  ImportContext.isAnnotated
                                  366-378  ImportContext.ResolveQualifiedName
"""

import ast


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
