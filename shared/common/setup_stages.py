"""How long each stage of a setup took: one INFO line at the end, and a JSON file the benchmarks read.

Compilation is lazy (the first call compiles), so a warm-up stage is split with dynamo's own timer: `compile`
is the time dynamo and inductor report spending on compiling during it, `warm-up` the rest of it.
"""

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


def compile_seconds() -> float:
    """Seconds dynamo (inductor included) has spent compiling frames in this process so far."""
    from torch._dynamo.utils import compilation_time_metrics

    return sum(compilation_time_metrics.get("_compile.compile_inner", ()))


class SetupStages:
    def __init__(self, name: str, clock: Callable[[], float] = time.perf_counter,
                 compile_clock: Callable[[], float] = compile_seconds):
        self.name = name  # the deployment, in the JSON report
        self.clock, self.compile_clock = clock, compile_clock
        self.started = clock()
        self.seconds: dict[str, float] = {}  # in the order the stages first ran

    def _add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Times the block as `name`; a stage entered twice adds up."""
        start = self.clock()
        try:
            yield
        finally:
            self._add(name, self.clock() - start)

    @contextmanager
    def warm_up(self, name: str = "warm-up") -> Iterator[None]:
        """Times a block that compiles lazily: its compile time as `compile`, the rest as `name`."""
        start, compiled = self.clock(), self.compile_clock()
        try:
            yield
        finally:
            compiling = max(0.0, self.compile_clock() - compiled)
            total = self.clock() - start
            self._add("compile", min(compiling, total))
            self._add(name, max(0.0, total - compiling))

    def total(self) -> float:
        return self.clock() - self.started

    def report(self) -> dict:
        return {"deployment": self.name, "stages_s": {k: round(v, 3) for k, v in self.seconds.items()},
                "total_s": round(self.total(), 3)}

    def line(self, report: dict | None = None) -> str:
        report = report or self.report()
        parts = [f"{name} {seconds:.1f} s" for name, seconds in report["stages_s"].items()]
        parts.append(f"total {report['total_s']:.1f} s")
        return "setup stages: " + ", ".join(parts)

    def finish(self, report_path: Path | None = None) -> dict:
        """Log the stages (one line) and, when given a path (SETUP_REPORT), write them there as JSON."""
        report = self.report()
        logger.info(self.line(report))
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(json.dumps(report, indent=1) + "\n")
        return report
