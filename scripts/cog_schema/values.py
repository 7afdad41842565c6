"""Values as Cog's static parser holds them, the Go parsing behind them, and the kinds of finding.

Follows replicate/cog 6110c912:
    pkg/schema/types.go            155-219  DefaultValue, DefaultKind, DefaultValue.ToJSON (map keys through "%v")
    pkg/schema/python/literals.go   12-110  strconv.ParseInt(s, 0, 64) / ParseFloat(s, 64), as parseDefaultValue
                                            and parseNumberLiteral call them
                                    79-100  parseStringLiteral: the text between the outer quotes
"""

import math
import re
from dataclasses import dataclass

ERROR, DROPPED, ALTERED = "error", "dropped", "altered"
MISSING = object()  # absent, where None would be a value


class StaticSchemaError(Exception):
    """Cog's build would stop with this message."""


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


# Go's strconv, as parseNumberLiteral / parseDefaultValue call it.
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
