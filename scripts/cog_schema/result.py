"""What the static step yields for one predictor: its inputs, output, and what Cog would stop on or lose.

Follows replicate/cog 6110c912 pkg/schema/types.go 220-242 (InputField) and 253-260 (PredictorInfo, with its
ConcurrencyMax and IsAsync); findings are this emulation's own: Cog stops at its first error, these list every one.
"""

from dataclasses import dataclass, field

from .input_types import InputType
from .values import ALTERED, DROPPED, ERROR, GoValue


@dataclass(frozen=True)
class Finding:
    kind: str  # ERROR, DROPPED or ALTERED
    message: str
    line: int = 0
    param: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.kind}: {where}{self.message}"


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
    # PredictorInfo.ConcurrencyMax: None without a cog @concurrent decorator (or when its arguments stop the
    # build), 1 for a bare one, else its max=. Kept when the async rule (parser.go 282-284) rejects it.
    concurrency_max: int | None = None
    is_async: bool = False  # PredictorInfo.IsAsync: run() / predict() is an `async def`
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
